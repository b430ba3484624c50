#include "ensemble/parallel/cluster_connection.hpp"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "../multipart.hpp"
#include <stdexcept>
#include "ensemble/wire/ids.hpp"
#include "ensemble/wire/json_scan.hpp"
#include "ensemble/wire/message.hpp"

namespace ensemble::parallel {

using wire::Json;

namespace {

// "e3" / "c3" / "engine.3" -> 3; -1 otherwise.
int engine_of(std::string_view route) {
  if (route.starts_with("engine.")) {
    route.remove_prefix(7);
  } else if (route.size() >= 2 && (route[0] == 'e' || route[0] == 'c')) {
    route.remove_prefix(1);
  } else {
    return -1;
  }
  int id = 0;
  if (route.empty()) return -1;
  for (char c : route) {
    if (c < '0' || c > '9' || id > 100000000) return -1;
    id = id * 10 + (c - '0');
  }
  return id;
}

}  // namespace

ClusterConnection::ClusterConnection(ControllerAddress address, std::string username)
    : address_(std::move(address)),
      username_(std::move(username)),
      session_(wire::new_id()),
      signer_(address_.key),
      tx_(context_, zmq::socket_type::dealer),
      rx_(context_, zmq::socket_type::dealer),
      iopub_(context_, zmq::socket_type::sub),
      monitor_(context_, zmq::socket_type::pair) {
  for (zmq::socket_t* s : {&tx_, &rx_, &iopub_}) {
    s->set(zmq::sockopt::sndhwm, 0);
    s->set(zmq::sockopt::rcvhwm, 0);
    s->set(zmq::sockopt::linger, 0);
  }
  // The controller answers "<session>.tx" at "<session>" (docs/parallel-protocol.md).
  tx_.set(zmq::sockopt::routing_id, session_ + ".tx");
  rx_.set(zmq::sockopt::routing_id, session_);
  // A controller host that vanishes without closing the connection is noticed too.
  rx_.set(zmq::sockopt::heartbeat_ivl, 1000);
  rx_.set(zmq::sockopt::heartbeat_timeout, 5000);
  std::string monitor_endpoint = "inproc://monitor-" + session_;
  if (zmq_socket_monitor(rx_.handle(), monitor_endpoint.c_str(), ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECTED) !=
      0) {
    throw zmq::error_t();
  }
  monitor_.connect(monitor_endpoint);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw zmq::error_t();
  iopub_.set(zmq::sockopt::subscribe, "");
  iopub_.connect(address_.endpoint(address_.iopub_port));
  std::string endpoint = address_.endpoint(address_.client_port);
  rx_.connect(endpoint);
  tx_.connect(endpoint);
  sender_ = std::make_unique<CorkedSender>(tx_, send_window());
}

std::chrono::microseconds ClusterConnection::send_window() {
  const char* text = std::getenv("ENSEMBLE_SEND_WINDOW_US");
  if (text == nullptr || *text == '\0') return kSendWindow;
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 0 || value > 60000000) {
    spdlog::warn("cluster client: ignored ENSEMBLE_SEND_WINDOW_US={} (microseconds, 0 to 60000000)", text);
    return kSendWindow;
  }
  return std::chrono::microseconds(value);
}

void ClusterConnection::flush() {
  sender_->flush();
}

wire::Result<std::unique_ptr<ClusterConnection>> ClusterConnection::open(const ControllerAddress& address,
                                                                         std::string username,
                                                                         std::chrono::milliseconds timeout) {
  if (address.client_port <= 0 || address.iopub_port <= 0) {
    return wire::Status::Error(wire::StatusCode::kMalformed, "the client file names no controller ports");
  }
  std::unique_ptr<ClusterConnection> connection;
  try {
    connection.reset(new ClusterConnection(address, std::move(username)));
  } catch (const zmq::error_t& error) {
    return wire::Status::Error(wire::StatusCode::kUnavailable, std::string("cannot connect: ") + error.what());
  }
  if (!connection->await_ready(timeout)) {
    connection->close();
    return wire::Status::Error(wire::StatusCode::kUnavailable,
                               "no controller answered at " + address.endpoint(address.client_port) + " within " +
                                   std::to_string(timeout.count()) + " ms");
  }
  return connection;
}

