// Jupyter connection files: parsing, endpoints and writing with mode 0600.
#pragma once

#include <cstdint>
#include <string>

#include "ensemble/wire/message.hpp"
#include "ensemble/wire/status.hpp"

namespace ensemble::wire {

enum class Channel { kShell, kControl, kStdin, kIopub, kHeartbeat };

struct ConnectionInfo {
  std::string transport = "tcp";  // "tcp" or "ipc"
  std::string ip = "127.0.0.1";
  int shell_port = 0;
  int iopub_port = 0;
  int stdin_port = 0;
  int control_port = 0;
  int hb_port = 0;
  std::string key;
  std::string signature_scheme = "hmac-sha256";
  std::string kernel_name;

  // ZeroMQ endpoint for a channel: tcp://ip:port, or ipc://ip-port as
  // jupyter_client names ipc files.
  std::string endpoint(Channel channel) const;
  int port(Channel channel) const;
  void set_port(Channel channel, int port);

  Json to_json() const;
  // Errors: kMalformed for wrong types, kInvalidArgument for an unknown
  // transport or signature scheme or ports out of range.
  static Result<ConnectionInfo> from_json(const Json& json);
  static Result<ConnectionInfo> from_json_text(const std::string& text);
  static Result<ConnectionInfo> load(const std::string& path);
};

// Writes `info` to `path` with mode 0600 (created that way, never widened).
Status write_connection_file(const std::string& path, const ConnectionInfo& info);

// A fresh connection for a kernel on loopback: random 256-bit key, ports 0
// (to be chosen when binding).
ConnectionInfo fresh_loopback_connection();

}  // namespace ensemble::wire
