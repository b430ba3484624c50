#include "ensemble/kernel/history_store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace ensemble::kernel {
namespace {

class HistoryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/ensemble-history-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path() const { return dir_ + "/history.sqlite"; }
  std::string dir_;
};

TEST_F(HistoryStoreTest, TailSpansSessionsInOrder) {
  {
    HistoryStore first(path());
    first.append(1, "a = 1");
    first.append(2, "b = 2");
  }
  HistoryStore second(path());
  second.append(1, "c = 3");
  auto rows = second.query({.kind = HistoryQuery::Kind::kTail, .n = 2});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].input, "b = 2");
  EXPECT_EQ(rows[1].input, "c = 3");
  EXPECT_EQ(rows[1].session, second.session());
  EXPECT_EQ(rows[0].session + 1, rows[1].session);
}

TEST_F(HistoryStoreTest, RangeIsRelativeToTheCurrentSessionAndStopIsExclusive) {
  HistoryStore store(path());
  for (int line = 1; line <= 4; ++line) store.append(line, "x" + std::to_string(line));
  HistoryQuery query{.kind = HistoryQuery::Kind::kRange, .session = 0, .start = 2, .stop = 4};
  auto rows = store.query(query);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].input, "x2");
  EXPECT_EQ(rows[1].input, "x3");
}

TEST_F(HistoryStoreTest, SearchGlobsAndUniqueKeepsTheLatest) {
  HistoryStore store(path());
  store.append(1, "print(1)");
  store.append(2, "y = 2");
  store.append(3, "print(1)");
  HistoryQuery query{.kind = HistoryQuery::Kind::kSearch, .n = 10, .pattern = "print*", .unique = true};
  auto rows = store.query(query);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].line, 3);
}

TEST_F(HistoryStoreTest, OutputIsReturnedOnlyWhenAskedFor) {
  HistoryStore store(path());
  store.append(1, "1+1");
  store.set_output(1, "2");
  auto with = store.query({.kind = HistoryQuery::Kind::kTail, .output = true, .n = 1});
  ASSERT_EQ(with.size(), 1u);
  EXPECT_EQ(with[0].output.value_or(""), "2");
  auto without = store.query({.kind = HistoryQuery::Kind::kTail, .n = 1});
  EXPECT_FALSE(without[0].output.has_value());
}

TEST_F(HistoryStoreTest, UnwritableLocationDegradesToMemoryWithAWarning) {
  HistoryStore store("/proc/ensemble-no-such-dir/history.sqlite");
  EXPECT_TRUE(store.warning().has_value());
  store.append(1, "still remembered");
  auto rows = store.query({.kind = HistoryQuery::Kind::kTail, .n = 5});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].input, "still remembered");
}

}  // namespace
}  // namespace ensemble::kernel
