// How the kernel sets up its bound sockets: binding (ipc paths as
// jupyter_client picks them, tcp ports read back), CurveZMQ server keys, and
// the ROUTER options. Used by the I/O loop and the heartbeat.
#pragma once

#include <zmq.hpp>

#include <cstddef>
#include <string>

#include "ensemble/wire/connection_file.hpp"
#include "ensemble/wire/status.hpp"

namespace ensemble::kernel {

// Binds `socket` for `channel`; a port of 0 in `info` is chosen here and written back.
wire::Status bind_socket(zmq::socket_t& socket, wire::ConnectionInfo& info, wire::Channel channel);
// No-op for an empty key.
void configure_curve_server(zmq::socket_t& socket, const std::string& secret_key);
void configure_router(zmq::socket_t& socket, std::size_t max_message_bytes);

}  // namespace ensemble::kernel
