// A second way into a kernel: one connection the kernel opens itself, rather
// than sockets it binds. An engine uses it to reach its controller, so the
// controller needs one connection per engine and never connects to engines.
//
// On that connection every message starts with a frame naming its channel:
//   - "shell" and "control": requests coming in, and their replies going out;
//   - "iopub": a copy of everything the kernel publishes, once ready() says so,
//     except the busy and idle of a request the uplink calls quiet (below)
//     that published nothing else: its reply says so instead, with
//     metadata "outputs": "none";
//   - "mirror-request" and "mirror-reply": copies going out of the requests
//     that peers the uplink claims (mirrors()) sent to the kernel's own shell
//     socket, as they arrive, and of their replies, once sent to the peer.
//     The copies are the frames as signed (the request's identity first), so
//     the uplink's peer can keep a record of work it did not route. A request
//     whose buffers add up to more than mirrored_buffers_limit() is copied
//     without them, under the channel "mirror-request:<bytes left out>".
// Anything else that arrives belongs to the uplink's owner (on_message).
//
// Threads: the kernel's I/O thread calls every member and owns the socket
// open() returns; nothing here may touch Python. Ownership: the kernel keeps
// the uplink (a shared_ptr) until its I/O thread has stopped.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "ensemble/wire/connection_file.hpp"

namespace ensemble::kernel {

inline constexpr const char* kUplinkShell = "shell";
inline constexpr const char* kUplinkControl = "control";
inline constexpr const char* kUplinkIopub = "iopub";
inline constexpr const char* kUplinkMirrorRequest = "mirror-request";
inline constexpr const char* kUplinkMirrorReply = "mirror-reply";
// From the peer, alone in its message: send the copies and statuses you hold now (a client
// waits on the peer for the copy of a reply it has had; see copy_delay()).
inline constexpr const char* kUplinkSendCopies = "send-copies";
// To the peer, after the copies: ["copies-sent", token] when "send-copies" came with a
// second frame, the token. Everything the kernel had copied before it read that request
// has gone up by then: the peer's barrier (a query that must see every direct request).
inline constexpr const char* kUplinkCopiesSent = "copies-sent";

class Uplink {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~Uplink() = default;

  // Creates and connects the socket in `context`, once, as the I/O thread
  // starts. `bound` is the kernel's own connection (its ports are chosen).
  virtual zmq::socket_t& open(zmq::context_t& context, const wire::ConnectionInfo& bound) = 0;
  // When on_timer() wants to run next.
  virtual Clock::time_point next_timer() const = 0;
  virtual void on_timer() = 0;
  // A message whose first frame names no channel (the owner's own traffic).
  virtual void on_message(std::vector<zmq::message_t>& parts) = 0;
  // Whether the peer should get iopub now.
  virtual bool ready() const = 0;
  // Whether requests of this type are quiet: their busy goes up only before
  // their first other iopub message (and then their idle too). Most requests
  // of a parallel engine publish nothing, and two status messages each were a
  // fifth of a whole cluster's work per task. The kernel's own iopub socket
  // still gets every status.
  virtual bool quiet(std::string_view request_type) const {
    (void)request_type;
    return false;
  }
  // Whether requests on the kernel's shell socket from the peer with this
  // routing identity are mirrored on the uplink (see above). Their replies
  // also say "outputs": "none" like the uplink's own, as their busy and idle
  // do not go up either when the request published nothing else.
  virtual bool mirrors(std::string_view identity) const {
    (void)identity;
    return false;
  }
  // How long the I/O thread may hold what goes up (the copies of direct requests and of
  // their replies, a quiet request's statuses) to send it with what follows: each send
  // after a quiet spell wakes ZeroMQ's thread and the peer. The peer may ask for them
  // sooner (kUplinkSendCopies). Read once, as the I/O thread starts.
  virtual std::chrono::microseconds copy_delay() const { return std::chrono::milliseconds(1); }
  // Buffers past this (in all) are left out of a request's copy (see above).
  virtual std::uint64_t mirrored_buffers_limit() const { return UINT64_MAX; }
  // The I/O thread is stopping: last words, then the socket may close.
  virtual void close() = 0;
};

}  // namespace ensemble::kernel
