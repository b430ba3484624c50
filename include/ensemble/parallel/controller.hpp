// The controller of a cluster: engine registration and heartbeats, direct
// routing of client requests to engines, the iopub relay, notifications, and
// a record per request (docs/parallel-protocol.md).
//
// Threads: one. run() owns every socket and all state, polling them in a
// single loop; request_stop() is the only method safe from other threads
// (and from a signal handler's thread through an eventfd-like self-pipe).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "ensemble/parallel/cluster_files.hpp"
#include "ensemble/wire/status.hpp"

namespace ensemble::parallel {

struct ControllerOptions {
  std::string transport = "tcp";
  std::string ip = "127.0.0.1";
  int client_port = 0;  // 0 picks a free port
  int iopub_port = 0;
  int registration_port = 0;
  std::string cluster_id;
  std::string security_dir;  // where the client and engine files are written
  std::chrono::milliseconds heartbeat_period{1000};
  int heartbeat_misses = 5;
  // Load balancing: "leastload", "lru", "plainrandom", "weighted" or "twobin",
  // and the most tasks one engine may hold (0: no limit).
  std::string scheme = "leastload";
  int hwm = 0;
  // The task store: a SQLite file, or ":memory:" (SQLite in memory: db_query
  // and resubmit work, nothing outlives the process). Finished results in an
  // existing file are retrievable again. "": no store; results stay in the
  // controller's memory, and db_query and resubmit answer an error.
  std::string db_path;
  // Reuse the ports and the key of the files a previous controller wrote, so
  // that its engines and clients find this one.
  bool restore = false;
};

class Controller {
 public:
  // Throws std::runtime_error if ZeroMQ cannot be set up.
  explicit Controller(ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Binds, then writes the client and engine files (0600, fresh key).
  // Errors: kIoError (a port or a file).
  wire::Result<ControllerAddress> bind();
  // Serves until a hub shutdown_request or request_stop().
  void run();
  // Thread-safe.
  void request_stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ensemble::parallel
