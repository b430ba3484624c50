#include "ensemble/kernel/debug_channel.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "ensemble/wire/message.hpp"
#include "recording_outbox.hpp"

namespace ensemble::kernel {
namespace {

wire::Message debug_request(int seq, const std::string& command, std::string padding = "") {
  Json content = {{"type", "request"}, {"seq", seq}, {"command", command}, {"arguments", {{"code", padding}}}};
  wire::Message request = wire::make_message("debug_request", "frontend", "user", content, Json::object());
  request.identities = {"frontend-identity"};
  return request;
}

// The read end, closed at the end of a test, as the debugger thread closes it.
struct ReadEnd {
  explicit ReadEnd(int taken) : fd(taken) {}
  ~ReadEnd() { ::close(fd); }
  operator int() const { return fd; }
  int fd;
};

std::string read_line(int fd) {
  std::string line;
  char c = 0;
  while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

// A channel as the kernel makes it, its read end taken as the debugger thread takes it.
class DebugChannelTest : public ::testing::Test {
 protected:
  Session session;
  RecordingOutbox outbox;
  DebugChannel channel{session, outbox};
  ReadEnd fd{channel.take_request_fd()};

  // Hands `request` on; the token the debugger thread reads with it.
  std::uint64_t hand_on_and_read(const wire::Message& request) {
    EXPECT_TRUE(channel.hand_on(request));
    return Json::parse(read_line(fd))["token"].get<std::uint64_t>();
  }
};

TEST_F(DebugChannelTest, HandsEachRequestOnAsOneLineWithItsToken) {
  ASSERT_TRUE(channel.hand_on(debug_request(7, "debugInfo")));
  Json line = Json::parse(read_line(fd));
  EXPECT_EQ(line["content"]["command"], "debugInfo");
  EXPECT_EQ(line["content"]["seq"], 7);
  EXPECT_TRUE(line["token"].is_number_unsigned());
  EXPECT_TRUE(outbox.sent.empty());  // nothing is answered until the debugger answers
}

TEST_F(DebugChannelTest, ReplyGoesToTheRequesterOnControlThenItsIdleStatus) {
  wire::Message request = debug_request(3, "dumpCell");
  std::string request_id = request.header.msg_id;
  std::uint64_t token = hand_on_and_read(request);
  ASSERT_TRUE(channel.reply(token, Json{{"type", "response"}, {"request_seq", 3}, {"success", true}}));
  ASSERT_EQ(outbox.sent.size(), 2u);
  EXPECT_EQ(outbox.sent[0].route, Route::kControl);
  EXPECT_EQ(outbox.sent[0].message.header.msg_type, "debug_reply");
  EXPECT_EQ(outbox.sent[0].message.identities, std::vector<std::string>{"frontend-identity"});
  EXPECT_EQ(outbox.sent[0].message.parent_header["msg_id"], request_id);
  EXPECT_EQ(outbox.sent[1].route, Route::kIopub);
  EXPECT_EQ(outbox.sent[1].message.content["execution_state"], "idle");
  EXPECT_EQ(outbox.sent[1].message.parent_header["msg_id"], request_id);
  EXPECT_FALSE(channel.reply(token, Json::object())) << "a request is answered once";
  EXPECT_FALSE(channel.reply(token + 100, Json::object())) << "a token never handed out";
  EXPECT_EQ(outbox.sent.size(), 2u);
}

TEST_F(DebugChannelTest, EventsGoOnIopubUnderTheLastRequest) {
  wire::Message request = debug_request(1, "attach");
  std::string request_id = request.header.msg_id;
  hand_on_and_read(request);
  channel.publish_event(Json{{"type", "event"}, {"event", "stopped"}});
  ASSERT_EQ(outbox.sent.size(), 1u);
  EXPECT_EQ(outbox.sent[0].route, Route::kIopub);
  EXPECT_EQ(outbox.sent[0].message.header.msg_type, "debug_event");
  EXPECT_EQ(outbox.sent[0].message.content["event"], "stopped");
  EXPECT_EQ(outbox.sent[0].message.parent_header["msg_id"], request_id);
}

TEST_F(DebugChannelTest, RefusesWhatNoLongerFitsWhenTheDebuggerStopsReading) {
  std::string big(200 * 1024, 'x');
  int taken = 0;
  while (channel.hand_on(debug_request(taken, "dumpCell", big))) {
    ++taken;
    ASSERT_LT(taken, 1000) << "the pipe never filled";
  }
  EXPECT_GT(taken, 0);
  // what was handed on is whole: every line parses
  for (int i = 0; i < taken; ++i) EXPECT_EQ(Json::parse(read_line(fd))["content"]["seq"], i);
  EXPECT_TRUE(channel.hand_on(debug_request(taken, "debugInfo"))) << "room again once the debugger read";
}

TEST_F(DebugChannelTest, TheReadEndIsHandedOverOnce) {
  EXPECT_GE(fd.fd, 0);
  EXPECT_EQ(channel.take_request_fd(), -1);
}

TEST(DebugChannel, FailedResponseNamesTheRequest) {
  Json response = failed_debug_response(Json{{"seq", 4}, {"command", "stackTrace"}}, "not started");
  EXPECT_EQ(response["request_seq"], 4);
  EXPECT_EQ(response["command"], "stackTrace");
  EXPECT_EQ(response["success"], false);
  EXPECT_EQ(response["message"], "not started");
  EXPECT_FALSE(failed_debug_response(Json("not an object"), "x").contains("request_seq"));
}

}  // namespace
}  // namespace ensemble::kernel
