// QueueOutbox's reply shortcut (queues.hpp): when the main thread may send a
// reply itself, and what the I/O thread is left to do then.
#include <gtest/gtest.h>
#include <poll.h>

#include "queues.hpp"

namespace ensemble::kernel {
namespace {

using namespace std::chrono_literals;

wire::Message status(const std::string& state, const std::string& parent_id) {
  wire::Message message;
  message.header.msg_type = "status";
  message.content = Json{{"execution_state", state}};
  message.parent_header = Json{{"msg_id", parent_id}};
  return message;
}

wire::Message reply_to(const std::string& parent_id) {
  wire::Message message;
  message.header.msg_type = "apply_reply";
  message.parent_header = Json{{"msg_id", parent_id}};
  return message;
}

struct Recorder {
  int calls = 0;
  QueueOutbox::ReplyShortcut shortcut() {
    return [this](wire::Message&) {
      ++calls;
      QueueOutbox::ShortcutResult result;
      result.sent = true;
      result.copy = {"copy"};
      return result;
    };
  }
};

TEST(QueueOutboxShortcut, AReplyWhoseRequestPublishedNothingButItsBusyIsSentByTheCaller) {
  QueueOutbox outbox(1 << 20, 1000ms);
  Recorder recorder;
  outbox.set_reply_shortcut(recorder.shortcut());
  outbox.enqueue(Route::kIopub, status("idle", "earlier"));
  outbox.enqueue(Route::kIopub, status("busy", "r1"));
  outbox.enqueue(Route::kShell, reply_to("r1"));
  EXPECT_EQ(recorder.calls, 1);
  auto due = outbox.take_due(QueueOutbox::Clock::now(), true);
  ASSERT_EQ(due.size(), 3u);
  ASSERT_TRUE(std::holds_alternative<SentReplyCopy>(due[2]));
  EXPECT_EQ(std::get<SentReplyCopy>(due[2]).frames, wire::Frames{"copy"});
  EXPECT_EQ(std::get<SentReplyCopy>(due[2]).msg_type, "apply_reply");
}

TEST(QueueOutboxShortcut, PipelinedQuietRequestsEachSendTheirOwnReply) {
  QueueOutbox outbox(1 << 20, 1000ms);
  Recorder recorder;
  outbox.set_reply_shortcut(recorder.shortcut());
  for (const char* id : {"r1", "r2", "r3"}) {
    outbox.enqueue(Route::kIopub, status("busy", id));
    outbox.enqueue(Route::kShell, reply_to(id));
    outbox.enqueue(Route::kIopub, status("idle", id));
  }
  EXPECT_EQ(recorder.calls, 3);
}

TEST(QueueOutboxShortcut, AReplyAfterItsRequestsOutputWaitsForTheIoThread) {
  QueueOutbox outbox(1 << 20, 1000ms);
  Recorder recorder;
  outbox.set_reply_shortcut(recorder.shortcut());
  auto parent = std::make_shared<const Json>(Json{{"msg_id", "r1"}});
  outbox.enqueue(Route::kIopub, status("busy", "r1"));
  outbox.write_stream("stdout", "printed", parent);
  outbox.enqueue(Route::kShell, reply_to("r1"));
  EXPECT_EQ(recorder.calls, 0);
  auto due = outbox.take_due(QueueOutbox::Clock::now(), true);
  ASSERT_EQ(due.size(), 3u);
  EXPECT_EQ(std::get<RoutedMessage>(due[2]).message.header.msg_type, "apply_reply");
}

TEST(QueueOutboxShortcut, AReplyDoesNotOvertakeAnEarlierReplyStillQueued) {
  QueueOutbox outbox(1 << 20, 1000ms);
  Recorder recorder;
  outbox.set_reply_shortcut(recorder.shortcut());
  outbox.enqueue(Route::kIopub, status("busy", "r1"));
  outbox.enqueue(Route::kShell, reply_to("r1"));  // sent by the caller
  outbox.enqueue(Route::kIopub, status("idle", "r1"));
  outbox.enqueue(Route::kShell, reply_to("r0"));  // a reply with no busy of its own queued last
  outbox.enqueue(Route::kIopub, status("busy", "r2"));
  outbox.enqueue(Route::kShell, reply_to("r2"));  // the queued reply to r0 goes first
  EXPECT_EQ(recorder.calls, 1);
}

TEST(QueueOutboxShortcut, AReplyDoesNotOvertakeWhatTheIoThreadHasTakenButNotSent) {
  QueueOutbox outbox(1 << 20, 1000ms);
  Recorder recorder;
  outbox.set_reply_shortcut(recorder.shortcut());
  outbox.enqueue(Route::kShell, reply_to("r0"));
  auto taken = outbox.take_due(QueueOutbox::Clock::now(), true);
  ASSERT_EQ(taken.size(), 1u);
  outbox.enqueue(Route::kIopub, status("busy", "r1"));
  outbox.enqueue(Route::kShell, reply_to("r1"));
  EXPECT_EQ(recorder.calls, 0);
  outbox.taken_sent();
  outbox.enqueue(Route::kIopub, status("busy", "r2"));
  outbox.enqueue(Route::kShell, reply_to("r2"));
  EXPECT_EQ(recorder.calls, 0);  // r1's reply is still queued ahead of it
  outbox.take_due(QueueOutbox::Clock::now(), true);
  outbox.taken_sent();
  outbox.enqueue(Route::kIopub, status("busy", "r3"));
  outbox.enqueue(Route::kShell, reply_to("r3"));
  EXPECT_EQ(recorder.calls, 1);
}

TEST(QueueOutboxShortcut, AReplyTheShortcutDeclinesIsQueuedAsBefore) {
  QueueOutbox outbox(1 << 20, 1000ms);
  int calls = 0;
  outbox.set_reply_shortcut([&calls](wire::Message&) {
    ++calls;
    return QueueOutbox::ShortcutResult{};
  });
  outbox.enqueue(Route::kIopub, status("busy", "r1"));
  outbox.enqueue(Route::kShell, reply_to("r1"));
  EXPECT_EQ(calls, 1);
  auto due = outbox.take_due(QueueOutbox::Clock::now(), true);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(std::get<RoutedMessage>(due[1]).message.header.msg_type, "apply_reply");
}

TEST(QueueOutboxShortcut, WithoutAShortcutEveryReplyIsQueued) {
  QueueOutbox outbox(1 << 20, 1000ms);
  outbox.enqueue(Route::kIopub, status("busy", "r1"));
  outbox.enqueue(Route::kShell, reply_to("r1"));
  EXPECT_EQ(outbox.take_due(QueueOutbox::Clock::now(), true).size(), 2u);
}

bool woken(const QueueOutbox& outbox) {
  pollfd fd{outbox.fd(), POLLIN, 0};
  return ::poll(&fd, 1, 0) == 1;
}

// What the main thread queues for a request that published nothing: its busy and its reply.
void busy_and_reply(QueueOutbox& outbox, const std::string& id) {
  outbox.enqueue(Route::kIopub, status("busy", id));
  outbox.enqueue(Route::kShell, reply_to(id));
}

TEST(QueueOutboxShortcut, AFlushAfterAShortcutReplyAsksForAWakeUpLaterInsteadOfNow) {
  QueueOutbox outbox(1 << 20, 1000ms);
  Recorder recorder;
  int later = 0;
  outbox.set_reply_shortcut(recorder.shortcut());
  outbox.set_wake_later([&later] { return ++later > 0; });
  busy_and_reply(outbox, "r1");
  outbox.enqueue(Route::kIopub, status("idle", "r1"));
  outbox.flush();
  EXPECT_EQ(later, 1);
  EXPECT_FALSE(woken(outbox));
  EXPECT_EQ(outbox.take_due(QueueOutbox::Clock::now(), false).size(), 3u);  // all of it, when it wakes
}

TEST(QueueOutboxShortcut, AFlushWithAQueuedReplyWakesTheIoThreadNow) {
  QueueOutbox outbox(1 << 20, 1000ms);
  int later = 0;
  outbox.set_reply_shortcut([](wire::Message&) { return QueueOutbox::ShortcutResult{}; });
  outbox.set_wake_later([&later] { return ++later > 0; });
  busy_and_reply(outbox, "r1");
  outbox.enqueue(Route::kIopub, status("idle", "r1"));
  outbox.flush();
  EXPECT_EQ(later, 0);
  EXPECT_TRUE(woken(outbox));
}

TEST(QueueOutboxShortcut, AFlushWakesNowWhenTheLaterWakeUpCannotBeSet) {
  QueueOutbox outbox(1 << 20, 1000ms);
  Recorder recorder;
  outbox.set_reply_shortcut(recorder.shortcut());
  outbox.set_wake_later([] { return false; });
  busy_and_reply(outbox, "r1");
  outbox.flush();
  EXPECT_TRUE(woken(outbox));
}

TEST(QueueOutboxShortcut, AFlushWithStreamTextWaitingWakesNow) {
  QueueOutbox outbox(1 << 20, 1000ms);
  Recorder recorder;
  int later = 0;
  outbox.set_reply_shortcut(recorder.shortcut());
  outbox.set_wake_later([&later] { return ++later > 0; });
  busy_and_reply(outbox, "r1");
  outbox.drain_notifications();
  outbox.write_stream("stdout", "late text", std::make_shared<const Json>(Json{{"msg_id", "r2"}}));
  outbox.drain_notifications();
  outbox.flush();
  EXPECT_EQ(later, 0);
  EXPECT_TRUE(woken(outbox));
}

}  // namespace
}  // namespace ensemble::kernel
