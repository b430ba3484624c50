// The I/O loop's side of an Uplink (uplink.hpp): requests that arrive on it,
// and how their replies and the kernel's iopub find their way back.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "ensemble/wire/ids.hpp"
#include "io_loop.hpp"

namespace ensemble::kernel {

void IoLoop::open_uplink() {
  uplink_socket_ = &uplink_->open(context_, bound_);
}

void IoLoop::on_uplink() {
  // Bounded batch per wake-up, as for shell: the other sockets get their turn.
  for (int i = 0; i < 256; ++i) {
    if (!(uplink_socket_->get(zmq::sockopt::events) & ZMQ_POLLIN)) return;
    std::string user_id;
    std::vector<zmq::message_t> parts = read_parts(*uplink_socket_, user_id);
    std::string_view lead = parts.empty() ? std::string_view() : parts[0].to_string_view();
    if (lead == kUplinkSendCopies) {
      send_copies_now_ = true;  // once this wake-up's send_due has taken them from the outbox
      if (parts.size() > 1) copies_tokens_.push_back(parts[1].to_string());
      continue;
    }
    bool shell = lead == kUplinkShell;
    if (!shell && lead != kUplinkControl) {
      uplink_->on_message(parts);
      continue;
    }
    // The channel frame becomes a first identity no other peer can have,
    // so the reply (which repeats the identities) comes back here.
    std::string tag = uplink_tag_ + std::string(lead);
    parts[0].rebuild(tag.data(), tag.size());
    auto message = decode_parts(std::move(parts), shell_, shell ? "uplink shell" : "uplink control", user_id, true);
    if (!message) continue;
    if (shell) {
      wake_main_for_a_request();
      inbox_.push(Incoming{Incoming::Kind::kShellRequest, std::move(*message), false});
    } else {
      answer_control(std::move(*message));
    }
  }
}

zmq::socket_t& IoLoop::route(zmq::socket_t& socket, wire::Frames& frames) {
  // The tag first: it is set before the thread starts, and the main thread (an error reply
  // from read_shell_for_main) gets its answer here without reading uplink_socket_.
  if (uplink_tag_.empty() || frames.empty() || !frames[0].starts_with(uplink_tag_) || uplink_socket_ == nullptr) {
    return socket;
  }
  // An input_request for a request from the uplink has nobody to answer it
  // there (as with any requester not on stdin): stdin drops it.
  if (&socket == &stdin_) return socket;
  frames[0].erase(0, uplink_tag_.size());
  return *uplink_socket_;
}

bool IoLoop::to_mirrored_peer(const wire::Frames& frames) const {
  return uplink_socket_ != nullptr && frames.size() > 1 && frames[0] != wire::kDelimiter &&
         uplink_->mirrors(frames[0]);
}

std::vector<zmq::message_t> IoLoop::mirror_of(const std::vector<zmq::message_t>& parts) const {
  std::vector<zmq::message_t> copy;
  if (!uplink_ || parts.size() < 2 || !uplink_->mirrors(parts[0].to_string_view())) {
    return copy;
  }
  // [identity, <IDS|MSG>, signature, header, parent, metadata, content, buffers...]
  std::size_t first_buffer = parts.size();
  for (std::size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].to_string_view() == wire::kDelimiter) {
      first_buffer = std::min(i + 6, parts.size());
      break;
    }
  }
  std::uint64_t buffer_bytes = 0;
  for (std::size_t i = first_buffer; i < parts.size(); ++i) buffer_bytes += parts[i].size();
  bool trimmed = buffer_bytes > uplink_->mirrored_buffers_limit();
  std::string channel = trimmed ? std::string(kUplinkMirrorRequest) + ":" + std::to_string(buffer_bytes)
                                : std::string(kUplinkMirrorRequest);
  std::size_t end = trimmed ? first_buffer : parts.size();
  copy.reserve(end + 1);
  copy.emplace_back(channel.data(), channel.size());
  for (std::size_t i = 0; i < end; ++i) {
    copy.emplace_back();
    copy.back().copy(const_cast<zmq::message_t&>(parts[i]));  // large frames: shared, not copied
  }
  return copy;
}

void IoLoop::send_mirror(std::vector<zmq::message_t>& parts) {
  send_parts(*uplink_socket_, std::move(parts), kRequestCopy);
}

void IoLoop::hold_mirror(std::vector<zmq::message_t> copy) {
  if (!uplink_->ready() && held_mirrors_.size() >= kMostCopiesHeldUntilReady) {
    spdlog::warn("not registered with the controller yet: a copy of a direct request or reply is dropped");
    return;
  }
  if (!mirror_deadline_) mirror_deadline_ = std::chrono::steady_clock::now() + copy_delay_;
  held_mirrors_.push_back(std::move(copy));
}

