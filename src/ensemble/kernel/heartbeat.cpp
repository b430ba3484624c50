// The heartbeat channel: a ROUTER echoing every message back (zmq_proxy onto
// itself) on a thread of its own, which never touches Python.
#include <spdlog/spdlog.h>

#include "ensemble/wire/thread_name.hpp"
#include "io_loop.hpp"
#include "socket_setup.hpp"

namespace ensemble::kernel {

Heartbeat::Heartbeat(zmq::context_t& context) : socket_(context, zmq::socket_type::router) {
  socket_.set(zmq::sockopt::linger, 0);
}

void Heartbeat::enable_curve(const std::string& secret_key) {
  configure_curve_server(socket_, secret_key);
}

Heartbeat::~Heartbeat() {
  // The owner shuts the context down first, which ends the proxy.
  if (thread_.joinable()) thread_.join();
}

wire::Status Heartbeat::bind(wire::ConnectionInfo& info) {
  return bind_socket(socket_, info, wire::Channel::kHeartbeat);
}

void Heartbeat::start() {
  thread_ = std::jthread([this] {
    wire::name_this_thread("heartbeat");
    try {
      zmq::proxy(socket_, socket_);
    } catch (const zmq::error_t& error) {
      if (error.num() != ETERM) spdlog::error("heartbeat stopped: {}", error.what());
    }
    socket_.close();
  });
}

}  // namespace ensemble::kernel
