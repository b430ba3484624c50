#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <unordered_set>

#include "controller_impl.hpp"
#include "ensemble/wire/json_scan.hpp"
#include "task_query.hpp"

namespace ensemble::parallel {

void Controller::Impl::on_client() {
  for (int n = 0; n < kBatchPerWake && receive(clients, parts); ++n) {
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
  // A client asking for a result by msg_id may ask before the task's sender sent it.
  answer_held_requests();
}

void Controller::Impl::forward_to_engine() {
  std::string rid(view(parts[0]));
  std::string route(view(parts[1]));
  if (!verified(parts, 2, signer)) {
    spdlog::warn("client: dropped a message with a bad signature or too few frames");
    return;
  }
  // Scanned, not parsed: the controller needs two strings of the header; the
  // engine parses it. A header that is not a JSON object of that shape is dropped.
  static constexpr std::string_view kHeaderNames[] = {"msg_id", "msg_type"};
  std::string header_fields[2];
  if (!wire::scan_string_members(view(parts[4]), kHeaderNames, header_fields) || header_fields[0].empty() ||
      header_fields[1].empty()) {
    spdlog::warn("client: dropped a message whose header is not valid");
    return;
  }
  const std::string& msg_id = header_fields[0];
  const std::string& msg_type = header_fields[1];
  if (route == "b") {
    Json header = parse_or_null(view(parts[4]));
    if (!header.is_object()) {
      spdlog::warn("client: dropped a message whose header is not valid");
      return;
    }
    forward_broadcast(rid, std::move(header));
    return;
  }
  if (route == "t") {  // load-balanced: the scheduler picks the engine
    if (tasks.find(msg_id) != nullptr) {
      spdlog::warn("client: dropped a task whose msg_id {} is already known", msg_id);
      return;
    }
    ++messages_since_trim;
    balancer.submit(std::move(parts), rid, msg_id, msg_type, task_metadata(view(parts[6])));
    parts.clear();
    return;
  }
  bool to_shell = route_id(route, 'e') >= 0;
  int id = to_shell ? route_id(route, 'e') : route_id(route, 'c');
  Engine* engine = id >= 0 ? engines.find(id) : nullptr;
  if (engine == nullptr) {
    spdlog::warn("client: {} for engine route '{}', which is not registered", msg_type, route);
    Json parent = parse_or_null(view(parts[4]));
    send_to_client(rid, route,
                   message(wire::reply_type_for(msg_type),
                           error_content("EngineError", "engine " + route.substr(1) + " is not registered"),
                           parent.is_object() ? std::move(parent) : Json::object()));
    return;
  }
  std::swap(parts[0], parts[1]);  // [route, client, <IDS|MSG>, signature, header, ...]
  if (to_shell) {
    // Recorded before it is sent: sending empties the frames the store shares.
    tasks.add(msg_id, Task{rid, id, msg_type, std::string(view(parts[4])), false, {}, {}}, "mux", parts, 4);
    engine->queue.insert(msg_id);
    balancer.note_direct(msg_id);
  }
  ++messages_since_trim;
  if (!send_to_engine(parts)) {
    if (to_shell) {
      engine->queue.erase(msg_id);
      answer_task(msg_id, id, "EngineError", "could not reach engine " + std::to_string(id));
      balancer.on_reply(msg_id, id, "error", "EngineError");
    }
  }
}

// A view sends the same flags with every task: the last metadata frame's parse is kept.
const Json& Controller::Impl::task_metadata(std::string_view text) {
  if (text != last_task_metadata_text) {
    last_task_metadata = parse_or_null(text);
    last_task_metadata_text.assign(text);
  }
  return last_task_metadata;
}

bool Controller::Impl::send_task(Parts& out) {
  return send_to_engine(out);
}

// Answers a request no engine will answer (a dead engine, an impossible or
// timed-out task, an abort), and keeps the answer as the task's result.
void Controller::Impl::answer_task(const std::string& msg_id, int engine_id, const std::string& ename, const std::string& evalue) {
  Task* task = tasks.find(msg_id);
  if (task == nullptr || task->done) return;
  Json parent = parse_or_null(task->request_header.str());
  Engine* engine = engines.find(engine_id);
  std::string uuid = engine != nullptr ? engine->uuid : std::string();
  Json content = ename == "aborted" ? Json{{"status", "aborted"}} : error_content(ename, evalue);
  // The scheduler's own failures (TaskTimeout, ImpossibleDependency) come from no engine:
  // an empty engine_info, as ipyparallel's scheduler sends.
  if (ename != "aborted") {
    content["engine_info"] = engine_id >= 0 ? Json{{"engine_id", engine_id}, {"engine_uuid", uuid}} : Json::object();
  }
  wire::Message reply = message(wire::reply_type_for(task->msg_type.str()), std::move(content),
                                parent.is_object() ? parent : Json::object());
  reply.metadata = Json{{"engine_id", engine_id}, {"engine_uuid", uuid},
                        {"status", ename == "aborted" ? "aborted" : "error"}};
  std::string route = engine_id >= 0 ? "e" + std::to_string(engine_id) : std::string("t");
  reply.identities = {task->client_rid.str(), route};
  wire::Frames frames = wire::encode(reply, signer);
  send(clients, frames);
  for (const auto& watcher : task->watchers.all()) {
    frames[0] = watcher;
    send(clients, frames);
  }
  task->watchers.clear();
  task->done = true;
  task->reply.store_frames(frames, 2);
  task->request_header.clear();
  tasks.finished(msg_id, *task);
}

void Controller::Impl::handle_controller_request() {
  auto decoded = wire::decode(to_frames(parts), signer, &replay_guard);
  if (!decoded.ok()) {
    spdlog::warn("client: dropped a controller request: {}", decoded.status().to_string());
    return;
  }
  wire::Message request = std::move(decoded).value();
  std::string rid = request.identities.at(0);
  serve(rid, std::move(request), false);
}

void Controller::Impl::serve(const std::string& rid, wire::Message request, bool held) {
  if (!held && hold_for_copies(rid, request)) return;
  const std::string& type = request.header.msg_type;
  Json content;
  std::vector<std::string> buffers;
  try {
    if (type == "connection_request") {
      content = connection_reply();
    } else if (type == "queue_request") {
      content = queue_reply(request.content);
    } else if (type == "result_request") {
      content = result_reply(rid, request.content);  // KeyError for an id still unknown
    } else if (type == "purge_request") {
      content = purge_reply(request.content);
    } else if (type == "hub_history_request") {
      content = Json{{"status", "ok"}, {"history", Json(tasks.history())}};
    } else if (type == "abort_request") {
      content = abort_reply(request.content);
    } else if (type == "db_request") {
      content = db_reply(request.content, buffers);
    } else if (type == "resubmit_request") {
      content = resubmit_reply(rid, request.content);
    } else if (type == "shutdown_request") {
      content = Json{{"status", "ok"}};
      begin_shutdown();
    } else {
      spdlog::warn("client: unknown controller request '{}'", type);
      content = error_content("UnknownMessageType", "the controller does not handle '" + type + "'");
    }
  } catch (const std::exception& error) {
    spdlog::warn("client: {} failed: {}", type, error.what());
    const char* ename = dynamic_cast<const UnknownRecordKey*>(&error)        ? "KeyError"
                        : dynamic_cast<const std::invalid_argument*>(&error) ? "ValueError"
                        : dynamic_cast<const PendingTaskNamed*>(&error)      ? "IndexError"
                                                                            : "InvalidRequest";
    content = error_content(ename, error.what());
    buffers.clear();
  }
  answer(rid, request, std::move(content), std::move(buffers));
}

void Controller::Impl::answer(const std::string& rid, const wire::Message& request, Json content,
                              std::vector<std::string> buffers) {
  wire::Message reply = message(wire::reply_type_for(request.header.msg_type), std::move(content),
                                request.header.to_json());
  reply.buffers = std::move(buffers);
  send_to_client(rid, "", std::move(reply));
}

Json Controller::Impl::connection_reply() {
  Json listing = Json::object();
  for (auto& [id, engine] : engines.all()) {
    listing[std::to_string(id)] = engine.describe();
  }
  return Json{{"status", "ok"}, {"engines", listing}, {"cluster_id", options.cluster_id}};
}

Json Controller::Impl::queue_reply(const Json& request) {
  bool verbose = request.value("verbose", false);
  std::vector<int> targets;
  if (request.contains("targets") && request["targets"].is_array()) {
    targets = request["targets"].get<std::vector<int>>();
  } else {
    for (auto& [id, engine] : engines.all()) {
      targets.push_back(id);
    }
  }
  Json reply{{"status", "ok"}};
  reply["unassigned"] = verbose ? Json(balancer.unassigned_ids()) : Json(balancer.unassigned());
  for (int id : targets) {
    Engine* engine = engines.find(id);
    if (engine == nullptr) throw std::invalid_argument("no engine " + std::to_string(id));
    // As ipyparallel's hub counts them: an engine's "queue" holds the requests sent to it
    // by name, its "tasks" those the load balancer gave it, waiting or running.
    std::vector<std::string> queued, balanced;
    for (const auto& msg_id : engine->queue) {
      const Task* task = tasks.find(msg_id);
      (task != nullptr && task->balanced ? balanced : queued).push_back(msg_id);
    }
    Json entry;
    if (verbose) {
      entry["queue"] = Json(std::move(queued));
      entry["tasks"] = Json(std::move(balanced));
      entry["completed"] = tasks.finished_ids_on(id);
    } else {
      entry["queue"] = queued.size();
      entry["tasks"] = balanced.size();
      entry["completed"] = tasks.finished_on(id);
    }
    reply[std::to_string(id)] = std::move(entry);
  }
  return reply;
}

Json Controller::Impl::result_reply(const std::string& rid, const Json& request) {
  std::vector<std::string> ids = request.at("msg_ids").get<std::vector<std::string>>();
  for (const auto& id : ids) {
    if (tasks.find(id) == nullptr) return error_content("KeyError", "'No such message: " + id + "'");  // ipyparallel's str(KeyError)
  }
  Json completed = Json::array(), pending = Json::array();
  for (const auto& id : ids) {
    Task& task = *tasks.find(id);
    if (task.done) {
      StoredReply read_back;
      StoredReply* reply = &task.reply;
      if (task.reply_in_store) {
        read_back = read_reply(id);
        if (read_back.empty()) return error_content("KeyError", "the result of " + id + " cannot be read back from the task store");
        reply = &read_back;
      }
      Parts out;
      out.emplace_back(rid.data(), rid.size());
      std::string route = "e" + std::to_string(task.engine);
      out.emplace_back(route.data(), route.size());
      for (auto& frame : reply->frames()) out.push_back(std::move(frame));
      send(clients, out);
      completed.push_back(id);
    } else {
      bool gets_it_anyway = rid == task.client_rid.str() && !task.direct;  // the controller forwards its reply
      if (!gets_it_anyway) task.watchers.add(rid);
      pending.push_back(id);
    }
  }
  return Json{{"status", "ok"}, {"completed", completed}, {"pending", pending}};
}

// Tasks not yet on an engine are answered "aborted" here; those an engine
// holds are passed to its control (it aborts them if they have not started).
Json Controller::Impl::abort_reply(const Json& request) {
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
    send_to_control(*engine, wire::encode(message("abort_request", Json{{"msg_ids", listed}}), signer));
  }
  return Json{{"status", "ok"}};
}

Json Controller::Impl::purge_reply(const Json& request) {
  if (request.contains("msg_ids") && request["msg_ids"] == "all") {
    for (const auto& id : tasks.history()) {
      if (Task* task = tasks.find(id); task != nullptr && task->done) balancer.forget(id);
    }
    tasks.purge_all();
    ++messages_since_trim;  // the next tick returns what the purge freed
    return Json{{"status", "ok"}};
  }
  std::vector<std::string> ids;
  if (request.contains("msg_ids") && request["msg_ids"].is_array()) {
    ids = request["msg_ids"].get<std::vector<std::string>>();
  }
  for (const auto& id : ids) {
    if (const Task* task = tasks.find(id); task != nullptr && !task->done) {
      throw PendingTaskNamed("msg pending: '" + id + "'");
    }
  }
  if (request.contains("engine_ids") && request["engine_ids"].is_array()) {
    for (int id : request["engine_ids"].get<std::vector<int>>()) {
      std::vector<std::string> finished = tasks.finished_ids_on(id);
      ids.insert(ids.end(), finished.begin(), finished.end());
    }
  }
  for (const auto& id : ids) {
    if (Task* task = tasks.find(id); task != nullptr && task->done) balancer.forget(id);
  }
  tasks.purge(ids);
  return Json{{"status", "ok"}};
}

}  // namespace ensemble::parallel