// Ready once the iopub welcome has come and a probe's reply reached the
// receiving socket (until it is connected, the controller drops what is
// addressed to it, so the probe is repeated).
bool ClusterConnection::await_ready(std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + timeout;
  std::string probe;
  bool answered = false;  // the receiving socket works (sticky: the welcome may come later)
  auto next_probe = Clock::now();
  std::unique_lock lock(rx_mutex_);
  while (Clock::now() < deadline) {
    if (Clock::now() >= next_probe) {
      lock.unlock();
      probe = submit("connection_request", "{}", "{}", {}, -1, Route::kShell, "");
      lock.lock();
      next_probe = Clock::now() + std::chrono::milliseconds(100);
    }
    zmq::pollitem_t items[] = {{rx_.handle(), 0, ZMQ_POLLIN, 0}, {iopub_.handle(), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 2, std::chrono::milliseconds(20));
    } catch (const zmq::error_t& error) {
      if (error.num() != EINTR) throw;  // a signal: look again
    }
    drain();
    for (auto it = pending_.begin(); it != pending_.end();) {
      // Only the probe's own reply counts; earlier probes' replies are dropped.
      if (it->kind == ClusterEvent::Kind::kShell && it->msg_type == "connection_reply") {
        Json parent = Json::parse(view(it->frames.at(1)), nullptr, false);
        answered = answered || (parent.is_object() && parent.value("msg_id", "") == probe);
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    if (answered && welcomed_) return true;
    if (answered) next_probe = deadline;  // the receiving socket works; wait for the welcome alone
  }
  return false;
}

ClusterConnection::~ClusterConnection() {
  close();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void ClusterConnection::close() {
  if (sender_) sender_->close();  // sends what it held: the requests were submitted before the close
  std::scoped_lock lock(rx_mutex_, direct_mutex_);
  if (!open_) return;
  open_ = false;
  zmq_socket_monitor(rx_.handle(), nullptr, 0);
  for (zmq::socket_t* s : {&tx_, &rx_, &iopub_, &monitor_}) s->close();
  direct_open_ = false;
  reachable_.clear();
  direct_.clear();
  retired_.clear();
  pending_.clear();
}

std::string ClusterConnection::submit(const std::string& msg_type, const std::string& content_json,
                                      const std::string& metadata_json, std::vector<zmq::message_t> buffers,
                                      int target, Route route, std::string msg_id, std::string date) {
  if (msg_id.empty()) msg_id = wire::new_id();
  if (date.empty()) date = wire::now_iso8601();
  wire::Header header{msg_id, session_, username_, std::move(date), msg_type};
  std::string header_text = header.to_text();
  static const std::string kEmpty = "{}";
  std::string signature = signer_.sign(header_text, kEmpty, metadata_json, content_json);
  // [<IDS|MSG>, signature, header, parent "{}", metadata, content, buffers...]
  Parts message;
  message.reserve(7 + buffers.size());
  for (std::string_view frame : {std::string_view(wire::kDelimiter), std::string_view(signature),
                                 std::string_view(header_text), std::string_view(kEmpty),
                                 std::string_view(metadata_json), std::string_view(content_json)}) {
    message.emplace_back(frame);
  }
  std::size_t buffer_bytes = 0;
  for (zmq::message_t& buffer : buffers) {
    buffer_bytes += buffer.size();
    message.push_back(std::move(buffer));
  }
  if (route == Route::kShell && target >= 0 && send_direct(target, message)) return msg_id;
  // Through the controller: a first frame says where to.
  if (route == Route::kTask || route == Route::kBroadcast) {
    message.emplace(message.begin(), std::string_view(route == Route::kTask ? "t" : "b"));
  } else if (target >= 0) {
    message.emplace(message.begin(), (route == Route::kControl ? "c" : "e") + std::to_string(target));
  }
  // Large buffers may point into the caller's memory (sent without a copy): they
  // leave at once, as before there was holding back, rather than wait for a burst.
  sender_->send(std::move(message), buffer_bytes >= kNeverHeldFrom ? CorkedSender::Hold::kNever
                                                                    : CorkedSender::Hold::kInBurst);
  return msg_id;
}

std::optional<ClusterEvent> ClusterConnection::next_event(std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + timeout;
  std::lock_guard lock(rx_mutex_);
  if (!open_) throw std::runtime_error("the connection is closed");
  while (pending_.empty()) {
    if (interrupted_.exchange(false, std::memory_order_acq_rel)) return std::nullopt;
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (remaining.count() < 0) return std::nullopt;
    std::vector<int> polled_engines;
    std::vector<zmq::pollitem_t> items = poll_items(polled_engines);
    try {
      zmq::poll(items.data(), items.size(), remaining);
    } catch (const zmq::error_t& error) {
      if (error.num() != EINTR) throw;
    }
    drain();
    // Only the direct sockets whose descriptors fired, unless a sender asked for all.
    if (items[kWakeItem].revents & ZMQ_POLLIN) {
      drain_direct();
    } else {
      std::vector<int> fired;
      for (std::size_t i = 0; i < polled_engines.size(); ++i) {
        if (items[kWakeItem + 1 + i].revents & ZMQ_POLLIN) fired.push_back(polled_engines[i]);
      }
      if (!fired.empty()) drain_direct(&fired);
    }
  }
  ClusterEvent event = std::move(pending_.front());
  pending_.pop_front();
  return event;
}

std::vector<ClusterEvent> ClusterConnection::next_events(std::chrono::milliseconds timeout, std::size_t max) {
  std::vector<ClusterEvent> events;
  std::optional<ClusterEvent> first = next_event(timeout);
  if (!first) return events;
  events.push_back(std::move(*first));
  std::lock_guard lock(rx_mutex_);
  if (!open_) return events;
  drain();  // whatever else arrived meanwhile, without waiting
  drain_direct();
  while (!pending_.empty() && events.size() < max) {
    events.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  return events;
}

void ClusterConnection::drain() {
  Parts parts;
  while (receive(rx_, parts)) on_reply(parts);
  while (receive(iopub_, parts)) on_iopub(parts);
  while (receive(monitor_, parts)) on_monitor(parts);
}

std::vector<zmq::pollitem_t> ClusterConnection::poll_items(std::vector<int>& engines) {
  std::vector<zmq::pollitem_t> items = {{rx_.handle(), 0, ZMQ_POLLIN, 0},
                                        {iopub_.handle(), 0, ZMQ_POLLIN, 0},
                                        {monitor_.handle(), 0, ZMQ_POLLIN, 0},
                                        {nullptr, wake_fd_, ZMQ_POLLIN, 0}};
  std::lock_guard lock(direct_mutex_);
  retired_.clear();  // nobody polls them now
  for (const auto& [id, direct] : direct_) {
    items.push_back({nullptr, direct.fd, ZMQ_POLLIN, 0});
    engines.push_back(id);
  }
  return items;
}

void ClusterConnection::on_reply(Parts& parts) {
  std::size_t d = find_delimiter(parts);
  if (d > 1 || !verified(parts, d, signer_)) {
    spdlog::warn("cluster client: dropped a reply that is malformed or badly signed");
    return;
  }
  ClusterEvent event;
  event.kind = ClusterEvent::Kind::kShell;
  event.engine_id = d == 1 ? engine_of(view(parts[0])) : -1;
  event.msg_type = wire::string_member(view(parts[d + 2]), "msg_type");
  for (std::size_t i = d + 2; i < parts.size(); ++i) event.frames.push_back(std::move(parts[i]));
  pending_.push_back(std::move(event));
}

void ClusterConnection::on_iopub(Parts& parts) {
  if (parts.size() < 7 || view(parts[1]) != wire::kDelimiter || !verified(parts, 1, signer_)) {
    spdlog::warn("cluster client: dropped an iopub message that is malformed or badly signed");
    return;
  }
  ClusterEvent event;
  event.kind = ClusterEvent::Kind::kIopub;
  event.engine_id = engine_of(view(parts[0]));
  event.msg_type = wire::string_member(view(parts[3]), "msg_type");
  if (event.engine_id < 0 && event.msg_type == "iopub_welcome") {
    welcomed_ = true;
    return;
  }
  for (std::size_t i = 3; i < parts.size(); ++i) event.frames.push_back(std::move(parts[i]));
  pending_.push_back(std::move(event));
}

void ClusterConnection::on_monitor(Parts& parts) {
  if (parts.empty() || parts[0].size() < 2) return;
  uint16_t code = 0;
  std::memcpy(&code, parts[0].data(), sizeof code);
  if (code == ZMQ_EVENT_DISCONNECTED && !lost_) {
    spdlog::debug("cluster client: the controller connection was lost");  // Python fails what waits
    lost_ = true;
    ClusterEvent event;
    event.kind = ClusterEvent::Kind::kLost;
    pending_.push_back(std::move(event));
  } else if (code == ZMQ_EVENT_CONNECTED && lost_) {
    lost_ = false;  // a controller is back on the same address
    ClusterEvent event;
    event.kind = ClusterEvent::Kind::kReconnected;
    pending_.push_back(std::move(event));
  }
}

}  // namespace ensemble::parallel
