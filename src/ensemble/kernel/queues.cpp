#include "queues.hpp"

#include <algorithm>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>

namespace ensemble::kernel {

EventFd::EventFd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) throw std::runtime_error("eventfd failed");
}
EventFd::~EventFd() {
  ::close(fd_);
}

void EventFd::notify() {
  if (pending_.exchange(true, std::memory_order_acq_rel)) return;
  std::uint64_t one = 1;
  // EAGAIN means the counter is saturated: the reader is already due to wake.
  while (::write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void EventFd::drain() {
  std::uint64_t value;
  while (::read(fd_, &value, sizeof value) < 0 && errno == EINTR) {
  }
  // Cleared after the read: a notify skipped in between has its item queued
  // already, and the consumer looks at the queue next.
  pending_.store(false, std::memory_order_release);
}

void QueueInbox::push(Incoming incoming) {
  {
    std::lock_guard lock(mutex_);
    items_.push_back(std::move(incoming));
  }
  ready_.notify();
}

std::optional<Incoming> QueueInbox::try_take() {
  std::lock_guard lock(mutex_);
  if (items_.empty()) return std::nullopt;
  Incoming item = std::move(items_.front());
  items_.pop_front();
  return item;
}

bool QueueInbox::empty() {
  std::lock_guard lock(mutex_);
  return items_.empty();
}

void QueueInbox::set_direct_source(std::shared_ptr<DirectSource> source) {
  std::lock_guard lock(mutex_);
  source_ = std::move(source);
}

wire::Result<Incoming> QueueInbox::wait() {
  std::shared_ptr<DirectSource> source;
  {
    std::lock_guard lock(mutex_);
    source = source_;
  }
  // Told "awake" once a request is in hand, not at each return of the poll: an
  // engine's source then gets its I/O thread going once per request, after
  // its read has queued the request's copy (IoLoop::read_shell_for_main).
  bool sleeping = false;
  auto awake = [&] {
    if (sleeping) source->waiting(false);
    sleeping = false;
  };
  for (;;) {
    // (The source refuses to read while this queue holds anything: order is kept.)
    if (auto item = try_take()) {
      awake();
      return std::move(*item);
    }
    if (source) {
      if (auto item = source->read()) {
        awake();
        return std::move(*item);
      }
      if (!sleeping) source->waiting(true);
      sleeping = true;
    }
    pollfd fds[2] = {{ready_.fd(), POLLIN, 0}, {source ? source->fd : -1, POLLIN, 0}};
    int n = ::poll(fds, source ? 2 : 1, -1);
    if (n < 0 && errno == EINTR) {
      awake();
      return wire::Status::Error(wire::StatusCode::kInterrupted, "signal while waiting");
    }
    if (fds[0].revents != 0) ready_.drain();
  }
}

void QueueOutbox::send(Route route, wire::Message message) {
  {
    std::lock_guard lock(mutex_);
    entries_.emplace_back(RoutedMessage{route, std::move(message)});
  }
  ready_.notify();
}

void QueueOutbox::enqueue(Route route, wire::Message message) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (route == Route::kShell && shortcut_ && shortcut_allowed(json_string(message.parent_header, "msg_id"))) {
      auto result = shortcut_(message);
      if (result.sent) {
        entries_.emplace_back(SentReplyCopy{std::move(result.copy), message.header.msg_type});
        wake = result.wake;
      }
      if (!result.sent) entries_.emplace_back(RoutedMessage{route, std::move(message)});
    } else {
      entries_.emplace_back(RoutedMessage{route, std::move(message)});
    }
  }
  if (wake) ready_.notify();
}

void QueueOutbox::hold_request_copy(std::vector<zmq::message_t> parts) {
  std::lock_guard lock(mutex_);
  entries_.emplace_back(RequestCopy{std::move(parts)});
}

void QueueOutbox::set_reply_shortcut(ReplyShortcut shortcut) {
  std::lock_guard lock(mutex_);
  shortcut_ = std::move(shortcut);
}

