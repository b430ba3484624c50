#include "io_loop.hpp"

#include "ensemble/wire/free_memory.hpp"
#include "ensemble/wire/ids.hpp"
#include "ensemble/wire/thread_name.hpp"
#include "socket_setup.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>

namespace ensemble::kernel {

IoLoop::IoLoop(zmq::context_t& context, wire::Signer& signer, wire::DecodeLimits limits, const Session& session,
               QueueInbox& inbox, QueueOutbox& outbox)
    : context_(context),
      signer_(signer),
      limits_(limits),
      session_(session),
      inbox_(inbox),
      outbox_(outbox),
      shell_(context, zmq::socket_type::router),
      control_(context, zmq::socket_type::router),
      stdin_(context, zmq::socket_type::router),
      iopub_(context, zmq::socket_type::xpub) {
  for (auto* socket : {&shell_, &control_, &stdin_}) configure_router(*socket, limits_.max_message_bytes);
  iopub_.set(zmq::sockopt::linger, 1000);
  iopub_.set(zmq::sockopt::sndhwm, 100000);
}

IoLoop::~IoLoop() {
  stop();
}

wire::Status IoLoop::bind(wire::ConnectionInfo& info) {
  for (auto* socket : {&shell_, &control_, &stdin_, &iopub_}) configure_curve_server(*socket, curve_secret_key_);
  for (auto [socket, channel] :
       {std::pair{&shell_, wire::Channel::kShell}, std::pair{&control_, wire::Channel::kControl},
        std::pair{&stdin_, wire::Channel::kStdin}, std::pair{&iopub_, wire::Channel::kIopub}}) {
    if (auto status = bind_socket(*socket, info, channel); !status.ok()) return status;
  }
  iopub_endpoint_ = info.endpoint(wire::Channel::kIopub);
  return wire::Status::Ok();
}

void IoLoop::start(wire::Json kernel_info, IoLoopHooks hooks) {
  kernel_info_ = std::move(kernel_info);
  hooks_ = std::move(hooks);
  // Before the thread starts: the main thread reads it too (send_reply_now, route).
  if (uplink_) uplink_tag_ = std::string(1, '\0') + wire::random_hex(8) + ":";
  if (uplink_) {
    copy_delay_ = uplink_->copy_delay();
    io_wake_.set_delay(copy_delay_);
    outbox_.set_reply_shortcut([this](wire::Message& reply) { return send_reply_now(reply); });
    outbox_.set_wake_later([this] { return io_wake_.arm(); });
  }
  if (uplink_ && roster_ == nullptr) {
    auto source = std::make_shared<DirectSource>();
    source->fd = shell_.get(zmq::sockopt::fd);
    source->read = [this] { return read_shell_for_main(); };
    source->waiting = [this](bool sleeping) { main_waiting(sleeping); };
    inbox_.set_direct_source(std::move(source));
  }
  thread_ = std::jthread([this](std::stop_token stop) {
    wire::name_this_thread("kernel-io");
    loop(stop);
  });
}

void IoLoop::stop() {
  if (!thread_.joinable()) return;
  outbox_.set_reply_shortcut(nullptr);
  inbox_.set_direct_source(nullptr);
  thread_.request_stop();
  outbox_.flush();  // wakes the loop
  thread_.join();
}

void IoLoop::loop(std::stop_token stop) {
  publish_status("starting", wire::Json::object());
  if (uplink_) open_uplink();
  // Shell by its ZMQ_FD: the main thread may use the socket too (send_reply_now), so
  // readiness is read under shell_mutex_ in on_shell(), every time round.
  int shell_fd = shell_.get(zmq::sockopt::fd);
  zmq::pollitem_t items[] = {{nullptr, shell_fd, ZMQ_POLLIN, 0},
                             {control_.handle(), 0, ZMQ_POLLIN, 0},
                             {stdin_.handle(), 0, ZMQ_POLLIN, 0},
                             {nullptr, outbox_.fd(), ZMQ_POLLIN, 0},
                             {nullptr, io_wake_.fd(), ZMQ_POLLIN, 0},
                             {iopub_.handle(), 0, ZMQ_POLLIN, 0},
                             {uplink_socket_ ? uplink_socket_->handle() : nullptr, -1, ZMQ_POLLIN, 0}};
  const int polled = uplink_socket_ ? 7 : 6;
  auto wait_until = [](std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return std::max<long>(0, left.count() + 1);
  };
  bool shell_waiting = false;
  while (!stop.stop_requested()) {
    long timeout_ms = shell_waiting ? 0 : -1;
    if (auto deadline = outbox_.next_deadline(); deadline && timeout_ms != 0) timeout_ms = wait_until(*deadline);
    if (uplink_) {
      long uplink_ms = wait_until(uplink_->next_timer());
      if (timeout_ms < 0 || uplink_ms < timeout_ms) timeout_ms = uplink_ms;
    }
    if (bytes_since_trim_ > kTrimAfterBytes && (timeout_ms < 0 || timeout_ms > kTrimWhenQuietMs)) {
      timeout_ms = kTrimWhenQuietMs;
    }
    if (roster_ != nullptr && (timeout_ms < 0 || timeout_ms > kRosterCheckMs)) timeout_ms = kRosterCheckMs;
    if (mirror_deadline_) {
      long mirror_ms = wait_until(*mirror_deadline_);
      if (timeout_ms < 0 || mirror_ms < timeout_ms) timeout_ms = mirror_ms;
    }
    // Sending on shell (send_due) may have taken in the news of a request, and its
    // descriptor then stays quiet: zmq_poll looks at a socket's events first, and so
    // must this loop for the descriptor it polls instead.
    if (timeout_ms != 0 && shell_readable()) timeout_ms = 0;
    bool watch_shell = !main_sleeping_on_shell_.load(std::memory_order_acquire);
    io_watches_shell_.store(watch_shell, std::memory_order_release);
    items[0].fd = watch_shell ? shell_fd : -1;
    items[5].socket = iopub_.handle();  // a new socket after a revocation
    int ready = 0;
    try {
      ready = zmq::poll(items, polled, std::chrono::milliseconds(timeout_ms));
    } catch (const zmq::error_t& error) {
      if (error.num() == ETERM) break;
      if (error.num() != EINTR) spdlog::error("poll failed: {}", error.what());
      continue;
    }
    // Control first: it must be answered even while shell traffic floods in.
    if (items[1].revents & ZMQ_POLLIN) on_control();
    shell_waiting = on_shell();
    if (items[2].revents & ZMQ_POLLIN) on_stdin();
    if (items[3].revents & ZMQ_POLLIN) outbox_.drain_notifications();
    if (items[4].revents & ZMQ_POLLIN) io_wake_.take();  // before send_due: what the main thread queued
    if (items[5].revents & ZMQ_POLLIN) on_iopub_subscriptions();
    if (uplink_) {
      if (items[6].revents & ZMQ_POLLIN) on_uplink();
      if (std::chrono::steady_clock::now() >= uplink_->next_timer()) uplink_->on_timer();
      bool up = uplink_->ready();
      replies_from_main_.store(up, std::memory_order_release);
      // copies held until the uplink was ready (hold_mirror) are due now
      if (up && !held_mirrors_.empty() && !mirror_deadline_) mirror_deadline_ = std::chrono::steady_clock::now();
    }
    send_due(false);
    if (send_copies_now_ || (mirror_deadline_ && std::chrono::steady_clock::now() >= *mirror_deadline_)) {
      send_copies_now_ = false;
      SendBatch batch(*this);
      flush_mirrors();
      for (auto& token : copies_tokens_) {  // behind the copies, on the same connection
        std::vector<zmq::message_t> parts;
        parts.emplace_back(kUplinkCopiesSent, std::strlen(kUplinkCopiesSent));
        parts.emplace_back(token.data(), token.size());
        send_parts(*uplink_socket_, std::move(parts), kUplinkCopiesSent);
      }
      copies_tokens_.clear();
    }
    if (roster_ != nullptr && roster_->revocations() != revocations_seen_) rebind_iopub_after_revocation();
    if (ready == 0 && bytes_since_trim_ > kTrimAfterBytes) {
      // After large messages, and once things are quiet, give freed memory
      // back to the system: the allocator keeps it otherwise, and RSS stays high.
      wire::release_free_memory();
      bytes_since_trim_ = 0;
    }
  }
  send_due(true);
  flush_mirrors();
  if (uplink_) uplink_->close();
}

std::optional<wire::Message> IoLoop::receive(zmq::socket_t& socket, const char* channel) {
  std::string user_id;
  return decode_parts(read_parts(socket, user_id), socket, channel, user_id, false);
}

std::vector<zmq::message_t> IoLoop::read_parts(zmq::socket_t& socket, std::string& user_id) {
  std::vector<zmq::message_t> parts;
  do {
    zmq::message_t part;
    if (!socket.recv(part, zmq::recv_flags::dontwait)) break;
    if (roster_ != nullptr && user_id.empty()) {
      if (const char* value = zmq_msg_gets(part.handle(), "User-Id")) user_id = value;
    }
    parts.push_back(std::move(part));
  } while (parts.back().more());
  return parts;
}

std::optional<wire::Message> IoLoop::decode_parts(std::vector<zmq::message_t> parts, zmq::socket_t& socket,
                                                  const char* channel, const std::string& user_id, bool trusted) {
  std::size_t total = 0, delimiter = parts.size();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    total += parts[i].size();
    if (delimiter == parts.size() && parts[i].to_string_view() == wire::kDelimiter) delimiter = i;
  }
  // The buffers of a large message stay in ZeroMQ's frames (SharedBuffer):
  // copying a pushed array into a string would cost a copy of all of it.
  std::size_t first_buffer = delimiter + 6;
  std::size_t buffer_bytes = 0;
  for (std::size_t i = first_buffer; i < parts.size(); ++i) buffer_bytes += parts[i].size();
  bool keep_buffers = first_buffer < parts.size() && buffer_bytes >= kZeroCopyThreshold;
  wire::Frames frames;
  std::vector<wire::SharedBuffer> kept;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (keep_buffers && i >= first_buffer) {
      auto owner = std::make_shared<zmq::message_t>(std::move(parts[i]));
      kept.push_back({owner, static_cast<const char*>(owner->data()), owner->size()});
    } else {
      frames.emplace_back(static_cast<const char*>(parts[i].data()), parts[i].size());
    }
  }
  parts.clear();
  if (total > limits_.max_message_bytes) {
    // Only the envelope is read; if it is authentic, the sender gets an answer.
    spdlog::warn("{}: refused a message of {} bytes (limit {})", channel, total, limits_.max_message_bytes);
    auto envelope = wire::decode_envelope(frames, signer_);
    if (envelope.ok()) {
      wire::Json content{{"status", "error"},
                         {"ename", "MessageTooLarge"},
                         {"evalue", "a message of " + std::to_string(total) + " bytes exceeds the limit of " +
                                        std::to_string(limits_.max_message_bytes)},
                         {"traceback", wire::Json::array()}};
      send(socket, session_.reply(envelope.value(), std::move(content)));
    }
    return std::nullopt;
  }
  std::unique_lock replay_lock(replay_mutex_);
  auto decoded = wire::decode(std::move(frames), signer_, &replay_guard_, limits_);
  replay_lock.unlock();
  if (decoded.ok()) {
    if (roster_ != nullptr && !trusted && !authenticate(user_id, decoded.value(), channel)) return std::nullopt;
    decoded.value().shared_buffers = std::move(kept);
    return std::move(decoded).value();
  }
  spdlog::warn("{}: dropped a message: {}", channel, decoded.status().to_string());
  return std::nullopt;
}

