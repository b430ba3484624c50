// The kernel's iopub: who listens on its own socket (an XPUB, whose subscriptions
// this thread reads), and publishing there and on the uplink. A message nobody
// listens for is not encoded at all: an engine's quiet requests publish a busy
// and an idle that neither its socket (no console attached) nor the uplink wants,
// and encoding and signing them was a fifth of its I/O thread's work per task.
#include <algorithm>

#include "io_loop.hpp"

namespace ensemble::kernel {

void IoLoop::on_iopub_subscriptions() {
  // [1, topic...] subscribes and [0, topic...] unsubscribes; an XPUB that is not verbose
  // passes on a topic's first subscription and its last unsubscription (a subscriber's
  // disconnection included), so a set of topics is all there is to keep.
  while (iopub_.get(zmq::sockopt::events) & ZMQ_POLLIN) {
    zmq::message_t message;
    if (!iopub_.recv(message, zmq::recv_flags::dontwait)) return;
    std::string_view data = message.to_string_view();
    if (data.empty() || static_cast<unsigned char>(data[0]) > 1) continue;  // not a subscription: ignored
    std::string topic(data.substr(1));
    if (data[0] == 1) {
      iopub_topics_.insert(std::move(topic));
    } else {
      iopub_topics_.erase(topic);
    }
  }
}

bool IoLoop::iopub_listened(const wire::Message& message) const {
  if (iopub_topics_.empty()) return false;
  // What a subscription is matched against: the first frame the message goes out with.
  std::string_view first = message.identities.empty() ? std::string_view(wire::kDelimiter) : message.identities[0];
  return std::any_of(iopub_topics_.begin(), iopub_topics_.end(),
                     [first](const std::string& topic) { return first.starts_with(topic); });
}

void IoLoop::publish(wire::Message message) {
  bool local = iopub_listened(message);
  if (!local) {
    // A subscription that arrived since the last poll: libzmq, asked for the socket's
    // events, takes it in as a send would, so nothing PUB would deliver is skipped.
    on_iopub_subscriptions();
    local = iopub_listened(message);
  }
  bool up = uplink_socket_ != nullptr && uplink_->ready();
  if (!local && !up) return;
  std::optional<wire::Frames> frames;
  if (local) frames = wire::encode(message, signer_);
  if (up) publish_on_uplink(message, frames, local);
  if (local) send_frames(iopub_, std::move(*frames), message.shared_buffers, message.header.msg_type);
}

// Requests run one at a time, so one held busy is enough: a quiet request's
// busy, outputs, reply and idle leave this thread in that order.
void IoLoop::publish_on_uplink(wire::Message& message, std::optional<wire::Frames>& frames, bool keep) {
  std::string_view parent_id = json_string(message.parent_header, "msg_id");
  bool held_request = held_busy_ && !parent_id.empty() && held_busy_->request_id == parent_id;
  if (message.header.msg_type == "status") {
    std::string_view state = json_string(message.content, "execution_state");
    if (state == "busy" && !parent_id.empty() && uplink_->quiet(json_string(message.parent_header, "msg_type"))) {
      HeldBusy held{std::string(parent_id), {}, std::nullopt};
      if (frames) {
        held.frames = *frames;
      } else {
        held.message = std::move(message);  // not encoded unless its request publishes
      }
      held_busy_ = std::move(held);
      return;
    }
    if (state == "idle" && held_request) {
      bool sent = held_busy_->sent;
      held_busy_.reset();
      if (!sent) return;  // neither busy nor idle went up: the reply said "outputs": "none"
    }
  }
  flush_mirrors();  // the requests go up before anything they published
  if (message.header.msg_type != "status" && held_request && !held_busy_->sent) {  // status may have reset it
    wire::Frames busy =
        held_busy_->message ? wire::encode(*held_busy_->message, signer_) : std::move(held_busy_->frames);
    send_frames(*uplink_socket_, std::move(busy), {}, "status", kUplinkIopub);
    held_busy_->sent = true;
    held_busy_->message.reset();
  }
  if (!frames) frames = wire::encode(message, signer_);
  send_frames(*uplink_socket_, keep ? *frames : std::move(*frames), message.shared_buffers, message.header.msg_type,
              kUplinkIopub);
}

}  // namespace ensemble::kernel
