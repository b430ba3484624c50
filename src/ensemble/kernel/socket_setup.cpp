#include "socket_setup.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>

namespace ensemble::kernel {

wire::Status bind_socket(zmq::socket_t& socket, wire::ConnectionInfo& info, wire::Channel channel) {
  if (info.transport == "ipc" && info.port(channel) == 0) {
    // As jupyter_client does: the first free "<ip>-<n>" path.
    for (int n = 1; n < 65536; ++n) {
      struct stat existing {};
      if (::stat((info.ip + "-" + std::to_string(n)).c_str(), &existing) != 0) {
        info.set_port(channel, n);
        break;
      }
    }
  }
  std::string endpoint = info.endpoint(channel);
  try {
    socket.bind(endpoint);
  } catch (const zmq::error_t& error) {
    return wire::Status::Error(wire::StatusCode::kIoError, "cannot bind " + endpoint + ": " + error.what());
  }
  if (info.transport == "tcp") {
    std::string last = socket.get(zmq::sockopt::last_endpoint);
    info.set_port(channel, std::stoi(last.substr(last.rfind(':') + 1)));
  }
  return wire::Status::Ok();
}

void configure_curve_server(zmq::socket_t& socket, const std::string& secret_key) {
  if (secret_key.empty()) return;
  socket.set(zmq::sockopt::curve_server, 1);
  socket.set(zmq::sockopt::curve_secretkey, secret_key);
  socket.set(zmq::sockopt::zap_domain, "ensemble");
}

void configure_router(zmq::socket_t& socket, std::size_t max_message_bytes) {
  // Long enough for the last replies to leave at shutdown, short enough that
  // a vanished client never holds the process.
  socket.set(zmq::sockopt::linger, 500);
  // A ROUTER drops what it cannot queue for a peer at its high-water mark
  // (1,000 by default): a client that sends thousands of requests before it
  // reads (an ipyparallel client pipelining applies) lost replies. No limit:
  // every reply waits for its reader.
  socket.set(zmq::sockopt::sndhwm, 0);
  // A hard cap against memory exhaustion; messages between the soft limit
  // (checked on decode, answered with an error) and this are refused politely.
  auto cap = static_cast<int64_t>(std::min<std::size_t>(max_message_bytes * 4, std::size_t{1} << 40));
  socket.set(zmq::sockopt::maxmsgsize, cap);
}

}  // namespace ensemble::kernel