bool IoLoop::shell_readable() {
  std::lock_guard lock(shell_mutex_);
  return (shell_.get(zmq::sockopt::events) & ZMQ_POLLIN) != 0;
}

bool IoLoop::on_shell() {
  // Bounded batch per wake-up so control and output are never starved.
  for (int i = 0; i < 256; ++i) {
    std::string user_id;
    std::vector<zmq::message_t> parts;
    {
      std::lock_guard lock(shell_mutex_);
      if (!(shell_.get(zmq::sockopt::events) & ZMQ_POLLIN)) return false;
      parts = read_parts(shell_, user_id);
      ++shell_in_transit_;  // the main thread reads no later request until this one is queued
    }
    std::vector<zmq::message_t> copy = mirror_of(parts);
    if (auto message = decode_parts(std::move(parts), shell_, "shell", user_id, false)) {
      wake_main_for_a_request();
      inbox_.push(Incoming{Incoming::Kind::kShellRequest, std::move(*message), false});
      if (!copy.empty()) hold_mirror(std::move(copy));
    }
    --shell_in_transit_;
  }
  return true;
}

void IoLoop::on_stdin() {
  while (stdin_.get(zmq::sockopt::events) & ZMQ_POLLIN) {
    auto message = receive(stdin_, "stdin");
    if (!message) continue;
    if (message->header.msg_type != "input_reply") {
      spdlog::warn("stdin: ignoring '{}'", message->header.msg_type);
      continue;
    }
    inbox_.push(Incoming{Incoming::Kind::kInputReply, std::move(*message), false});
  }
}

