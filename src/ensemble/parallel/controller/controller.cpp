#include "ensemble/parallel/controller.hpp"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "controller_impl.hpp"
#include "ensemble/wire/connection_file.hpp"

namespace ensemble::parallel {

using wire::Json;
using wire::Status;
using wire::StatusCode;

namespace {

int bound_port(zmq::socket_t& socket) {
  std::string endpoint = socket.get(zmq::sockopt::last_endpoint);
  auto colon = endpoint.rfind(':');
  return colon == std::string::npos ? 0 : std::stoi(endpoint.substr(colon + 1));
}

// Binds `socket` at `port` (0: a free one) and returns the port.
int bind_at(zmq::socket_t& socket, const ControllerOptions& options, int port) {
  if (options.transport == "ipc") {
    if (port == 0) port = 1 + static_cast<int>(std::hash<std::string>{}(wire::new_id()) % 60000);
    socket.bind("ipc://" + options.ip + "-" + std::to_string(port));
    return port;
  }
  socket.bind("tcp://" + options.ip + ":" + (port == 0 ? std::string("*") : std::to_string(port)));
  return bound_port(socket);
}

}  // namespace

Json error_content(const std::string& ename, const std::string& evalue) {
  return Json{{"status", "error"}, {"ename", ename}, {"evalue", evalue}, {"traceback", Json::array()}};
}

int route_id(std::string_view route, char kind) {
  if (route.size() < 2 || route[0] != kind) return -1;
  int id = 0;
  for (char c : route.substr(1)) {
    if (c < '0' || c > '9' || id > 100000000) return -1;
    id = id * 10 + (c - '0');
  }
  return id;
}

Json parse_or_null(std::string_view text) { return Json::parse(text, nullptr, false); }

wire::Message Controller::Impl::message(const std::string& msg_type, Json content, Json parent) const {
  return wire::make_message(msg_type, session, "controller", std::move(content), std::move(parent));
}

void Controller::Impl::send_to_client(const std::string& rid, const std::string& route, wire::Message msg) {
  msg.identities = {rid};
  if (!route.empty()) msg.identities.push_back(route);
  send(clients, wire::encode(msg, signer));
}

void Controller::Impl::publish(const std::string& msg_type, Json content) {
  wire::Message msg = message(msg_type, std::move(content));
  msg.identities = {"controller"};
  send(iopub, wire::encode(msg, signer));
}


Controller::Controller(ControllerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Controller::~Controller() = default;

wire::Result<ControllerAddress> Controller::bind() {
  Impl& c = *impl_;
  ControllerAddress& a = c.address;
  std::string key = wire::random_hex(32);
  if (c.options.restore) {
    std::string client_file = c.options.security_dir + "/" + cluster_file_name("ipcontroller-client", c.options.cluster_id);
    std::string engine_file = c.options.security_dir + "/" + cluster_file_name("ipcontroller-engine", c.options.cluster_id);
    auto client = ControllerAddress::load(client_file);
    auto engine = ControllerAddress::load(engine_file);
    if (client.ok() && engine.ok() && !client.value().key.empty()) {
      c.options.client_port = client.value().client_port;
      c.options.iopub_port = client.value().iopub_port;
      c.options.registration_port = engine.value().registration_port;
      key = client.value().key;
      spdlog::info("restoring the controller of {}", client_file);
    } else {
      spdlog::warn("--restore: no previous controller files in {}; starting fresh", c.options.security_dir);
    }
  }
  try {
    a.client_port = bind_at(c.clients, c.options, c.options.client_port);
    a.iopub_port = bind_at(c.iopub, c.options, c.options.iopub_port);
    a.registration_port = bind_at(c.registration, c.options, c.options.registration_port);
  } catch (const zmq::error_t& error) {
    return Status::Error(StatusCode::kIoError, std::string("cannot bind the controller: ") + error.what());
  }
  a.transport = c.options.transport;
  a.ip = c.options.ip;
  a.key = key;
  c.signer = wire::Signer(a.key);
  if (!c.options.db_path.empty()) {
    std::size_t restored = 0;
    bool opened = c.store.open(c.options.db_path, [&](TaskStore::Record&& record) {
      Task task{record.client, record.engine, record.msg_type, record.request_header, record.done, {}, {}};
      task.reply_in_store = record.done;  // read back when asked for, not all held in memory now
      c.tasks.restore(record.msg_id, std::move(task));
      if (!record.done) {
        // Its reply went to the controller that stopped: say so, for good.
        c.answer_task(record.msg_id, record.engine, "EngineError",
                      "the task was lost when its controller stopped");
      }
      ++restored;
    });
    if (opened) {
      c.tasks.persist_to(&c.store);
      spdlog::info("task store {}: {} record(s) restored", c.options.db_path, restored);
    }
  }
  a.cluster_id = c.options.cluster_id;
  a.security_dir = c.options.security_dir;
  a.heartbeat_period_ms = static_cast<int>(c.options.heartbeat_period.count());
  a.heartbeat_misses = c.options.heartbeat_misses;
  a.controller_pid = static_cast<int>(::getpid());
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) a.location = host;
  std::error_code error;
  std::filesystem::create_directories(a.security_dir, error);
  std::filesystem::permissions(a.security_dir, std::filesystem::perms::owner_all, error);
  for (auto [stem, json] : {std::pair{"ipcontroller-client", a.client_json()},
                            std::pair{"ipcontroller-engine", a.engine_json()}}) {
    std::string path = a.security_dir + "/" + cluster_file_name(stem, a.cluster_id);
    if (auto status = wire::write_private_file(path, json.dump(1) + "\n"); !status.ok()) return status;
  }
  return a;
}

void Controller::run() {
  Impl& c = *impl_;
  Clock::duration heartbeat_tick = c.options.heartbeat_period / 2;
  auto next_tick = Clock::now() + heartbeat_tick;
  zmq::pollitem_t items[] = {
      {c.clients.handle(), 0, ZMQ_POLLIN, 0},
      {c.registration.handle(), 0, ZMQ_POLLIN, 0},
      {c.iopub.handle(), 0, ZMQ_POLLIN, 0},
      {nullptr, c.stop_fd, ZMQ_POLLIN, 0},
      {c.connection_monitor.handle(), 0, ZMQ_POLLIN, 0},
  };
  while (true) {
    auto now = Clock::now();
    // Done once every engine has said goodbye (or the grace period is over).
    if (c.stopping && (now >= c.stop_deadline || c.engines.all().empty())) break;
    auto wake = next_tick;
    if (auto deadline = c.balancer.next_deadline()) wake = std::min(wake, *deadline);
    if (auto deadline = c.next_held_deadline()) wake = std::min(wake, *deadline);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now);
    try {
      zmq::poll(items, std::size(items), std::max(wait, std::chrono::milliseconds(0)));
    } catch (const zmq::error_t& error) {
      if (error.num() != EINTR) throw;
      continue;  // a stop signal: its handler has written to stop_fd
    }
    if (items[3].revents & ZMQ_POLLIN) {
      uint64_t value = 0;
      (void)!::read(c.stop_fd, &value, sizeof value);
      if (!c.stopping) c.begin_shutdown();
    }
    // Engines first: their replies free clients waiting on results.
    if (items[1].revents & ZMQ_POLLIN) c.on_registration();
    if (items[2].revents & ZMQ_POLLIN) c.on_subscription();
    if (items[0].revents & ZMQ_POLLIN) c.on_client();
    if (items[4].revents & ZMQ_POLLIN) c.on_engine_disconnect();
    if (auto deadline = c.next_held_deadline(); deadline && Clock::now() >= *deadline) {
      c.answer_held_requests();
    }
    if (auto deadline = c.balancer.next_deadline(); deadline && Clock::now() >= *deadline) {
      c.balancer.tick(Clock::now());
    }
    if (Clock::now() >= next_tick) {
      c.on_tick();
      next_tick = Clock::now() + heartbeat_tick;
    }
  }
  // The engines are gone: what is still queued for one that did not say
  // goodbye would hold the exit for the whole linger period. Clients keep
  // the linger, for their last replies.
  c.registration.set(zmq::sockopt::linger, 0);
}

void Controller::request_stop() {
  uint64_t one = 1;
  (void)!::write(impl_->stop_fd, &one, sizeof one);
}

}  // namespace ensemble::parallel
