// A client of any Jupyter kernel: the five channels, signed messages, and
// request/reply matching. Single-threaded by design: the owner polls it
// (next_event) together with its own file descriptors, e.g. a terminal.
// The heartbeat is checked on a thread of its own (alive()).
//
// Thread safety: all methods on the owning thread, except alive().
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ensemble/wire/connection_file.hpp"
#include "ensemble/wire/message.hpp"
#include "ensemble/wire/status.hpp"

namespace ensemble::client {

using wire::Json;

enum class ClientChannel { kShell, kControl, kStdin, kIopub };

struct ClientEvent {
  ClientChannel channel;
  wire::Message message;
};

class KernelClient {
 public:
  // Connects shell, control and stdin (DEALER, sharing one identity, as
  // jupyter_client does), iopub (SUB to everything) and hb (REQ).
  // `username` goes into every header. Throws std::runtime_error if the
  // sockets cannot be created.
  KernelClient(const wire::ConnectionInfo& connection, std::string username);
  ~KernelClient();
  KernelClient(const KernelClient&) = delete;
  KernelClient& operator=(const KernelClient&) = delete;

  const std::string& session_id() const;
  const std::string& username() const;

  // Sends a request; returns its msg_id.
  std::string send(ClientChannel channel, const std::string& msg_type, Json content);
  // Answers an input_request.
  void send_input_reply(const wire::Message& input_request, const std::string& value);

  // Waits up to `timeout` for the next message on any channel, or for
  // `extra_fd` to become readable (then returns nullopt and sets
  // *extra_ready). A signal interrupting the wait also returns nullopt.
  // Messages that fail to decode are logged and skipped.
  std::optional<ClientEvent> next_event(std::chrono::milliseconds timeout, int extra_fd = -1,
                                        bool* extra_ready = nullptr);

  // Sends a request and waits for its reply on the same channel; every other
  // message received meanwhile is kept and returned by later next_event()
  // calls, in order. Errors: kUnavailable on timeout.
  wire::Result<wire::Message> request(ClientChannel channel, const std::string& msg_type, Json content,
                                      std::chrono::milliseconds timeout);

  // Waits until iopub is connected and the kernel answers kernel_info
  // (jupyter_client's wait_for_ready). Returns the kernel_info reply.
  wire::Result<wire::Message> wait_for_ready(std::chrono::milliseconds timeout);

  // From the heartbeat thread: false once the kernel missed its beats
  // (3 in a row, 1 s apart). Thread-safe.
  bool alive() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ensemble::client
