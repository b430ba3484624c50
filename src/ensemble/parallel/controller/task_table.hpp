// A record per request routed to an engine, so that any client can fetch a
// result by msg_id until it is purged. Owned by the controller's one thread.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ensemble/parallel/cluster_files.hpp"
#include "task_fields.hpp"
#include "task_store.hpp"

namespace ensemble::parallel {

struct Task {
  ClientId client_rid;
  int engine = -1;
  InternedText msg_type;
  HeldText request_header;  // JSON text, while pending: the parent of a reply made up for a dead engine
  bool done = false;
  StoredReply reply;        // from "<IDS|MSG>" on, as the engine signed it
  Watchers watchers;        // other clients waiting for the reply
  bool reply_in_store = false;  // `reply` was let go: the store's copy is the one
  // Sent to its engine directly (mirrored_requests.cpp): the reply reached the
  // client past the controller, so a client asking for it, even the one that
  // sent it, is a watcher.
  bool direct = false;
  bool balanced = false;  // came through the load balancer: queue_status counts it under "tasks"
  // The scheduler's outcome, once it handed it over (Scheduler::KeepOutcome):
  // 1 success, 0 failure, -1 still with the scheduler or unknown.
  std::int8_t outcome = -1;
  int outcome_engine = -1;
  // TaskTable's history, a list through the records (submission order): the
  // neighbours' map entries, whose addresses never change.
  std::pair<const std::string, Task>* earlier = nullptr;
  std::pair<const std::string, Task>* later = nullptr;
};


// Replies of finished tasks kept in memory besides the store's copy, newest
// first: recent results are the ones fetched again. The rest is read back from
// the store when asked for, so the controller's memory does not grow with the
// number of tasks, nor with a large result, once the store has written it.
inline constexpr std::size_t kRepliesInMemory = std::size_t{2} << 20;

class TaskTable {
 public:
  TaskTable() = default;
  TaskTable(const TaskTable&) = delete;  // the history list points into tasks_
  TaskTable& operator=(const TaskTable&) = delete;
  // Every change below is also written to `store`, if it is enabled. Not owned.
  void persist_to(TaskStore* store) { store_ = store; }
  // `request` is the request's frames; those from index `from` (its header)
  // on are kept by the store, shared rather than copied. `queue` is "mux"
  // (direct) or "task" (load-balanced), as db_query reports it. `left_out`:
  // bytes of buffers the request had that `request` no longer holds.
  Task& add(const std::string& msg_id, Task task, const char* queue, Parts& request, std::size_t from,
            std::uint64_t left_out = 0);
  // Call once a task has its engine (load-balanced) or its reply.
  void assigned(const std::string& msg_id, const Task& task);
  // Keeps the reply in memory until the store has written it and more than
  // kRepliesInMemory bytes of newer replies are kept; then lets it go.
  void finished(const std::string& msg_id, Task& task);
  // Lets go of replies the store has written since (the controller's tick).
  std::size_t let_go_of_written_replies();  // the bytes let go of
  // A record read back from the store (no write).
  void restore(const std::string& msg_id, Task task);
  Task* find(const std::string& msg_id);
  // Forgets finished tasks: all of them, or those listed, or those of the
  // given engines. Pending tasks stay. Returns how many went.
  std::size_t purge_all();
  std::size_t purge(const std::vector<std::string>& msg_ids);
  // The msg_ids still recorded, in submission order. O(history).
  std::vector<std::string> history() const;
  std::size_t size() const { return tasks_.size(); }
  // Tasks finished on `engine` and not purged: how many (O(1)), and which,
  // in submission order (O(history): for queue_status(verbose) and purges).
  std::size_t finished_on(int engine) const;
  std::vector<std::string> finished_ids_on(int engine) const;

 private:
  using Entry = std::pair<const std::string, Task>;
  TaskStore* store_ = nullptr;
  // Finished replies still in memory that the store will have, oldest first.
  struct InMemory {
    std::string msg_id;
    std::uint64_t sequence;  // the store's write of it
    std::size_t bytes;
  };
  std::deque<InMemory> in_memory_;
  std::size_t in_memory_bytes_ = 0;
  std::unordered_map<std::string, Task> tasks_;
  std::unordered_map<int, std::size_t> finished_per_engine_;
  void count_finished(const Task& task, int delta);
  // History: the records in submission order, linked through Task::earlier/later.
  Entry* first_ = nullptr;
  Entry* last_ = nullptr;
  void link_before(Entry& entry, Entry* next);  // next == nullptr: at the end
  void unlink(Entry& entry);
  Task& replace(Task& kept, Task task);
  void erase(std::unordered_map<std::string, Task>::iterator it);  // unlinks, uncounts, erases
  // The request dates of the last entries of history (aligned with its end),
  // so that a request that arrives late (a direct one's copy, from its engine)
  // still takes its place in submission order, as ipyparallel's hub_history
  // promises; later ones arrive within a few milliseconds.
  static constexpr std::size_t kOrderedWindow = 64;
  std::deque<std::string> recent_dates_;
  void place_in_history(Entry& entry, std::string date);
};

}  // namespace ensemble::parallel
