#include "load_balancer.hpp"

#include <spdlog/spdlog.h>

namespace ensemble::parallel {

using wire::Json;

namespace {

// ipyparallel sends a dependency as a list of msg_ids or as Dependency.as_dict().
Dependency dependency_from(const Json& json) {
  Dependency dep;
  const Json* ids = &json;
  if (json.is_object()) {
    dep.all = json.value("all", true);
    dep.success = json.value("success", true);
    dep.failure = json.value("failure", false);
    auto listed = json.find("dependencies");
    if (listed == json.end()) return dep;
    ids = &*listed;
  }
  if (ids->is_string()) {
    dep.msg_ids.push_back(ids->get<std::string>());
  } else if (ids->is_array()) {
    for (const auto& id : *ids) {
      if (id.is_string()) dep.msg_ids.push_back(id.get<std::string>());
    }
  }
  return dep;
}

}  // namespace

TaskRequest task_request_from(const std::string& msg_id, const Json& metadata) {
  TaskRequest task;
  task.msg_id = msg_id;
  if (!metadata.is_object()) return task;
  if (auto after = metadata.find("after"); after != metadata.end()) task.after = dependency_from(*after);
  if (auto follow = metadata.find("follow"); follow != metadata.end()) task.follow = dependency_from(*follow);
  if (auto targets = metadata.find("targets"); targets != metadata.end() && targets->is_array()) {
    for (const auto& t : *targets) {
      if (t.is_number_integer()) task.targets.push_back(t.get<int>());
    }
  }
  if (auto timeout = metadata.find("timeout"); timeout != metadata.end() && timeout->is_number()) {
    double seconds = timeout->get<double>();
    if (seconds > 0) {
      task.deadline = Scheduler::Clock::now() + std::chrono::duration_cast<Scheduler::Clock::duration>(
                                                    std::chrono::duration<double>(seconds));
    }
  }
  if (auto retries = metadata.find("retries"); retries != metadata.end() && retries->is_number_integer()) {
    task.retries = std::max(0, retries->get<int>());
  }
  return task;
}

LoadBalancer::LoadBalancer(Scheme scheme, int hwm, EngineTable& engines, TaskTable& tasks, SendToEngine send,
                           FailTask fail)
    : scheduler_(scheme, hwm), engines_(engines), tasks_(tasks), send_(std::move(send)), fail_(std::move(fail)) {
  // Every task has a record in tasks_ until purged: older outcomes are kept there.
  scheduler_.keep_older_outcomes_with(
      [this](const std::string& msg_id, Scheduler::Outcome outcome) {
        if (Task* task = tasks_.find(msg_id)) {
          task->outcome = outcome.success ? 1 : 0;
          task->outcome_engine = outcome.engine;
        }
      },
      [this](const std::string& msg_id) -> std::optional<Scheduler::Outcome> {
        const Task* task = tasks_.find(msg_id);
        if (task == nullptr || task->outcome < 0) return std::nullopt;
        return Scheduler::Outcome{task->outcome == 1, task->outcome_engine};
      });
}

void LoadBalancer::submit(Parts parts, const std::string& client, const std::string& msg_id,
                          const std::string& msg_type, const Json& metadata) {
  TaskRequest request = task_request_from(msg_id, metadata);
  // Targets named by engine uuid (as ipyparallel's client sends them) become ids; one
  // no engine has (-1) stands for a uuid no engine has, so that the task cannot run anywhere.
  if (auto targets = metadata.find("targets"); targets != metadata.end() && targets->is_array()) {
    for (const auto& t : *targets) {
      if (!t.is_string()) continue;
      const Engine* engine = engines_.by_uuid(t.get<std::string>());
      request.targets.push_back(engine != nullptr ? engine->id : -1);
    }
  }
  // the header as the client wrote it (frame 4, as TaskTable::add reads it)
  std::string header_text = parts.size() > 4 ? std::string(view(parts[4])) : std::string("{}");
  tasks_.add(msg_id, Task{client, -1, msg_type, std::move(header_text), false, {}, {}}, "task", parts, 4).balanced = true;
  held_.emplace(msg_id, std::move(parts));
  scheduler_.submit(std::move(request));
  carry_out();
}

void LoadBalancer::carry_out() {
  for (auto& decision : scheduler_.take_decisions()) {
    auto held = held_.find(decision.msg_id);
    Task* task = tasks_.find(decision.msg_id);
    if (held == held_.end() || task == nullptr) continue;
    if (decision.kind == Decision::Kind::kFail) {
      spdlog::info("task {} failed: {}", decision.msg_id, decision.ename);
      fail_(*task, decision.msg_id, decision.ename, decision.evalue);
      held_.erase(held);
      continue;
    }
    Engine* engine = engines_.find(decision.engine);
    if (engine == nullptr) continue;
    // A copy is sent: the frames stay here for a retry on another engine.
    Parts out = share(held->second);
    std::string route = engine->shell_route();
    out[0].rebuild(route.data(), route.size());
    out[1].rebuild(task->client_rid.str().data(), task->client_rid.str().size());
    if (!send_(out)) {
      // Its connection has just closed: the engine is about to be given up
      // (engine_gone), which retries or fails what it holds, this task too.
      spdlog::warn("task {}: engine {} unreachable", decision.msg_id, decision.engine);
    }
    task->engine = decision.engine;
    tasks_.assigned(decision.msg_id, *task);
    engine->queue.insert(decision.msg_id);
  }
}

bool LoadBalancer::on_reply(const std::string& msg_id, int engine, const std::string& status,
                            const std::string& ename) {
  if (!scheduler_.is_task(msg_id)) {
    scheduler_.finished(msg_id, engine, status == "ok");
    carry_out();
    return true;
  }
  if (ename == "UnmetDependency") {
    // This engine cannot run it (a `require` it lacks): try another, or give up.
    if (Engine* e = engines_.find(engine)) e->queue.erase(msg_id);
    scheduler_.unmet(msg_id, engine);
    carry_out();
    return false;
  }
  if (status == "error" && scheduler_.retry_after_failure(msg_id, engine, Scheduler::Clock::now())) {
    if (Engine* e = engines_.find(engine)) e->queue.erase(msg_id);
    carry_out();
    return false;
  }
  held_.erase(msg_id);
  scheduler_.finished(msg_id, engine, status == "ok");
  carry_out();
  return true;
}

void LoadBalancer::engine_ready(int id) {
  scheduler_.add_engine(id);
  carry_out();
}

std::unordered_set<std::string> LoadBalancer::engine_gone(int id) {
  std::unordered_set<std::string> handled;
  for (const auto& msg_id : scheduler_.remove_engine(id)) {
    if (scheduler_.retry(msg_id)) {
      spdlog::info("task {}: engine {} died; resubmitting", msg_id, id);
      handled.insert(msg_id);
    } else {
      held_.erase(msg_id);  // the controller answers EngineError
    }
  }
  carry_out();
  return handled;
}

std::vector<std::string> LoadBalancer::abort(const std::vector<std::string>& msg_ids) {
  std::vector<std::string> aborted;
  for (const auto& msg_id : msg_ids) {
    if (scheduler_.abort(msg_id)) {
      held_.erase(msg_id);
      aborted.push_back(msg_id);
    }
  }
  carry_out();
  return aborted;
}

void LoadBalancer::tick(Scheduler::Clock::time_point now) {
  scheduler_.expire(now);
  carry_out();
}

}  // namespace ensemble::parallel
