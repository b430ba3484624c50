// Against a real kernel: ipykernel under Debian's Python, launched through a
// kernelspec written to a temporary directory.
#include "ensemble/client/kernel_client.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "client_test_support.hpp"
#include "ensemble/client/kernel_process.hpp"

namespace ensemble::client {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

wire::Json execute_content(const std::string& code, bool allow_stdin = false) {
  return {{"code", code},
          {"silent", false},
          {"store_history", true},
          {"user_expressions", {}},
          {"allow_stdin", allow_stdin},
          {"stop_on_error", true}};
}

std::string parent_id(const ClientEvent& event) {
  return event.message.parent_header.value("msg_id", "");
}

bool is_idle_for(const ClientEvent& event, const std::string& msg_id) {
  return event.channel == ClientChannel::kIopub && event.message.header.msg_type == "status" &&
         event.message.content.value("execution_state", "") == "idle" && parent_id(event) == msg_id;
}

bool is_reply_for(const ClientEvent& event, const std::string& msg_id) {
  return event.channel == ClientChannel::kShell && event.message.header.msg_type == "execute_reply" &&
         parent_id(event) == msg_id;
}

wire::ConnectionInfo nobody_listening() {
  // Ports no kernel listens on: connecting succeeds lazily, nothing answers.
  wire::ConnectionInfo nobody = wire::fresh_loopback_connection();
  nobody.shell_port = 1;
  nobody.iopub_port = 2;
  nobody.stdin_port = 3;
  nobody.control_port = 4;
  nobody.hb_port = 5;
  return nobody;
}

class KernelClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string resource_dir = testing::write_kernel_json(home_.path(), "pyk", testing::ipykernel_spec());
    auto spec = read_kernelspec(resource_dir, "pyk");
    ASSERT_TRUE(spec.ok()) << spec.status().to_string();
    LaunchOptions options;
    options.runtime_dir = home_.path() + "/runtime";
    options.extra_env = {{"IPYTHONDIR", home_.path() + "/ipython"}};  // keep the user's profile untouched
    auto launched = KernelProcess::launch(spec.value(), options);
    ASSERT_TRUE(launched.ok()) << launched.status().to_string();
    process_ = std::move(launched).value();
    client_ = std::make_unique<KernelClient>(process_->connection(), "tester");
    auto ready = client_->wait_for_ready(30s);
    ASSERT_TRUE(ready.ok()) << ready.status().to_string();
    ASSERT_EQ(ready.value().header.msg_type, "kernel_info_reply");
  }

  // Events from next_event until `done` holds for all of them seen so far,
  // or `timeout` passes. Returns everything seen.
  std::vector<ClientEvent> collect(const std::function<bool(const std::vector<ClientEvent>&)>& done,
                                   std::chrono::milliseconds timeout = 20s) {
    std::vector<ClientEvent> seen;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(seen) && std::chrono::steady_clock::now() < deadline) {
      if (auto event = client_->next_event(100ms)) seen.push_back(std::move(*event));
    }
    return seen;
  }

  static bool any(const std::vector<ClientEvent>& events, const std::function<bool(const ClientEvent&)>& test) {
    return std::any_of(events.begin(), events.end(), test);
  }

  TempDir home_;
  std::unique_ptr<KernelProcess> process_;
  std::unique_ptr<KernelClient> client_;
};

TEST_F(KernelClientTest, ExecutesCodeAndShutsTheKernelDown) {
  std::string msg_id = client_->send(ClientChannel::kShell, "execute_request", execute_content("print(1+1)"));
  auto stream_two = [&](const ClientEvent& event) {
    return event.channel == ClientChannel::kIopub && event.message.header.msg_type == "stream" &&
           event.message.content.value("text", "") == "2\n" && parent_id(event) == msg_id;
  };
  auto reply = [&](const ClientEvent& event) { return is_reply_for(event, msg_id); };
  auto idle = [&](const ClientEvent& event) { return is_idle_for(event, msg_id); };
  auto seen =
      collect([&](const auto& events) { return any(events, stream_two) && any(events, reply) && any(events, idle); });
  EXPECT_TRUE(any(seen, stream_two));
  EXPECT_TRUE(any(seen, idle));
  ASSERT_TRUE(any(seen, reply));
  auto reply_event = std::find_if(seen.begin(), seen.end(), reply);
  EXPECT_EQ(reply_event->message.content.value("status", ""), "ok");

  auto shutdown = client_->request(ClientChannel::kControl, "shutdown_request", {{"restart", false}}, 10s);
  ASSERT_TRUE(shutdown.ok()) << shutdown.status().to_string();
  EXPECT_EQ(shutdown.value().header.msg_type, "shutdown_reply");
  EXPECT_TRUE(process_->wait_exit(10s));
}

