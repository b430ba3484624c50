// How the I/O loop sends: encoding, routing a reply to the uplink when its request came
// from there, and sending a burst of messages together (SendBatch).
#include <spdlog/spdlog.h>

#include <cstring>

#include "io_loop.hpp"

namespace ensemble::kernel {

namespace {

// Large frames are handed to ZeroMQ without a copy; the string is freed when
// ZeroMQ is done with it.
zmq::message_t to_frame(std::string&& text) {
  if (text.size() < IoLoop::kZeroCopyThreshold) return zmq::message_t(text.data(), text.size());
  auto* owned = new std::string(std::move(text));
  return zmq::message_t(
      owned->data(), owned->size(), [](void*, void* hint) { delete static_cast<std::string*>(hint); }, owned);
}

// The loop whose SendBatch is open on this thread: only the I/O thread opens one, so the
// main thread's sends (send_reply_now) always go at once.
thread_local const IoLoop* t_batching = nullptr;

}  // namespace

const std::string IoLoop::kRequestCopy = "a request's copy";

void IoLoop::send(zmq::socket_t& socket, const wire::Message& message) {
  wire::Frames frames = wire::encode(message, signer_);
  zmq::socket_t& target = route(socket, frames);
  send_frames(target, std::move(frames), message.shared_buffers, message.header.msg_type);
}

void IoLoop::send(zmq::socket_t& socket, wire::Message&& message) {
  note_quiet_reply(message);
  std::string msg_type = message.header.msg_type;
  std::vector<wire::SharedBuffer> shared = std::move(message.shared_buffers);
  wire::Frames frames = wire::encode(std::move(message), signer_);
  zmq::socket_t& target = route(socket, frames);
  std::optional<wire::Frames> copy;
  if (&target == &shell_ && to_mirrored_peer(frames)) copy = frames;
  send_frames(target, std::move(frames), shared, msg_type);
  if (copy) mirror_reply(std::move(*copy), shared, msg_type);
}

void IoLoop::mirror_reply(wire::Frames copy, const std::vector<wire::SharedBuffer>& shared,
                          const std::string& msg_type) {
  if (!uplink_->ready()) {
    hold_mirror(to_parts(std::move(copy), shared, kUplinkMirrorReply));  // after its request's copy
    return;
  }
  flush_mirrors();  // its request's copy goes first
  send_frames(*uplink_socket_, std::move(copy), shared, msg_type, kUplinkMirrorReply);
}

void IoLoop::send_frames(zmq::socket_t& socket, wire::Frames frames, const std::vector<wire::SharedBuffer>& shared,
                         const std::string& msg_type, const char* lead) {
  send_parts(socket, to_parts(std::move(frames), shared, lead), msg_type);
}

std::vector<zmq::message_t> IoLoop::to_parts(wire::Frames frames, const std::vector<wire::SharedBuffer>& shared,
                                             const char* lead) {
  std::vector<zmq::message_t> parts;
  parts.reserve(frames.size() + shared.size() + (lead != nullptr ? 1 : 0));
  if (lead != nullptr) parts.emplace_back(lead, std::strlen(lead));
  for (auto& frame : frames) {
    bytes_since_trim_ += frame.size();
    parts.push_back(to_frame(std::move(frame)));
  }
  for (const auto& buffer : shared) {
    // ZeroMQ reads the memory where it is; the keeper goes when it is done.
    auto* keeper = new std::shared_ptr<const void>(buffer.keeper);
    parts.emplace_back(
        const_cast<char*>(buffer.data), buffer.size,
        [](void*, void* hint) { delete static_cast<std::shared_ptr<const void>*>(hint); }, keeper);
  }
  return parts;
}

void IoLoop::send_parts(zmq::socket_t& socket, std::vector<zmq::message_t> parts, const std::string& msg_type) {
  if (t_batching == this) {
    pending_sends_.push_back(PendingSend{&socket, std::move(parts), msg_type});
    return;
  }
  std::unique_lock<std::mutex> shell_lock;
  if (&socket == &shell_) shell_lock = std::unique_lock(shell_mutex_);
  try {
    for (std::size_t i = 0; i < parts.size(); ++i) {
      auto flags = i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      // ROUTER drops messages to vanished peers; PUB drops past its high-water mark.
      socket.send(parts[i], flags | zmq::send_flags::dontwait);
    }
  } catch (const zmq::error_t& error) {
    // A request's copy that cannot go up (the controller is away) is not worth a warning each.
    spdlog::log(msg_type == kRequestCopy ? spdlog::level::debug : spdlog::level::warn, "send of {} failed: {}",
                msg_type, error.what());
  }
}

IoLoop::SendBatch::SendBatch(IoLoop& loop) : loop_(loop), nested_(t_batching == &loop) {
  t_batching = &loop;
}

IoLoop::SendBatch::~SendBatch() {
  if (nested_) return;
  t_batching = nullptr;
  std::vector<PendingSend> pending;
  pending.swap(loop_.pending_sends_);
  for (auto& send : pending) loop_.send_parts(*send.socket, std::move(send.parts), send.msg_type);
}

}  // namespace ensemble::kernel
