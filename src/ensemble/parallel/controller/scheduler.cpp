#include "scheduler.hpp"

#include <algorithm>

namespace ensemble::parallel {

Scheduler::Scheduler(Scheme scheme, int hwm, std::uint64_t seed) : engines_(scheme, hwm, seed) {}

// -- engines ---------------------------------------------------------------------

void Scheduler::add_engine(int id) {
  engines_.add(id);
  dispatch();
}

void Scheduler::release(int engine) {
  if (engines_.release(engine)) dispatch();
}

std::vector<std::string> Scheduler::remove_engine(int id) {
  if (!engines_.contains(id)) return {};
  engines_.remove(id);
  std::vector<std::string> orphans;
  for (auto& [msg_id, task] : tasks_) {
    if (task.running && task.engine == id) orphans.push_back(msg_id);
  }
  // Tasks that could only run there (follow, targets) may have become impossible.
  std::vector<std::string> restricted = std::move(restricted_);
  restricted_.clear();
  for (auto& msg_id : restricted) {
    auto engines = allowed(tasks_.at(msg_id));
    if (engines && engines->empty()) {
      fail(msg_id, "ImpossibleDependency", "no engine that this task may run on is left");
    } else {
      restricted_.push_back(std::move(msg_id));
    }
  }
  return orphans;
}

// -- tasks ---------------------------------------------------------------------

Scheduler::DepState Scheduler::check(const Task& task, const Dependency& dep) const {
  if (dep.empty()) return DepState::kMet;
  std::size_t met = 0, finished = 0;
  for (const auto& id : dep.msg_ids) {
    if (id == task.request.msg_id) return DepState::kInvalid;
    std::optional<Outcome> outcome = outcome_of(id);
    if (!outcome) {
      if (!tasks_.contains(id) && !pending_elsewhere_.contains(id)) return DepState::kInvalid;  // unknown or purged
      continue;
    }
    ++finished;
    bool ok = (outcome->success && dep.success) || (!outcome->success && dep.failure);
    if (ok) ++met;
    if (!ok && dep.all) return DepState::kImpossible;
  }
  if (dep.all ? met == dep.msg_ids.size() : met > 0) return DepState::kMet;
  if (!dep.all && finished == dep.msg_ids.size()) return DepState::kImpossible;
  return DepState::kPending;
}

std::optional<std::unordered_set<int>> Scheduler::allowed(const Task& task) const {
  std::optional<std::unordered_set<int>> engines;
  auto restrict_to = [&engines](std::unordered_set<int> set) {
    if (!engines) {
      engines = std::move(set);
    } else {
      std::erase_if(*engines, [&set](int e) { return !set.contains(e); });
    }
  };
  if (!task.request.targets.empty()) {
    restrict_to(std::unordered_set<int>(task.request.targets.begin(), task.request.targets.end()));
  }
  const Dependency& follow = task.request.follow;
  if (!follow.empty()) {
    std::unordered_set<int> where;
    bool first = true;
    for (const auto& id : follow.msg_ids) {
      std::optional<Outcome> outcome = outcome_of(id);
      if (!outcome) continue;
      if (follow.all && !first) {
        std::erase_if(where, [&](int e) { return e != outcome->engine; });
      } else {
        where.insert(outcome->engine);
      }
      first = false;
    }
    restrict_to(std::move(where));
  }
  if (!task.blacklist.empty()) {
    if (!engines) {
      engines.emplace();
      for (const auto& [id, load] : engines_.loads()) engines->insert(id);
    }
    std::erase_if(*engines, [&task](int e) { return task.blacklist.contains(e); });
  }
  if (engines) std::erase_if(*engines, [this](int e) { return !engines_.contains(e); });
  return engines;
}

void Scheduler::submit(TaskRequest request) {
  std::string msg_id = request.msg_id;
  if (request.deadline) deadlines_.emplace(*request.deadline, msg_id);
  Task& task = tasks_[msg_id];
  task.request = std::move(request);
  for (const Dependency* dep : {&task.request.after, &task.request.follow}) {
    for (const auto& id : dep->msg_ids) {
      bool pending = tasks_.contains(id) || pending_elsewhere_.contains(id);
      if (pending && id != msg_id && !outcome_of(id)) dependents_[id].push_back(msg_id);
    }
  }
  consider(msg_id);
}

void Scheduler::consider(const std::string& msg_id) {
  auto it = tasks_.find(msg_id);
  if (it == tasks_.end() || it->second.running) return;
  Task& task = it->second;
  for (const Dependency* dep : {&task.request.after, &task.request.follow}) {
    switch (check(task, *dep)) {
      case DepState::kInvalid:
        return fail(msg_id, "InvalidDependency", "a dependency names an unknown task or the task itself");
      case DepState::kImpossible:
        return fail(msg_id, "ImpossibleDependency", "a dependency finished in a way this task does not accept");
      case DepState::kPending: return;  // woken again by finished()
      case DepState::kMet: break;
    }
  }
  auto engines = allowed(task);
  if (engines && engines->empty()) {
    if (task.failed_before && task.request.deadline) {
      // It failed everywhere: as ipyparallel, it waits out its timeout (TaskTimeout).
      task.restricted = true;
      restricted_.push_back(msg_id);
      return;
    }
    return fail(msg_id, "ImpossibleDependency", "no engine may run this task (targets, follow or require)");
  }
  task.restricted = engines.has_value();
  enqueue(msg_id, false);
}

void Scheduler::enqueue(const std::string& msg_id, bool front) {
  Task& task = tasks_.at(msg_id);
  if (task.restricted) {
    restricted_.push_back(msg_id);
  } else if (front) {
    queued_.push_front(msg_id);
  } else {
    queued_.push_back(msg_id);
  }
  dispatch();
}

bool Scheduler::try_assign(const std::string& msg_id) {
  Task& task = tasks_.at(msg_id);
  auto engines = task.restricted ? allowed(task) : std::nullopt;
  int engine = engines_.pick(engines ? &*engines : nullptr);
  if (engine < 0) return false;
  assign(msg_id, engine);
  return true;
}

void Scheduler::dispatch() {
  while (!queued_.empty() && engines_.any_available()) {
    std::string msg_id = std::move(queued_.front());
    queued_.pop_front();
    if (!try_assign(msg_id)) {
      queued_.push_front(std::move(msg_id));
      break;
    }
  }
  if (restricted_.empty() || !engines_.any_available()) return;
  std::vector<std::string> still;
  for (auto& msg_id : restricted_) {
    if (!engines_.any_available() || !try_assign(msg_id)) still.push_back(std::move(msg_id));
  }
  restricted_ = std::move(still);
}

void Scheduler::assign(const std::string& msg_id, int engine) {
  Task& task = tasks_.at(msg_id);
  task.running = true;
  task.engine = engine;
  engines_.take(engine);
  decisions_.push_back({Decision::Kind::kAssign, msg_id, engine, {}, {}});
}

void Scheduler::fail(const std::string& msg_id, const std::string& ename, const std::string& evalue) {
  decisions_.push_back({Decision::Kind::kFail, msg_id, -1, ename, evalue});
  tasks_.erase(msg_id);
  std::erase(restricted_, msg_id);
  // A failure is an outcome too: tasks waiting on it with failure=True may run.
  finished(msg_id, -1, false);
}

std::optional<Scheduler::Outcome> Scheduler::outcome_of(const std::string& msg_id) const {
  if (auto it = outcomes_.find(msg_id); it != outcomes_.end()) return it->second;
  if (lookup_) return lookup_(msg_id);
  return std::nullopt;
}

void Scheduler::finished(const std::string& msg_id, int engine, bool success) {
  if (auto it = tasks_.find(msg_id); it != tasks_.end()) {
    if (it->second.running) release(it->second.engine);
    tasks_.erase(it);
  }
  pending_elsewhere_.erase(msg_id);
  outcomes_[msg_id] = Outcome{success, engine};
  if (keep_) {
    outcome_order_.push_back(msg_id);
    while (outcome_order_.size() > kRecentOutcomes) {
      // A msg_id finished twice is listed twice: its first listing hands over the latest outcome.
      if (auto oldest = outcomes_.find(outcome_order_.front()); oldest != outcomes_.end()) {
        keep_(oldest->first, oldest->second);
        outcomes_.erase(oldest);
      }
      outcome_order_.pop_front();
    }
  }
  auto waiting = dependents_.find(msg_id);
  if (waiting == dependents_.end()) return;
  std::vector<std::string> woken = std::move(waiting->second);
  dependents_.erase(waiting);
  for (const auto& id : woken) consider(id);
}

void Scheduler::unmet(const std::string& msg_id, int engine) {
  auto it = tasks_.find(msg_id);
  if (it == tasks_.end()) return;
  Task& task = it->second;
  if (task.running) release(task.engine);
  task.running = false;
  task.blacklist.insert(engine);
  consider(msg_id);
}

bool Scheduler::retry(const std::string& msg_id) {
  auto it = tasks_.find(msg_id);
  if (it == tasks_.end() || it->second.request.retries <= 0) {
    if (it != tasks_.end()) tasks_.erase(it);
    return false;
  }
  Task& task = it->second;
  task.request.retries -= 1;
  task.running = false;
  task.engine = -1;
  auto engines = allowed(task);
  task.restricted = engines.has_value();
  if (engines && engines->empty()) {
    tasks_.erase(it);
    return false;
  }
  enqueue(msg_id, true);
  return true;
}

bool Scheduler::retry_after_failure(const std::string& msg_id, int engine, Clock::time_point now) {
  auto it = tasks_.find(msg_id);
  if (it == tasks_.end() || it->second.request.retries <= 0) return false;
  Task& task = it->second;
  task.request.retries -= 1;
  if (task.running) release(task.engine);
  task.running = false;
  task.engine = -1;
  task.blacklist.insert(engine);
  task.failed_before = true;
  consider(msg_id);
  // Past its timeout, a task that cannot start again at once ends here (its
  // deadline has already fired while it ran).
  auto again = tasks_.find(msg_id);
  if (again != tasks_.end() && !again->second.running && again->second.request.deadline &&
      *again->second.request.deadline <= now) {
    std::erase(queued_, msg_id);
    std::erase(restricted_, msg_id);
    fail(msg_id, "TaskTimeout", "the task kept failing until its timeout passed");
  }
  return true;
}

bool Scheduler::abort(const std::string& msg_id) {
  auto it = tasks_.find(msg_id);
  if (it == tasks_.end() || it->second.running) return false;
  std::erase(queued_, msg_id);
  std::erase(restricted_, msg_id);
  tasks_.erase(it);
  finished(msg_id, -1, false);
  return true;
}

void Scheduler::expire(Clock::time_point now) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    std::string msg_id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    auto it = tasks_.find(msg_id);
    if (it == tasks_.end() || it->second.running) continue;
    std::erase(queued_, msg_id);
    std::erase(restricted_, msg_id);
    fail(msg_id, "TaskTimeout", "the task was not started before its timeout");
  }
}

std::optional<Scheduler::Clock::time_point> Scheduler::next_deadline() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

std::size_t Scheduler::unassigned() const {
  return static_cast<std::size_t>(
      std::count_if(tasks_.begin(), tasks_.end(), [](const auto& entry) { return !entry.second.running; }));
}

std::vector<std::string> Scheduler::unassigned_ids() const {
  std::vector<std::string> ids;
  for (const auto& [msg_id, task] : tasks_) {
    if (!task.running) ids.push_back(msg_id);
  }
  return ids;
}

std::vector<Decision> Scheduler::take_decisions() {
  std::vector<Decision> out;
  out.swap(decisions_);
  return out;
}

}  // namespace ensemble::parallel
