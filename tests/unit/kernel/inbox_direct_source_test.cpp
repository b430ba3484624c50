// QueueInbox with a DirectSource (queues.hpp): the waiting thread reads a
// source of its own (an engine's shell socket) beside what is pushed to it.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "queues.hpp"

namespace ensemble::kernel {
namespace {

using namespace std::chrono_literals;

Incoming request(const std::string& msg_id) {
  Incoming incoming;
  incoming.message.header.msg_id = msg_id;
  return incoming;
}

// A source backed by an eventfd: readable while it holds requests.
struct FakeSource {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  std::mutex mutex;
  std::deque<Incoming> requests;
  std::vector<bool> waiting_calls;
  ~FakeSource() { ::close(fd); }

  void arrive(const std::string& msg_id) {
    {
      std::lock_guard lock(mutex);
      requests.push_back(request(msg_id));
    }
    std::uint64_t one = 1;
    (void)!::write(fd, &one, sizeof one);
  }
  std::shared_ptr<DirectSource> source() {
    auto s = std::make_shared<DirectSource>();
    s->fd = fd;
    s->read = [this]() -> std::optional<Incoming> {
      std::lock_guard lock(mutex);
      if (requests.empty()) {
        std::uint64_t count;
        (void)!::read(fd, &count, sizeof count);
        return std::nullopt;
      }
      Incoming next = std::move(requests.front());
      requests.pop_front();
      return next;
    };
    s->waiting = [this](bool sleeping) {
      std::lock_guard lock(mutex);
      waiting_calls.push_back(sleeping);
    };
    return s;
  }
};

TEST(QueueInboxDirectSource, WhatWasPushedComesBeforeWhatTheSourceHolds) {
  QueueInbox inbox;
  FakeSource fake;
  inbox.set_direct_source(fake.source());
  fake.arrive("from-source");
  inbox.push(request("pushed"));
  EXPECT_EQ(inbox.wait().value().message.header.msg_id, "pushed");
  EXPECT_EQ(inbox.wait().value().message.header.msg_id, "from-source");
  EXPECT_TRUE(fake.waiting_calls.empty()) << "it never had to sleep";
}

TEST(QueueInboxDirectSource, ASleepingWaiterWakesForTheSourceAndSaysWhenItSleepsAndWakes) {
  QueueInbox inbox;
  FakeSource fake;
  inbox.set_direct_source(fake.source());
  std::thread later([&] {
    std::this_thread::sleep_for(50ms);
    fake.arrive("late");
  });
  EXPECT_EQ(inbox.wait().value().message.header.msg_id, "late");
  later.join();
  ASSERT_GE(fake.waiting_calls.size(), 2u);
  EXPECT_TRUE(fake.waiting_calls.front());
  EXPECT_FALSE(fake.waiting_calls.back());
}

// An engine's source queues the request's copy for its I/O thread as it reads
// it, and the waking call is what wakes that thread: it must come after.
TEST(QueueInboxDirectSource, ASleepingWaiterSaysItIsAwakeOnlyOnceItHasReadTheRequest) {
  QueueInbox inbox;
  FakeSource fake;
  auto source = fake.source();
  std::vector<std::string> calls;
  auto read = source->read;
  source->read = [&]() -> std::optional<Incoming> {
    auto item = read();
    if (item) calls.push_back("read " + item->message.header.msg_id);
    return item;
  };
  auto waiting = source->waiting;
  source->waiting = [&](bool sleeping) {
    waiting(sleeping);
    calls.push_back(sleeping ? "sleeping" : "awake");
  };
  inbox.set_direct_source(source);
  std::thread later([&] {
    std::this_thread::sleep_for(50ms);
    fake.arrive("late");
  });
  EXPECT_EQ(inbox.wait().value().message.header.msg_id, "late");
  later.join();
  EXPECT_EQ(calls, (std::vector<std::string>{"sleeping", "read late", "awake"}));
}

TEST(QueueInboxDirectSource, ASleepingWaiterStillWakesForAPush) {
  QueueInbox inbox;
  FakeSource fake;
  inbox.set_direct_source(fake.source());
  std::thread later([&] {
    std::this_thread::sleep_for(50ms);
    inbox.push(request("pushed-late"));
  });
  EXPECT_EQ(inbox.wait().value().message.header.msg_id, "pushed-late");
  later.join();
}

TEST(QueueInboxDirectSource, WithoutASourceOnlyPushesCount) {
  QueueInbox inbox;
  FakeSource fake;
  inbox.set_direct_source(fake.source());
  inbox.set_direct_source(nullptr);
  fake.arrive("ignored");
  inbox.push(request("pushed"));
  EXPECT_EQ(inbox.wait().value().message.header.msg_id, "pushed");
  EXPECT_FALSE(inbox.try_take().has_value());
}

}  // namespace
}  // namespace ensemble::kernel
