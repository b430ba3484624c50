// The durable side of the task records: every request and its reply in a
// SQLite file (WAL), written by a thread of its own in batches so that the
// controller's loop never waits on the disk. A controller started on the same
// file reads the finished records back.
//
// Threads: the controller's thread calls everything; a writer thread writes
// through the SQLite connection after open(). Reads (rows(), for db_query and
// resubmit) run on the controller's thread after sync(), when the writer is
// idle; the connection is opened fully serialized besides. A write that fails
// (a full disk) is logged, the store turns `degraded`, and the controller goes
// on from memory.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../multipart.hpp"

namespace ensemble::parallel {

class TaskStore {
 public:
  struct Record {
    std::string msg_id;
    std::string client;
    int engine = -1;
    std::string msg_type;
    std::string request_header;
    bool done = false;  // its reply is in the store (read_reply, rows)
  };

  // One task as db_query and resubmit read it. The blobs are pack_frames():
  // the request from its header on, the reply from "<IDS|MSG>" on.
  struct Row {
    std::string msg_id;
    std::string client;
    int engine = -1;
    std::string msg_type;
    std::string queue;  // "mux" (direct) or "task" (load-balanced)
    bool done = false;
    std::string received;     // ISO 8601, when the reply reached the controller
    std::string resubmitted;  // the msg_id it was resubmitted as
    std::string request;      // empty unless asked for
    std::string reply;        // empty unless asked for
    std::uint64_t buffers_left_out = 0;  // bytes of request buffers the store did not keep
    std::string stdout_text, stderr_text, execute_input;
    std::string execute_result, error;  // iopub contents, JSON text
  };
  enum class Output { kStdout, kStderr, kExecuteInput, kExecuteResult, kError };

  TaskStore() = default;
  ~TaskStore();
  TaskStore(const TaskStore&) = delete;
  TaskStore& operator=(const TaskStore&) = delete;

  // Opens (creating) the file and calls `restored` for each record, oldest
  // first, before the writer starts. False, logged, if it cannot be opened.
  bool open(const std::string& path, const std::function<void(Record&&)>& restored);

  // `request` holds the request's frames from its header on, shared (not
  // copied) with the frames that go to the engine; the writer packs them, and
  // writes the first (the header) as the record's request_header too.
  // `buffers_left_out`: the bytes of buffers not among them (0: all there).
  void submitted(const std::string& msg_id, const std::string& client, int engine, const std::string& msg_type,
                 const char* queue, Parts request, std::uint64_t buffers_left_out = 0);
  void assigned(const std::string& msg_id, int engine);
  // `reply`: its frames from "<IDS|MSG>" on, shared; the writer packs them.
  // Returns the write's sequence number (0: not written): it is on disk once
  // written() reaches it.
  std::uint64_t finished(const std::string& msg_id, int engine, Parts reply);
  void output(const std::string& msg_id, Output kind, std::string text);
  void resubmitted(const std::string& msg_id, const std::string& as);
  void purged(const std::vector<std::string>& msg_ids);

  // Waits until everything pushed so far is written. False if the store is
  // off or degraded: reads would then miss records.
  bool sync();
  // Every record (or those named), oldest first; blobs only when asked for.
  // Call after sync(). Logs and returns what it read if SQLite fails.
  std::vector<Row> rows(const std::vector<std::string>* only, bool with_request, bool with_reply);

  bool enabled() const { return enabled_; }
  // A file, not ":memory:": what it has written need not stay in memory too.
  bool durable() const { return enabled_ && path_ != ":memory:"; }
  // How many operations are committed (in push order). Any thread.
  std::uint64_t written() const { return committed_.load(); }
  bool degraded() const { return degraded_.load(); }
  const std::string& path() const { return path_; }

 private:
  struct Op {
    enum class Kind { kSubmitted, kAssigned, kFinished, kOutput, kResubmitted, kPurged } kind;
    Record record;
    Parts frames;  // kSubmitted: the request's; kFinished: the reply's
    std::string extra;  // the queue, the time received, the output's text, the new msg_id
    std::uint64_t left_out = 0;  // kSubmitted: bytes of buffers not in `frames`
    Output column = Output::kStdout;  // kOutput
  };
  std::uint64_t push(Op op);
  void writer(std::stop_token stop);
  // WAL pages not yet checkpointed (the writer's, set by SQLite's WAL hook at each commit).
  int wal_pages_ = 0;
  // The database's page size (set by open: a store made before 2026-11-27 has 4 KiB pages).
  int page_bytes_ = 4096;
  std::int64_t wal_bytes() const { return std::int64_t{wal_pages_} * page_bytes_; }
  // Checkpoints (copies the WAL into the database) when worth it: see kCheckpoint* in the .cpp.
  void checkpoint(void* db);
  struct Writes;  // the writer's prepared statements (task_store.cpp)
  bool write_batch(Writes& writes, const std::deque<Op>& batch);
  // How a batch's ops fold into the INSERTs of the tasks it submits (see write_batch).
  struct Fold {
    int engine = 0;                            // kSubmitted: the engine its INSERT writes
    std::optional<std::size_t> finished_by;    // kSubmitted: the kFinished its INSERT writes too
    bool skip = false;                         // an op written by an earlier INSERT
  };
  static std::vector<Fold> fold_into_inserts(const std::deque<Op>& batch);

  std::string path_;
  bool enabled_ = false;
  std::atomic<bool> degraded_{false};
  void* db_ = nullptr;  // sqlite3*, the writer thread's after open()
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::deque<Op> ops_;  // GUARDED_BY(mutex_)
  std::condition_variable_any written_cv_;
  std::uint64_t pushed_ = 0;   // GUARDED_BY(mutex_)
  std::uint64_t written_ = 0;  // GUARDED_BY(mutex_)
  std::atomic<std::uint64_t> committed_{0};  // written_, readable without the lock
  bool urgent_ = false;        // GUARDED_BY(mutex_): a sync() waits, skip the batching delay
  std::jthread thread_;
};

}  // namespace ensemble::parallel
