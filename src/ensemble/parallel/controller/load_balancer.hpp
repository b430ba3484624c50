// The controller's load-balanced half: takes tasks sent with the routing frame
// "t", holds their frames until the Scheduler picks an engine (and after, for
// retries), and carries out its decisions. Owned by the controller's one
// thread; not thread-safe.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>

#include "../multipart.hpp"
#include "engine_table.hpp"
#include "ensemble/wire/message.hpp"
#include "scheduler.hpp"
#include "task_table.hpp"

namespace ensemble::parallel {

class LoadBalancer {
 public:
  // Sends frames [route, client, <IDS|MSG>, ...] to an engine's shell; false if it cannot.
  using SendToEngine = std::function<bool(Parts& parts)>;
  // Answers a task the scheduler gave up on: the request's reply type, status error.
  using FailTask = std::function<void(const Task& task, const std::string& msg_id, const std::string& ename,
                                      const std::string& evalue)>;

  LoadBalancer(Scheme scheme, int hwm, EngineTable& engines, TaskTable& tasks, SendToEngine send, FailTask fail);
  LoadBalancer(const LoadBalancer&) = delete;  // its scheduler's outcome callbacks hold `this`
  LoadBalancer& operator=(const LoadBalancer&) = delete;

  // `parts` is the client's request, [client, "t", <IDS|MSG>, signature, header, ...],
  // already verified; `msg_id` and `msg_type` are its header's, and `metadata` its
  // metadata frame, parsed.
  void submit(Parts parts, const std::string& client, const std::string& msg_id, const std::string& msg_type,
              const wire::Json& metadata);
  // A direct request went to an engine (tasks may depend on it).
  void note_direct(const std::string& msg_id) { scheduler_.note_pending(msg_id); }
  // An engine answered `msg_id` (task or direct). Returns false when the reply
  // must not reach the client (the task moves to another engine instead).
  bool on_reply(const std::string& msg_id, int engine, const std::string& status, const std::string& ename);
  void engine_ready(int id);
  // Before the controller fails what a dead engine owed: requeues tasks that
  // have retries left. Returns the msg_ids it took care of.
  std::unordered_set<std::string> engine_gone(int id);
  // Unassigned tasks are answered "aborted"; returns the msg_ids it aborted.
  std::vector<std::string> abort(const std::vector<std::string>& msg_ids);
  void tick(Scheduler::Clock::time_point now);
  std::optional<Scheduler::Clock::time_point> next_deadline() const { return scheduler_.next_deadline(); }
  std::size_t unassigned() const { return scheduler_.unassigned(); }
  std::vector<std::string> unassigned_ids() const { return scheduler_.unassigned_ids(); }
  void forget(const std::string& msg_id) { scheduler_.forget(msg_id); }

 private:
  void carry_out();
  Scheduler scheduler_;
  EngineTable& engines_;
  TaskTable& tasks_;
  SendToEngine send_;
  FailTask fail_;
  std::unordered_map<std::string, Parts> held_;  // task frames, until the task has finished
};

// The scheduling flags of a task request's metadata (ipyparallel's names).
TaskRequest task_request_from(const std::string& msg_id, const wire::Json& metadata);

}  // namespace ensemble::parallel
