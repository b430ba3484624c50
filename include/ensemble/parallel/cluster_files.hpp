// Where a cluster's files live and what they hold (docs/parallel-protocol.md,
// "Files"): ipyparallel's layout, so Client() finds a cluster the same way.
// Pure functions and small structs; no sockets, no threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ensemble/wire/message.hpp"
#include "ensemble/wire/status.hpp"

namespace ensemble::parallel {

// PROFILE_DIR/security, where PROFILE_DIR is `profile_dir` if given, else
// $IPYTHONDIR/profile_<profile> (IPYTHONDIR defaults to ~/.ipython).
std::string security_dir(const std::string& profile, const std::string& profile_dir);

// ipyparallel's names: the cluster id goes after the stem's first word, so
// "ipcontroller-client" becomes "ipcontroller-<id>-client.json" and "cluster"
// becomes "cluster-<id>.json"; the default cluster ("") keeps "<stem>.json".
std::string cluster_file_name(const std::string& stem, const std::string& cluster_id);
// An engine's own kernel connection file: "engine-<cluster_id>-<n>.json" ("engine-<n>.json").
std::string engine_file_name(const std::string& cluster_id, int engine_id);

// A client's socket for sending to one engine directly, past the controller,
// has the routing id "<session>.direct" (docs/parallel-protocol.md, "Direct
// requests"): the engine mirrors what comes from it to the controller, which
// records it as the request of the client whose session that is.
inline constexpr std::string_view kDirectIdentitySuffix = ".direct";

// A request's buffers are kept in the task store (for resubmit and db_query)
// up to this many bytes. Past it, every push of a large array would also be
// written to disk, beside the result store; such a record says how much it
// left out. An engine leaves them out of its copy of a direct request too.
inline constexpr std::uint64_t kLargestKeptRequestBuffers = 1u << 20;

// The controller's address and the cluster key, as a client or an engine reads them.
struct ControllerAddress {
  std::string transport = "tcp";
  std::string ip = "127.0.0.1";
  int client_port = 0;
  int iopub_port = 0;
  int registration_port = 0;
  std::string key;
  std::string signature_scheme = "hmac-sha256";
  std::string cluster_id;
  std::string security_dir;
  int heartbeat_period_ms = 1000;
  int heartbeat_misses = 5;
  int controller_pid = 0;
  // The controller's host name, as ipyparallel writes it: a client elsewhere that finds a
  // loopback `ip` warns that it cannot reach the controller. Empty: not written.
  std::string location;

  // tcp://ip:port, or ipc://<ip>-<port> as jupyter_client names ipc files.
  std::string endpoint(int port) const;
  wire::Json client_json() const;
  wire::Json engine_json() const;
  // Reads either file. Errors: kMalformed.
  static wire::Result<ControllerAddress> from_json(const wire::Json& json);
  static wire::Result<ControllerAddress> load(const std::string& path);
};

}  // namespace ensemble::parallel
