#include "ensemble/parallel/controller.hpp"

#include <spdlog/spdlog.h>
#include <malloc.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <unordered_set>
#include <stdexcept>

#include "../multipart.hpp"
#include "engine_table.hpp"
#include "load_balancer.hpp"
#include "ensemble/wire/codec.hpp"
#include "ensemble/wire/connection_file.hpp"
#include "ensemble/wire/ids.hpp"
#include "task_table.hpp"

namespace ensemble::parallel {

using wire::Json;
using wire::Status;
using wire::StatusCode;

namespace {

constexpr auto kProbeInterval = std::chrono::milliseconds(20);
constexpr auto kShutdownLinger = std::chrono::milliseconds(500);

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

Json error_content(const std::string& ename, const std::string& evalue) {
  return Json{{"status", "error"}, {"ename", ename}, {"evalue", evalue}, {"traceback", Json::array()}};
}

// "e3" -> 3; -1 if it is not a route of that kind.
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

}  // namespace

struct Controller::Impl {
  explicit Impl(ControllerOptions o)
      : options(std::move(o)),
        signer(wire::random_hex(32)),
        balancer(scheme_from_string(options.scheme).value_or(Scheme::kLeastLoad), options.hwm, engines, tasks,
                 [this](Parts& out) { return send_task(out); },
                 [this](const Task&, const std::string& msg_id, const std::string& ename,
                        const std::string& evalue) { answer_task(msg_id, -1, ename, evalue); }) {
    stop_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (stop_fd < 0) throw std::runtime_error("eventfd failed");
    for (zmq::socket_t* s : {&clients, &iopub, &registration, &engine_shell, &engine_control, &engine_iopub}) {
      // Nothing is dropped for a slow peer: results are only lost when purged.
      s->set(zmq::sockopt::sndhwm, 0);
      s->set(zmq::sockopt::rcvhwm, 0);
      s->set(zmq::sockopt::linger, 1000);
    }
    iopub.set(zmq::sockopt::xpub_verbose, 1);
    engine_iopub.set(zmq::sockopt::subscribe, "");
    engine_shell.set(zmq::sockopt::router_mandatory, 1);
    engine_control.set(zmq::sockopt::router_mandatory, 1);
  }
  ~Impl() { ::close(stop_fd); }

  ControllerOptions options;
  zmq::context_t context{1};
  zmq::socket_t clients{context, zmq::socket_type::router};
  zmq::socket_t iopub{context, zmq::socket_type::xpub};
  zmq::socket_t registration{context, zmq::socket_type::router};
  zmq::socket_t engine_shell{context, zmq::socket_type::router};
  zmq::socket_t engine_control{context, zmq::socket_type::router};
  zmq::socket_t engine_iopub{context, zmq::socket_type::sub};
  int stop_fd = -1;
  wire::Signer signer;
  wire::ReplayGuard replay_guard;
  std::string session = wire::new_id();
  std::string key;
  ControllerAddress address;
  EngineTable engines;
  TaskTable tasks;
  LoadBalancer balancer;
  std::size_t messages_since_trim = 0;  // glibc keeps freed heap unless asked to return it
  int unready = 0;  // registered engines whose iopub is not yet proven: probe fast while any
  bool stopping = false;
  Clock::time_point stop_deadline{};
  Parts parts;  // reused receive buffer

  // -- sending ----------------------------------------------------------------

  wire::Message message(const std::string& msg_type, Json content, Json parent = Json::object()) const {
    return wire::make_message(msg_type, session, "controller", std::move(content), std::move(parent));
  }

  void send_to_client(const std::string& rid, const std::string& route, wire::Message msg) {
    msg.identities = {rid};
    if (!route.empty()) msg.identities.push_back(route);
    send(clients, wire::encode(msg, signer));
  }

  void publish(const std::string& msg_type, Json content) {
    wire::Message msg = message(msg_type, std::move(content));
    msg.identities = {"controller"};
    send(iopub, wire::encode(msg, signer));
  }

  // -- clients ----------------------------------------------------------------

