#include "ensemble/parallel/corked_sender.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "../multipart.hpp"
#include "ensemble/wire/thread_name.hpp"

namespace ensemble::parallel {

CorkedSender::CorkedSender(zmq::socket_t& socket, std::chrono::microseconds window)
    : socket_(socket), window_(window), timer_(window) {
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  flusher_ = std::thread([this] { run_flusher(); });
}

CorkedSender::~CorkedSender() {
  std::uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  flusher_.join();
  ::close(stop_fd_);
}

void CorkedSender::send(Message message, Hold hold) {
  auto now = Clock::now();
  {
    std::unique_lock queue(queue_mutex_);
    if (!open_) throw std::runtime_error("the connection is closed");
    bool in_burst = now - last_send_ < window_;
    last_send_ = now;
    // Behind held messages, a message waits its turn even after a quiet spell.
    if (in_burst || !held_.empty()) {
      held_.push_back(std::move(message));
      bool now = hold == Hold::kNever || held_.size() >= kMostHeld;
      queue.unlock();
      if (now || !timer_.arm()) flush();
      return;
    }
  }
  std::lock_guard socket(socket_mutex_);
  // Another thread may have closed, or held a message (its send() overlapped
  // this one, so either order is theirs to expect), since the check above.
  {
    std::lock_guard queue(queue_mutex_);
    if (!open_) throw std::runtime_error("the connection is closed");
  }
  parallel::send(socket_, message);
}

void CorkedSender::flush() {
  {
    std::lock_guard queue(queue_mutex_);
    if (held_.empty()) return;
  }
  std::lock_guard socket(socket_mutex_);
  send_held();
}

void CorkedSender::close() {
  std::lock_guard socket(socket_mutex_);
  std::vector<Message> batch;
  {
    std::lock_guard queue(queue_mutex_);
    if (!open_) return;
    open_ = false;
    batch.swap(held_);
  }
  for (Message& message : batch) parallel::send(socket_, message);
}

void CorkedSender::send_held() {
  std::vector<Message> batch;
  {
    std::lock_guard queue(queue_mutex_);
    if (!open_) return;
    batch.swap(held_);
  }
  for (Message& message : batch) parallel::send(socket_, message);
}

void CorkedSender::run_flusher() {
  wire::name_this_thread("send-flush");
  pollfd items[2] = {{timer_.fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  while (true) {
    if (::poll(items, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("cluster client: the sender's poll failed: {}", std::strerror(errno));
      return;
    }
    if (items[1].revents & POLLIN) return;
    if (items[0].revents & POLLIN) {
      timer_.take();
      try {
        flush();
      } catch (const zmq::error_t& error) {
        spdlog::warn("cluster client: held requests could not be sent: {}", error.what());
      }
    }
  }
}

}  // namespace ensemble::parallel