void IoLoop::on_control() {
  while (control_.get(zmq::sockopt::events) & ZMQ_POLLIN) {
    if (auto request = receive(control_, "control")) answer_control(std::move(*request));
  }
}

void IoLoop::answer_control(wire::Message request) {
  const std::string& msg_type = request.header.msg_type;
  wire::Json parent = request.header.to_json();
  publish_status("busy", parent);
  wire::Json content;
  std::optional<bool> shutdown;
  auto role = role_from_string(request.role);
  if (role && !permits(*role, "control", msg_type)) {
    spdlog::warn("control: refused {} from '{}' ({})", msg_type, request.header.username, request.role);
    content = {{"status", "error"},
               {"ename", "PermissionError"},
               {"evalue", "the " + request.role + " role may not send " + msg_type},
               {"traceback", wire::Json::array()}};
  } else if (msg_type == "kernel_info_request") {
    content = kernel_info_;
  } else if (msg_type == "interrupt_request") {
    if (hooks_.interrupt) hooks_.interrupt();
    content = {{"status", "ok"}};
  } else if (msg_type == "abort_request") {
    std::vector<std::string> ids;
    if (auto listed = request.content.find("msg_ids"); listed != request.content.end() && listed->is_array()) {
      for (const auto& id : *listed) {
        if (id.is_string()) ids.push_back(id.get<std::string>());
      }
    }
    if (hooks_.abort) hooks_.abort(ids);
    content = {{"status", "ok"}};
  } else if (msg_type == "shutdown_request") {
    auto restart = request.content.find("restart");
    shutdown = restart != request.content.end() && restart->is_boolean() && restart->get<bool>();
    content = {{"status", "ok"}, {"restart", *shutdown}};
  } else if (msg_type == "debug_request") {
    // answered by the debugger's thread, idle status included, when it takes the request
    if (hooks_.debugger != nullptr && hooks_.debugger->hand_on(request)) return;
    content = failed_debug_response(request.content, hooks_.debugger == nullptr
                                                          ? "this kernel has no debugger"
                                                          : "the debugger is not taking requests");
  } else {
    spdlog::warn("control: unknown message type '{}'", msg_type);
    content = {{"status", "error"},
               {"ename", "UnknownMessageType"},
               {"evalue", "the kernel does not handle '" + msg_type + "'"},
               {"traceback", wire::Json::array()}};
  }
  send(control_, session_.reply(request, std::move(content)));
  publish_status("idle", parent);
  if (shutdown && hooks_.on_shutdown) hooks_.on_shutdown(*shutdown);
}

