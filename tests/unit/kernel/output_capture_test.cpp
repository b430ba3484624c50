#include "ensemble/kernel/output_capture.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

namespace ensemble::kernel {
namespace {

TEST(Utf8Test, AnIncompleteSequenceAtTheEndIsHeldBack) {
  EXPECT_EQ(complete_utf8_prefix("caf\xC3"), 3u);
  EXPECT_EQ(complete_utf8_prefix("caf\xC3\xA9"), 5u);
  EXPECT_EQ(complete_utf8_prefix("\xE2\x82"), 0u);       // two bytes of the euro sign
  EXPECT_EQ(complete_utf8_prefix("\xF0\x9F\x98"), 0u);   // three of a four-byte emoji
  EXPECT_EQ(complete_utf8_prefix("ok\xFF"), 3u);         // never valid: nothing to wait for
  EXPECT_EQ(complete_utf8_prefix(""), 0u);
}

TEST(Utf8Test, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  EXPECT_EQ(valid_utf8("plain"), "plain");
  EXPECT_EQ(valid_utf8("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(valid_utf8("\xFF\xFEok"), "\xEF\xBF\xBD\xEF\xBF\xBDok");
  EXPECT_EQ(valid_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");           // overlong '/'
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
}

class OutputCaptureTest : public ::testing::Test {
 protected:
  std::mutex mutex;
  std::string out, err;
  std::unique_ptr<OutputCapture> capture = OutputCapture::start([this](const std::string& name, std::string_view text) {
    std::lock_guard lock(mutex);
    (name == "stdout" ? out : err).append(text);
  });
};

TEST_F(OutputCaptureTest, WritesToDescriptorsOneAndTwoReachTheSinkByDrainAtTheLatest) {
  ASSERT_NE(capture, nullptr);
  ASSERT_EQ(::write(1, "one\n", 4), 4);
  ASSERT_EQ(::write(2, "two\n", 4), 4);
  std::printf("buffered by stdio");  // no newline: only the flush in drain() sends it
  capture->drain();
  std::lock_guard lock(mutex);
  EXPECT_EQ(out, "one\nbuffered by stdio");
  EXPECT_EQ(err, "two\n");
}

TEST_F(OutputCaptureTest, TheReaderForwardsWithoutADrain) {
  ASSERT_NE(capture, nullptr);
  ASSERT_EQ(::write(1, "later\n", 6), 6);
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(mutex);
      if (out == "later\n") return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << "the reader thread did not forward the output";
}

TEST_F(OutputCaptureTest, StoppingPutsTheOriginalDescriptorsBack) {
  ASSERT_NE(capture, nullptr);
  int pipe_write_end = ::dup(1);
  capture.reset();
  // descriptor 1 is no longer the capture's pipe: it is what it was before (a different file)
  struct stat now {}, piped {};
  ASSERT_EQ(::fstat(1, &now), 0);
  ASSERT_EQ(::fstat(pipe_write_end, &piped), 0);
  EXPECT_FALSE(now.st_ino == piped.st_ino && now.st_dev == piped.st_dev);
  ::close(pipe_write_end);
}

}  // namespace
}  // namespace ensemble::kernel