  void on_client() {
    while (receive(clients, parts)) {
      if (parts.size() < 2) {
        spdlog::warn("client: dropped a message of {} frame(s)", parts.size());
        continue;
      }
      // A client that sends from "<id>.tx" receives at "<id>" (docs/parallel-protocol.md).
      if (std::string_view rid = view(parts[0]); rid.ends_with(".tx")) {
        std::string reply_to(rid.substr(0, rid.size() - 3));
        parts[0].rebuild(reply_to.data(), reply_to.size());
      }
      std::size_t d = find_delimiter(parts);
      if (d == 1) {
        handle_controller_request();
      } else if (d == 2) {
        forward_to_engine();
      } else {
        spdlog::warn("client: dropped a message without a routing frame and delimiter");
      }
    }
  }

  void forward_to_engine() {
    std::string rid(view(parts[0]));
    std::string route(view(parts[1]));
    if (!verified(parts, 2, signer)) {
      spdlog::warn("client: dropped a message with a bad signature or too few frames");
      return;
    }
    Json header = parse_or_null(view(parts[4]));
    if (!header.is_object() || !header.contains("msg_id") || !header["msg_id"].is_string() ||
        !header.contains("msg_type") || !header["msg_type"].is_string()) {
      spdlog::warn("client: dropped a message whose header is not valid");
      return;
    }
    std::string msg_id = header["msg_id"];
    std::string msg_type = header["msg_type"];
    if (route == "t") {  // load-balanced: the scheduler picks the engine
      Json metadata = parse_or_null(view(parts[6]));
      if (tasks.find(msg_id) != nullptr) {
        spdlog::warn("client: dropped a task whose msg_id {} is already known", msg_id);
        return;
      }
      ++messages_since_trim;
      balancer.submit(std::move(parts), rid, header, metadata);
      parts.clear();
      return;
    }
    bool to_shell = route_id(route, 'e') >= 0;
    int id = to_shell ? route_id(route, 'e') : route_id(route, 'c');
    Engine* engine = id >= 0 ? engines.find(id) : nullptr;
    if (engine == nullptr || !engine->ready) {
      spdlog::warn("client: {} for engine route '{}', which is not registered", msg_type, route);
      send_to_client(rid, route,
                     message(wire::reply_type_for(msg_type),
                             error_content("EngineError", "engine " + route.substr(1) + " is not registered"),
                             header));
      return;
    }
    std::string header_text(view(parts[4]));  // sending empties the frames
    std::swap(parts[0], parts[1]);            // [route, client, <IDS|MSG>, ...]
    try {
      send(to_shell ? engine_shell : engine_control, parts);
    } catch (const zmq::error_t& error) {
      spdlog::warn("could not reach engine {}: {}", id, error.what());
      return;
    }
    ++messages_since_trim;
    if (to_shell) {
      engine->queue.insert(msg_id);
      tasks.add(msg_id, Task{rid, id, msg_type, std::move(header_text), false, {}, {}});
      balancer.note_direct(msg_id);
    }
  }

  bool send_task(Parts& out) {
    try {
      send(engine_shell, out);
      return true;
    } catch (const zmq::error_t& error) {
      spdlog::warn("could not reach an engine: {}", error.what());
      return false;
    }
  }

  // Answers a request no engine will answer (a dead engine, an impossible or
  // timed-out task, an abort), and keeps the answer as the task's result.
  void answer_task(const std::string& msg_id, int engine_id, const std::string& ename, const std::string& evalue) {
    Task* task = tasks.find(msg_id);
    if (task == nullptr || task->done) return;
    Json parent = parse_or_null(task->request_header);
    Engine* engine = engines.find(engine_id);
    std::string uuid = engine != nullptr ? engine->uuid : std::string();
    Json content = ename == "aborted" ? Json{{"status", "aborted"}} : error_content(ename, evalue);
    if (ename != "aborted") content["engine_info"] = Json{{"engine_id", engine_id}, {"engine_uuid", uuid}};
    wire::Message reply = message(wire::reply_type_for(task->msg_type), std::move(content),
                                  parent.is_object() ? parent : Json::object());
    reply.metadata = Json{{"engine_id", engine_id}, {"engine_uuid", uuid},
                          {"status", ename == "aborted" ? "aborted" : "error"}};
    std::string route = engine_id >= 0 ? "e" + std::to_string(engine_id) : std::string("t");
    reply.identities = {task->client_rid, route};
    wire::Frames frames = wire::encode(reply, signer);
    send(clients, frames);
    for (const auto& watcher : task->watchers) {
      frames[0] = watcher;
      send(clients, frames);
    }
    task->watchers.clear();
    task->done = true;
    task->reply.store_frames(frames, 2);
    std::string().swap(task->request_header);
  }

