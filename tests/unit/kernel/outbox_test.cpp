#include <gtest/gtest.h>

#include <thread>

#include "queues.hpp"

namespace ensemble::kernel {
namespace {

using namespace std::chrono_literals;

wire::Message named(const std::string& msg_type) {
  wire::Message message;
  message.header.msg_type = msg_type;
  return message;
}

TEST(QueueOutbox, ConsecutiveStreamWritesCoalesce) {
  QueueOutbox outbox(1 << 20, 1000ms);
  auto parent = std::make_shared<const Json>(Json::object());
  outbox.write_stream("stdout", "a", parent);
  outbox.write_stream("stdout", "b", parent);
  auto due = outbox.take_due(QueueOutbox::Clock::now(), true);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(std::get<StreamChunk>(due[0]).text, "ab");
}

TEST(QueueOutbox, YoungSmallStreamChunkWaitsForMoreText) {
  QueueOutbox outbox(1 << 20, 1000ms);
  auto parent = std::make_shared<const Json>(Json::object());
  outbox.write_stream("stdout", "a", parent);
  EXPECT_TRUE(outbox.take_due(QueueOutbox::Clock::now(), false).empty());
  EXPECT_EQ(outbox.take_due(QueueOutbox::Clock::now() + 2s, false).size(), 1u);
}

TEST(QueueOutbox, StreamChunkReachingTheSizeLimitIsDueAtOnce) {
  QueueOutbox outbox(4, 1000ms);
  auto parent = std::make_shared<const Json>(Json::object());
  outbox.write_stream("stdout", "abcdef", parent);
  EXPECT_EQ(outbox.take_due(QueueOutbox::Clock::now(), false).size(), 1u);
}

TEST(QueueOutbox, MessagesKeepTheirPlaceAmongStreamText) {
  QueueOutbox outbox(1 << 20, 1000ms);
  auto parent = std::make_shared<const Json>(Json::object());
  outbox.write_stream("stdout", "before", parent);
  outbox.send(Route::kIopub, named("display_data"));
  outbox.write_stream("stdout", "after", parent);
  auto due = outbox.take_due(QueueOutbox::Clock::now(), true);
  ASSERT_EQ(due.size(), 3u);
  EXPECT_EQ(std::get<StreamChunk>(due[0]).text, "before");
  EXPECT_EQ(std::get<RoutedMessage>(due[1]).message.header.msg_type, "display_data");
  EXPECT_EQ(std::get<StreamChunk>(due[2]).text, "after");
}

TEST(QueueOutbox, DifferentStreamsDoNotMerge) {
  QueueOutbox outbox(1 << 20, 1000ms);
  auto parent = std::make_shared<const Json>(Json::object());
  outbox.write_stream("stdout", "o", parent);
  outbox.write_stream("stderr", "e", parent);
  EXPECT_EQ(outbox.take_due(QueueOutbox::Clock::now(), true).size(), 2u);
}

TEST(QueueInbox, WaitReturnsWhatWasPushed) {
  QueueInbox inbox;
  inbox.push(Incoming{Incoming::Kind::kShutdown, {}, true});
  auto item = inbox.wait();
  ASSERT_TRUE(item.ok());
  EXPECT_TRUE(item.value().restart);
  EXPECT_FALSE(inbox.try_take().has_value());
}

}  // namespace
}  // namespace ensemble::kernel

namespace ensemble::kernel {
namespace {

TEST(QueueOutbox, TextFromABusyWriterIsGatheredUpToTheBurstDelay) {
  QueueOutbox outbox(1 << 20, 5ms, 200ms);
  auto parent = std::make_shared<const Json>(Json::object());
  auto start = QueueOutbox::Clock::now();
  outbox.write_stream("stdout", "a", parent);
  std::this_thread::sleep_for(6ms);
  // Past the quick deadline, but the writer wrote just now: hold on.
  outbox.write_stream("stdout", "b", parent);
  EXPECT_TRUE(outbox.take_due(QueueOutbox::Clock::now(), false).empty());
  EXPECT_EQ(outbox.take_due(start + 250ms, false).size(), 1u);
}

TEST(QueueOutbox, TextFromAPausedWriterGoesOutAfterTheQuickDelay) {
  QueueOutbox outbox(1 << 20, 5ms, 200ms);
  auto parent = std::make_shared<const Json>(Json::object());
  auto start = QueueOutbox::Clock::now();
  outbox.write_stream("stdout", "a", parent);
  EXPECT_EQ(outbox.take_due(start + 20ms, false).size(), 1u);
}

}  // namespace
}  // namespace ensemble::kernel
