// Private: the client side of the heartbeat. A thread of its own sends
// b"ping" on a REQ socket every second and waits up to a second for the echo;
// three misses in a row mark the kernel dead, the next echo alive again.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "curve_keys.hpp"

namespace ensemble::client {

class HeartbeatMonitor {
 public:
  static constexpr std::chrono::milliseconds kInterval{1000};  // between pings, and the wait for each echo
  static constexpr int kMissesUntilDead = 3;

  // Starts beating at once. `context` must outlive the monitor.
  HeartbeatMonitor(zmq::context_t& context, std::string endpoint, std::optional<CurveKeys> curve = std::nullopt);
  // Stops the thread; returns within about 50 ms.
  ~HeartbeatMonitor();
  HeartbeatMonitor(const HeartbeatMonitor&) = delete;
  HeartbeatMonitor& operator=(const HeartbeatMonitor&) = delete;

  // Any thread.
  bool alive() const { return alive_.load(std::memory_order_relaxed); }

 private:
  void run(const std::stop_token& stop);
  // Sends a ping and waits for its echo; false on a miss (or when stopping).
  bool beat(zmq::socket_t& socket, const std::stop_token& stop);

  zmq::context_t& context_;
  std::string endpoint_;
  std::optional<CurveKeys> curve_;
  std::atomic<bool> alive_{true};
  std::jthread thread_;  // last: joined before the members it uses go
};

}  // namespace ensemble::client
