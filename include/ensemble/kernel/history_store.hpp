// Input (and optionally output) history in SQLite, shared across sessions
// and restarts, with IPython's tail/range/search semantics.
//
// Writes go to a background writer thread in batches, off the execute path.
// A database that cannot be opened or written (bad path, full disk) degrades
// the store to this session's in-memory history; warning() says why. No
// method throws for storage errors.
//
// Thread safety: all public methods may be called from any thread.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

struct sqlite3;

namespace ensemble::kernel {

struct HistoryEntry {
  int session = 0;
  int line = 0;
  std::string input;
  std::optional<std::string> output;
};

struct HistoryQuery {
  enum class Kind { kTail, kRange, kSearch };
  Kind kind = Kind::kTail;
  bool output = false;
  int n = 10;                 // tail and search: the last n entries (0 or less: all, for search)
  int session = 0;            // range: absolute, or 0/negative relative to this session
  int start = 0;              // range: first line (inclusive)
  std::optional<int> stop;    // range: last line (exclusive); none means to the end
  std::string pattern = "*";  // search: glob, as IPython's history search
  bool unique = false;        // search: drop repeated inputs, keeping the latest
};

class HistoryStore {
 public:
  // Opens or creates the database at `path` ("" or ":memory:" keep history
  // in memory) and starts a new session.
  explicit HistoryStore(const std::string& path);
  ~HistoryStore();
  HistoryStore(const HistoryStore&) = delete;
  HistoryStore& operator=(const HistoryStore&) = delete;

  int session() const { return session_; }
  void append(int line, std::string input);
  void set_output(int line, std::string output);
  std::vector<HistoryEntry> query(const HistoryQuery& query);
  // Blocks until every appended entry is written (or given up on).
  void sync();
  std::optional<std::string> warning() const;

 private:
  void writer_loop(std::stop_token stop);
  void write_pending_locked();
  void degrade_locked(const std::string& why);
  std::vector<HistoryEntry> query_memory_locked(const HistoryQuery& query) const;
  std::vector<HistoryEntry> query_sql_locked(const HistoryQuery& query);

  mutable std::mutex mutex_;
  std::condition_variable_any wake_;
  sqlite3* db_ = nullptr;  // GUARDED_BY(mutex_); null when degraded
  int session_ = 1;
  struct PendingWrite {
    HistoryEntry entry;
    bool has_input = true;  // false: only the output of a line already written
  };
  std::vector<PendingWrite> pending_;   // GUARDED_BY(mutex_): not yet written
  std::vector<HistoryEntry> memory_;    // GUARDED_BY(mutex_): this session, always kept
  std::optional<std::string> warning_;  // GUARDED_BY(mutex_)
  std::jthread writer_;
};

}  // namespace ensemble::kernel
