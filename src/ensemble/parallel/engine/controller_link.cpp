#include <spdlog/spdlog.h>

#include <algorithm>

#include "../multipart.hpp"
#include "ensemble/parallel/engine.hpp"
#include "ensemble/wire/codec.hpp"
#include "ensemble/wire/ids.hpp"

namespace ensemble::parallel {

using wire::Json;

namespace {

constexpr auto kFirstRetry = std::chrono::milliseconds(100);
constexpr auto kLongestRetry = std::chrono::milliseconds(2000);
// Messages held for a controller that is away (reconnecting): a bound, so an
// engine that keeps printing does not grow without limit meanwhile.
constexpr int kHeldWhileAway = 100000;

}  // namespace

ControllerLink::ControllerLink(ControllerAddress controller, Json identity, std::chrono::microseconds copy_delay,
                               OnRegistered on_registered)
    : controller_(std::move(controller)),
      registration_(std::move(identity)),
      on_registered_(std::move(on_registered)),
      signer_(controller_.key),
      session_(wire::new_id()),
      retry_(kFirstRetry),
      period_(std::max(controller_.heartbeat_period_ms, 10)),
      copy_delay_(copy_delay) {}

ControllerLink::~ControllerLink() = default;

zmq::socket_t& ControllerLink::open(zmq::context_t& context, const wire::ConnectionInfo& bound) {
  kernel_ = bound;
  registration_["connection"] = Json{{"transport", bound.transport},   {"ip", bound.ip},
                                     {"shell_port", bound.shell_port}, {"control_port", bound.control_port},
                                     {"iopub_port", bound.iopub_port}, {"stdin_port", bound.stdin_port},
                                     {"hb_port", bound.hb_port}};
  socket_ = std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
  // The same routing id on every connection: after a reconnect the controller
  // still knows which engine this is.
  socket_->set(zmq::sockopt::routing_id, "engine-" + registration_.value("uuid", session_));
  socket_->set(zmq::sockopt::linger, 1000);
  socket_->set(zmq::sockopt::sndhwm, kHeldWhileAway);
  socket_->set(zmq::sockopt::sndtimeo, 0);  // the I/O thread never waits for a controller that is away
  socket_->set(zmq::sockopt::rcvhwm, 0);
  socket_->connect(controller_.endpoint(controller_.registration_port));
  next_timer_ = Clock::now();
  return *socket_;
}

void ControllerLink::send_message(const std::string& msg_type, Json content) {
  wire::Message message = wire::make_message(msg_type, session_, "engine", std::move(content));
  try {
    send(*socket_, wire::encode(message, signer_));
  } catch (const zmq::error_t& error) {
    spdlog::debug("{} to the controller: {}", msg_type, error.what());
  }
}

void ControllerLink::on_timer() {
  auto now = Clock::now();
  if (registered_) {
    send_message("heartbeat", Json::object());
    next_timer_ = now + period_;
    return;
  }
  Json request = registration_;
  if (wanted_id_ >= 0) request["id"] = wanted_id_;
  send_message("registration_request", std::move(request));
  spdlog::debug("registration sent; next try in {} ms", retry_.count());
  next_timer_ = now + retry_;
  retry_ = std::min(retry_ * 2, kLongestRetry);
}

void ControllerLink::on_message(std::vector<zmq::message_t>& parts) {
  auto decoded = wire::decode(to_frames(parts), signer_, nullptr);
  if (!decoded.ok()) {
    spdlog::warn("controller link: dropped a message: {}", decoded.status().to_string());
    return;
  }
  if (decoded.value().header.msg_type != "registration_reply") {
    spdlog::warn("controller link: ignored '{}'", decoded.value().header.msg_type);
    return;
  }
  on_registration_reply(decoded.value().content);
}

void ControllerLink::on_registration_reply(const Json& content) {
  if (content.value("status", "") != "ok") {
    if (content.value("ename", "") == "UnknownEngine") {
      // A controller that does not know us (it was restarted): register again.
      spdlog::warn("the controller no longer knows this engine; registering again");
      registered_ = false;
      retry_ = kFirstRetry;
      next_timer_ = Clock::now();
    } else {
      spdlog::error("the controller refused registration: {}", content.value("evalue", content.dump()));
    }
    return;
  }
  if (registered_) return;  // the answer to a repeated request
  int id = content.value("id", -1);
  if (id < 0) {
    spdlog::error("the controller's registration reply has no id: {}", content.dump());
    return;
  }
  period_ = std::chrono::milliseconds(std::max(content.value("heartbeat_period_ms", 1000), 10));
  registered_ = true;
  wanted_id_ = id;
  {
    std::lock_guard lock(id_mutex_);
    engine_id_ = id;
  }
  id_known_.notify_all();
  retry_ = kFirstRetry;
  next_timer_ = Clock::now() + period_;
  spdlog::info("registered as engine {}", id);
  if (on_registered_) on_registered_(id, kernel_);
}

int ControllerLink::engine_id_within(std::chrono::milliseconds patience) const {
  int id = engine_id_.load();
  if (id >= 0) return id;
  std::unique_lock lock(id_mutex_);
  id_known_.wait_for(lock, patience, [this] { return engine_id_.load() >= 0; });
  return engine_id_.load();
}

void ControllerLink::close() {
  if (!socket_) return;
  send_message("unregistration_request", Json::object());
  socket_->close();
}

}  // namespace ensemble::parallel
