// What engines send on their one connection: registration and heartbeats,
// replies, iopub and the copies of direct requests (engine_lifetime.cpp: engines leaving).
#include <spdlog/spdlog.h>

#include <cstdint>
#include <optional>

#include "controller_impl.hpp"
#include "ensemble/kernel/uplink.hpp"
#include "ensemble/wire/json_scan.hpp"

namespace ensemble::parallel {

namespace {

// The msg_type in a header's JSON text, read without building a document:
// most iopub traffic is status messages, which the store does not keep.
std::string msg_type_of(std::string_view header) { return wire::string_member(header, "msg_type"); }

// "mirror-request" -> 0, "mirror-request:<n>" -> n (its buffers were left out), else nullopt.
std::optional<std::uint64_t> bytes_left_out(std::string_view channel) {
  channel.remove_prefix(std::string_view(kernel::kUplinkMirrorRequest).size());
  if (channel.empty()) return 0;
  if (channel.size() < 2 || channel.size() > 20 || channel[0] != ':') return std::nullopt;  // 19 digits fit
  std::uint64_t bytes = 0;
  for (char c : channel.substr(1)) {
    if (c < '0' || c > '9') return std::nullopt;
    bytes = bytes * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return bytes;
}

// The engine kernel's shell endpoint, from the "connection" of its
// registration (its kernel's connection file); empty if it names none.
std::string shell_endpoint_of(const Json& registration) {
  auto connection = registration.find("connection");
  if (connection == registration.end() || !connection->is_object()) return {};
  std::string transport = connection->value("transport", "tcp");
  std::string ip = connection->value("ip", "");
  int port = connection->value("shell_port", 0);
  if (ip.empty() || port <= 0 || (transport != "tcp" && transport != "ipc")) return {};
  return transport == "tcp" ? "tcp://" + ip + ":" + std::to_string(port) : "ipc://" + ip + "-" + std::to_string(port);
}

}  // namespace

void Controller::Impl::on_registration() {
  for (int n = 0; n < kBatchPerWake && receive(registration, parts); ++n) {
    if (parts.size() < 2) continue;
    std::string_view lead = view(parts[1]);
    if (lead == wire::kDelimiter) {
      on_registration_message();
      continue;
    }
    Engine* engine = engines.by_registration_rid(view(parts[0]));
    if (engine == nullptr) {
      // An engine this controller does not know (yet): its heartbeat is told to register.
      spdlog::debug("dropped '{}' traffic from an unregistered peer", lead.substr(0, 16));
      continue;
    }
    engine->last_seen = Clock::now();
    engines.note_connection(*engine, zmq_msg_get(parts[1].handle(), ZMQ_SRCFD));
    ++messages_since_trim;
    bool shell = lead == kernel::kUplinkShell;
    if (shell || lead == kernel::kUplinkControl) {
      // [rid, channel, client, <IDS|MSG>, ...] -> [route, client, <IDS|MSG>, ...]
      parts.erase(parts.begin());
      std::string route = shell ? engine->shell_route() : engine->control_route();
      parts[0].rebuild(route.data(), route.size());
      on_engine_reply(engine->id, shell ? 'e' : 'c');
    } else if (lead.starts_with(kernel::kUplinkMirrorRequest) || lead == kernel::kUplinkMirrorReply) {
      // [rid, channel, client identity, <IDS|MSG>, ...]: a client's request
      // sent to the engine directly, or the engine's reply to it.
      bool request = lead != kernel::kUplinkMirrorReply;
      std::optional<std::uint64_t> left_out = request ? bytes_left_out(lead) : std::uint64_t{0};
      parts.erase(parts.begin());
      if (left_out) {
        on_mirrored(*engine, request, *left_out);
      } else {
        spdlog::warn("engine {}: dropped a mirrored request with a malformed channel", engine->id);
      }
    } else if (lead == kernel::kUplinkIopub) {
      parts.erase(parts.begin(), parts.begin() + 2);  // [topic, <IDS|MSG>, ...]
      on_engine_iopub(*engine);
    } else if (lead == kernel::kUplinkCopiesSent) {
      on_copies_sent(*engine);
    } else {
      spdlog::warn("engine {}: dropped a message on an unknown channel", engine->id);
    }
  }
  answer_held_requests();  // what came may be what a held request waits for
}

void Controller::Impl::on_registration_message() {
  // Heartbeats, N a period, take a short path: signature and msg_type only,
  // no JSON parsed (the per-engine cost the scale benchmark showed).
  // The connection it came on; the routing id frame, made up here, does not say.
  int fd = zmq_msg_get(parts[1].handle(), ZMQ_SRCFD);
  if (parts.size() == 7 && msg_type_of(view(parts[3])) == "heartbeat" && verified(parts, 1, signer)) {
    if (Engine* engine = engines.by_registration_rid(view(parts[0]))) {
      engine->last_seen = Clock::now();
      engines.note_connection(*engine, fd);
      return;
    }
  }
  auto decoded = wire::decode(to_frames(parts), signer, nullptr);
  if (!decoded.ok() || decoded.value().identities.size() != 1) {
    spdlog::warn("registration: dropped a message: {}",
                 decoded.ok() ? std::string("wrong routing") : decoded.status().to_string());
    return;
  }
  wire::Message msg = std::move(decoded).value();
  const std::string& type = msg.header.msg_type;
  if (type == "heartbeat") {
    if (Engine* engine = engines.by_registration_rid(msg.identities[0])) {
      engine->last_seen = Clock::now();
    } else {
      // An engine of a controller that stopped (or one given up for dead): it registers again.
      reply_to_engine(msg, error_content("UnknownEngine", "register again"));
    }
  } else if (type == "registration_request") {
    register_engine(msg);
    if (Engine* engine = engines.by_registration_rid(msg.identities[0])) engines.note_connection(*engine, fd);
  } else if (type == "unregistration_request") {
    if (Engine* engine = engines.by_registration_rid(msg.identities[0])) {
      spdlog::info("engine {} is leaving", engine->id);
      engine_gone(engine->id, "left the cluster");
    }
  } else {
    spdlog::warn("registration: unknown message type '{}'", type);
  }
}

void Controller::Impl::reply_to_engine(const wire::Message& request, Json content) {
  wire::Message reply = message("registration_reply", std::move(content), request.header.to_json());
  reply.identities = request.identities;
  try {
    send(registration, wire::encode(reply, signer));
  } catch (const zmq::error_t& error) {
    spdlog::debug("registration reply: {}", error.what());  // the engine is gone already
  }
}

void Controller::Impl::register_engine(const wire::Message& msg) {
  Json reply_content;
  std::optional<Json> notice;  // a new engine's: published after the reply
  try {
    const Json& c = msg.content;
    std::string uuid = c.at("uuid").get<std::string>();
    bool is_new = false;
    int wanted = c.contains("id") && c["id"].is_number_integer() ? c["id"].get<int>() : -1;
    Engine& engine = engines.register_engine(uuid, is_new, wanted);
    if (is_new) {
      engine.pid = c.value("pid", 0);
      engine.hostname = c.value("hostname", std::string());
      engine.connection_file = options.security_dir + "/" + engine_file_name(options.cluster_id, engine.id);
      engine.shell_endpoint = shell_endpoint_of(c);
      engine.registration_rid = msg.identities[0];
      engine.last_seen = Clock::now();
      engines.index_registration(engine);
      spdlog::info("engine {} registered: pid {} on {}", engine.id, engine.pid, engine.hostname);
      notice = engine.describe();
      (*notice)["id"] = engine.id;
    }
    reply_content = Json{{"status", "ok"},
                         {"id", engine.id},
                         {"heartbeat_period_ms", options.heartbeat_period.count()},
                         {"heartbeat_misses", options.heartbeat_misses}};
  } catch (const std::exception& error) {
    spdlog::warn("registration: refused a malformed request: {}", error.what());
    reply_content = error_content("InvalidRequest", error.what());
  }
  reply_to_engine(msg, std::move(reply_content));
  if (notice) {
    // Tasks and clients learn of the engine after the reply has gone out: the engine reads
    // its id before a task (same connection), and a client's request (its own connection)
    // waits the moment it may take (ControllerLink::engine_id_within). Its iopub comes on
    // the connection the reply went out on, after it: nothing it publishes for a client's
    // first request can be lost.
    balancer.engine_ready((*notice)["id"].get<int>());
    publish("registration_notification", std::move(*notice));
  }
}

bool Controller::Impl::send_to_engine(Parts& out) {
  std::string_view route = view(out[0]);
  bool shell = !route.empty() && route[0] == 'e';
  Engine* engine = engines.find(route_id(route, shell ? 'e' : 'c'));
  if (engine == nullptr) return false;
  std::string_view channel = shell ? kernel::kUplinkShell : kernel::kUplinkControl;
  try {
    // Unreachable (router_mandatory) fails on the first frame, before anything is queued.
    registration.send(zmq::buffer(engine->registration_rid), zmq::send_flags::sndmore);
    registration.send(zmq::buffer(channel), zmq::send_flags::sndmore);
    for (std::size_t i = 1; i < out.size(); ++i) {
      registration.send(out[i], i + 1 < out.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
    return true;
  } catch (const zmq::error_t& error) {
    spdlog::warn("could not reach engine {}: {}", engine->id, error.what());
    return false;
  }
}

void Controller::Impl::send_to_control(const Engine& engine, const wire::Frames& frames) {
  try {
    registration.send(zmq::buffer(engine.registration_rid), zmq::send_flags::sndmore);
    registration.send(zmq::buffer(std::string_view(kernel::kUplinkControl)), zmq::send_flags::sndmore);
    send(registration, frames);
  } catch (const zmq::error_t& error) {
    spdlog::debug("control message to engine {}: {}", engine.id, error.what());
  }
}

void Controller::Impl::on_engine_reply(int id, char kind) {
  std::size_t d = find_delimiter(parts);
  if (d == 1) return;  // a reply to the controller's own request (abort, shutdown)
  if (d != 2 || parts.size() < d + 6) {
    spdlog::warn("engine {}: dropped a reply with {} frame(s)", id, parts.size());
    return;
  }
  std::swap(parts[0], parts[1]);  // [client, route, <IDS|MSG>, ...]
  if (kind == 'e' && !record_reply(id)) return;
  send(clients, parts);
}

// False when the reply is not for the client (a task that moves to another engine).
bool Controller::Impl::record_reply(int engine_id) {
  // Scanned, not parsed: three strings are all it needs of every reply, and
  // building nlohmann trees of the parent header and content was ~8% of the
  // controller's CPU under load-balanced load. The client parses the reply.
  static constexpr std::string_view kParentNames[] = {"msg_id"};
  static constexpr std::string_view kContentNames[] = {"status", "ename"};
  std::string parent_fields[1], content_fields[2];
  if (!wire::scan_string_members(view(parts[5]), kParentNames, parent_fields) || parent_fields[0].empty()) {
    return true;
  }
  const std::string& msg_id = parent_fields[0];
  Task* task = tasks.find(msg_id);
  if (task == nullptr || task->done) return true;
  if (!wire::scan_string_members(view(parts[7]), kContentNames, content_fields)) {
    content_fields[0].clear();
    content_fields[1].clear();
  }
  const std::string& status = content_fields[0];
  const std::string& ename = content_fields[1];
  if (!balancer.on_reply(msg_id, engine_id, status, ename)) return false;
  task->done = true;
  task->reply.store(parts, 2);
  task->engine = engine_id;
  tasks.finished(msg_id, *task);
  task->request_header.clear();  // only needed while the engine owes the reply
  for (const auto& watcher : task->watchers.all()) {
    Parts copy = share(parts);
    copy[0].rebuild(watcher.data(), watcher.size());
    send(clients, copy);
  }
  task->watchers.clear();
  if (Engine* engine = engines.find(engine_id)) {
    engine->queue.erase(msg_id);
  }
  return true;
}

void Controller::Impl::on_engine_iopub(const Engine& engine) {
  if (parts.size() < 7 || view(parts[1]) != wire::kDelimiter) {
    spdlog::warn("engine {}: dropped an iopub message with {} frame(s)", engine.id, parts.size());
    return;
  }
  if (store.enabled()) record_output();
  std::string tagged = "engine." + std::to_string(engine.id);
  parts[0].rebuild(tagged.data(), tagged.size());
  send(iopub, parts);
}


// Keeps a task's outputs (ipyparallel's stdout, stderr, execute_input,
// execute_result and error record fields) in the store; `parts` is an iopub
// message from an engine: [topic, <IDS|MSG>, signature, header, parent, metadata, content].
void Controller::Impl::record_output() {
  std::string type = msg_type_of(view(parts[3]));
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

}  // namespace ensemble::parallel
