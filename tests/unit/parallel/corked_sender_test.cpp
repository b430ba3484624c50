// CorkedSender (corked_sender.hpp): a burst's messages are held back a moment
// and leave together; a lone one, a flushed one and one that must not wait
// leave at once; order is kept.
#include "ensemble/parallel/corked_sender.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ensemble::parallel {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A PAIR over inproc: what the sender's socket sends, the test receives.
class CorkedSenderTest : public ::testing::Test {
 protected:
  CorkedSenderTest() : out_(context_, zmq::socket_type::pair), in_(context_, zmq::socket_type::pair) {
    std::string endpoint = "inproc://corked-" + std::to_string(reinterpret_cast<std::uintptr_t>(this));
    in_.bind(endpoint);
    out_.connect(endpoint);
  }

  static CorkedSender::Message message(const std::string& first, const std::string& second = "tail") {
    CorkedSender::Message parts;
    parts.emplace_back(first);
    parts.emplace_back(second);
    return parts;
  }

  // The first frame of the next whole message, if one comes within `wait`.
  std::optional<std::string> next(std::chrono::milliseconds wait) {
    zmq::pollitem_t item{in_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, wait) == 0) return std::nullopt;
    zmq::message_t frame;
    (void)in_.recv(frame);
    std::string first = frame.to_string();
    while (frame.more()) (void)in_.recv(frame);
    return first;
  }

  zmq::context_t context_{1};
  zmq::socket_t out_, in_;
};

TEST_F(CorkedSenderTest, ALoneMessageLeavesAtOnce) {
  CorkedSender sender(out_, 10s);
  sender.send(message("one"));
  EXPECT_EQ(next(2000ms), "one") << "a window of 10 s: only an unheld message comes this soon";
}

TEST_F(CorkedSenderTest, AMessageThatFollowsWithinTheWindowWaitsForTheWindowToEnd) {
  CorkedSender sender(out_, 300ms);
  auto sent = Clock::now();
  sender.send(message("first"));
  sender.send(message("second"));
  EXPECT_EQ(next(2000ms), "first");
  EXPECT_EQ(next(100ms), std::nullopt) << "held: it came within the window of the one before";
  EXPECT_EQ(next(5000ms), "second") << "the flusher thread sends it when the window ends";
  EXPECT_GE(Clock::now() - sent, 290ms);
}

TEST_F(CorkedSenderTest, FlushSendsWhatIsHeldAtOnce) {
  CorkedSender sender(out_, 10s);
  sender.send(message("first"));
  sender.send(message("second"));
  sender.send(message("third"));
  EXPECT_EQ(next(2000ms), "first");
  EXPECT_EQ(next(50ms), std::nullopt);
  sender.flush();
  EXPECT_EQ(next(2000ms), "second");
  EXPECT_EQ(next(2000ms), "third");
}

TEST_F(CorkedSenderTest, SoManyHeldLeaveTogetherWithoutWaitingForTheWindow) {
  CorkedSender sender(out_, 10s);
  for (std::size_t i = 0; i <= CorkedSender::kMostHeld; ++i) sender.send(message(std::to_string(i)));
  for (std::size_t i = 0; i <= CorkedSender::kMostHeld; ++i) EXPECT_EQ(next(2000ms), std::to_string(i));
}

TEST_F(CorkedSenderTest, AMessageThatMustNotWaitTakesTheHeldOnesAlongInOrder) {
  CorkedSender sender(out_, 10s);
  sender.send(message("first"));
  sender.send(message("held"));
  sender.send(message("urgent"), CorkedSender::Hold::kNever);
  EXPECT_EQ(next(2000ms), "first");
  EXPECT_EQ(next(2000ms), "held");
  EXPECT_EQ(next(2000ms), "urgent");
}

TEST_F(CorkedSenderTest, CloseSendsWhatIsHeldAndRefusesMore) {
  CorkedSender sender(out_, 10s);
  sender.send(message("first"));
  sender.send(message("held"));
  sender.close();
  EXPECT_EQ(next(2000ms), "first");
  EXPECT_EQ(next(2000ms), "held");
  EXPECT_THROW(sender.send(message("late")), std::runtime_error);
  EXPECT_NO_THROW(sender.flush());
}

TEST_F(CorkedSenderTest, EveryMessageOfSeveralThreadsArrivesEachThreadsInItsOwnOrder) {
  CorkedSender sender(out_, 1ms);
  constexpr int kThreads = 4, kEach = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&sender, t] {
      for (int i = 0; i < kEach; ++i) sender.send(message(std::to_string(t), std::to_string(i)));
    });
  }
  std::vector<int> last(kThreads, -1);
  for (int received = 0; received < kThreads * kEach; ++received) {
    zmq::pollitem_t item{in_.handle(), 0, ZMQ_POLLIN, 0};
    ASSERT_EQ(zmq::poll(&item, 1, 5000ms), 1) << "after " << received << " messages";
    zmq::message_t thread_frame, index_frame;
    (void)in_.recv(thread_frame);
    (void)in_.recv(index_frame);
    int t = std::stoi(thread_frame.to_string()), i = std::stoi(index_frame.to_string());
    EXPECT_EQ(i, last[t] + 1) << "thread " << t;
    last[t] = i;
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(last, std::vector<int>(kThreads, kEach - 1));
}

}  // namespace
}  // namespace ensemble::parallel