bool QueueOutbox::shortcut_allowed(std::string_view parent_id) const {
  // Replies keep their order, and a request that published anything has its
  // reply go after it (and after its stream text is flushed): only the busy
  // of this very request, older statuses and copies of replies already sent
  // (uplink traffic, which keeps its own order) may be waiting.
  if (in_flight_ || entries_.empty() || parent_id.empty()) return false;
  for (const auto& entry : entries_) {
    if (std::holds_alternative<SentReplyCopy>(entry) || std::holds_alternative<RequestCopy>(entry)) continue;
    const auto* routed = std::get_if<RoutedMessage>(&entry);
    if (routed == nullptr || routed->route != Route::kIopub || routed->message.header.msg_type != "status") {
      return false;
    }
  }
  const auto* busy = std::get_if<RoutedMessage>(&entries_.back());
  if (busy == nullptr) return false;
  const wire::Message& last = busy->message;
  return json_string(last.content, "execution_state") == "busy" && json_string(last.parent_header, "msg_id") == parent_id;
}

void QueueOutbox::write_stream(const std::string& name, std::string_view text, const ParentPtr& parent) {
  if (text.empty()) return;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    StreamChunk* last = entries_.empty() ? nullptr : std::get_if<StreamChunk>(&entries_.back());
    if (last != nullptr && last->name == name && last->parent == parent) {
      bool was_small = last->text.size() < flush_bytes_;
      last->text.append(text);
      last->last_write = Clock::now();
      wake = was_small && last->text.size() >= flush_bytes_;
    } else {
      auto now = Clock::now();
      entries_.emplace_back(StreamChunk{name, std::string(text), parent, now, now, now + flush_delay_});
      wake = true;  // a new chunk: the I/O thread must learn its deadline
    }
  }
  if (wake) ready_.notify();
}

void QueueOutbox::flush() {
  bool later = false;
  {
    std::lock_guard lock(mutex_);
    flush_requested_ = true;
    later = wake_later_ && only_copies_and_statuses_after_a_sent_reply();
  }
  if (later && wake_later_()) return;
  ready_.notify();
}

bool QueueOutbox::only_copies_and_statuses_after_a_sent_reply() const {
  bool sent_reply = false;
  for (const auto& entry : entries_) {
    if (std::holds_alternative<SentReplyCopy>(entry)) {
      sent_reply = true;
      continue;
    }
    if (std::holds_alternative<RequestCopy>(entry)) continue;
    const auto* routed = std::get_if<RoutedMessage>(&entry);
    if (routed == nullptr || routed->route != Route::kIopub || routed->message.header.msg_type != "status") {
      return false;
    }
  }
  return sent_reply;
}

void QueueOutbox::flush_streams() {
  {
    std::lock_guard lock(mutex_);
    bool text_waiting = std::any_of(entries_.begin(), entries_.end(),
                                    [](const OutEntry& entry) { return std::holds_alternative<StreamChunk>(entry); });
    if (!text_waiting) return;  // saves the I/O thread a wake-up per apply_request
    flush_requested_ = true;
  }
  ready_.notify();
}

std::vector<OutEntry> QueueOutbox::take_due(Clock::time_point now, bool everything) {
  std::vector<OutEntry> due;
  std::lock_guard lock(mutex_);
  everything = everything || flush_requested_;
  flush_requested_ = false;
  std::size_t count = entries_.size();
  if (!everything && count > 0) {
    if (auto* last = std::get_if<StreamChunk>(&entries_.back()); last != nullptr && last->text.size() < flush_bytes_) {
      // The writer is still busy at the quick deadline: keep gathering.
      constexpr auto kQuiet = std::chrono::milliseconds(2);
      if (now >= last->due && now - last->last_write < kQuiet && last->due < last->started + burst_delay_) {
        last->due = last->started + burst_delay_;
      }
      if (now < last->due) --count;
    }
  }
  due.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    due.push_back(std::move(entries_.front()));
    entries_.pop_front();
  }
  in_flight_ = !due.empty();
  return due;
}

void QueueOutbox::taken_sent() {
  std::lock_guard lock(mutex_);
  in_flight_ = false;
}

std::optional<QueueOutbox::Clock::time_point> QueueOutbox::next_deadline() {
  std::lock_guard lock(mutex_);
  if (entries_.empty()) return std::nullopt;
  if (const auto* last = std::get_if<StreamChunk>(&entries_.back())) return last->due;
  return Clock::now();
}

}  // namespace ensemble::kernel
