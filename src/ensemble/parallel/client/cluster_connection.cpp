#include "ensemble/parallel/cluster_connection.hpp"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "../multipart.hpp"
#include "ensemble/wire/ids.hpp"
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

std::string msg_type_of(std::string_view header) {
  Json parsed = Json::parse(header, nullptr, false);
  if (!parsed.is_object()) return {};
  auto type = parsed.find("msg_type");
  return type != parsed.end() && type->is_string() ? type->get<std::string>() : std::string();
}

}  // namespace

ClusterConnection::ClusterConnection(ControllerAddress address, std::string username)
    : address_(std::move(address)),
      username_(std::move(username)),
      session_(wire::new_id()),
      signer_(address_.key),
      queue_endpoint_("inproc://submit-" + session_),
      submit_socket_(context_, zmq::socket_type::push) {
  // Built here, used only by the I/O thread from now on.
  dealer_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  iopub_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::sub);
  queue_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::pull);
  monitor_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::pair);
  for (zmq::socket_t* s : {dealer_.get(), iopub_.get(), queue_.get(), &submit_socket_}) {
    s->set(zmq::sockopt::sndhwm, 0);
    s->set(zmq::sockopt::rcvhwm, 0);
    s->set(zmq::sockopt::linger, 0);
  }
  // A controller host that vanishes without closing the connection is noticed too.
  dealer_->set(zmq::sockopt::heartbeat_ivl, 1000);
  dealer_->set(zmq::sockopt::heartbeat_timeout, 5000);
  queue_->bind(queue_endpoint_);
  submit_socket_.connect(queue_endpoint_);
  std::string monitor_endpoint = "inproc://monitor-" + session_;
  if (zmq_socket_monitor(dealer_->handle(), monitor_endpoint.c_str(), ZMQ_EVENT_DISCONNECTED) != 0) {
    throw zmq::error_t();
  }
  monitor_->connect(monitor_endpoint);
  iopub_->set(zmq::sockopt::subscribe, "");
  iopub_->connect(address_.endpoint(address_.iopub_port));
  dealer_->connect(address_.endpoint(address_.client_port));
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
  ClusterConnection& c = *connection;
  // The I/O thread never takes SIGINT: Ctrl-C belongs to the user's Python thread.
  sigset_t sigint, previous;
  sigemptyset(&sigint);
  sigaddset(&sigint, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigint, &previous);
  c.thread_ = std::jthread([&c](std::stop_token stop) { c.loop(stop); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  std::unique_lock lock(c.events_mutex_);
  if (!c.events_ready_.wait_for(lock, timeout, [&c] { return c.welcomed_; })) {
    lock.unlock();
    c.close();
    return wire::Status::Error(wire::StatusCode::kUnavailable,
                               "no controller answered at " + address.endpoint(address.client_port) + " within " +
                                   std::to_string(timeout.count()) + " ms");
  }
  return connection;
}

ClusterConnection::~ClusterConnection() { close(); }

void ClusterConnection::close() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

std::string ClusterConnection::submit(const std::string& msg_type, const std::string& content_json,
                                      const std::string& metadata_json, std::vector<zmq::message_t> buffers,
                                      int target, bool control, std::string msg_id) {
  if (msg_id.empty()) msg_id = wire::new_id();
  Json header{{"msg_id", msg_id},   {"msg_type", msg_type},         {"session", session_},
              {"username", username_}, {"date", wire::now_iso8601()}, {"version", wire::kProtocolVersion}};
  std::string header_text = header.dump();
  static const std::string kEmpty = "{}";
  std::string signature = signer_.sign(header_text, kEmpty, metadata_json, content_json);
  std::lock_guard lock(submit_mutex_);
  auto more = zmq::send_flags::sndmore;
  if (target >= 0) {
    std::string route = (control ? "c" : "e") + std::to_string(target);
    submit_socket_.send(zmq::buffer(route), more);
  }
  submit_socket_.send(zmq::buffer(std::string_view(wire::kDelimiter)), more);
  submit_socket_.send(zmq::buffer(signature), more);
  submit_socket_.send(zmq::buffer(header_text), more);
  submit_socket_.send(zmq::buffer(kEmpty), more);
  submit_socket_.send(zmq::buffer(metadata_json), more);
  submit_socket_.send(zmq::buffer(content_json), buffers.empty() ? zmq::send_flags::none : more);
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    submit_socket_.send(buffers[i], i + 1 < buffers.size() ? more : zmq::send_flags::none);
  }
  return msg_id;
}

