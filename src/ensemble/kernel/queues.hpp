// The concrete Inbox and Outbox: mutex-guarded deques with an eventfd each,
// so the I/O thread can zmq_poll them beside its sockets and the main thread
// can wait in poll(), which a signal interrupts (needed for Ctrl-C during input()).
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <string_view>
#include <variant>
#include <vector>

#include <zmq.hpp>

#include "ensemble/kernel/channels.hpp"
#include "ensemble/wire/codec.hpp"

namespace ensemble::kernel {

// A top-level string member of a JSON object (a header's "msg_id", a status's
// "execution_state"); empty when absent, not a string, or not an object.
inline std::string_view json_string(const wire::Json& object, const char* name) {
  if (!object.is_object()) return {};
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>()) : "";
}

// An eventfd that skips the write (a syscall, and on a VM an expensive
// cross-CPU wake-up) while an earlier notification is still unconsumed.
// The consumer must look at its queue again after drain().
class EventFd {
 public:
  EventFd();
  ~EventFd();
  EventFd(const EventFd&) = delete;
  EventFd& operator=(const EventFd&) = delete;
  int fd() const { return fd_; }
  void notify();
  void drain();

 private:
  int fd_;
  std::atomic<bool> pending_{false};
};

// A source of requests the waiting thread reads itself, past the I/O thread
// (an engine's shell socket, IoLoop::read_shell_for_main): wait() polls `fd`
// beside the queue's own descriptor, `read` takes one request if one is there,
// and `waiting(true/false)` says when the waiting thread sleeps on `fd`.
struct DirectSource {
  int fd = -1;
  std::function<std::optional<Incoming>()> read;
  std::function<void(bool sleeping)> waiting;
};

class QueueInbox final : public Inbox {
 public:
  void push(Incoming incoming);
  wire::Result<Incoming> wait() override;
  std::optional<Incoming> try_take() override;
  void set_direct_source(std::shared_ptr<DirectSource> source);
  bool empty();

 private:
  std::mutex mutex_;
  std::deque<Incoming> items_;  // GUARDED_BY(mutex_)
  std::shared_ptr<DirectSource> source_;  // GUARDED_BY(mutex_)
  EventFd ready_;
};

// One entry of the outbox: a message, or a run of stream text.
struct StreamChunk {
  std::string name;
  std::string text;
  ParentPtr parent;
  std::chrono::steady_clock::time_point started;
  std::chrono::steady_clock::time_point last_write;
  std::chrono::steady_clock::time_point due;  // when the batching delay ends
};
struct RoutedMessage {
  Route route;
  wire::Message message;
};
// A reply the main thread sent itself (QueueOutbox::ReplyShortcut), as
// encoded: the I/O thread still owes its copy to the uplink, if it mirrors it.
struct SentReplyCopy {
  wire::Frames frames;
  std::string msg_type;
};
// A request the main thread read itself (DirectSource): its copy for the
// uplink, which the I/O thread holds and sends as for the requests it reads.
struct RequestCopy {
  std::vector<zmq::message_t> parts;
};
using OutEntry = std::variant<RoutedMessage, StreamChunk, SentReplyCopy, RequestCopy>;

// Stream batching: text goes out `flush_delay` (a few ms) after it was
// written, so interactive output feels immediate, unless the writer is still
// writing then: a busy writer's text is gathered for up to `burst_delay`, so
// a cell printing 100k lines sends one or two messages, not thousands. A
// chunk reaching `flush_bytes` goes out at once; the kernel flushes
// everything before each reply.
class QueueOutbox final : public Outbox {
 public:
  using Clock = std::chrono::steady_clock;

  QueueOutbox(std::size_t flush_bytes, std::chrono::milliseconds flush_delay,
              std::chrono::milliseconds burst_delay = std::chrono::milliseconds(200))
      : flush_bytes_(flush_bytes), flush_delay_(flush_delay), burst_delay_(burst_delay) {}

  void send(Route route, wire::Message message) override;
  void enqueue(Route route, wire::Message message) override;
  void write_stream(const std::string& name, std::string_view text, const ParentPtr& parent) override;
  void flush() override;
  void flush_streams() override;

  // Sends `reply` from the calling thread, rather than a wake-up of the I/O
  // thread later, when it will: called with the outbox's lock held, only while
  // nothing queued or in flight must leave before it and what is queued is the
  // busy of the reply's request (it published nothing else). Returns whether
  // it sent the reply, and the encoded copy for SentReplyCopy. `wake` set:
  // the I/O thread must look at its sockets (the send may have taken the
  // socket's readiness signal). IoLoop installs it before its thread starts.
  struct ShortcutResult {
    bool sent = false;
    bool wake = false;
    wire::Frames copy;
  };
  using ReplyShortcut = std::function<ShortcutResult(wire::Message& reply)>;
  void set_reply_shortcut(ReplyShortcut shortcut);

  // Queues a request's copy for the uplink (RequestCopy), without a wake-up:
  // the caller sees that the I/O thread wakes (IoLoop::wake_io_soon).
  void hold_request_copy(std::vector<zmq::message_t> parts);
  // Wakes the I/O thread, asking nothing of it.
  void wake() { ready_.notify(); }
  // How flush() gets the I/O thread going when all that waits is the copies and statuses of
  // requests whose replies the main thread sent itself (send_reply_now): a wake-up a little
  // later (IoLoop's DeferredWake), by which time the next request may have joined them.
  // Returns false if it could not. IoLoop installs it before its thread starts.
  void set_wake_later(std::function<bool()> wake_later) { wake_later_ = std::move(wake_later); }

  // I/O thread: takes every entry that is due. A trailing stream chunk stays
  // while it is young and small, unless `everything`.
  std::vector<OutEntry> take_due(Clock::time_point now, bool everything);
  // I/O thread: what take_due() returned has all been sent.
  void taken_sent();
  // I/O thread: when the held-back chunk falls due, if there is one.
  std::optional<Clock::time_point> next_deadline();
  int fd() const { return ready_.fd(); }
  void drain_notifications() { ready_.drain(); }

 private:
  const std::size_t flush_bytes_;
  const std::chrono::milliseconds flush_delay_;
  const std::chrono::milliseconds burst_delay_;
  std::mutex mutex_;
  std::deque<OutEntry> entries_;  // GUARDED_BY(mutex_)
  bool flush_requested_ = false;  // GUARDED_BY(mutex_)
  bool in_flight_ = false;        // GUARDED_BY(mutex_): taken by the I/O thread, not all sent yet
  ReplyShortcut shortcut_;        // GUARDED_BY(mutex_)
  std::function<bool()> wake_later_;  // set before the I/O thread starts, then only read
  bool only_copies_and_statuses_after_a_sent_reply() const;  // call with mutex_ held
  EventFd ready_;

  // Whether a shell reply to `parent_id` may take the shortcut now (lock held).
  bool shortcut_allowed(std::string_view parent_id) const;
};

}  // namespace ensemble::kernel
