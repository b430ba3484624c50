#include "heartbeat_monitor.hpp"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

namespace ensemble::client {

namespace {

constexpr std::chrono::milliseconds kStopCheck{50};

zmq::socket_t connect_req(zmq::context_t& context, const std::string& endpoint, const std::optional<CurveKeys>& curve) {
  zmq::socket_t socket(context, zmq::socket_type::req);
  apply_curve(socket, curve);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::reconnect_ivl, 5);  // see kReconnectInterval in kernel_client.cpp
  socket.connect(endpoint);
  return socket;
}

}  // namespace

HeartbeatMonitor::HeartbeatMonitor(zmq::context_t& context, std::string endpoint, std::optional<CurveKeys> curve)
    : context_(context), endpoint_(std::move(endpoint)), curve_(std::move(curve)) {
  // The thread starts with every signal blocked (as libzmq's own threads do),
  // so that a SIGINT meant for the owner interrupts the owner's poll.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  thread_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

HeartbeatMonitor::~HeartbeatMonitor() = default;  // the jthread requests stop and joins

void HeartbeatMonitor::run(const std::stop_token& stop) {
  std::mutex mutex;
  std::condition_variable_any wake;
  int misses = 0;
  try {
    zmq::socket_t socket = connect_req(context_, endpoint_, curve_);
    while (!stop.stop_requested()) {
      auto sent_at = std::chrono::steady_clock::now();
      if (beat(socket, stop)) {
        misses = 0;
        alive_ = true;
        // Sleep out the rest of the interval, waking at once on stop.
        std::unique_lock lock(mutex);
        wake.wait_until(lock, stop, sent_at + kInterval, [] { return false; });
      } else if (!stop.stop_requested()) {
        if (++misses >= kMissesUntilDead && alive_.exchange(false)) {
          spdlog::warn("kernel heartbeat: no answer to {} pings in a row", misses);
        }
        // A REQ socket that got no reply cannot send again: start afresh.
        socket = connect_req(context_, endpoint_, curve_);
      }
    }
  } catch (const zmq::error_t& error) {
    if (error.num() != ETERM) spdlog::error("kernel heartbeat stopped: {}", error.what());
    alive_ = false;
  }
}

bool HeartbeatMonitor::beat(zmq::socket_t& socket, const std::stop_token& stop) {
  socket.send(zmq::str_buffer("ping"), zmq::send_flags::none);
  auto deadline = std::chrono::steady_clock::now() + kInterval;
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  while (!stop.stop_requested()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    int ready = 0;
    try {
      ready = zmq::poll(&item, 1, std::min(left, kStopCheck));
    } catch (const zmq::error_t& error) {
      if (error.num() != EINTR) throw;
    }
    if (ready > 0) {
      zmq::message_t echo;
      // The kernel echoes what it got; one frame, contents irrelevant.
      while (socket.recv(echo, zmq::recv_flags::dontwait) && echo.more()) {
      }
      return true;
    }
  }
  return false;
}

}  // namespace ensemble::client