std::optional<ClusterEvent> ClusterConnection::next_event(std::chrono::milliseconds timeout) {
  std::unique_lock lock(events_mutex_);
  if (!events_ready_.wait_for(lock, timeout, [this] { return !events_.empty(); })) return std::nullopt;
  ClusterEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

void ClusterConnection::push_event(ClusterEvent event) {
  {
    std::lock_guard lock(events_mutex_);
    events_.push_back(std::move(event));
  }
  events_ready_.notify_one();
}

void ClusterConnection::loop(std::stop_token stop) {
  zmq::pollitem_t items[] = {
      {dealer_->handle(), 0, ZMQ_POLLIN, 0},
      {iopub_->handle(), 0, ZMQ_POLLIN, 0},
      {queue_->handle(), 0, ZMQ_POLLIN, 0},
      {monitor_->handle(), 0, ZMQ_POLLIN, 0},
  };
  Parts parts;
  while (!stop.stop_requested()) {
    zmq::poll(items, std::size(items), std::chrono::milliseconds(50));
    if (items[2].revents & ZMQ_POLLIN) {
      while (receive(*queue_, parts)) send(*dealer_, parts);
    }
    if (items[0].revents & ZMQ_POLLIN) on_dealer();
    if (items[1].revents & ZMQ_POLLIN) on_iopub();
    if (items[3].revents & ZMQ_POLLIN) on_monitor();
  }
  // Sockets belong to this thread: close them here.
  zmq_socket_monitor(dealer_->handle(), nullptr, 0);
  dealer_.reset();
  iopub_.reset();
  queue_.reset();
  monitor_.reset();
}

void ClusterConnection::on_dealer() {
  Parts parts;
  while (receive(*dealer_, parts)) {
    std::size_t d = find_delimiter(parts);
    if (d > 1 || !verified(parts, d, signer_)) {
      spdlog::warn("cluster client: dropped a reply that is malformed or badly signed");
      continue;
    }
    ClusterEvent event;
    event.kind = ClusterEvent::Kind::kShell;
    event.engine_id = d == 1 ? engine_of(view(parts[0])) : -1;
    event.msg_type = msg_type_of(view(parts[d + 2]));
    for (std::size_t i = d + 2; i < parts.size(); ++i) event.frames.push_back(std::move(parts[i]));
    push_event(std::move(event));
  }
}

void ClusterConnection::on_iopub() {
  Parts parts;
  while (receive(*iopub_, parts)) {
    if (parts.size() < 7 || view(parts[1]) != wire::kDelimiter || !verified(parts, 1, signer_)) {
      spdlog::warn("cluster client: dropped an iopub message that is malformed or badly signed");
      continue;
    }
    ClusterEvent event;
    event.kind = ClusterEvent::Kind::kIopub;
    event.engine_id = engine_of(view(parts[0]));
    event.msg_type = msg_type_of(view(parts[3]));
    if (event.engine_id < 0 && event.msg_type == "iopub_welcome") {
      {
        std::lock_guard lock(events_mutex_);
        welcomed_ = true;
      }
      events_ready_.notify_all();
      continue;
    }
    for (std::size_t i = 3; i < parts.size(); ++i) event.frames.push_back(std::move(parts[i]));
    push_event(std::move(event));
  }
}

void ClusterConnection::on_monitor() {
  Parts parts;
  while (receive(*monitor_, parts)) {
    if (parts.empty() || parts[0].size() < 2) continue;
    uint16_t code = 0;
    std::memcpy(&code, parts[0].data(), sizeof code);
    if (code == ZMQ_EVENT_DISCONNECTED) {
      spdlog::warn("cluster client: the controller connection was lost");
      ClusterEvent event;
      event.kind = ClusterEvent::Kind::kLost;
      push_event(std::move(event));
    }
  }
}

}  // namespace ensemble::parallel
