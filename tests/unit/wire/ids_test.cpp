#include "ensemble/wire/ids.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <regex>
#include <set>
#include <string>
#include <thread>

namespace ensemble::wire {
namespace {

TEST(NewId, IsAVersion4UuidInHexAndDoesNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    std::string id = new_id();
    ASSERT_EQ(id.size(), 32u);
    EXPECT_EQ(id[12], '4');
    EXPECT_TRUE(seen.insert(id).second);
  }
}

TEST(NewId, AForkedChildDoesNotRepeatItsParentsIds) {
  (void)new_id();  // the generator exists before the fork
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string id = new_id();
    ssize_t written = ::write(fds[1], id.data(), id.size());
    ::_exit(written == static_cast<ssize_t>(id.size()) ? 0 : 1);
  }
  std::string mine = new_id();
  char theirs[32];
  ASSERT_EQ(::read(fds[0], theirs, sizeof theirs), 32);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_NE(mine, std::string(theirs, sizeof theirs));
}

// The stamp the clock gives, as ISO 8601 UTC with microseconds, whether or
// not the second changed since the last one (its text is kept per second).
TEST(NowIso8601, IsTheCurrentUtcTimeWithMicrosecondsAcrossSeconds) {
  const std::regex shape(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)");
  std::string previous;
  for (int i = 0; i < 12; ++i) {
    auto before = std::chrono::system_clock::now();
    std::string stamp = now_iso8601();
    ASSERT_TRUE(std::regex_match(stamp, shape)) << stamp;
    std::time_t seconds = std::chrono::system_clock::to_time_t(before);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char expected[20];
    std::strftime(expected, sizeof expected, "%Y-%m-%dT%H:%M:%S", &utc);
    std::time_t next = seconds + 1;  // the second may turn between the two readings
    std::tm later{};
    gmtime_r(&next, &later);
    char expected_next[20];
    std::strftime(expected_next, sizeof expected_next, "%Y-%m-%dT%H:%M:%S", &later);
    std::string whole = stamp.substr(0, 19);
    EXPECT_TRUE(whole == expected || whole == expected_next) << stamp << " vs " << expected;
    EXPECT_GE(stamp, previous) << "stamps go forward";
    previous = stamp;
    std::this_thread::sleep_for(std::chrono::milliseconds(i % 3 == 0 ? 400 : 3));
  }
}

}  // namespace
}  // namespace ensemble::wire