  void handle_controller_request() {
    auto decoded = wire::decode(to_frames(parts), signer, &replay_guard);
    if (!decoded.ok()) {
      spdlog::warn("client: dropped a controller request: {}", decoded.status().to_string());
      return;
    }
    wire::Message request = std::move(decoded).value();
    std::string rid = request.identities.at(0);
    const std::string& type = request.header.msg_type;
    Json content;
    try {
      if (type == "connection_request") {
        content = connection_reply();
      } else if (type == "queue_request") {
        content = queue_reply(request.content);
      } else if (type == "result_request") {
        content = result_reply(rid, request.content);
      } else if (type == "purge_request") {
        content = purge_reply(request.content);
      } else if (type == "hub_history_request") {
        content = Json{{"status", "ok"}, {"history", Json(std::vector<std::string>(tasks.history().begin(),
                                                                                   tasks.history().end()))}};
      } else if (type == "abort_request") {
        content = abort_reply(request.content);
      } else if (type == "shutdown_request") {
        content = Json{{"status", "ok"}};
        begin_shutdown();
      } else {
        spdlog::warn("client: unknown controller request '{}'", type);
        content = error_content("UnknownMessageType", "the controller does not handle '" + type + "'");
      }
    } catch (const std::exception& error) {
      spdlog::warn("client: {} failed: {}", type, error.what());
      content = error_content("InvalidRequest", error.what());
    }
    send_to_client(rid, "", message(wire::reply_type_for(type), std::move(content), request.header.to_json()));
  }

  Json connection_reply() {
    Json listing = Json::object();
    for (auto& [id, engine] : engines.all()) {
      if (engine.ready) listing[std::to_string(id)] = engine.describe();
    }
    return Json{{"status", "ok"}, {"engines", listing}, {"cluster_id", options.cluster_id}};
  }

  Json queue_reply(const Json& request) {
    bool verbose = request.value("verbose", false);
    std::vector<int> targets;
    if (request.contains("targets") && request["targets"].is_array()) {
      targets = request["targets"].get<std::vector<int>>();
    } else {
      for (auto& [id, engine] : engines.all()) {
        if (engine.ready) targets.push_back(id);
      }
    }
    Json reply{{"status", "ok"}, {"unassigned", balancer.unassigned()}};
    for (int id : targets) {
      Engine* engine = engines.find(id);
      if (engine == nullptr) throw std::invalid_argument("no engine " + std::to_string(id));
      Json entry{{"tasks", verbose ? Json::array() : Json(0)}};
      if (verbose) {
        entry["queue"] = Json(std::vector<std::string>(engine->queue.begin(), engine->queue.end()));
        entry["completed"] = engine->completed;
      } else {
        entry["queue"] = engine->queue.size();
        entry["completed"] = engine->completed.size();
      }
      reply[std::to_string(id)] = std::move(entry);
    }
    return reply;
  }

  Json result_reply(const std::string& rid, const Json& request) {
    std::vector<std::string> ids = request.at("msg_ids").get<std::vector<std::string>>();
    for (const auto& id : ids) {
      if (tasks.find(id) == nullptr) return error_content("KeyError", "unknown msg_id: " + id);
    }
    Json completed = Json::array(), pending = Json::array();
    for (const auto& id : ids) {
      Task& task = *tasks.find(id);
      if (task.done) {
        Parts out;
        out.emplace_back(rid.data(), rid.size());
        std::string route = "e" + std::to_string(task.engine);
        out.emplace_back(route.data(), route.size());
        for (auto& frame : task.reply.frames()) out.push_back(std::move(frame));
        send(clients, out);
        completed.push_back(id);
      } else {
        if (rid != task.client_rid && std::find(task.watchers.begin(), task.watchers.end(), rid) == task.watchers.end()) {
          task.watchers.push_back(rid);
        }
        pending.push_back(id);
      }
    }
    return Json{{"status", "ok"}, {"completed", completed}, {"pending", pending}};
  }

