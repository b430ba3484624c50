// A wake-up that comes a moment later rather than now: a one-shot timerfd that
// a poller watches beside its other descriptors.
//
// Why: on an engine, the main thread that has just read a request must get the
// I/O thread going (to watch the shell socket while it is busy, and to send the
// request's copy up the uplink). An eventfd write to a sleeping thread is a
// cross-CPU wake-up, which on a VM is a good part of a small request's round
// trip (35 µs of ~390 measured here). Armed instead, the timer costs the main
// thread one timerfd_settime; it fires only if the request outlasts the delay,
// and a loop of short requests gets one wake-up of the I/O thread per delay
// rather than one per request. The cluster client's CorkedSender uses it the
// same way, to send a burst of requests together.
//
// Thread safety: arm() from any thread; fd() and take() from the poller.
// Errors: the constructor throws std::system_error when no timerfd can be made.
#pragma once

#include <atomic>
#include <chrono>

namespace ensemble::wire {

class DeferredWake {
 public:
  explicit DeferredWake(std::chrono::microseconds delay);
  ~DeferredWake();
  DeferredWake(const DeferredWake&) = delete;
  DeferredWake& operator=(const DeferredWake&) = delete;

  int fd() const { return fd_; }
  // Before any arm(): the delay from then on.
  void set_delay(std::chrono::microseconds delay) { delay_ = delay; }
  // The poller wakes `delay` from now, or sooner if already armed: a later
  // call never pushes a pending wake-up back. What the caller queued before
  // arming is seen by the poller when it takes the wake-up. False if the
  // timer could not be set (then the caller must wake the poller itself).
  bool arm();
  // The poller, when fd() is readable: clears it, and lets arm() arm again.
  void take();

 private:
  int fd_;
  std::chrono::microseconds delay_;
  std::atomic<bool> armed_{false};
};

}  // namespace ensemble::wire
