// Sends whole multipart messages on one ZeroMQ socket, holding back those that
// come in a burst for a moment so that they leave together.
//
// Why: a message handed to a socket whose ZeroMQ I/O thread sleeps wakes that
// thread (an eventfd write and, on a VM, a cross-CPU wake-up), and the
// controller's thread behind it. In a loop of `lview.apply_async` that was 7 to
// 17 µs of the 22 to 32 µs each call cost (docs/performance.md, session 14).
// So a message that follows the previous one within `window` is held, and all
// that is held leaves together `window` after the first of them (a timer that
// this class's flusher thread polls), or at once when kMostHeld are held. A
// message after a quiet spell leaves at once, so a lone request, and each of a
// loop of round trips, pays no delay; a thread about to wait for a reply calls
// flush() first (ClusterConnection::next_event), so neither does a burst that
// is then waited for.
//
// Order: messages leave in the order send() took them.
// Threads: send(), flush() and close() from any thread. One thread of its own,
// "send-flush", which touches the socket only under socket_mutex_, as every
// caller here does; nothing else may use the socket.
// Errors: send() throws std::runtime_error after close(), and ZeroMQ's errors
// from the socket propagate from send() and flush(); the flusher thread logs
// them (the messages are dropped, as a closed socket's would be).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "ensemble/wire/deferred_wake.hpp"

namespace ensemble::parallel {

class CorkedSender {
 public:
  using Message = std::vector<zmq::message_t>;
  // More held than this leave at once: a burst's latency stays bounded by its
  // size too, and a batch's frames stay few enough to send under the lock.
  static constexpr std::size_t kMostHeld = 64;

  // `socket`: outlives this object, and is used only through it from now on.
  // Throws std::system_error when the timer or the thread cannot be made.
  CorkedSender(zmq::socket_t& socket, std::chrono::microseconds window);
  // Stops the flusher thread; anything still held is dropped (close() first sends it).
  ~CorkedSender();
  CorkedSender(const CorkedSender&) = delete;
  CorkedSender& operator=(const CorkedSender&) = delete;

  // kNever: for a message that must not wait, e.g. one whose large frames
  // point into memory its sender may change once it has left (they leave now,
  // with whatever is held before them).
  enum class Hold { kInBurst, kNever };
  void send(Message message, Hold hold = Hold::kInBurst);
  // Sends what is held now.
  void flush();
  // Sends what is held; later sends throw. The owner may close the socket afterwards.
  void close();

 private:
  using Clock = std::chrono::steady_clock;
  void run_flusher();
  void send_held();  // callers hold socket_mutex_

  zmq::socket_t& socket_;
  const std::chrono::microseconds window_;
  std::mutex socket_mutex_;
  std::mutex queue_mutex_;  // taken after socket_mutex_ when both are held
  std::vector<Message> held_;       // GUARDED_BY(queue_mutex_)
  Clock::time_point last_send_{};   // GUARDED_BY(queue_mutex_)
  bool open_ = true;                // GUARDED_BY(queue_mutex_); set false under socket_mutex_ too
  wire::DeferredWake timer_;
  int stop_fd_ = -1;  // eventfd: the destructor ends the flusher thread
  std::thread flusher_;
};

}  // namespace ensemble::parallel