  // Tasks not yet on an engine are answered "aborted" here; those an engine
  // holds are passed to its control (it aborts them if they have not started).
  Json abort_reply(const Json& request) {
    std::vector<std::string> ids = request.at("msg_ids").get<std::vector<std::string>>();
    for (const auto& msg_id : balancer.abort(ids)) answer_task(msg_id, -1, "aborted", "");
    std::map<int, Json> per_engine;
    for (const auto& msg_id : ids) {
      Task* task = tasks.find(msg_id);
      if (task != nullptr && !task->done && task->engine >= 0) per_engine[task->engine].push_back(msg_id);
    }
    for (auto& [id, listed] : per_engine) {
      Engine* engine = engines.find(id);
      if (engine == nullptr) continue;
      wire::Message abort = message("abort_request", Json{{"msg_ids", listed}});
      abort.identities = {engine->control_route()};
      try {
        send(engine_control, wire::encode(abort, signer));
      } catch (const zmq::error_t& error) {
        spdlog::debug("abort to engine {}: {}", id, error.what());
      }
    }
    return Json{{"status", "ok"}};
  }

  Json purge_reply(const Json& request) {
    if (request.contains("msg_ids") && request["msg_ids"] == "all") {
      tasks.purge_all();
      messages_since_trim += 1001;
      for (auto& [id, engine] : engines.all()) engine.completed.clear();
      return Json{{"status", "ok"}};
    }
    std::vector<std::string> ids;
    if (request.contains("msg_ids") && request["msg_ids"].is_array()) {
      ids = request["msg_ids"].get<std::vector<std::string>>();
    }
    if (request.contains("engine_ids") && request["engine_ids"].is_array()) {
      for (int id : request["engine_ids"].get<std::vector<int>>()) {
        if (Engine* engine = engines.find(id)) {
          ids.insert(ids.end(), engine->completed.begin(), engine->completed.end());
          engine->completed.clear();
        }
      }
    }
    tasks.purge(ids);
    for (auto& [id, engine] : engines.all()) {
      std::erase_if(engine.completed, [this](const std::string& m) { return tasks.find(m) == nullptr; });
    }
    return Json{{"status", "ok"}};
  }

  // -- engines ----------------------------------------------------------------

  void on_registration() {
    while (receive(registration, parts)) {
      auto decoded = wire::decode(to_frames(parts), signer, nullptr);
      if (!decoded.ok() || decoded.value().identities.size() != 1) {
        spdlog::warn("registration: dropped a message: {}",
                     decoded.ok() ? std::string("wrong routing") : decoded.status().to_string());
        continue;
      }
      wire::Message msg = std::move(decoded).value();
      const std::string& type = msg.header.msg_type;
      if (type == "heartbeat") {
        if (Engine* engine = engines.by_registration_rid(msg.identities[0])) engine->last_seen = Clock::now();
      } else if (type == "registration_request") {
        register_engine(msg);
      } else if (type == "unregistration_request") {
        if (Engine* engine = engines.by_registration_rid(msg.identities[0])) {
          spdlog::info("engine {} is leaving", engine->id);
          engine_gone(engine->id, "left the cluster");
        }
      } else {
        spdlog::warn("registration: unknown message type '{}'", type);
      }
    }
  }

