// Private: the ZeroMQ authentication (ZAP) handler of an encrypted kernel.
// libzmq asks it about every CURVE handshake on the kernel's sockets; it
// admits the owner's key and the roster's, names the connection by its
// public key (read back per message as the "User-Id" property), and refuses
// and logs anything else. Runs on a thread of its own until the context
// shuts down; never touches Python.
#pragma once

#include <thread>

#include <zmq.hpp>

#include "ensemble/kernel/roster.hpp"

namespace ensemble::kernel {

class ZapHandler {
 public:
  ZapHandler(zmq::context_t& context, RosterFile& roster);
  ~ZapHandler();
  // Binds the handler's endpoint; must happen before sockets are bound.
  void start();

 private:
  void serve();

  zmq::socket_t socket_;
  RosterFile& roster_;
  std::jthread thread_;
};

}  // namespace ensemble::kernel
