// The seam between control's debug_request (Jupyter's debugger protocol: a DAP
// message in each request, reply and event) and the language's debugger.
//
// Why a pipe: the debugger runs in the language (Python's debugpy), on a thread of
// its own that holds the GIL while it works, and the I/O thread that reads control
// never touches Python. The I/O thread writes each request as one line of JSON,
// {"token": N, "content": {...}}, to a pipe the debugger thread reads; that thread
// answers through reply(N, ...) and publishes DAP events through publish_event(),
// both of which queue on the outbox. So a request is answered even while a cell is
// stopped at a breakpoint, and the I/O thread never waits for the debugger.
//
// Ownership: the Kernel owns it; it owns the pipe's write end, and its read end until
// the debugger thread takes it. Errors: the
// constructor throws std::system_error if no pipe can be made.
// Threads: hand_on() on the I/O thread; reply() and publish_event() from any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "ensemble/kernel/channels.hpp"
#include "ensemble/kernel/session.hpp"

namespace ensemble::kernel {

class DebugChannel {
 public:
  DebugChannel(const Session& session, Outbox& outbox);
  ~DebugChannel();
  DebugChannel(const DebugChannel&) = delete;
  DebugChannel& operator=(const DebugChannel&) = delete;

  // The read end, for the debugger thread, which owns it from then on (blocking reads,
  // close-on-exec; it reads the end of the stream once the channel is gone, and closes
  // it). -1 once taken. Not thread-safe: once, before requests arrive.
  int take_request_fd() { return std::exchange(read_fd_, -1); }
  // Takes a debug_request whose busy status is out. False when the debugger side
  // has stopped reading (the pipe is full): the caller answers it instead.
  bool hand_on(wire::Message request);
  // Sends the debug_reply to request `token`, then its idle status. False for a
  // token that is not waiting (already answered, or never handed on).
  bool reply(std::uint64_t token, wire::Json content);
  // A debug_event on iopub, parented by the last debug_request handed on.
  void publish_event(wire::Json content);

 private:
  const Session& session_;
  Outbox& outbox_;
  int read_fd_ = -1;
  int write_fd_ = -1;
  std::mutex mutex_;
  std::uint64_t next_token_ = 1;                              // GUARDED_BY(mutex_)
  std::unordered_map<std::uint64_t, wire::Message> waiting_;  // GUARDED_BY(mutex_)
  wire::Json last_parent_ = wire::Json::object();             // GUARDED_BY(mutex_)
};

// A DAP response that fails `request` (a debug_request's content) with `message`.
wire::Json failed_debug_response(const wire::Json& request, const std::string& message);

}  // namespace ensemble::kernel
