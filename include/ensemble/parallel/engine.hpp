// What makes a kernel an engine (docs/parallel-protocol.md): its one
// connection to the controller, and apply_request.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <zmq.hpp>

#include "ensemble/kernel/kernel.hpp"
#include "ensemble/kernel/uplink.hpp"
#include "ensemble/parallel/cluster_files.hpp"
#include "ensemble/wire/message.hpp"
#include "ensemble/wire/signer.hpp"

namespace ensemble::parallel {

// An engine's one connection to its controller (a kernel::Uplink): it
// registers (resending with back-off until the controller answers), then
// heartbeats, and carries the controller's shell and control requests in and
// their replies and the engine's iopub out. A new controller that does not
// know the engine gets it registered again, asking for the same id.
//
// Threads: the kernel's I/O thread makes every Uplink call and owns the
// socket. engine_id() and engine_id_within() are thread-safe (the kernel's main
// thread reads the id for each apply_request).
class ControllerLink final : public kernel::Uplink {
 public:
  // `identity` is the registration_request content without the engine's
  // kernel ports (uuid, session, pid, hostname); open() adds them.
  // `on_registered(id, kernel)` runs on the I/O thread each time the
  // controller accepts the engine.
  using OnRegistered = std::function<void(int id, const wire::ConnectionInfo& kernel)>;
  // `copy_delay`: see kernel::Uplink::copy_delay().
  ControllerLink(ControllerAddress controller, wire::Json identity, std::chrono::microseconds copy_delay,
                 OnRegistered on_registered);
  ~ControllerLink() override;
  ControllerLink(const ControllerLink&) = delete;
  ControllerLink& operator=(const ControllerLink&) = delete;

  // -1 until registered.
  int engine_id() const { return engine_id_.load(); }
  // The engine id, waiting up to `patience` for the first registration reply if it has not
  // been read yet; -1 if it does not come. Whoever sends the engine a request learnt its id
  // from the controller after the controller sent that reply, but the request comes on
  // another connection (a client's direct socket) and can be read first.
  int engine_id_within(std::chrono::milliseconds patience) const;

  zmq::socket_t& open(zmq::context_t& context, const wire::ConnectionInfo& bound) override;
  Clock::time_point next_timer() const override { return next_timer_; }
  void on_timer() override;
  void on_message(std::vector<zmq::message_t>& parts) override;
  bool ready() const override { return registered_; }
  // apply_request: most publish nothing, and clients learn that from the reply.
  bool quiet(std::string_view request_type) const override { return request_type == "apply_request"; }
  // A cluster client's direct socket (cluster_files.hpp): the controller records its requests.
  bool mirrors(std::string_view identity) const override { return identity.ends_with(kDirectIdentitySuffix); }
  // The controller keeps no more of a request's buffers: the rest need not travel.
  std::uint64_t mirrored_buffers_limit() const override { return kLargestKeptRequestBuffers; }
  std::chrono::microseconds copy_delay() const override { return copy_delay_; }
  void close() override;

 private:
  void send_message(const std::string& msg_type, wire::Json content);
  void on_registration_reply(const wire::Json& content);

  ControllerAddress controller_;
  wire::Json registration_;
  OnRegistered on_registered_;
  wire::Signer signer_;
  std::string session_;
  wire::ConnectionInfo kernel_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::atomic<int> engine_id_{-1};
  mutable std::mutex id_mutex_;  // with id_known_: engine_id_within's wait for the first id
  mutable std::condition_variable id_known_;
  int wanted_id_ = -1;  // the id we had, asked for again when a new controller takes over
  bool registered_ = false;
  std::chrono::milliseconds retry_;
  std::chrono::milliseconds period_;
  Clock::time_point next_timer_ = Clock::time_point::max();
  std::chrono::microseconds copy_delay_;
};

// Serves apply_request on `kernel` by calling ensemble._engine.apply.run
// under the GIL (main thread). `link` supplies the engine id.
void add_apply_handler(kernel::Kernel& kernel, const ControllerLink& link, std::string engine_uuid);

}  // namespace ensemble::parallel