  void register_engine(const wire::Message& msg) {
    Json reply_content;
    try {
      const Json& c = msg.content;
      std::string uuid = c.at("uuid").get<std::string>();
      const Json& conn = c.at("connection");
      std::string transport = conn.value("transport", std::string("tcp"));
      std::string ip = conn.at("ip").get<std::string>();
      auto endpoint = [&](const char* port) {
        int p = conn.at(port).get<int>();
        return transport == "ipc" ? "ipc://" + ip + "-" + std::to_string(p)
                                  : transport + "://" + ip + ":" + std::to_string(p);
      };
      bool is_new = false;
      Engine& engine = engines.register_engine(uuid, is_new);
      if (is_new) {
        engine.kernel_session = c.at("session").get<std::string>();
        engine.pid = c.value("pid", 0);
        engine.hostname = c.value("hostname", std::string());
        engine.connection_file = options.security_dir + "/" + engine_file_name(options.cluster_id, engine.id);
        engine.registration_rid = msg.identities[0];
        engine.shell_endpoint = endpoint("shell_port");
        engine.control_endpoint = endpoint("control_port");
        engine.iopub_endpoint = endpoint("iopub_port");
        engine.last_seen = Clock::now();
        engines.index_session(engine);
        engine_shell.set(zmq::sockopt::connect_routing_id, engine.shell_route());
        engine_shell.connect(engine.shell_endpoint);
        engine_control.set(zmq::sockopt::connect_routing_id, engine.control_route());
        engine_control.connect(engine.control_endpoint);
        engine_iopub.connect(engine.iopub_endpoint);
        spdlog::info("engine {} registered: pid {} on {}", engine.id, engine.pid, engine.hostname);
        ++unready;
        send_probe(engine);
      }
      reply_content = Json{{"status", "ok"},
                           {"id", engine.id},
                           {"heartbeat_period_ms", options.heartbeat_period.count()},
                           {"heartbeat_misses", options.heartbeat_misses}};
    } catch (const std::exception& error) {
      spdlog::warn("registration: refused a malformed request: {}", error.what());
      reply_content = error_content("InvalidRequest", error.what());
    }
    wire::Message reply = message("registration_reply", std::move(reply_content), msg.header.to_json());
    reply.identities = msg.identities;
    send(registration, wire::encode(reply, signer));
  }

  // A kernel_info_request to the engine's shell: once its busy/idle reaches
  // our iopub subscription, the engine's outputs cannot be lost.
  void send_probe(Engine& engine) {
    wire::Message probe = message("kernel_info_request", Json::object());
    engine.probe_msg_id = probe.header.msg_id;
    engine.probe_sent = Clock::now();
    probe.identities = {engine.shell_route()};
    try {
      send(engine_shell, wire::encode(probe, signer));
    } catch (const zmq::error_t& error) {
      spdlog::debug("probe for engine {}: {}", engine.id, error.what());
    }
  }

  void on_engine_shell(zmq::socket_t& socket, char kind) {
    while (receive(socket, parts)) {
      std::size_t d = find_delimiter(parts);
      int id = parts.empty() ? -1 : route_id(view(parts[0]), kind);
      if (d == 1 || id < 0) continue;  // a reply to the controller's own probe or shutdown
      if (d != 2 || parts.size() < d + 6) {
        spdlog::warn("engine {}: dropped a reply with {} frame(s)", id, parts.size());
        continue;
      }
      std::swap(parts[0], parts[1]);  // [client, route, <IDS|MSG>, ...]
      if (kind == 'e' && !record_reply(id)) continue;
      send(clients, parts);
    }
  }

  // False when the reply is not for the client (a task that moves to another engine).
  bool record_reply(int engine_id) {
    Json parent = parse_or_null(view(parts[5]));
    if (!parent.is_object() || !parent.contains("msg_id") || !parent["msg_id"].is_string()) return true;
    std::string msg_id = parent["msg_id"];
    Task* task = tasks.find(msg_id);
    if (task == nullptr || task->done) return true;
    Json content = parse_or_null(view(parts[7]));
    std::string status = content.is_object() ? content.value("status", "") : "";
    std::string ename = content.is_object() && content.contains("ename") && content["ename"].is_string()
                            ? content["ename"].get<std::string>()
                            : std::string();
    if (!balancer.on_reply(msg_id, engine_id, status, ename)) return false;
    task->done = true;
    task->reply.store(parts, 2);
    std::string().swap(task->request_header);  // only needed while the engine owes the reply
    for (const auto& watcher : task->watchers) {
      Parts copy = share(parts);
      copy[0].rebuild(watcher.data(), watcher.size());
      send(clients, copy);
    }
    task->watchers.clear();
    if (Engine* engine = engines.find(engine_id)) {
      engine->queue.erase(msg_id);
      engine->completed.push_back(msg_id);
    }
    return true;
  }

