#include "cell_runner.hpp"

namespace ensemble::console {

namespace {
std::string parent_id(const wire::Message& message) {
  auto it = message.parent_header.find("msg_id");
  return it != message.parent_header.end() && it->is_string() ? it->get<std::string>() : std::string();
}
// How long to wait for the idle status once the reply is in: output
// published after the reply still belongs to the cell.
constexpr std::chrono::seconds kIdleGrace{2};
}  // namespace

PayloadRequests show_payload(const wire::Json& payload, std::ostream& out) {
  PayloadRequests requests;
  for (const auto& item : payload) {
    std::string source = item.value("source", "");
    if (source == "page") {
      out << Renderer::text_of_bundle(item.value("data", wire::Json::object())) << std::endl;
    } else if (source == "ask_exit") {
      requests.exit = true;
      requests.keep_kernel = item.value("keepkernel", false);
    } else if (source == "set_next_input") {
      requests.next_input = item.value("text", "");
    } else if (source == "edit_magic") {
      requests.edit_file = item.value("filename", "");
      if (auto at = item.find("line_number"); at != item.end() && at->is_number_integer()) {
        requests.edit_line = at->get<int>();
      }
    }
  }
  return requests;
}

namespace {
constexpr auto kIopubQuiet = std::chrono::milliseconds(5);
constexpr auto kInputCatchUp = std::chrono::milliseconds(50);
}  // namespace

CellOutcome CellRunner::run(const std::string& code, bool allow_stdin) {
  auto& client = session_.client();
  const std::string msg_id = client.send(client::ClientChannel::kShell, "execute_request",
                                         wire::Json{{"code", code},
                                                    {"silent", false},
                                                    {"store_history", true},
                                                    {"user_expressions", wire::Json::object()},
                                                    {"allow_stdin", allow_stdin},
                                                    {"stop_on_error", true}});
  CellOutcome outcome;
  bool replied = false;
  bool idle = false;
  auto replied_at = std::chrono::steady_clock::now();
  // An input_request can overtake the output printed just before it (stdin and
  // iopub are separate sockets): the prompt waits until iopub has been quiet
  // for a moment, or kInputCatchUp at most.
  std::optional<wire::Message> asked;
  auto ask_by = std::chrono::steady_clock::now();
  auto answer = [&] {
    renderer_.ensure_line_start();
    auto line = input_(asked->content.value("prompt", ""), asked->content.value("password", false));
    client.send_input_reply(*asked, line.value_or(""));
    asked.reset();
  };
  while (!(replied && idle)) {
    if (replied && std::chrono::steady_clock::now() - replied_at > kIdleGrace) break;
    if (interrupted_.exchange(false)) session_.interrupt();
    if (!client.alive()) {
      outcome.status = "dead";
      return outcome;
    }
    auto event = client.next_event(asked ? kIopubQuiet : std::chrono::milliseconds(100));
    if (asked && (!event || std::chrono::steady_clock::now() >= ask_by)) answer();
    if (!event) continue;
    const wire::Message& message = event->message;
    switch (event->channel) {
      case client::ClientChannel::kIopub:
        if (message.header.msg_type == "status" && parent_id(message) == msg_id &&
            message.content.value("execution_state", "") == "idle") {
          idle = true;
        } else {
          renderer_.render(message);
        }
        break;
      case client::ClientChannel::kShell:
        if (parent_id(message) == msg_id) {
          replied = true;
          replied_at = std::chrono::steady_clock::now();
          outcome.status = message.content.value("status", "error");
          outcome.execution_count = message.content.value("execution_count", 0);
          outcome.payload = message.content.value("payload", wire::Json::array());
        }
        break;
      case client::ClientChannel::kStdin:
        if (message.header.msg_type == "input_request") {
          if (asked) answer();  // cannot happen with one kernel thread asking; keep the order anyway
          asked = message;
          ask_by = std::chrono::steady_clock::now() + kInputCatchUp;
        }
        break;
      case client::ClientChannel::kControl: break;
    }
  }
  return outcome;
}

bool CellRunner::pump(std::chrono::milliseconds timeout, int fd, bool* fd_ready) {
  auto& client = session_.client();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!client.alive()) return false;
    bool ready = false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto event = client.next_event(std::max(left, std::chrono::milliseconds(0)), fd, &ready);
    if (ready) {
      if (fd_ready != nullptr) *fd_ready = true;
      return true;
    }
    if (!event) return true;  // a signal, or the time is up
    if (event->channel != client::ClientChannel::kIopub) continue;
    if (before_output_) before_output_();
    bool printed = renderer_.render(event->message);
    if (printed) renderer_.ensure_line_start();
    if (after_output_) after_output_();
  }
  return true;
}

}  // namespace ensemble::console