void IoLoop::flush_mirrors() {
  if (held_mirrors_.empty()) return;
  if (!uplink_->ready()) {
    mirror_deadline_.reset();  // they wait for the uplink: the loop sends them once it is ready
    return;
  }
  for (auto& copy : held_mirrors_) send_mirror(copy);
  held_mirrors_.clear();
  mirror_deadline_.reset();
}

// Main thread, from QueueInbox::wait(): what on_shell() does for a request,
// less the hand-over. Only the socket (under shell_mutex_), the replay guard
// (under replay_mutex_) and the outbox are shared with the I/O thread; the
// request's copy for the uplink goes to the outbox, and the I/O thread holds
// and sends it as for the requests it reads itself.
std::optional<Incoming> IoLoop::read_shell_for_main() {
  for (;;) {
    std::string user_id;
    std::vector<zmq::message_t> parts;
    {
      std::lock_guard lock(shell_mutex_);
      // Asked first in any case: that also quiets the descriptor, which the
      // caller then sleeps on (left signalling, it would wake it at once).
      bool readable = (shell_.get(zmq::sockopt::events) & ZMQ_POLLIN) != 0;
      // Requests keep their order: not while the I/O thread holds one it read
      // (on its way to the inbox, whose push wakes the caller) or the inbox holds any.
      if (!readable || shell_in_transit_ > 0 || !inbox_.empty()) return std::nullopt;
      parts = read_parts(shell_, user_id);
    }
    // Copied whether or not the uplink is up yet: the I/O thread holds it until it is.
    std::vector<zmq::message_t> copy = mirror_of(parts);
    if (auto message = decode_parts(std::move(parts), shell_, "shell", user_id, false)) {
      if (!copy.empty()) {
        outbox_.hold_request_copy(std::move(copy));
        // queued first: an I/O thread that looked at the outbox before would
        // otherwise sleep on the copy for as long as the request runs
        wake_io_soon();
      }
      return Incoming{Incoming::Kind::kShellRequest, std::move(*message), false};
    }
  }
}

void IoLoop::main_waiting(bool sleeping) {
  main_sleeping_on_shell_.store(sleeping, std::memory_order_release);
  // Awake, the main thread is about to be busy: whoever else sends to this kernel
  // meanwhile must still be read (and its copy sent up) by the I/O thread.
  if (!sleeping && !io_watches_shell_.load(std::memory_order_acquire)) wake_io_soon();
}

void IoLoop::wake_io_soon() {
  if (!io_wake_.arm()) outbox_.wake();
}

void IoLoop::wake_main_for_a_request() {
  main_sleeping_on_shell_.store(false, std::memory_order_release);
  io_watches_shell_.store(true, std::memory_order_release);
}

// Main thread, the outbox's lock held (QueueOutbox::ReplyShortcut): a direct
// peer's reply goes out without waiting for a wake-up of this loop's thread,
// a sizeable part of a small request's round trip. Nothing of the I/O
// thread's state is touched: the outbox still holds the request's busy,
// which that thread will hold back and, as nothing else was published, drop
// with the idle; so the reply says "outputs": "none", as note_quiet_reply()
// would have, and its copy for the uplink is left to that thread.
QueueOutbox::ShortcutResult IoLoop::send_reply_now(wire::Message& reply) {
  QueueOutbox::ShortcutResult result;
  if (!replies_from_main_.load(std::memory_order_acquire) || reply.identities.empty() ||
      !reply.shared_buffers.empty() || !reply.metadata.is_object()) {
    return result;
  }
  const std::string& identity = reply.identities[0];
  if (identity.starts_with(uplink_tag_) || !uplink_->mirrors(identity) ||
      !uplink_->quiet(json_string(reply.parent_header, "msg_type"))) {
    return result;
  }
  std::size_t buffer_bytes = 0;
  for (const auto& buffer : reply.buffers) buffer_bytes += buffer.size();
  if (buffer_bytes > kLargestReplyFromMain) return result;
  reply.metadata["outputs"] = "none";
  result.copy = wire::encode(reply, signer_);
  send_frames(shell_, result.copy, {}, reply.header.msg_type);  // under shell_mutex_
  // The send may have consumed the socket's readiness signal for a request
  // that arrived meanwhile: the I/O thread would sleep on it.
  result.wake = shell_readable();
  result.sent = true;
  return result;
}

void IoLoop::note_quiet_reply(wire::Message& reply) {
  if (!held_busy_ || held_busy_->sent || reply.identities.empty()) return;
  const std::string& identity = reply.identities[0];
  if (!identity.starts_with(uplink_tag_) && !(uplink_socket_ != nullptr && uplink_->mirrors(identity))) return;
  if (json_string(reply.parent_header, "msg_id") != held_busy_->request_id || !reply.metadata.is_object()) return;
  reply.metadata["outputs"] = "none";
}

}  // namespace ensemble::kernel