  void on_engine_iopub() {
    while (receive(engine_iopub, parts)) {
      if (parts.size() < 7 || view(parts[1]) != wire::kDelimiter) continue;
      std::string_view topic = view(parts[0]);
      if (!topic.starts_with("kernel.")) continue;
      std::string_view session = topic.substr(7, topic.find('.', 7) - 7);
      Engine* engine = engines.by_kernel_session(session);
      if (engine == nullptr) continue;
      if (!engine->ready) {
        Json parent = parse_or_null(view(parts[4]));
        if (parent.is_object() && parent.value("msg_id", std::string()) == engine->probe_msg_id) {
          engine->ready = true;
          --unready;
          balancer.engine_ready(engine->id);
          spdlog::info("engine {} is ready", engine->id);
          publish("registration_notification", Json{{"id", engine->id}, {"uuid", engine->uuid}});
        }
        continue;
      }
      std::string tagged = "engine." + std::to_string(engine->id);
      parts[0].rebuild(tagged.data(), tagged.size());
      send(iopub, parts);
    }
  }

  void on_subscription() {
    while (receive(iopub, parts)) {
      if (!parts.empty() && parts[0].size() > 0 && static_cast<const char*>(parts[0].data())[0] == 1) {
        publish("iopub_welcome", Json::object());
      }
    }
  }

  // Fails what the engine still owed, forgets it, and tells the clients.
  void engine_gone(int id, const std::string& why) {
    Engine* engine = engines.find(id);
    if (engine == nullptr) return;
    // Load-balanced tasks with retries left go to another engine; the rest fail.
    std::unordered_set<std::string> resubmitted = balancer.engine_gone(id);
    std::vector<std::string> owed(engine->queue.begin(), engine->queue.end());
    for (const auto& msg_id : owed) {
      if (resubmitted.contains(msg_id)) continue;
      answer_task(msg_id, id, "EngineError",
                  "Engine " + std::to_string(id) + " " + why + " while running task " + msg_id);
      balancer.on_reply(msg_id, id, "error", "EngineError");
    }
    try {
      engine_shell.disconnect(engine->shell_endpoint);
      engine_control.disconnect(engine->control_endpoint);
      engine_iopub.disconnect(engine->iopub_endpoint);
    } catch (const zmq::error_t& error) {
      spdlog::debug("disconnecting engine {}: {}", id, error.what());
    }
    bool was_visible = engine->ready;
    if (!was_visible) --unready;
    std::string uuid = engine->uuid;
    engines.remove(id);
    if (was_visible) publish("unregistration_notification", Json{{"id", id}, {"uuid", uuid}});
  }

  void on_tick() {
    if (messages_since_trim > 1000) {
      ::malloc_trim(0);
      messages_since_trim = 0;
    }
    auto now = Clock::now();
    balancer.tick(now);
    auto allowed = options.heartbeat_period * options.heartbeat_misses;
    std::vector<int> dead;
    for (auto& [id, engine] : engines.all()) {
      if (now - engine.last_seen > allowed) {
        dead.push_back(id);
      } else if (!engine.ready && now - engine.probe_sent >= kProbeInterval) {
        send_probe(engine);
      }
    }
    for (int id : dead) {
      spdlog::warn("engine {} missed {} heartbeats; unregistering it", id, options.heartbeat_misses);
      engine_gone(id, "died");
    }
  }

