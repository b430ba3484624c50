// Private: the CurveZMQ keys a client uses for a connection file. A kernel's
// own file (jupyter_client >= 8.9) holds the kernel's pair, which its owner
// uses as the client pair too; an invitation holds the user's own pair and
// the kernel's public key as curve_serverkey.
#pragma once

#include <optional>
#include <string>

#include <zmq.hpp>

#include "ensemble/wire/connection_file.hpp"

namespace ensemble::client {

struct CurveKeys {
  std::string server_public;
  std::string client_public;
  std::string client_secret;
};

inline std::optional<CurveKeys> curve_keys_for(const wire::ConnectionInfo& info) {
  if (!info.encrypted()) return std::nullopt;
  return CurveKeys{info.is_invitation() ? info.curve_serverkey : info.curve_publickey, info.curve_publickey,
                   info.curve_secretkey};
}

// Before connect().
inline void apply_curve(zmq::socket_t& socket, const std::optional<CurveKeys>& keys) {
  if (!keys) return;
  socket.set(zmq::sockopt::curve_serverkey, keys->server_public);
  socket.set(zmq::sockopt::curve_publickey, keys->client_public);
  socket.set(zmq::sockopt::curve_secretkey, keys->client_secret);
}

}  // namespace ensemble::client
