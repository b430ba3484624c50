// The durable side of the task records: every request and its reply in a
// SQLite file (WAL), written by a thread of its own in batches so that the
// controller's loop never waits on the disk. A controller started on the same
// file reads the finished records back.
//
// Threads: the controller's thread calls everything; a writer thread owns the
// SQLite connection after open(). A write that fails (a full disk) is logged,
// the store turns `degraded`, and the controller goes on from memory.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ensemble::parallel {

class TaskStore {
 public:
  struct Record {
    std::string msg_id;
    std::string client;
    int engine = -1;
    std::string msg_type;
    std::string request_header;
    bool done = false;
    std::string reply;  // StoredReply::serialize()
  };

  TaskStore() = default;
  ~TaskStore();
  TaskStore(const TaskStore&) = delete;
  TaskStore& operator=(const TaskStore&) = delete;

  // Opens (creating) the file and calls `restored` for each record, oldest
  // first, before the writer starts. False, logged, if it cannot be opened.
  bool open(const std::string& path, const std::function<void(Record&&)>& restored);

  void submitted(const std::string& msg_id, const std::string& client, int engine, const std::string& msg_type,
                 const std::string& request_header);
  void assigned(const std::string& msg_id, int engine);
  void finished(const std::string& msg_id, int engine, std::string reply);
  void purged(const std::vector<std::string>& msg_ids);

  bool enabled() const { return enabled_; }
  bool degraded() const { return degraded_.load(); }
  const std::string& path() const { return path_; }

 private:
  struct Op {
    enum class Kind { kSubmitted, kAssigned, kFinished, kPurged } kind;
    Record record;
  };
  void push(Op op);
  void writer(std::stop_token stop);

  std::string path_;
  bool enabled_ = false;
  std::atomic<bool> degraded_{false};
  void* db_ = nullptr;  // sqlite3*, the writer thread's after open()
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::deque<Op> ops_;  // GUARDED_BY(mutex_)
  std::jthread thread_;
};

}  // namespace ensemble::parallel
