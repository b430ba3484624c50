#include <signal.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <fstream>
#include <iterator>

#include <map>
#include <unordered_set>

#include "controller_impl.hpp"

namespace ensemble::parallel {

namespace {

// The msg_type in a header's JSON text, found without parsing the header:
// most iopub traffic is status messages, which the store does not keep.
std::string_view msg_type_of(std::string_view header) {
  std::size_t key = header.find("\"msg_type\"");
  if (key == std::string_view::npos) return {};
  std::size_t open = header.find('"', header.find(':', key + 10));
  if (open == std::string_view::npos) return {};
  std::size_t close = header.find('"', open + 1);
  return close == std::string_view::npos ? std::string_view() : header.substr(open + 1, close - open - 1);
}

}  // namespace

void Controller::Impl::on_registration() {
  while (receive(registration, parts)) {
    // Heartbeats, N a period, take a short path: signature and msg_type only,
    // no JSON parsed (the per-engine cost the scale benchmark showed).
    if (parts.size() == 7 && view(parts[1]) == wire::kDelimiter && msg_type_of(view(parts[3])) == "heartbeat" &&
        verified(parts, 1, signer)) {
      if (Engine* engine = engines.by_registration_rid(std::string(view(parts[0])))) {
        engine->last_seen = Clock::now();
        continue;
      }
    }
    auto decoded = wire::decode(to_frames(parts), signer, nullptr);
    if (!decoded.ok() || decoded.value().identities.size() != 1) {
      spdlog::warn("registration: dropped a message: {}",
                   decoded.ok() ? std::string("wrong routing") : decoded.status().to_string());
      continue;
    }
    wire::Message msg = std::move(decoded).value();
    const std::string& type = msg.header.msg_type;
    if (type == "heartbeat") {
      if (Engine* engine = engines.by_registration_rid(msg.identities[0])) {
        engine->last_seen = Clock::now();
      } else {
        // An engine of a controller that stopped (or one given up for dead): it registers again.
        wire::Message reply = message("registration_reply", error_content("UnknownEngine", "register again"),
                                      msg.header.to_json());
        reply.identities = msg.identities;
        send(registration, wire::encode(reply, signer));
      }
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

void Controller::Impl::register_engine(const wire::Message& msg) {
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
    Engine& engine = engines.register_engine(uuid, is_new, c.contains("id") && c["id"].is_number_integer() ? c["id"].get<int>() : -1);
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
void Controller::Impl::send_probe(Engine& engine) {
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

void Controller::Impl::on_engine_shell(zmq::socket_t& socket, char kind) {
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
bool Controller::Impl::record_reply(int engine_id) {
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
  task->engine = engine_id;
  tasks.finished(msg_id, *task);
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

void Controller::Impl::on_engine_iopub() {
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
    if (store.enabled()) record_output();
    std::string tagged = "engine." + std::to_string(engine->id);
    parts[0].rebuild(tagged.data(), tagged.size());
    send(iopub, parts);
  }
}


// Keeps a task's outputs (ipyparallel's stdout, stderr, execute_input,
// execute_result and error record fields) in the store; `parts` is an iopub
// message from an engine: [topic, <IDS|MSG>, signature, header, parent, metadata, content].
void Controller::Impl::record_output() {
  std::string_view type = msg_type_of(view(parts[3]));
  if (type != "stream" && type != "execute_input" && type != "execute_result" && type != "error") return;
  Json parent = parse_or_null(view(parts[4]));
  if (!parent.is_object() || !parent.contains("msg_id") || !parent["msg_id"].is_string()) return;
  const std::string& msg_id = parent["msg_id"].get_ref<const std::string&>();
  if (tasks.find(msg_id) == nullptr) return;  // not a routed request: a console on the engine, say
  Json content = parse_or_null(view(parts[6]));
  if (!content.is_object()) return;
  if (type == "stream") {
    std::string name = content.value("name", "");
    if (name != "stdout" && name != "stderr") return;
    store.output(msg_id, name == "stdout" ? TaskStore::Output::kStdout : TaskStore::Output::kStderr,
                 content.value("text", ""));
  } else if (type == "execute_input") {
    store.output(msg_id, TaskStore::Output::kExecuteInput, content.value("code", ""));
  } else {
    store.output(msg_id, type == "error" ? TaskStore::Output::kError : TaskStore::Output::kExecuteResult,
                 content.dump());
  }
}

void Controller::Impl::on_subscription() {
  while (receive(iopub, parts)) {
    if (!parts.empty() && parts[0].size() > 0 && static_cast<const char*>(parts[0].data())[0] == 1) {
      publish("iopub_welcome", Json::object());
    }
  }
}

// Fails what the engine still owed, forgets it, and tells the clients.
void Controller::Impl::engine_gone(int id, const std::string& why) {
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

namespace {

// Whether `pid` is a live process here (a zombie is not).
bool process_alive(int pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() || text[close + 2] != 'Z';
}

}  // namespace

void Controller::Impl::on_shell_disconnect() {
  Parts event;
  while (receive(shell_monitor, event)) {
    if (event.size() < 2) continue;
    std::string endpoint(view(event[1]));
    for (auto& [id, engine] : engines.all()) {
      // A remote engine may come back (ZeroMQ reconnects): its heartbeats decide.
      if (engine.shell_endpoint != endpoint || engine.hostname != hostname) continue;
      if (!process_alive(engine.pid)) {
        spdlog::warn("engine {} (pid {}) is gone", id, engine.pid);
        engine_gone(id, "died");
      } else {
        // A killed process closes its sockets before it is a zombie: look again shortly.
        dying.emplace_back(id, Clock::now() + kDyingWatch);
      }
      break;
    }
  }
}

void Controller::Impl::check_dying() {
  auto now = Clock::now();
  std::vector<int> dead;
  std::erase_if(dying, [&](const std::pair<int, Clock::time_point>& entry) {
    Engine* engine = engines.find(entry.first);
    if (engine == nullptr) return true;
    if (!process_alive(engine->pid)) {
      dead.push_back(entry.first);
      return true;
    }
    return now >= entry.second;  // alive after all: its heartbeats decide
  });
  for (int id : dead) {
    spdlog::warn("engine {} is gone", id);
    engine_gone(id, "died");
  }
}

void Controller::Impl::on_tick() {
  if (!dying.empty()) check_dying();
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

void Controller::Impl::begin_shutdown() {
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

}  // namespace ensemble::parallel
