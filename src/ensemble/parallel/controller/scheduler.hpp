// Load-balanced task scheduling: which engine runs a task, and when
// (docs/parallel-protocol.md, "Load-balanced tasks"). Pure logic, no sockets:
// the controller feeds it events and carries out its decisions.
//
// Cost per task: O(log engines) to pick an engine in every scheme (see
// EnginePool), O(1) to queue. Tasks restricted
// to some engines (targets, follow, engines that lacked a `require`) are kept
// apart and looked at only when one of their engines frees up.
//
// Owned by the controller's one thread; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine_pool.hpp"

namespace ensemble::parallel {


// ipyparallel's Dependency: msg_ids, all/any, and which outcomes count as met.
struct Dependency {
  std::vector<std::string> msg_ids;
  bool all = true;
  bool success = true;
  bool failure = false;
  bool empty() const { return msg_ids.empty(); }
};

struct TaskRequest {
  std::string msg_id;
  std::vector<int> targets;  // empty: any engine
  Dependency after;          // time: run once these have finished as asked
  Dependency follow;         // location: run where these ran
  std::optional<std::chrono::steady_clock::time_point> deadline;  // fail if not started by then
  int retries = 0;                                                 // resubmissions after an engine dies
};

struct Decision {
  enum class Kind { kAssign, kFail } kind = Kind::kAssign;
  std::string msg_id;
  int engine = -1;     // kAssign
  std::string ename;   // kFail: ImpossibleDependency, InvalidDependency, TaskTimeout, EngineError
  std::string evalue;
};

class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;
  struct Outcome {
    bool success;
    int engine;
  };
  // An owner that records every task anyway (the controller's TaskTable) can
  // keep the outcomes too: the scheduler then hands each to `keep` once
  // kRecentOutcomes newer ones have come, and reads it back with `lookup`
  // (nullopt: unknown or purged), instead of a second record per task for
  // good. Without them, every outcome stays here until forget().
  using KeepOutcome = std::function<void(const std::string& msg_id, Outcome outcome)>;
  using OutcomeLookup = std::function<std::optional<Outcome>(const std::string& msg_id)>;
  static constexpr std::size_t kRecentOutcomes = 4096;

  Scheduler(Scheme scheme, int hwm, std::uint64_t seed = std::random_device{}());
  void keep_older_outcomes_with(KeepOutcome keep, OutcomeLookup lookup) {
    keep_ = std::move(keep);
    lookup_ = std::move(lookup);
  }

  void add_engine(int id);
  // Forgets the engine; tasks it was running come back as the returned msg_ids
  // (the controller retries or fails each through retry()).
  std::vector<std::string> remove_engine(int id);

  void submit(TaskRequest task);
  // A direct request is on its way to an engine: tasks may depend on it.
  void note_pending(const std::string& msg_id) { pending_elsewhere_.insert(msg_id); }
  // A task or direct request finished (LB or not): frees its engine and wakes dependents.
  void finished(const std::string& msg_id, int engine, bool success);
  // The engine answered UnmetDependency: run the task elsewhere, or fail it.
  void unmet(const std::string& msg_id, int engine);
  // Requeues a task whose engine died; false when it has no retries left.
  bool retry(const std::string& msg_id);
  // The task raised on `engine`. With retries left it runs again elsewhere
  // (as ipyparallel: never on an engine where it failed; past its timeout, if
  // no engine takes it at once, it fails with TaskTimeout) and true is
  // returned: the failure is not final.
  bool retry_after_failure(const std::string& msg_id, int engine, Clock::time_point now);
  // Removes a task that has not been assigned yet; false if unknown or running.
  bool abort(const std::string& msg_id);
  // Fails queued tasks whose deadline passed.
  void expire(Clock::time_point now);
  std::optional<Clock::time_point> next_deadline() const;
  // Forgets finished outcomes (purge).
  void forget(const std::string& msg_id) { outcomes_.erase(msg_id); }

  std::vector<Decision> take_decisions();
  // Tasks not on an engine yet (queued, or waiting for dependencies).
  std::size_t unassigned() const;
  std::vector<std::string> unassigned_ids() const;
  bool is_task(const std::string& msg_id) const { return tasks_.contains(msg_id); }

 private:
  struct Task {
    TaskRequest request;
    std::unordered_set<int> blacklist;  // engines that answered UnmetDependency
    bool running = false;
    int engine = -1;
    bool restricted = false;
    bool failed_before = false;  // retried after raising somewhere
  };
  enum class DepState { kMet, kPending, kImpossible, kInvalid };

  DepState check(const Task& task, const Dependency& dep) const;
  // The engines a task may run on now (nullopt: any), given follow/targets/blacklist.
  std::optional<std::unordered_set<int>> allowed(const Task& task) const;
  void consider(const std::string& msg_id);  // dependencies met? queue or fail
  void enqueue(const std::string& msg_id, bool front);
  void dispatch();
  bool try_assign(const std::string& msg_id);
  void assign(const std::string& msg_id, int engine);
  void fail(const std::string& msg_id, const std::string& ename, const std::string& evalue);
  // One task fewer on `engine`; queued tasks may now go there.
  void release(int engine);

  EnginePool engines_;
  std::unordered_map<std::string, Task> tasks_;  // submitted, not finished
  std::optional<Outcome> outcome_of(const std::string& msg_id) const;
  std::unordered_map<std::string, Outcome> outcomes_;  // all, or (with lookup_) the recent ones
  std::deque<std::string> outcome_order_;               // with lookup_: outcomes_'s keys, oldest first
  KeepOutcome keep_;
  OutcomeLookup lookup_;
  std::unordered_set<std::string> pending_elsewhere_;  // direct requests not answered yet
  std::unordered_map<std::string, std::vector<std::string>> dependents_;  // dep msg_id -> waiting tasks
  std::deque<std::string> queued_;       // ready, unrestricted, FIFO
  std::vector<std::string> restricted_;  // ready, may run only on some engines
  std::multimap<Clock::time_point, std::string> deadlines_;
  std::vector<Decision> decisions_;
};

}  // namespace ensemble::parallel
