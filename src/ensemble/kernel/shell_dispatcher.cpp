#include "ensemble/kernel/shell_dispatcher.hpp"

#include <spdlog/spdlog.h>

#include "ensemble/wire/message.hpp"

namespace ensemble::kernel {

namespace {

Json error_content(const std::string& ename, const std::string& evalue) {
  return Json{{"status", "error"}, {"ename", ename}, {"evalue", evalue}, {"traceback", Json::array()}};
}

bool is_comm_message(const std::string& msg_type) {
  return msg_type == "comm_open" || msg_type == "comm_msg" || msg_type == "comm_close";
}

template <typename T>
T field_or(const Json& content, const char* name, T fallback) {
  auto it = content.find(name);
  if (it == content.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const Json::exception&) {
    return fallback;
  }
}

Json history_row(const HistoryEntry& entry, bool with_output) {
  if (!with_output) return Json::array({entry.session, entry.line, entry.input});
  Json output = entry.output ? Json(*entry.output) : Json(nullptr);
  return Json::array({entry.session, entry.line, Json::array({entry.input, output})});
}

}  // namespace

ShellDispatcher::ShellDispatcher(Interpreter& interpreter, Inbox& inbox, Outbox& outbox, HistoryStore& history,
                                 const Session& session, DebugChannel* debugger)
    : interpreter_(interpreter),
      inbox_(inbox),
      outbox_(outbox),
      history_(history),
      session_(session),
      debugger_(debugger) {
  auto bind = [this](Json (ShellDispatcher::*method)(const wire::Message&)) {
    return [this, method](wire::Message& request) { return (this->*method)(request); };
  };
  handlers_ = {
      {"execute_request", bind(&ShellDispatcher::handle_execute)},
      {"kernel_info_request", bind(&ShellDispatcher::handle_kernel_info)},
      {"complete_request", bind(&ShellDispatcher::handle_complete)},
      {"inspect_request", bind(&ShellDispatcher::handle_inspect)},
      {"is_complete_request", bind(&ShellDispatcher::handle_is_complete)},
      {"history_request", bind(&ShellDispatcher::handle_history)},
      {"comm_info_request", bind(&ShellDispatcher::handle_comm_info)},
      {"shutdown_request", bind(&ShellDispatcher::handle_shutdown)},
  };
  interpreter_.attach(*this);
  kernel_info_ = interpreter_.kernel_info();
  kernel_info_["status"] = "ok";
  kernel_info_["protocol_version"] = wire::kProtocolVersion;
  auto can_debug = kernel_info_.find("debugger");
  kernel_info_["debugger"] =
      debugger_ != nullptr && can_debug != kernel_info_.end() && can_debug->is_boolean() && can_debug->get<bool>();
}

void ShellDispatcher::add_handler(std::string msg_type, RequestHandler handler) {
  handlers_[std::move(msg_type)] = std::move(handler);
}

void ShellDispatcher::set_current(const wire::Message* request) {
  current_request_ = request;
  if (request == nullptr) {
    current_parent_text_.reset();
    return;
  }
  current_parent_text_ = std::make_shared<const std::string>(request->header.to_text());
  auto parent = std::make_shared<const Json>(request->header.to_json());
  std::lock_guard lock(current_mutex_);
  current_parent_ = std::move(parent);
}

Json ShellDispatcher::current_parent_header() const {
  std::lock_guard lock(current_mutex_);
  return current_parent_ ? *current_parent_ : Json::object();
}

void ShellDispatcher::publish(const std::string& msg_type, Json content, Json metadata,
                              std::vector<std::string> buffers) {
  wire::Message message = session_.make(msg_type, std::move(content), current_parent_header());
  message.metadata = std::move(metadata);
  message.buffers = std::move(buffers);
  message.identities = {"kernel." + session_.id() + "." + msg_type};
  outbox_.send(Route::kIopub, std::move(message));
}

void ShellDispatcher::write_stream(const std::string& name, std::string_view text) {
  ParentPtr parent;
  {
    std::lock_guard lock(current_mutex_);
    parent = current_parent_;
  }
  if (!parent) parent = std::make_shared<const Json>(Json::object());
  outbox_.write_stream(name, text, parent);
}

void ShellDispatcher::flush_streams() {
  outbox_.flush_streams();
}

void ShellDispatcher::publish_status(const char* state, const Json& parent,
                                     std::shared_ptr<const std::string> parent_text) {
  wire::Message message = session_.make("status", Json{{"execution_state", state}}, parent);
  message.parent_text = std::move(parent_text);
  message.identities = {"kernel." + session_.id() + ".status"};
  outbox_.enqueue(Route::kIopub, std::move(message));
}

// Replies and statuses are enqueued; the flush() that ends each request (or
// the next publish) wakes the I/O thread once for all of them.
wire::Message ShellDispatcher::reply_to(const wire::Message& request, Json content) const {
  if (&request != current_request_ || !current_parent_text_) return session_.reply(request, std::move(content));
  std::lock_guard lock(current_mutex_);
  return session_.reply(request, std::move(content), *current_parent_, current_parent_text_);
}

void ShellDispatcher::send_reply(const wire::Message& request, Json content) {
  outbox_.enqueue(Route::kShell, reply_to(request, std::move(content)));
}

void ShellDispatcher::send_reply(const wire::Message& request, Json content, Json metadata,
                                 std::vector<std::string> buffers, std::vector<wire::SharedBuffer> shared) {
  // a handler's own reply (an engine's apply): the output it made goes out first
  if (output_drain_) output_drain_();
  wire::Message reply = reply_to(request, std::move(content));
  reply.metadata = std::move(metadata);
  reply.buffers = std::move(buffers);
  reply.shared_buffers = std::move(shared);
  outbox_.enqueue(Route::kShell, std::move(reply));
}

void ShellDispatcher::abort_requests(const std::vector<std::string>& msg_ids) {
  std::lock_guard lock(aborted_mutex_);
  aborted_.insert(msg_ids.begin(), msg_ids.end());
}

bool ShellDispatcher::take_aborted(const std::string& msg_id) {
  std::lock_guard lock(aborted_mutex_);
  return aborted_.erase(msg_id) > 0;
}

std::optional<Incoming> ShellDispatcher::next_incoming() {
  if (!deferred_.empty()) {
    Incoming incoming = std::move(deferred_.front());
    deferred_.pop_front();
    return incoming;
  }
  auto waited = inbox_.wait();
  if (!waited.ok()) {
    // Ctrl-C (or an interrupt_request) while idle must not break the next cell.
    interpreter_.discard_pending_interrupt();
    return std::nullopt;
  }
  return std::move(waited).value();
}

bool ShellDispatcher::run() {
  while (!shutdown_restart_) {
    auto incoming = next_incoming();
    if (!incoming) continue;
    switch (incoming->kind) {
      case Incoming::Kind::kShellRequest: dispatch(incoming->message); break;
      case Incoming::Kind::kShutdown: shutdown_restart_ = incoming->restart; break;
      case Incoming::Kind::kInputReply: spdlog::warn("dropping an input_reply that no input() is waiting for"); break;
    }
  }
  history_.sync();
  interpreter_.shutdown(*shutdown_restart_);
  return *shutdown_restart_;
}

void ShellDispatcher::dispatch(wire::Message& request) {
  const std::string& msg_type = request.header.msg_type;
  set_current(&request);
  ParentPtr parent;
  {
    std::lock_guard lock(current_mutex_);
    parent = current_parent_;
  }
  // One header, as JSON and as text, for the busy, the reply and the idle.
  std::shared_ptr<const std::string> parent_text = current_parent_text_;
  publish_status("busy", *parent, parent_text);
  if (is_comm_message(msg_type)) {
    try {
      interpreter_.handle_comm(request);
    } catch (const std::exception& error) {
      spdlog::error("{} handler failed: {}", msg_type, error.what());
    }
  } else {
    Json content;
    auto handler = handlers_.find(msg_type);
    if (take_aborted(request.header.msg_id)) {
      content = Json{{"status", "aborted"}};
    } else if (auto refusal = gate_ ? gate_(request) : std::nullopt) {
      spdlog::warn("refused {} from '{}': {}", msg_type, request.header.username, refusal->evalue);
      content = error_content(refusal->ename, refusal->evalue);
    } else if (handler == handlers_.end()) {
      spdlog::warn("unknown shell message type '{}'", msg_type);
      content = error_content("UnknownMessageType", "the kernel does not handle '" + msg_type + "'");
    } else {
      // Whatever happens inside, the client gets its one reply.
      try {
        content = handler->second(request);
      } catch (const std::exception& error) {
        spdlog::error("{} handler failed: {}", msg_type, error.what());
        content = error_content("InternalError", error.what());
      }
    }
    // A null content means the handler replied itself (execute, before aborting the queue).
    if (!content.is_null()) send_reply(request, std::move(content));
  }
  publish_status("idle", *parent, std::move(parent_text));
  outbox_.flush();
  set_current(nullptr);
}

Json ShellDispatcher::handle_execute(const wire::Message& request) {
  const Json& content = request.content;
  ExecuteRequest execute;
  execute.code = field_or<std::string>(content, "code", "");
  execute.silent = field_or<bool>(content, "silent", false);
  execute.store_history = !execute.silent && field_or<bool>(content, "store_history", true);
  execute.allow_stdin = field_or<bool>(content, "allow_stdin", true);
  bool stop_on_error = field_or<bool>(content, "stop_on_error", true);
  if (auto it = content.find("user_expressions"); it != content.end() && it->is_object()) {
    execute.user_expressions = *it;
  }
  if (execute.store_history) ++execution_count_;
  execute.execution_count = execution_count_;
  if (!execute.silent) {
    publish("execute_input", Json{{"code", execute.code}, {"execution_count", execution_count_}}, Json::object(), {});
  } else {
    outbox_.flush();  // sends the busy status now: the cell may run long
  }
  if (execute.store_history) history_.append(execution_count_, execute.code);

  allow_stdin_ = execute.allow_stdin;
  ExecuteOutcome outcome = interpreter_.execute(execute);
  allow_stdin_ = false;
  if (output_drain_) output_drain_();

  if (outcome.output_text && execute.store_history) history_.set_output(execution_count_, *outcome.output_text);
  Json reply{{"execution_count", execution_count_}};
  switch (outcome.status) {
    case ExecuteOutcome::Status::kOk:
      reply["status"] = "ok";
      reply["user_expressions"] = std::move(outcome.user_expressions);
      reply["payload"] = std::move(outcome.payload);
      break;
    case ExecuteOutcome::Status::kAborted: reply["status"] = "aborted"; break;
    case ExecuteOutcome::Status::kError:
      reply["status"] = "error";
      reply["ename"] = outcome.ename;
      reply["evalue"] = outcome.evalue;
      reply["traceback"] = outcome.traceback;
      reply["user_expressions"] = Json::object();
      reply["payload"] = Json::array();
      if (!outcome.error_shown) {
        publish("error", Json{{"ename", outcome.ename}, {"evalue", outcome.evalue}, {"traceback", outcome.traceback}},
                Json::object(), {});
      }
      // As ipykernel: a silent request's failure never aborts the queue.
      if (stop_on_error && !execute.silent) {
        send_reply(request, std::move(reply));
        abort_queued();
        return Json();  // already replied
      }
      break;
  }
  return reply;
}

void ShellDispatcher::abort_queued() {
  // Everything the client queued behind the failed cell is aborted, as
  // ipykernel does; later requests run normally.
  std::deque<Incoming> keep;
  while (auto incoming = inbox_.try_take()) deferred_.push_back(std::move(*incoming));
  for (auto& incoming : deferred_) {
    if (incoming.kind != Incoming::Kind::kShellRequest || is_comm_message(incoming.message.header.msg_type)) {
      keep.push_back(std::move(incoming));
      continue;
    }
    const wire::Message& queued = incoming.message;
    Json parent = queued.header.to_json();
    publish_status("busy", parent);
    Json content{{"status", "aborted"}};
    if (queued.header.msg_type == "execute_request") content["execution_count"] = execution_count_;
    send_reply(queued, std::move(content));
    publish_status("idle", parent);
  }
  outbox_.flush();
  deferred_ = std::move(keep);
}

Json ShellDispatcher::handle_kernel_info(const wire::Message&) {
  return kernel_info_;
}

Json ShellDispatcher::handle_complete(const wire::Message& request) {
  std::string code = field_or<std::string>(request.content, "code", "");
  int cursor = field_or<int>(request.content, "cursor_pos", static_cast<int>(code.size()));
  Json reply = interpreter_.complete(code, cursor);
  reply["status"] = "ok";
  return reply;
}

Json ShellDispatcher::handle_inspect(const wire::Message& request) {
  std::string code = field_or<std::string>(request.content, "code", "");
  int cursor = field_or<int>(request.content, "cursor_pos", static_cast<int>(code.size()));
  Json reply = interpreter_.inspect(code, cursor, field_or<int>(request.content, "detail_level", 0));
  reply["status"] = "ok";
  return reply;
}

Json ShellDispatcher::handle_is_complete(const wire::Message& request) {
  return interpreter_.is_complete(field_or<std::string>(request.content, "code", ""));
}

Json ShellDispatcher::handle_history(const wire::Message& request) { return query_history(request.content); }

int ShellDispatcher::history_session() const { return history_.session(); }

Json ShellDispatcher::query_history(const Json& content) {
  HistoryQuery query;
  std::string access = field_or<std::string>(content, "hist_access_type", "tail");
  if (access == "range") {
    query.kind = HistoryQuery::Kind::kRange;
  } else if (access == "search") {
    query.kind = HistoryQuery::Kind::kSearch;
  } else if (access != "tail") {
    return error_content("ValueError", "unknown hist_access_type '" + access + "'");
  }
  query.output = field_or<bool>(content, "output", false);
  query.n = field_or<int>(content, "n", 10);
  query.session = field_or<int>(content, "session", 0);
  query.start = field_or<int>(content, "start", 0);
  if (auto it = content.find("stop"); it != content.end() && it->is_number_integer()) query.stop = it->get<int>();
  query.pattern = field_or<std::string>(content, "pattern", "*");
  query.unique = field_or<bool>(content, "unique", false);
  Json rows = Json::array();
  for (const auto& entry : history_.query(query)) rows.push_back(history_row(entry, query.output));
  return Json{{"status", "ok"}, {"history", std::move(rows)}};
}

Json ShellDispatcher::handle_comm_info(const wire::Message& request) {
  std::optional<std::string> target;
  if (auto it = request.content.find("target_name"); it != request.content.end() && it->is_string()) {
    target = it->get<std::string>();
  }
  Json reply = interpreter_.comm_info(target);
  reply["status"] = "ok";
  return reply;
}

Json ShellDispatcher::handle_shutdown(const wire::Message& request) {
  bool restart = field_or<bool>(request.content, "restart", false);
  shutdown_restart_ = restart;
  return Json{{"status", "ok"}, {"restart", restart}};
}

wire::Result<std::string> ShellDispatcher::request_input(const std::string& prompt, bool password) {
  if (current_request_ == nullptr || !allow_stdin_) {
    return wire::Status::Error(wire::StatusCode::kUnavailable, "the frontend does not support input requests");
  }
  outbox_.flush();
  wire::Message ask = session_.make("input_request", Json{{"prompt", prompt}, {"password", password}},
                                    current_request_->header.to_json());
  ask.identities = current_request_->identities;
  outbox_.send(Route::kStdin, std::move(ask));
  for (;;) {
    auto waited = inbox_.wait();
    if (!waited.ok()) return waited.status();
    Incoming incoming = std::move(waited).value();
    if (incoming.kind == Incoming::Kind::kInputReply) {
      // Only the client that was asked may answer.
      if (incoming.message.identities != current_request_->identities) {
        spdlog::warn("dropping an input_reply from a client that was not asked");
        continue;
      }
      return field_or<std::string>(incoming.message.content, "value", "");
    }
    deferred_.push_back(std::move(incoming));
  }
}

}  // namespace ensemble::kernel
