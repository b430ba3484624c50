// The task store's WAL: checkpointed when the store is idle, not inside the
// commits of a burst of tasks (task_store.cpp, kCheckpoint*).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <unistd.h>

#include "task_store.hpp"

namespace ensemble::parallel {
namespace {

class TaskStoreWal : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ensemble-wal-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "tasks.sqlite").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static Parts request(const std::string& msg_id, std::size_t buffer_bytes) {
    Parts parts;
    for (std::string frame : {"{\"msg_id\":\"" + msg_id + "\"}", std::string("{}"), std::string("{}"),
                              std::string("{}"), std::string(buffer_bytes, 'x')}) {
      parts.emplace_back(frame.data(), frame.size());
    }
    return parts;
  }
  std::uintmax_t size_of(const std::string& path) const {
    std::error_code error;
    auto size = std::filesystem::file_size(path, error);
    return error ? 0 : size;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(TaskStoreWal, ABurstOfCommitsIsCheckpointedIntoTheDatabaseOnceTheStoreIsIdle) {
  TaskStore store;
  ASSERT_TRUE(store.open(path_, [](TaskStore::Record&&) {}));
  // 12 commits of 1 MiB: SQLite's own auto-checkpoint would have copied the WAL into the
  // database after the fifth and started the WAL again; here it keeps growing.
  for (int commit = 0; commit < 12; ++commit) {
    for (int i = 0; i < 16; ++i) {
      std::string id = "t" + std::to_string(commit) + "-" + std::to_string(i);
      store.submitted(id, "client", 0, "apply_request", "task", request(id, 64 * 1024));
    }
    ASSERT_TRUE(store.sync());
  }
  EXPECT_GE(size_of(path_ + "-wal"), std::uintmax_t{8} << 20) << "checkpointed during the burst";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (size_of(path_) < (std::uintmax_t{11} << 20) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(size_of(path_), std::uintmax_t{11} << 20) << "the idle store did not checkpoint";
  EXPECT_EQ(store.rows(nullptr, false, false).size(), 12u * 16u);
}

}  // namespace
}  // namespace ensemble::parallel