TEST_F(KernelClientTest, RequestKeepsOtherMessagesForNextEventInOrder) {
  std::string execute_id = client_->send(ClientChannel::kShell, "execute_request", execute_content("print(3)"));
  // Shell is answered in order, so the execute_reply arrives before this
  // reply and must be kept, as must the iopub traffic.
  auto info = client_->request(ClientChannel::kShell, "kernel_info_request", wire::Json::object(), 20s);
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info.value().header.msg_type, "kernel_info_reply");

  auto seen = collect([&](const auto& events) {
    return any(events, [&](const ClientEvent& e) { return is_reply_for(e, execute_id); }) &&
           any(events, [&](const ClientEvent& e) { return is_idle_for(e, execute_id); });
  });
  std::vector<std::string> iopub_types;
  for (const auto& event : seen) {
    if (event.channel == ClientChannel::kIopub && parent_id(event) == execute_id) {
      iopub_types.push_back(event.message.header.msg_type == "status"
                                ? event.message.content.value("execution_state", "")
                                : event.message.header.msg_type);
    }
  }
  EXPECT_EQ(iopub_types, (std::vector<std::string>{"busy", "execute_input", "stream", "idle"}));
  EXPECT_TRUE(any(seen, [&](const ClientEvent& e) { return is_reply_for(e, execute_id); }));
}

TEST_F(KernelClientTest, InputRequestIsAnsweredOnStdin) {
  std::string msg_id = client_->send(ClientChannel::kShell, "execute_request",
                                     execute_content("print(input('name? ') * 2)", /*allow_stdin=*/true));
  auto seen = collect([](const auto& events) {
    return any(events, [](const ClientEvent& e) { return e.message.header.msg_type == "input_request"; });
  });
  auto request = std::find_if(seen.begin(), seen.end(),
                              [](const ClientEvent& e) { return e.message.header.msg_type == "input_request"; });
  ASSERT_NE(request, seen.end());
  EXPECT_EQ(request->channel, ClientChannel::kStdin);
  EXPECT_EQ(request->message.content.value("prompt", ""), "name? ");
  client_->send_input_reply(request->message, "ab");

  auto printed = [&](const ClientEvent& e) {
    return e.message.header.msg_type == "stream" && e.message.content.value("text", "") == "abab\n";
  };
  seen = collect([&](const auto& events) { return any(events, printed); });
  EXPECT_TRUE(any(seen, printed));
}

TEST_F(KernelClientTest, InterruptSignalStopsARunningCell) {
  std::string msg_id =
      client_->send(ClientChannel::kShell, "execute_request", execute_content("import time; time.sleep(30)"));
  auto started = [&](const ClientEvent& e) {
    return e.message.header.msg_type == "execute_input" && parent_id(e) == msg_id;
  };
  auto seen = collect([&](const auto& events) { return any(events, started); });
  ASSERT_TRUE(any(seen, started));
  std::this_thread::sleep_for(200ms);  // let the cell reach time.sleep
  process_->send_interrupt_signal();

  auto reply = [&](const ClientEvent& e) { return is_reply_for(e, msg_id); };
  seen = collect([&](const auto& events) { return any(events, reply); }, 10s);
  auto reply_event = std::find_if(seen.begin(), seen.end(), reply);
  ASSERT_NE(reply_event, seen.end());
  EXPECT_EQ(reply_event->message.content.value("status", ""), "error");
  EXPECT_EQ(reply_event->message.content.value("ename", ""), "KeyboardInterrupt");
}

TEST_F(KernelClientTest, HeartbeatNoticesAKilledKernel) {
  EXPECT_TRUE(client_->alive());
  process_->kill();
  auto deadline = std::chrono::steady_clock::now() + 6s;
  while (client_->alive() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(client_->alive());
}

TEST(KernelClientWithoutKernel, WaitForReadyTimesOut) {
  KernelClient client(nobody_listening(), "tester");
  auto started = std::chrono::steady_clock::now();
  auto ready = client.wait_for_ready(1500ms);
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(ready.status().code(), wire::StatusCode::kUnavailable);
  EXPECT_GE(took, 1400ms);
  EXPECT_LT(took, 3s);
  EXPECT_FALSE(client.next_event(50ms).has_value());
}

// Sends SIGINT to the whole process after `delay` from a thread that blocks
// it, so only threads that leave it unblocked can take it.
std::jthread interrupt_process_after(std::chrono::milliseconds delay) {
  return std::jthread([delay] {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, nullptr);
    std::this_thread::sleep_for(delay);
    ::kill(::getpid(), SIGINT);
  });
}

TEST(KernelClientWithoutKernel, SignalEndsTheWaitOfTheOwningThread) {
  struct sigaction count_only {};
  struct sigaction previous {};
  count_only.sa_handler = [](int) {};  // no SA_RESTART: the wait sees EINTR
  ::sigaction(SIGINT, &count_only, &previous);
  {
    KernelClient client(nobody_listening(), "tester");
    auto started = std::chrono::steady_clock::now();
    auto interrupter = interrupt_process_after(300ms);
    EXPECT_FALSE(client.next_event(10s).has_value());
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    interrupter.join();

    interrupter = interrupt_process_after(300ms);
    auto reply = client.request(ClientChannel::kShell, "kernel_info_request", wire::Json::object(), 10s);
    EXPECT_EQ(reply.status().code(), wire::StatusCode::kInterrupted);
  }
  ::sigaction(SIGINT, &previous, nullptr);
}

}  // namespace
}  // namespace ensemble::client