void IoLoop::send_due(bool everything) {
  {
    SendBatch batch(*this);
    for (auto& entry : outbox_.take_due(QueueOutbox::Clock::now(), everything)) {
      if (auto* routed = std::get_if<RoutedMessage>(&entry)) {
        switch (routed->route) {
          case Route::kShell: send(shell_, std::move(routed->message)); break;
          case Route::kControl: send(control_, routed->message); break;
          case Route::kStdin: send(stdin_, routed->message); break;
          case Route::kIopub: publish(std::move(routed->message)); break;
        }
      } else if (auto* request = std::get_if<RequestCopy>(&entry)) {
        if (uplink_socket_ != nullptr) hold_mirror(std::move(request->parts));
      } else if (auto* sent = std::get_if<SentReplyCopy>(&entry)) {
        if (to_mirrored_peer(sent->frames)) mirror_reply(std::move(sent->frames), {}, sent->msg_type);
      } else {
        auto& chunk = std::get<StreamChunk>(entry);
        wire::Message message =
            session_.make("stream", wire::Json{{"name", chunk.name}, {"text", std::move(chunk.text)}}, *chunk.parent);
        message.identities = {"kernel." + session_.id() + ".stream"};
        publish(std::move(message));
      }
    }
  }  // sent, all together, before the main thread may send replies itself again
  outbox_.taken_sent();
}

void IoLoop::publish_status(const char* state, const wire::Json& parent) {
  wire::Message message = session_.make("status", wire::Json{{"execution_state", state}}, parent);
  message.identities = {"kernel." + session_.id() + ".status"};
  publish(std::move(message));
}

}  // namespace ensemble::kernel
