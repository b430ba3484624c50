#include "ensemble/wire/ids.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>

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

}  // namespace
}  // namespace ensemble::wire
