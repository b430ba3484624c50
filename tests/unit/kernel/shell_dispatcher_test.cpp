#include "ensemble/kernel/shell_dispatcher.hpp"

#include <gtest/gtest.h>

#include "recording_outbox.hpp"

#include <deque>
#include <stdexcept>

namespace ensemble::kernel {
namespace {

class FakeInbox final : public Inbox {
 public:
  std::deque<Incoming> items;
  wire::Result<Incoming> wait() override {
    if (items.empty()) return Incoming{Incoming::Kind::kShutdown, {}, false};
    Incoming item = std::move(items.front());
    items.pop_front();
    return item;
  }
  std::optional<Incoming> try_take() override {
    if (items.empty()) return std::nullopt;
    Incoming item = std::move(items.front());
    items.pop_front();
    return item;
  }
};

using FakeOutbox = RecordingOutbox;

class FakeInterpreter final : public Interpreter {
 public:
  bool fail_next = false;
  bool throw_in_complete = false;
  KernelContext* context = nullptr;
  void attach(KernelContext& attached) override { context = &attached; }
  Json kernel_info() override { return Json{{"implementation", "fake"}}; }
  ExecuteOutcome execute(const ExecuteRequest& request) override {
    ExecuteOutcome outcome;
    if (request.code == "fail") {
      outcome.status = ExecuteOutcome::Status::kError;
      outcome.ename = "ValueError";
      outcome.evalue = "bad";
    }
    return outcome;
  }
  Json complete(const std::string&, int) override {
    if (throw_in_complete) throw std::runtime_error("completer exploded");
    return Json{{"matches", Json::array()}};
  }
  Json inspect(const std::string&, int, int) override { return Json{{"found", false}}; }
  Json is_complete(const std::string&) override { return Json{{"status", "complete"}}; }
  Json comm_info(const std::optional<std::string>&) override { return Json{{"comms", Json::object()}}; }
  void handle_comm(const wire::Message&) override {}
  void discard_pending_interrupt() override {}
  void shutdown(bool) override {}
};

wire::Message request(const std::string& msg_type, Json content = Json::object()) {
  static int counter = 0;
  wire::Message message;
  message.identities = {"client"};
  message.header.msg_id = "req-" + std::to_string(++counter);
  message.header.msg_type = msg_type;
  message.content = std::move(content);
  return message;
}

class ShellDispatcherTest : public ::testing::Test {
 protected:
  FakeInterpreter interpreter;
  FakeInbox inbox;
  FakeOutbox outbox;
  HistoryStore history{":memory:"};
  Session session;
  ShellDispatcher dispatcher{interpreter, inbox, outbox, history, session};
};

TEST_F(ShellDispatcherTest, ExecuteIsWrappedInBusyAndIdleWithInputAndReply) {
  dispatcher.dispatch(request("execute_request", {{"code", "1"}}));
  EXPECT_EQ(outbox.types(), (std::vector<std::string>{"status", "execute_input", "execute_reply", "status"}));
  const auto& reply = outbox.last_of("execute_reply");
  EXPECT_EQ(reply.content["status"], "ok");
  EXPECT_EQ(reply.content["execution_count"], 1);
  EXPECT_EQ(reply.identities, std::vector<std::string>{"client"});
  EXPECT_EQ(outbox.sent.front().message.parent_header["msg_id"], reply.parent_header["msg_id"]);
}

TEST_F(ShellDispatcherTest, SilentExecutionPublishesNoInputAndKeepsTheCount) {
  dispatcher.dispatch(request("execute_request", {{"code", "1"}, {"silent", true}}));
  EXPECT_EQ(outbox.types(), (std::vector<std::string>{"status", "execute_reply", "status"}));
  EXPECT_EQ(outbox.last_of("execute_reply").content["execution_count"], 0);
}

TEST_F(ShellDispatcherTest, ThrowingHandlerStillRepliesOnceWithAnError) {
  interpreter.throw_in_complete = true;
  dispatcher.dispatch(request("complete_request", {{"code", "x"}, {"cursor_pos", 1}}));
  const auto& reply = outbox.last_of("complete_reply");
  EXPECT_EQ(reply.content["status"], "error");
  EXPECT_EQ(reply.content["evalue"], "completer exploded");
  int replies = 0;
  for (const auto& type : outbox.types()) replies += type == "complete_reply";
  EXPECT_EQ(replies, 1);
}

TEST_F(ShellDispatcherTest, UnknownMessageTypeGetsAnErrorReply) {
  dispatcher.dispatch(request("frobnicate_request"));
  const auto& reply = outbox.last_of("frobnicate_reply");
  EXPECT_EQ(reply.content["status"], "error");
  EXPECT_EQ(reply.content["ename"], "UnknownMessageType");
}

TEST_F(ShellDispatcherTest, ErrorWithStopOnErrorAbortsQueuedRequests) {
  inbox.items.push_back(Incoming{Incoming::Kind::kShellRequest, request("execute_request", {{"code", "2"}})});
  dispatcher.dispatch(request("execute_request", {{"code", "fail"}}));
  EXPECT_EQ(outbox.last_of("error").content["ename"], "ValueError");
  EXPECT_EQ(outbox.last_of("execute_reply").content["status"], "aborted");
  EXPECT_TRUE(inbox.items.empty());
}

TEST_F(ShellDispatcherTest, ErrorWithoutStopOnErrorLeavesTheQueueAlone) {
  inbox.items.push_back(Incoming{Incoming::Kind::kShellRequest, request("execute_request", {{"code", "2"}})});
  dispatcher.dispatch(request("execute_request", {{"code", "fail"}, {"stop_on_error", false}}));
  EXPECT_EQ(outbox.last_of("execute_reply").content["status"], "error");
  EXPECT_EQ(inbox.items.size(), 1u);
}

TEST_F(ShellDispatcherTest, GateRefusalIsAnErrorReplyAndTheHandlerDoesNotRun) {
  dispatcher.set_gate([](const wire::Message&) { return std::optional<Refusal>({"PermissionError", "observer"}); });
  dispatcher.dispatch(request("execute_request", {{"code", "1"}}));
  const auto& reply = outbox.last_of("execute_reply");
  EXPECT_EQ(reply.content["ename"], "PermissionError");
  EXPECT_EQ(dispatcher.execution_count(), 0);
}

TEST_F(ShellDispatcherTest, HistoryRequestReturnsExecutedCells) {
  dispatcher.dispatch(request("execute_request", {{"code", "a = 1"}}));
  dispatcher.dispatch(request("history_request", {{"hist_access_type", "tail"}, {"n", 5}}));
  const auto& reply = outbox.last_of("history_reply");
  ASSERT_EQ(reply.content["history"].size(), 1u);
  EXPECT_EQ(reply.content["history"][0][2], "a = 1");
}

TEST_F(ShellDispatcherTest, TheInterpreterQueriesHistoryAsAHistoryRequestWould) {
  dispatcher.dispatch(request("execute_request", {{"code", "first = 1"}}));
  dispatcher.dispatch(request("execute_request", {{"code", "second = 2"}}));
  Json found = interpreter.context->query_history({{"hist_access_type", "search"}, {"pattern", "sec*"}});
  EXPECT_EQ(found["status"], "ok");
  ASSERT_EQ(found["history"].size(), 1u);
  EXPECT_EQ(found["history"][0], Json::array({history.session(), 2, "second = 2"}));
  EXPECT_EQ(interpreter.context->history_session(), history.session());
  EXPECT_EQ(interpreter.context->query_history({{"hist_access_type", "nonsense"}})["status"], "error");
}

TEST_F(ShellDispatcherTest, AddedHandlerServesANewRequestType) {
  dispatcher.add_handler("apply_request", [](const wire::Message& request) {
    return Json{{"status", "ok"}, {"echo", request.content["x"]}};
  });
  dispatcher.dispatch(request("apply_request", {{"x", 5}}));
  EXPECT_EQ(outbox.types(), (std::vector<std::string>{"status", "apply_reply", "status"}));
  EXPECT_EQ(outbox.last_of("apply_reply").content["echo"], 5);
}

TEST_F(ShellDispatcherTest, ShutdownRequestEndsRunWithTheRestartFlag) {
  inbox.items.push_back(Incoming{Incoming::Kind::kShellRequest, request("shutdown_request", {{"restart", true}})});
  EXPECT_TRUE(dispatcher.run());
  EXPECT_EQ(outbox.last_of("shutdown_reply").content["restart"], true);
}

}  // namespace
}  // namespace ensemble::kernel
