// What makes a kernel an engine (docs/parallel-protocol.md): registration
// and heartbeats with the controller, and apply_request.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "ensemble/kernel/kernel.hpp"
#include "ensemble/parallel/cluster_files.hpp"
#include "ensemble/wire/message.hpp"
#include "ensemble/wire/signer.hpp"

namespace ensemble::parallel {

// Registers an engine with its controller and keeps it alive there.
//
// Threads: start() runs a thread of its own (SIGINT blocked) that owns the
// registration socket; it never touches Python. engine_id() is thread-safe.
// The destructor tells the controller the engine is leaving and joins.
class Registrar {
 public:
  // `registration` is the registration_request content (uuid, session,
  // connection, pid, hostname, connection_file).
  Registrar(ControllerAddress controller, wire::Json registration);
  ~Registrar();
  Registrar(const Registrar&) = delete;
  Registrar& operator=(const Registrar&) = delete;

  // Registers (resending with back-off until the controller answers), calls
  // `on_registered(id)` on the registrar's thread, then heartbeats. A new
  // controller that does not know the engine gets it registered again (asking
  // for the same id), and `on_registered` is called again.
  void start(std::function<void(int id)> on_registered);
  // -1 until registered.
  int engine_id() const { return engine_id_.load(); }

 private:
  void loop(std::stop_token stop, std::function<void(int)> on_registered);
  bool heartbeat(std::stop_token& stop, zmq::socket_t& socket, const wire::Signer& signer,
                 const std::function<void(const std::string&, wire::Json)>& send_message,
                 std::chrono::milliseconds period);
  ControllerAddress controller_;
  wire::Json registration_;
  std::atomic<int> engine_id_{-1};
  std::jthread thread_;
};

// Serves apply_request on `kernel` by calling ensemble._engine.apply.run
// under the GIL (main thread). `registrar` supplies the engine id.
void add_apply_handler(kernel::Kernel& kernel, const Registrar& registrar, std::string engine_uuid);

}  // namespace ensemble::parallel
