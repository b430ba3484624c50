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
  // CurveZMQ (docs/security.md). A kernel's own file holds its key pair; a
  // per-user invitation holds the kernel's public key as curve_serverkey,
  // the user's own pair, and the user's name and role. Z85, 40 characters.
  std::string curve_publickey;
  std::string curve_secretkey;
  std::string curve_serverkey;
  std::string username;
  std::string role;

  bool encrypted() const { return !curve_secretkey.empty(); }
  // True for a per-user invitation rather than a kernel's own file.
  bool is_invitation() const { return !curve_serverkey.empty(); }

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

// Writes `text` to `path` with mode 0600 (created that way, never widened), atomically:
// a temporary file beside it is renamed over it, so readers never see a partial file.
// Errors: kIoError (the temporary file is removed).
Status write_private_file(const std::string& path, const std::string& text);

// Writes `info` to `path` with mode 0600 (created that way, never widened).
Status write_connection_file(const std::string& path, const ConnectionInfo& info);

// A fresh connection for a kernel on loopback: random 256-bit key, ports 0
// (to be chosen when binding).
ConnectionInfo fresh_loopback_connection();

}  // namespace ensemble::wire