  void begin_shutdown() {
    spdlog::info("shutting down the cluster");
    for (auto& [id, engine] : engines.all()) {
      wire::Message request = message("shutdown_request", Json{{"restart", false}});
      request.identities = {engine.control_route()};
      try {
        send(engine_control, wire::encode(request, signer));
      } catch (const zmq::error_t& error) {
        spdlog::debug("shutdown to engine {}: {}", id, error.what());
      }
    }
    stopping = true;
    stop_deadline = Clock::now() + kShutdownLinger;
  }
};

Controller::Controller(ControllerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Controller::~Controller() = default;

wire::Result<ControllerAddress> Controller::bind() {
  Impl& c = *impl_;
  ControllerAddress& a = c.address;
  try {
    a.client_port = bind_at(c.clients, c.options, c.options.client_port);
    a.iopub_port = bind_at(c.iopub, c.options, c.options.iopub_port);
    a.registration_port = bind_at(c.registration, c.options, c.options.registration_port);
  } catch (const zmq::error_t& error) {
    return Status::Error(StatusCode::kIoError, std::string("cannot bind the controller: ") + error.what());
  }
  a.transport = c.options.transport;
  a.ip = c.options.ip;
  a.key = wire::random_hex(32);
  c.signer = wire::Signer(a.key);
  a.cluster_id = c.options.cluster_id;
  a.security_dir = c.options.security_dir;
  a.heartbeat_period_ms = static_cast<int>(c.options.heartbeat_period.count());
  a.heartbeat_misses = c.options.heartbeat_misses;
  a.controller_pid = static_cast<int>(::getpid());
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
  auto next_tick = Clock::now() + kProbeInterval;
  zmq::pollitem_t items[] = {
      {c.clients.handle(), 0, ZMQ_POLLIN, 0},        {c.engine_shell.handle(), 0, ZMQ_POLLIN, 0},
      {c.engine_control.handle(), 0, ZMQ_POLLIN, 0}, {c.engine_iopub.handle(), 0, ZMQ_POLLIN, 0},
      {c.registration.handle(), 0, ZMQ_POLLIN, 0},   {c.iopub.handle(), 0, ZMQ_POLLIN, 0},
      {nullptr, c.stop_fd, ZMQ_POLLIN, 0},
  };
  while (true) {
    auto now = Clock::now();
    // Done once every engine has said goodbye (or the grace period is over).
    if (c.stopping && (now >= c.stop_deadline || c.engines.all().empty())) break;
    auto wake = next_tick;
    if (auto deadline = c.balancer.next_deadline()) wake = std::min(wake, *deadline);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now);
    try {
      zmq::poll(items, std::size(items), std::max(wait, std::chrono::milliseconds(0)));
    } catch (const zmq::error_t& error) {
      if (error.num() != EINTR) throw;
      continue;  // a stop signal: its handler has written to stop_fd
    }
    if (items[6].revents & ZMQ_POLLIN) {
      uint64_t value = 0;
      (void)!::read(c.stop_fd, &value, sizeof value);
      if (!c.stopping) c.begin_shutdown();
    }
    // Replies first: they free clients waiting on results.
    if (items[1].revents & ZMQ_POLLIN) c.on_engine_shell(c.engine_shell, 'e');
    if (items[2].revents & ZMQ_POLLIN) c.on_engine_shell(c.engine_control, 'c');
    if (items[3].revents & ZMQ_POLLIN) c.on_engine_iopub();
    if (items[4].revents & ZMQ_POLLIN) c.on_registration();
    if (items[5].revents & ZMQ_POLLIN) c.on_subscription();
    if (items[0].revents & ZMQ_POLLIN) c.on_client();
    if (auto deadline = c.balancer.next_deadline(); deadline && Clock::now() >= *deadline) {
      c.balancer.tick(Clock::now());
    }
    if (Clock::now() >= next_tick) {
      c.on_tick();
      next_tick = Clock::now() + (c.unready > 0 ? std::min<Clock::duration>(kProbeInterval, heartbeat_tick)
                                                : heartbeat_tick);
    } else if (c.unready > 0) {
      next_tick = std::min<Clock::time_point>(next_tick, Clock::now() + kProbeInterval);
    }
  }
}

void Controller::request_stop() {
  uint64_t one = 1;
  (void)!::write(impl_->stop_fd, &one, sizeof one);
}

}  // namespace ensemble::parallel
