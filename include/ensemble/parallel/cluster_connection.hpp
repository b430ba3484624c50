// The C++ client core under ensemble._core: one client's sockets to a
// controller (docs/parallel-protocol.md).
//
// Threads: one of its own, the sender's flusher (corked_sender.hpp), which sends
// what a burst of submissions held back; no reply waits on a hand-off. Sending
// and receiving use separate sockets, each behind its own mutex: submit() sends
// on the "<session>.tx" DEALER, through the CorkedSender, from whichever thread
// calls it; next_event() polls
// the "<session>" DEALER (replies), the SUB (iopub) and the connection monitor
// from whichever thread waits (the Python client's one event thread, with the
// GIL released). The controller answers what "<session>.tx" sent to
// "<session>". Nothing here touches Python.
//
// Direct sockets: a DEALER "<session>.direct" per engine whose kernel shell
// the client can reach (connect_engine) carries that engine's shell requests
// past the controller, and their replies back (docs/parallel-protocol.md,
// "Direct requests"). Senders and the waiting thread share it under
// direct_mutex_; the waiting thread polls its ZMQ_FD without the lock, and a
// sender whose send took in a reply's arrival wakes it through wake_fd_.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "ensemble/parallel/cluster_files.hpp"
#include "ensemble/parallel/corked_sender.hpp"
#include "ensemble/wire/signer.hpp"
#include "ensemble/wire/status.hpp"

namespace ensemble::parallel {

struct ClusterEvent {
  enum class Kind { kShell, kIopub, kLost, kReconnected } kind = Kind::kShell;
  int engine_id = -1;  // the engine that answered or published; -1 for the controller
  std::string msg_type;
  std::vector<zmq::message_t> frames;  // header, parent, metadata, content, buffers...
};

using Parts = std::vector<zmq::message_t>;

class ClusterConnection {
 public:
  // Connects and waits until the controller's iopub welcome arrives.
  // Errors: kMalformed (address), kUnavailable (no controller within `timeout`).
  // Waits for the controller's iopub welcome and for a reply reaching the
  // receiving socket, so nothing sent afterwards can be missed.
  static wire::Result<std::unique_ptr<ClusterConnection>> open(const ControllerAddress& address,
                                                                std::string username,
                                                                std::chrono::milliseconds timeout);
  ~ClusterConnection();
  ClusterConnection(const ClusterConnection&) = delete;
  ClusterConnection& operator=(const ClusterConnection&) = delete;

  const std::string& session() const { return session_; }
  const std::string& username() const { return username_; }

  // Where a request goes: engine `target`'s shell or control, the load
  // balancer (any engine; `target` is ignored), or the controller itself when
  // target < 0 and the route is kShell.
  // kBroadcast: the controller sends it on to every engine listed in the
  // metadata's "targets" (`target` is ignored).
  enum class Route { kShell, kControl, kTask, kBroadcast };
  // Sends a signed request. `buffers` are frames already built (they may own
  // foreign memory). Returns the msg_id. Thread-safe. A request that follows
  // another within send_window() may be held back that long (see flush()).
  // `date` is the header's (wire::iso8601_at); empty: now.
  std::string submit(const std::string& msg_type, const std::string& content_json, const std::string& metadata_json,
                     std::vector<zmq::message_t> buffers, int target, Route route, std::string msg_id,
                     std::string date = {});
  // Sends the requests that submit() holds back now: a thread about to wait
  // for their replies calls it first. Thread-safe.
  void flush();
  // How long a request that follows another may be held back (CorkedSender):
  // kSendWindow, or ENSEMBLE_SEND_WINDOW_US in the environment (0: never).
  static std::chrono::microseconds send_window();
  static constexpr std::chrono::microseconds kSendWindow{200};
  // A request with this many bytes of buffers or more is never held back.
  static constexpr std::size_t kNeverHeldFrom = 64 * 1024;
  // The next event, or nullopt after `timeout`. Thread-safe.
  std::optional<ClusterEvent> next_event(std::chrono::milliseconds timeout);
  // Every event that has arrived (at most `max`), waiting up to `timeout` for
  // the first; empty after the timeout. One call per backlog instead of one
  // per message. Thread-safe.
  std::vector<ClusterEvent> next_events(std::chrono::milliseconds timeout, std::size_t max);
  // Makes the thread now waiting in next_event()/next_events(), or the next
  // one to wait, return at once (with what has arrived, possibly nothing), so
  // that another thread can take its turn at waiting: the Python client's
  // event thread steps aside for a thread that waits for its own reply
  // (events.py). Thread-safe; costs one eventfd write.
  void interrupt();
  // Shell requests for engine `id` go to `endpoint` (its kernel's shell
  // socket) directly, on a socket opened at the first of them, while fewer
  // than most_direct() are open; if none can be, they go through the
  // controller for good. Call before the first request for that engine, so
  // that its requests keep their order. Thread-safe.
  void connect_engine(int id, const std::string& endpoint);
  // At most this many direct sockets (default kMostDirect): each costs two file
  // descriptors and a connection, and a cluster may have thousands of engines.
  void set_most_direct(std::size_t most);
  static constexpr std::size_t kMostDirect = 128;
  // Engine `id` is gone: its direct socket closes. Thread-safe.
  void forget_engine(int id);
  // Closes the sockets; pending events are dropped. Idempotent.
  void close();

