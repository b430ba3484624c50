#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <zmq.hpp>

#include "../multipart.hpp"
#include "ensemble/parallel/engine.hpp"
#include "ensemble/wire/codec.hpp"
#include "ensemble/wire/ids.hpp"

namespace ensemble::parallel {

using wire::Json;

namespace {

constexpr auto kFirstRetry = std::chrono::milliseconds(100);
constexpr auto kLongestRetry = std::chrono::milliseconds(2000);
constexpr auto kStopCheck = std::chrono::milliseconds(50);

}  // namespace

Registrar::Registrar(ControllerAddress controller, Json registration)
    : controller_(std::move(controller)), registration_(std::move(registration)) {}

Registrar::~Registrar() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

void Registrar::start(std::function<void(int id)> on_registered) {
  // Created with SIGINT blocked, so a signal-mode interrupt lands on the main thread.
  sigset_t sigint, previous;
  sigemptyset(&sigint);
  sigaddset(&sigint, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigint, &previous);
  thread_ = std::jthread([this, on_registered = std::move(on_registered)](std::stop_token stop) {
    loop(stop, on_registered);
  });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void Registrar::loop(std::stop_token stop, std::function<void(int)> on_registered) {
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 200);
  socket.set(zmq::sockopt::sndtimeo, 0);  // a missing controller never blocks the heartbeat thread
  socket.connect(controller_.endpoint(controller_.registration_port));
  wire::Signer signer(controller_.key);
  std::string session = wire::new_id();
  std::function<void(const std::string&, Json)> send_message = [&](const std::string& type, Json content) {
    wire::Message message = wire::make_message(type, session, "engine", std::move(content));
    send(socket, wire::encode(message, signer));
  };
  // Waits up to `timeout` for a registration_reply; its content, or null.
  auto await_reply = [&](std::chrono::milliseconds timeout) -> Json {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    Parts parts;
    while (!stop.stop_requested() && std::chrono::steady_clock::now() < deadline) {
      zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, kStopCheck);
      while (receive(socket, parts)) {
        auto decoded = wire::decode(to_frames(parts), signer, nullptr);
        if (decoded.ok() && decoded.value().header.msg_type == "registration_reply") return decoded.value().content;
        if (!decoded.ok()) spdlog::warn("registration: dropped a message: {}", decoded.status().to_string());
      }
    }
    return nullptr;
  };

  int period_ms = controller_.heartbeat_period_ms;
  int registered = -1;  // the id we had, asked for again when a new controller takes over
  while (!stop.stop_requested()) {
    auto retry = kFirstRetry;
    int id = -1;
    while (!stop.stop_requested() && id < 0) {
      Json request = registration_;
      if (registered >= 0) request["id"] = registered;
      send_message("registration_request", request);
      Json reply = await_reply(retry);
      if (reply.is_null()) {
        spdlog::debug("no registration reply yet; retrying in {} ms", retry.count());
        retry = std::min(retry * 2, kLongestRetry);
        continue;
      }
      if (reply.value("status", "") != "ok") {
        spdlog::error("the controller refused registration: {}", reply.value("evalue", reply.dump()));
        retry = std::min(retry * 2, kLongestRetry);
        continue;
      }
      period_ms = reply.value("heartbeat_period_ms", period_ms);
      id = reply.value("id", -1);
    }
    if (stop.stop_requested()) break;
    engine_id_ = id;
    registered = id;
    spdlog::info("registered as engine {}", id);
    on_registered(id);
    if (!heartbeat(stop, socket, signer, send_message, std::chrono::milliseconds(std::max(period_ms, 10)))) break;
    spdlog::warn("the controller no longer knows this engine; registering again");
  }
  send_message("unregistration_request", Json::object());
}

// Sends heartbeats until stopped (false) or until the controller says it does
// not know this engine (true: register again).
bool Registrar::heartbeat(std::stop_token& stop, zmq::socket_t& socket, const wire::Signer& signer,
                          const std::function<void(const std::string&, Json)>& send_message,
                          std::chrono::milliseconds period) {
  auto next_beat = std::chrono::steady_clock::now();
  Parts parts;
  while (!stop.stop_requested()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= next_beat) {
      send_message("heartbeat", Json::object());
      next_beat = now + period;
    }
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_beat - now);
    zmq::poll(&item, 1, std::clamp(wait, std::chrono::milliseconds(1), kStopCheck));
    while (receive(socket, parts)) {
      auto decoded = wire::decode(to_frames(parts), signer, nullptr);
      if (decoded.ok() && decoded.value().header.msg_type == "registration_reply" &&
          decoded.value().content.value("ename", "") == "UnknownEngine") {
        return true;
      }
    }
  }
  return false;
}

}  // namespace ensemble::parallel
