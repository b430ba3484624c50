// ClusterConnection's direct sockets (cluster_connection.hpp): one DEALER
// "<session>.direct" per engine the client sends to past the controller
// (docs/parallel-protocol.md, "Direct requests").
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "../multipart.hpp"
#include "ensemble/parallel/cluster_connection.hpp"
#include "ensemble/wire/json_scan.hpp"
#include "ensemble/wire/message.hpp"

namespace ensemble::parallel {

namespace {

constexpr auto kLongestDirectHandshake = std::chrono::milliseconds(1000);

// Connects `socket` to `address` and waits, at most `timeout`, until the
// connection is made. A request sent on a connection still being made waits
// in ZeroMQ for it (a millisecond or so), and a request the client sends next
// through the controller (load-balanced, broadcast) could reach the engine
// first: a push, then a task that uses what it pushed, would run in the wrong
// order. Returns false if the connection was not made in time.
bool connect_and_wait(zmq::context_t& context, zmq::socket_t& socket, const std::string& address,
                      std::chrono::milliseconds timeout) {
  static std::atomic<unsigned> monitors{0};
  std::string monitor_address = "inproc://ensemble-direct-handshake-" + std::to_string(monitors++);
  if (zmq_socket_monitor(socket.handle(), monitor_address.c_str(), ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0) {
    socket.connect(address);
    return true;  // cannot watch: go ahead as before
  }
  zmq::socket_t monitor(context, zmq::socket_type::pair);
  monitor.set(zmq::sockopt::linger, 0);
  monitor.connect(monitor_address);
  socket.connect(address);
  bool made = false;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!made) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    zmq::pollitem_t item{monitor.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, left);
    } catch (const zmq::error_t& error) {
      if (error.num() != EINTR) throw;  // a signal: look again
    }
    zmq::message_t event;
    while (!made && receive_frame(monitor, event, zmq::recv_flags::dontwait)) {
      uint16_t kind = 0;
      if (event.size() >= sizeof kind) std::memcpy(&kind, event.data(), sizeof kind);
      made = kind == ZMQ_EVENT_HANDSHAKE_SUCCEEDED;
      while (monitor.get(zmq::sockopt::rcvmore) && receive_frame(monitor, event, zmq::recv_flags::dontwait)) {
      }
    }
  }
  zmq_socket_monitor(socket.handle(), nullptr, 0);
  return made;
}

}  // namespace

void ClusterConnection::wake_poller() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void ClusterConnection::interrupt() {
  interrupted_.store(true, std::memory_order_release);
  wake_poller();
}

void ClusterConnection::connect_engine(int id, const std::string& endpoint) {
  std::lock_guard lock(direct_mutex_);
  if (!direct_open_) throw std::runtime_error("the connection is closed");
  if (auto open = direct_.find(id); open != direct_.end()) {
    if (open->second.endpoint == endpoint) return;
    retired_.push_back(std::move(open->second.socket));  // another engine under that id now
    direct_.erase(open);
    wake_poller();
  }
  reachable_[id] = endpoint;
}

void ClusterConnection::set_most_direct(std::size_t most) {
  std::lock_guard lock(direct_mutex_);
  most_direct_ = most;
}

void ClusterConnection::forget_engine(int id) {
  std::lock_guard lock(direct_mutex_);
  reachable_.erase(id);
  auto known = direct_.find(id);
  if (known == direct_.end()) return;
  retired_.push_back(std::move(known->second.socket));
  direct_.erase(known);
  wake_poller();  // the poll lets go of its descriptor, then it closes
}

// Opens engine `id`'s direct socket at its first request, if it has an
// endpoint and fewer than most_direct_ are open; otherwise that engine's
// requests go through the controller, for good (so they keep their order).
ClusterConnection::Direct* ClusterConnection::direct_for(int id) {
  if (auto open = direct_.find(id); open != direct_.end()) return &open->second;
  auto endpoint = reachable_.find(id);
  if (endpoint == reachable_.end()) return nullptr;
  std::string address = std::move(endpoint->second);
  reachable_.erase(endpoint);
  if (direct_.size() >= most_direct_) return nullptr;
  try {
    zmq::socket_t socket(context_, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::sndhwm, 0);
    socket.set(zmq::sockopt::rcvhwm, 0);
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::routing_id, session_ + std::string(kDirectIdentitySuffix));
    if (!connect_and_wait(context_, socket, address, kLongestDirectHandshake)) {
      spdlog::warn("cluster client: engine {} did not answer at {} within {} ms; going through the controller", id,
                   address, kLongestDirectHandshake.count());
      return nullptr;
    }
    int fd = static_cast<int>(socket.get(zmq::sockopt::fd));
    wake_poller();  // its descriptor joins the poll
    return &direct_.emplace(id, Direct{std::move(socket), fd, address}).first->second;
  } catch (const zmq::error_t& error) {  // a bad endpoint, or out of sockets or descriptors
    spdlog::warn("cluster client: engine {} not reachable at {} ({}); going through the controller", id, address,
                 error.what());
    return nullptr;
  }
}

bool ClusterConnection::send_direct(int target, Parts& message) {
  std::lock_guard lock(direct_mutex_);
  Direct* direct = direct_for(target);
  if (direct == nullptr) return false;
  zmq::socket_t& socket = direct->socket;
  parallel::send(socket, message);
  // Sending may have taken in the news of a reply, which the poller's
  // descriptor then no longer signals: tell the poller.
  if (socket.get(zmq::sockopt::events) & ZMQ_POLLIN) wake_poller();
  return true;
}

void ClusterConnection::drain_direct(const std::vector<int>* only) {
  if (only == nullptr) {
    uint64_t count = 0;
    (void)!::read(wake_fd_, &count, sizeof count);
  }
  std::lock_guard lock(direct_mutex_);
  Parts parts;
  auto drain_one = [&](int id, Direct& direct) {
    while (receive(direct.socket, parts)) on_direct_reply(parts, id);
  };
  if (only == nullptr) {
    for (auto& [id, direct] : direct_) drain_one(id, direct);
    return;
  }
  for (int id : *only) {
    if (auto found = direct_.find(id); found != direct_.end()) drain_one(id, found->second);  // may have left since
  }
}

void ClusterConnection::on_direct_reply(Parts& parts, int engine_id) {
  // An engine's shell reply, as any kernel sends it: [<IDS|MSG>, signature, header, ...].
  if (find_delimiter(parts) != 0 || !verified(parts, 0, signer_)) {
    spdlog::warn("cluster client: dropped a reply from engine {} that is malformed or badly signed", engine_id);
    return;
  }
  ClusterEvent event;
  event.kind = ClusterEvent::Kind::kShell;
  event.engine_id = engine_id;
  event.msg_type = wire::string_member(view(parts[2]), "msg_type");
  for (std::size_t i = 2; i < parts.size(); ++i) event.frames.push_back(std::move(parts[i]));
  pending_.push_back(std::move(event));
}

}  // namespace ensemble::parallel
