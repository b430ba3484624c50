#include "ensemble/wire/deferred_wake.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace ensemble::wire {

DeferredWake::DeferredWake(std::chrono::microseconds delay)
    : fd_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)), delay_(delay) {
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "timerfd_create");
}

DeferredWake::~DeferredWake() {
  ::close(fd_);
}

bool DeferredWake::arm() {
  if (armed_.exchange(true)) return true;  // due already; taken by the poller before it looks at queues
  itimerspec when{};
  auto count = delay_.count();
  when.it_value.tv_sec = count / 1000000;
  when.it_value.tv_nsec = static_cast<long>(count % 1000000) * 1000;
  if (::timerfd_settime(fd_, 0, &when, nullptr) == 0) return true;
  armed_.store(false);
  return false;
}

void DeferredWake::take() {
  std::uint64_t expirations = 0;
  (void)!::read(fd_, &expirations, sizeof expirations);
  armed_.store(false);
}

}  // namespace ensemble::wire