 private:
  ClusterConnection(ControllerAddress address, std::string username);
  bool await_ready(std::chrono::milliseconds timeout);
  // Receiving side; callers hold rx_mutex_.
  void drain();
  void on_reply(Parts& parts);
  void on_iopub(Parts& parts);
  void on_monitor(Parts& parts);
  void on_direct_reply(Parts& parts, int engine_id);
  struct Direct;
  Direct* direct_for(int id);  // callers hold direct_mutex_
  void wake_poller();
  // Sends `message` on engine `target`'s direct socket; false (and `message`
  // untouched) if it has none.
  bool send_direct(int target, Parts& message);
  // Receiving side; callers hold rx_mutex_ (and not direct_mutex_).
  // Every direct socket (and the wake-up is reset), or those of `only` these engines.
  void drain_direct(const std::vector<int>* only = nullptr);
  // rx, iopub, monitor, the wake-up eventfd (kWakeItem), then the direct
  // sockets' descriptors, for `engines` in that order.
  std::vector<zmq::pollitem_t> poll_items(std::vector<int>& engines);
  static constexpr std::size_t kWakeItem = 3;

  ControllerAddress address_;
  std::string username_;
  std::string session_;
  wire::Signer signer_;
  zmq::context_t context_{1};

  zmq::socket_t tx_;  // used only through sender_
  std::unique_ptr<CorkedSender> sender_;

  std::mutex rx_mutex_;
  zmq::socket_t rx_, iopub_, monitor_;  // GUARDED_BY(rx_mutex_)
  std::deque<ClusterEvent> pending_;    // GUARDED_BY(rx_mutex_)
  bool welcomed_ = false;               // GUARDED_BY(rx_mutex_)
  bool lost_ = false;                   // GUARDED_BY(rx_mutex_)
  bool open_ = true;                    // GUARDED_BY(rx_mutex_)

  struct Direct {
    zmq::socket_t socket;
    int fd = -1;  // its ZMQ_FD, polled without the lock
    std::string endpoint;
  };
  std::mutex direct_mutex_;  // after rx_mutex_ when both are held
  std::map<int, Direct> direct_;             // GUARDED_BY(direct_mutex_): open sockets
  std::map<int, std::string> reachable_;     // GUARDED_BY(direct_mutex_): endpoints not yet used
  std::size_t most_direct_ = kMostDirect;    // GUARDED_BY(direct_mutex_)
  bool direct_open_ = true;                  // GUARDED_BY(direct_mutex_)
  std::vector<zmq::socket_t> retired_;       // GUARDED_BY(direct_mutex_): closed where nobody polls them
  int wake_fd_ = -1;                         // eventfd; see above
  std::atomic<bool> interrupted_{false};     // set by interrupt(), taken by the waiting thread
};

}  // namespace ensemble::parallel
