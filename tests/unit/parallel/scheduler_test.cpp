#include "scheduler.hpp"

#include <gtest/gtest.h>

#include <map>

namespace ensemble::parallel {
namespace {

using Clock = Scheduler::Clock;

TaskRequest task(const std::string& id) {
  TaskRequest t;
  t.msg_id = id;
  return t;
}

std::map<std::string, int> assignments(Scheduler& s) {
  std::map<std::string, int> out;
  for (auto& d : s.take_decisions()) {
    if (d.kind == Decision::Kind::kAssign) out[d.msg_id] = d.engine;
  }
  return out;
}

std::map<std::string, std::string> failures(Scheduler& s) {
  std::map<std::string, std::string> out;
  for (auto& d : s.take_decisions()) {
    if (d.kind == Decision::Kind::kFail) out[d.msg_id] = d.ename;
  }
  return out;
}

TEST(Scheduler, LeastLoadSpreadsTasksEvenly) {
  Scheduler s(Scheme::kLeastLoad, 0, 1);
  for (int e = 0; e < 3; ++e) s.add_engine(e);
  for (int i = 0; i < 9; ++i) s.submit(task("t" + std::to_string(i)));
  std::map<int, int> per_engine;
  for (auto& [id, engine] : assignments(s)) per_engine[engine]++;
  EXPECT_EQ(per_engine, (std::map<int, int>{{0, 3}, {1, 3}, {2, 3}}));
}

TEST(Scheduler, HighWaterMarkQueuesTasksUntilAnEngineFinishes) {
  Scheduler s(Scheme::kLeastLoad, 1, 1);
  s.add_engine(0);
  s.submit(task("a"));
  s.submit(task("b"));
  EXPECT_EQ(assignments(s), (std::map<std::string, int>{{"a", 0}}));
  EXPECT_EQ(s.unassigned(), 1u);
  EXPECT_EQ(s.unassigned_ids(), std::vector<std::string>{"b"});
  s.finished("a", 0, true);
  EXPECT_EQ(assignments(s), (std::map<std::string, int>{{"b", 0}}));
}

TEST(Scheduler, EverySchemePicksOnlyEnginesBelowTheirMark) {
  for (Scheme scheme : {Scheme::kLeastLoad, Scheme::kLru, Scheme::kPlainRandom, Scheme::kWeighted, Scheme::kTwoBin}) {
    Scheduler s(scheme, 2, 7);
    for (int e = 0; e < 4; ++e) s.add_engine(e);
    for (int i = 0; i < 20; ++i) s.submit(task("t" + std::to_string(i)));
    std::map<int, int> per_engine;
    for (auto& [id, engine] : assignments(s)) per_engine[engine]++;
    EXPECT_EQ(per_engine.size(), 4u) << static_cast<int>(scheme);
    for (auto& [engine, n] : per_engine) EXPECT_EQ(n, 2) << static_cast<int>(scheme);
    EXPECT_EQ(s.unassigned(), 12u);
  }
}

TEST(Scheduler, LeastLoadBreaksTiesByTheEngineUsedLongestAgo) {
  Scheduler s(Scheme::kLeastLoad, 0, 1);
  for (int e = 0; e < 3; ++e) s.add_engine(e);
  std::vector<int> order;
  for (int i = 0; i < 3; ++i) {
    std::string id = "t" + std::to_string(i);
    s.submit(task(id));
    int engine = assignments(s).at(id);
    s.finished(id, engine, true);  // idle again before the next one
    order.push_back(engine);
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST(Scheduler, LruPicksTheEngineUsedLongestAgo) {
  Scheduler s(Scheme::kLru, 0, 1);
  for (int e = 0; e < 3; ++e) s.add_engine(e);
  s.submit(task("a"));
  s.submit(task("b"));
  s.submit(task("c"));
  s.submit(task("d"));
  auto a = assignments(s);
  EXPECT_EQ(a["a"], 0);
  EXPECT_EQ(a["b"], 1);
  EXPECT_EQ(a["c"], 2);
  EXPECT_EQ(a["d"], 0);
}

TEST(Scheduler, AfterWaitsForItsDependencyAndFollowRunsWhereItRan) {
  Scheduler s(Scheme::kLeastLoad, 0, 1);
  s.add_engine(0);
  s.add_engine(1);
  s.submit(task("first"));
  int where = assignments(s).at("first");
  TaskRequest second = task("second");
  second.after.msg_ids = {"first"};
  second.follow.msg_ids = {"first"};
  s.submit(second);
  EXPECT_TRUE(assignments(s).empty());
  s.finished("first", where, true);
  EXPECT_EQ(assignments(s), (std::map<std::string, int>{{"second", where}}));
}

TEST(Scheduler, AFailedDependencyMakesASuccessOnlyTaskImpossible) {
  Scheduler s(Scheme::kLeastLoad, 0, 1);
  s.add_engine(0);
  s.submit(task("first"));
  assignments(s);
  TaskRequest second = task("second");
  second.after.msg_ids = {"first"};
  s.submit(second);
  s.finished("first", 0, false);
  EXPECT_EQ(failures(s), (std::map<std::string, std::string>{{"second", "ImpossibleDependency"}}));
}

TEST(Scheduler, OlderOutcomesGoToTheOwnerAndDependenciesStillReadThem) {
  Scheduler s(Scheme::kLeastLoad, 0, 1);
  std::map<std::string, Scheduler::Outcome> kept;
  s.keep_older_outcomes_with([&](const std::string& id, Scheduler::Outcome o) { kept[id] = o; },
                             [&](const std::string& id) -> std::optional<Scheduler::Outcome> {
                               auto it = kept.find(id);
                               if (it == kept.end()) return std::nullopt;
                               return it->second;
                             });
  s.add_engine(0);
  s.add_engine(1);
  s.submit(task("failed"));
  s.submit(task("ran-on-1"));
  assignments(s);
  s.finished("failed", 0, false);
  s.finished("ran-on-1", 1, true);
  EXPECT_TRUE(kept.empty()) << "recent outcomes stay with the scheduler";
  for (std::size_t i = 0; i < Scheduler::kRecentOutcomes; ++i) {
    std::string id = "filler" + std::to_string(i);
    s.submit(task(id));
    s.finished(id, assignments(s).at(id), true);
  }
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_FALSE(kept.at("failed").success);
  EXPECT_EQ(kept.at("ran-on-1").engine, 1);
  TaskRequest follower = task("follower");
  follower.after.msg_ids = {"ran-on-1"};
  follower.follow.msg_ids = {"ran-on-1"};
  s.submit(follower);
  EXPECT_EQ(assignments(s), (std::map<std::string, int>{{"follower", 1}}));
  TaskRequest doomed = task("doomed");
  doomed.after.msg_ids = {"failed"};
  s.submit(doomed);
  EXPECT_EQ(failures(s), (std::map<std::string, std::string>{{"doomed", "ImpossibleDependency"}}));
  kept.erase("failed");  // purged by the owner
  TaskRequest orphan = task("orphan");
  orphan.after.msg_ids = {"failed"};
  s.submit(orphan);
  EXPECT_EQ(failures(s), (std::map<std::string, std::string>{{"orphan", "InvalidDependency"}}));
}

TEST(Scheduler, UnknownDependencyIsInvalid) {
  Scheduler s(Scheme::kLeastLoad, 0, 1);
  s.add_engine(0);
  TaskRequest t = task("t");
  t.after.msg_ids = {"never-submitted"};
  s.submit(t);
  EXPECT_EQ(failures(s), (std::map<std::string, std::string>{{"t", "InvalidDependency"}}));
}

TEST(Scheduler, TargetsOutsideTheClusterAreImpossible) {
  Scheduler s(Scheme::kLeastLoad, 0, 1);
  s.add_engine(0);
  TaskRequest t = task("t");
  t.targets = {5};
  s.submit(t);
  EXPECT_EQ(failures(s), (std::map<std::string, std::string>{{"t", "ImpossibleDependency"}}));
}

TEST(Scheduler, UnmetDependencyOnEveryEngineBecomesImpossible) {
  Scheduler s(Scheme::kLeastLoad, 0, 1);
  s.add_engine(0);
  s.add_engine(1);
  s.submit(task("needs-module"));
  int first = assignments(s).at("needs-module");
  s.unmet("needs-module", first);
  int second = assignments(s).at("needs-module");
  EXPECT_NE(first, second);
  s.unmet("needs-module", second);
  EXPECT_EQ(failures(s), (std::map<std::string, std::string>{{"needs-module", "ImpossibleDependency"}}));
}

TEST(Scheduler, RetriesMoveATaskOffADeadEngineUntilTheyRunOut) {
  Scheduler s(Scheme::kLeastLoad, 0, 1);
  s.add_engine(0);
  s.add_engine(1);
  TaskRequest t = task("t");
  t.retries = 1;
  s.submit(t);
  int first = assignments(s).at("t");
  auto orphans = s.remove_engine(first);
  ASSERT_EQ(orphans, std::vector<std::string>{"t"});
  EXPECT_TRUE(s.retry("t"));
  int second = assignments(s).at("t");
  EXPECT_NE(first, second);
  EXPECT_EQ(s.remove_engine(second), std::vector<std::string>{"t"});
  EXPECT_FALSE(s.retry("t"));
}

TEST(Scheduler, ATaskNotStartedBeforeItsTimeoutFails) {
  Scheduler s(Scheme::kLeastLoad, 1, 1);
  s.add_engine(0);
  s.submit(task("busy"));
  TaskRequest t = task("late");
  t.deadline = Clock::now() + std::chrono::milliseconds(10);
  s.submit(t);
  assignments(s);
  s.expire(Clock::now() + std::chrono::milliseconds(20));
  EXPECT_EQ(failures(s), (std::map<std::string, std::string>{{"late", "TaskTimeout"}}));
  EXPECT_EQ(s.unassigned(), 0u);
}

TEST(Scheduler, AbortRemovesOnlyTasksThatHaveNotStarted) {
  Scheduler s(Scheme::kLeastLoad, 1, 1);
  s.add_engine(0);
  s.submit(task("running"));
  s.submit(task("queued"));
  assignments(s);
  EXPECT_FALSE(s.abort("running"));
  EXPECT_TRUE(s.abort("queued"));
  EXPECT_EQ(s.unassigned(), 0u);
}

TEST(Scheduler, TasksMayDependOnDirectRequestsStillRunning) {
  Scheduler s(Scheme::kLeastLoad, 0, 1);
  s.add_engine(0);
  s.note_pending("direct");
  TaskRequest t = task("t");
  t.after.msg_ids = {"direct"};
  s.submit(t);
  EXPECT_TRUE(s.take_decisions().empty());
  s.finished("direct", 0, true);
  EXPECT_EQ(assignments(s), (std::map<std::string, int>{{"t", 0}}));
}

}  // namespace
}  // namespace ensemble::parallel

namespace ensemble::parallel {
namespace {

TEST(Scheduler, AFailedTaskWithRetriesRunsAgainOnlyOnEnginesWhereItHasNotFailed) {
  Scheduler s(Scheme::kLeastLoad, 0, 1);
  s.add_engine(0);
  s.add_engine(1);
  TaskRequest t = task("flaky");
  t.retries = 5;
  s.submit(t);
  int first = assignments(s).at("flaky");
  EXPECT_TRUE(s.retry_after_failure("flaky", first, Clock::now()));
  int second = assignments(s).at("flaky");
  EXPECT_NE(first, second);
  EXPECT_TRUE(s.retry_after_failure("flaky", second, Clock::now()));
  EXPECT_EQ(failures(s), (std::map<std::string, std::string>{{"flaky", "ImpossibleDependency"}}));
}

TEST(Scheduler, AFailedTaskPastItsTimeoutWithNoEngineFreeFailsWithTaskTimeout) {
  Scheduler s(Scheme::kLeastLoad, 1, 1);
  s.add_engine(0);
  s.add_engine(1);
  s.submit(task("keeps-engine-1-busy"));
  TaskRequest t = task("slow");
  t.retries = 3;
  t.deadline = Clock::now() + std::chrono::milliseconds(5);
  s.submit(t);
  int first = assignments(s).at("slow");
  s.expire(Clock::now() + std::chrono::milliseconds(10));  // fires while it runs: nothing to do
  EXPECT_TRUE(s.retry_after_failure("slow", first, Clock::now() + std::chrono::milliseconds(10)));
  EXPECT_EQ(failures(s), (std::map<std::string, std::string>{{"slow", "TaskTimeout"}}));
}

TEST(Scheduler, WithoutRetriesAFailureIsFinal) {
  Scheduler s(Scheme::kLeastLoad, 0, 1);
  s.add_engine(0);
  s.submit(task("once"));
  assignments(s);
  EXPECT_FALSE(s.retry_after_failure("once", 0, Clock::now()));
}

}  // namespace
}  // namespace ensemble::parallel
