#include "task_store.hpp"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>

#include "ensemble/wire/ids.hpp"
#include "ensemble/wire/thread_name.hpp"
#include "task_store_sql.hpp"

namespace ensemble::parallel {

using store_sql::column;
using store_sql::handle;
using store_sql::Statement;

namespace {

// After a checkpoint (task_store_writer.cpp), SQLite truncates the WAL to this many bytes.
constexpr const char* kWalKept = "PRAGMA journal_size_limit=16777216";
// A new store's pages are 16 KiB, not SQLite's 4: the WAL takes a write per page (two
// syscalls), and a task's row is about 1.5 KB, so the writer thread spent 40 % of its time
// in the kernel. `seq` orders the rows (restore, hub_history); without AUTOINCREMENT, which
// updated sqlite_sequence with every row, a purged newest row's number may be reused, which
// still sorts after every row that is left. Both cut a row's cost by a third (6.6 -> 4.4 µs
// in a loop of batched inserts). A store made before keeps its own (it is not rebuilt).
constexpr const char* kNewStorePageSize = "PRAGMA page_size=16384";
const char* kFirstColumns =
    "seq INTEGER PRIMARY KEY, msg_id TEXT UNIQUE NOT NULL, client BLOB, engine INTEGER,"
    " msg_type TEXT, request_header TEXT, done INTEGER NOT NULL DEFAULT 0, reply BLOB";
// Added after the first release of the schema; a store from then gains them.
const char* kLaterColumns[][2] = {{"request", "BLOB"},       {"queue", "TEXT"},
                                  {"received", "TEXT"},      {"resubmitted", "TEXT"},
                                  {"stdout", "TEXT"},        {"stderr", "TEXT"},
                                  {"execute_input", "TEXT"}, {"execute_result", "TEXT"},
                                  {"error", "TEXT"},         {"buffers_left_out", "INTEGER"}};

// A new store is made with every column at once: an ALTER per later column wrote the
// schema page again each time, ten 16 KiB WAL frames (on a small disk, more than it had).
std::string schema() {
  std::string sql = std::string("CREATE TABLE IF NOT EXISTS tasks (") + kFirstColumns;
  for (const auto& [name, type] : kLaterColumns) sql += std::string(", ") + name + " " + type;
  return sql + ")";
}

bool add_later_columns(sqlite3* db) {
  std::vector<std::string> present;
  {
    Statement info(db, "PRAGMA table_info(tasks)");
    while (info.stmt != nullptr && sqlite3_step(info.stmt) == SQLITE_ROW) present.push_back(column(info.stmt, 1));
  }
  for (const auto& [name, type] : kLaterColumns) {
    if (std::find(present.begin(), present.end(), name) != present.end()) continue;
    std::string sql = std::string("ALTER TABLE tasks ADD COLUMN ") + name + " " + type;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) return false;
  }
  return true;
}

}  // namespace

TaskStore::~TaskStore() {
  if (thread_.joinable()) {
    thread_.request_stop();
    wake_.notify_all();
    thread_.join();
  }
  if (db_ != nullptr) sqlite3_close(handle(db_));
}

