// DeferredWake (deferred_wake.hpp): a poller's wake-up a moment later.
#include "ensemble/wire/deferred_wake.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>

namespace ensemble::wire {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool readable(int fd, int timeout_ms) {
  pollfd item{fd, POLLIN, 0};
  return ::poll(&item, 1, timeout_ms) == 1;
}

TEST(DeferredWake, ThePollerWakesAfterTheDelayNotBefore) {
  DeferredWake wake(50ms);
  ASSERT_TRUE(wake.arm());
  auto armed = Clock::now();
  EXPECT_FALSE(readable(wake.fd(), 10));
  EXPECT_TRUE(readable(wake.fd(), 1000));
  EXPECT_GE(Clock::now() - armed, 45ms);
}

TEST(DeferredWake, ALaterArmDoesNotPushAPendingWakeUpBack) {
  DeferredWake wake(80ms);
  auto armed = Clock::now();
  ASSERT_TRUE(wake.arm());
  EXPECT_FALSE(readable(wake.fd(), 50));
  ASSERT_TRUE(wake.arm());  // 50 ms in: still due at 80 ms, not at 130
  EXPECT_TRUE(readable(wake.fd(), 1000));
  EXPECT_LT(Clock::now() - armed, 125ms);
}

TEST(DeferredWake, TakingTheWakeUpQuietsItAndLetsItBeArmedAgain) {
  DeferredWake wake(5ms);
  ASSERT_TRUE(wake.arm());
  ASSERT_TRUE(readable(wake.fd(), 1000));
  wake.take();
  EXPECT_FALSE(readable(wake.fd(), 30)) << "one arm, one wake-up";
  ASSERT_TRUE(wake.arm());
  EXPECT_TRUE(readable(wake.fd(), 1000));
}

}  // namespace
}  // namespace ensemble::wire
