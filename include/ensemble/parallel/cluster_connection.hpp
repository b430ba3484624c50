// The C++ client core under ensemble._core: one client's sockets to a
// controller (docs/parallel-protocol.md), served by a background I/O thread.
//
// Threads: the I/O thread owns the DEALER (requests, replies), the SUB
// (iopub) and the PULL end of the outgoing queue. submit() may be called from
// any thread (a mutex guards the PUSH end); next_event() from any thread
// (a condition variable hands events over). Nothing here touches Python.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "ensemble/parallel/cluster_files.hpp"
#include "ensemble/wire/signer.hpp"
#include "ensemble/wire/status.hpp"

namespace ensemble::parallel {

struct ClusterEvent {
  enum class Kind { kShell, kIopub, kLost } kind = Kind::kShell;
  int engine_id = -1;  // the engine that answered or published; -1 for the controller
  std::string msg_type;
  std::vector<zmq::message_t> frames;  // header, parent, metadata, content, buffers...
};

class ClusterConnection {
 public:
  // Connects and waits until the controller's iopub welcome arrives.
  // Errors: kMalformed (address), kUnavailable (no controller within `timeout`).
  static wire::Result<std::unique_ptr<ClusterConnection>> open(const ControllerAddress& address,
                                                                std::string username,
                                                                std::chrono::milliseconds timeout);
  ~ClusterConnection();
  ClusterConnection(const ClusterConnection&) = delete;
  ClusterConnection& operator=(const ClusterConnection&) = delete;

  const std::string& session() const { return session_; }
  const std::string& username() const { return username_; }

  // Sends a signed request: to engine `target`'s shell or control, or to the
  // controller when target < 0. `buffers` are frames already built (they may
  // own foreign memory). Returns the msg_id. Thread-safe.
  std::string submit(const std::string& msg_type, const std::string& content_json, const std::string& metadata_json,
                     std::vector<zmq::message_t> buffers, int target, bool control, std::string msg_id);
  // The next event, or nullopt after `timeout`. Thread-safe.
  std::optional<ClusterEvent> next_event(std::chrono::milliseconds timeout);
  // Stops the I/O thread; pending events are dropped. Idempotent.
  void close();

 private:
  ClusterConnection(ControllerAddress address, std::string username);
  void loop(std::stop_token stop);
  void on_dealer();
  void on_iopub();
  void on_monitor();
  void push_event(ClusterEvent event);

  ControllerAddress address_;
  std::string username_;
  std::string session_;
  wire::Signer signer_;
  zmq::context_t context_{1};
  std::string queue_endpoint_;
  std::mutex submit_mutex_;
  zmq::socket_t submit_socket_;  // GUARDED_BY(submit_mutex_): PUSH end of the outgoing queue

  std::mutex events_mutex_;
  std::condition_variable events_ready_;
  std::deque<ClusterEvent> events_;  // GUARDED_BY(events_mutex_)
  bool welcomed_ = false;            // GUARDED_BY(events_mutex_)
  bool lost_ = false;                // GUARDED_BY(events_mutex_)

  // I/O thread only, after construction:
  std::unique_ptr<zmq::socket_t> dealer_, iopub_, queue_, monitor_;
  std::jthread thread_;
};

}  // namespace ensemble::parallel