bool TaskStore::open(const std::string& path, const std::function<void(Record&&)>& restored) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    spdlog::error("task store {}: {}; keeping results in memory only", path, db ? sqlite3_errmsg(db) : "no memory");
    sqlite3_close(db);
    return false;
  }
  sqlite3_busy_timeout(db, 2000);
  char* error = nullptr;
  // page_size first: it takes effect only on a database with no page written yet
  const std::string create = schema();
  for (const char* sql :
       {kNewStorePageSize, "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", kWalKept, create.c_str()}) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      spdlog::error("task store {}: {}; keeping results in memory only", path, error ? error : "?");
      sqlite3_free(error);
      sqlite3_close(db);
      return false;
    }
  }
  if (!add_later_columns(db)) {
    spdlog::error("task store {}: cannot add columns: {}; keeping results in memory only", path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return false;
  }
  {
    // Not the replies: a store of large results would be read whole at every
    // start. They are read when a client asks (and a damaged one is reported then).
    Statement read(db, "SELECT msg_id, client, engine, msg_type, request_header, done FROM tasks ORDER BY seq");
    while (read.stmt != nullptr && sqlite3_step(read.stmt) == SQLITE_ROW) {
      Record record{column(read.stmt, 0), column(read.stmt, 1), sqlite3_column_int(read.stmt, 2),
                    column(read.stmt, 3), column(read.stmt, 4), sqlite3_column_int(read.stmt, 5) != 0};
      restored(std::move(record));
    }
  }
  {
    Statement size(db, "PRAGMA page_size");
    if (size.stmt != nullptr && sqlite3_step(size.stmt) == SQLITE_ROW) page_bytes_ = sqlite3_column_int(size.stmt, 0);
  }
  db_ = db;
  path_ = path;
  enabled_ = true;
  // Our hook replaces SQLite's own auto-checkpoint (which is a WAL hook too).
  sqlite3_wal_hook(
      db,
      [](void* store, sqlite3*, const char*, int pages) {
        static_cast<TaskStore*>(store)->wal_pages_ = pages;
        return SQLITE_OK;
      },
      this);
  // The writer never takes SIGINT or SIGTERM: the controller's thread handles them.
  sigset_t blocked, previous;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGINT);
  sigaddset(&blocked, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &blocked, &previous);
  thread_ = std::jthread([this](std::stop_token stop) {
    wire::name_this_thread("task-store");
    writer(stop);
  });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return true;
}

std::uint64_t TaskStore::push(Op op) {
  if (!enabled_ || degraded_.load()) return 0;
  bool was_empty;
  std::uint64_t sequence;
  {
    std::lock_guard lock(mutex_);
    was_empty = ops_.empty();
    ops_.push_back(std::move(op));
    sequence = ++pushed_;
  }
  // Only the first op of a batch wakes the writer: it then sleeps out the
  // batching delay, and a wake per op (several per task) would cost a context
  // switch each for nothing.
  if (was_empty) wake_.notify_one();
  return sequence;
}

void TaskStore::submitted(const std::string& msg_id, const std::string& client, int engine, const std::string& msg_type,
                          const char* queue, Parts request, std::uint64_t buffers_left_out) {
  // The header is not copied here: it is the first of the shared frames.
  push({Op::Kind::kSubmitted, Record{msg_id, client, engine, msg_type, {}, false}, std::move(request), queue,
        buffers_left_out});
}

void TaskStore::assigned(const std::string& msg_id, int engine) {
  push({Op::Kind::kAssigned, Record{msg_id, {}, engine, {}, {}, false}, {}, {}});
}

std::uint64_t TaskStore::finished(const std::string& msg_id, int engine, Parts reply) {
  return push({Op::Kind::kFinished, Record{msg_id, {}, engine, {}, {}, true}, std::move(reply), wire::now_iso8601()});
}

void TaskStore::output(const std::string& msg_id, Output kind, std::string text) {
  push({Op::Kind::kOutput, Record{msg_id, {}, -1, {}, {}, false}, {}, std::move(text), 0, kind});
}

void TaskStore::resubmitted(const std::string& msg_id, const std::string& as) {
  push({Op::Kind::kResubmitted, Record{msg_id, {}, -1, {}, {}, false}, {}, as});
}

void TaskStore::purged(const std::vector<std::string>& msg_ids) {
  for (const auto& id : msg_ids) push({Op::Kind::kPurged, Record{id, {}, -1, {}, {}, false}, {}, {}});
}

bool TaskStore::sync() {
  if (!enabled_ || degraded_.load()) return false;
  std::unique_lock lock(mutex_);
  std::uint64_t target = pushed_;
  if (written_ < target) {
    urgent_ = true;
    wake_.notify_one();
  }
  bool caught_up =
      written_cv_.wait_for(lock, std::chrono::seconds(30), [&] { return written_ >= target || degraded_.load(); });
  if (!caught_up) spdlog::warn("task store {}: the writer is more than 30 s behind", path_);
  return caught_up && !degraded_.load();
}

}  // namespace ensemble::parallel
