#include "ensemble/kernel/debug_channel.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <spdlog/spdlog.h>

namespace ensemble::kernel {

namespace {
// Requests are small (a breakpoint list, a cell's code for dumpCell): a megabyte
// holds any backlog a working debugger thread leaves.
constexpr int kPipeBytes = 1 << 20;
}  // namespace

DebugChannel::DebugChannel(const Session& session, Outbox& outbox) : session_(session), outbox_(outbox) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "debug channel pipe");
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  // The writer is the I/O thread, which must never block on a debugger that stopped reading.
  ::fcntl(write_fd_, F_SETFL, ::fcntl(write_fd_, F_GETFL) | O_NONBLOCK);
  (void)::fcntl(write_fd_, F_SETPIPE_SZ, kPipeBytes);  // best effort: the default 64 KiB also works
}

DebugChannel::~DebugChannel() {
  ::close(write_fd_);  // the reader sees the end of the stream and stops
  if (read_fd_ >= 0) ::close(read_fd_);  // never taken
}

bool DebugChannel::hand_on(wire::Message request) {
  std::lock_guard lock(mutex_);
  std::uint64_t token = next_token_++;
  std::string line = wire::Json{{"token", token}, {"content", request.content}}.dump(
                         -1, ' ', false, wire::Json::error_handler_t::replace) +
                     "\n";
  // A line cut short would garble every later one, so it goes in whole or not at all:
  // only this thread writes, and the reader only makes room, so a line that fits the
  // room left now is written whole (a pipe's own atomicity stops at PIPE_BUF bytes).
  int capacity = ::fcntl(write_fd_, F_GETPIPE_SZ);
  int queued = 0;
  if (capacity < 0 || ::ioctl(write_fd_, FIONREAD, &queued) != 0 ||
      static_cast<std::size_t>(capacity - queued) < line.size()) {
    spdlog::warn("debug_request of {} bytes not handed to the debugger: it is not reading", line.size());
    return false;
  }
  if (::write(write_fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    spdlog::warn("debug_request not handed to the debugger: {}", std::strerror(errno));
    return false;
  }
  last_parent_ = request.header.to_json();
  waiting_.emplace(token, std::move(request));
  return true;
}

bool DebugChannel::reply(std::uint64_t token, wire::Json content) {
  wire::Message request;
  {
    std::lock_guard lock(mutex_);
    auto found = waiting_.find(token);
    if (found == waiting_.end()) return false;
    request = std::move(found->second);
    waiting_.erase(found);
  }
  wire::Json parent = request.header.to_json();  // once, for the reply and its idle status
  outbox_.send(Route::kControl, session_.reply(request, std::move(content), parent, nullptr));
  outbox_.send(Route::kIopub, session_.make("status", wire::Json{{"execution_state", "idle"}}, std::move(parent)));
  return true;
}

void DebugChannel::publish_event(wire::Json content) {
  wire::Json parent;
  {
    std::lock_guard lock(mutex_);
    parent = last_parent_;
  }
  outbox_.send(Route::kIopub, session_.make("debug_event", std::move(content), std::move(parent)));
}

wire::Json failed_debug_response(const wire::Json& request, const std::string& message) {
  wire::Json response = {{"type", "response"}, {"success", false}, {"message", message}, {"body", wire::Json::object()}};
  if (request.is_object()) {
    if (auto seq = request.find("seq"); seq != request.end()) response["request_seq"] = *seq;
    if (auto command = request.find("command"); command != request.end()) response["command"] = *command;
  }
  return response;
}

}  // namespace ensemble::kernel
