#include "task_store.hpp"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <chrono>

namespace ensemble::parallel {

namespace {

constexpr auto kBatchDelay = std::chrono::milliseconds(20);

const char* kSchema =
    "CREATE TABLE IF NOT EXISTS tasks ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT UNIQUE NOT NULL, client BLOB, engine INTEGER,"
    " msg_type TEXT, request_header TEXT, done INTEGER NOT NULL DEFAULT 0, reply BLOB)";

sqlite3* handle(void* db) { return static_cast<sqlite3*>(db); }

// A statement prepared once per batch; finalized on scope exit.
struct Statement {
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr); }
  ~Statement() { sqlite3_finalize(stmt); }
  sqlite3_stmt* stmt = nullptr;
};

void bind_text(sqlite3_stmt* stmt, int index, const std::string& text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

void bind_blob(sqlite3_stmt* stmt, int index, const std::string& bytes) {
  sqlite3_bind_blob(stmt, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
}

std::string column(sqlite3_stmt* stmt, int index) {
  const void* data = sqlite3_column_blob(stmt, index);
  int size = sqlite3_column_bytes(stmt, index);
  return data == nullptr ? std::string() : std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
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
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    spdlog::error("task store {}: {}; keeping results in memory only", path, db ? sqlite3_errmsg(db) : "no memory");
    sqlite3_close(db);
    return false;
  }
  sqlite3_busy_timeout(db, 2000);
  char* error = nullptr;
  for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", kSchema}) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      spdlog::error("task store {}: {}; keeping results in memory only", path, error ? error : "?");
      sqlite3_free(error);
      sqlite3_close(db);
      return false;
    }
  }
  {
    Statement read(db, "SELECT msg_id, client, engine, msg_type, request_header, done, reply FROM tasks ORDER BY seq");
    while (read.stmt != nullptr && sqlite3_step(read.stmt) == SQLITE_ROW) {
      Record record{column(read.stmt, 0),
                    column(read.stmt, 1),
                    sqlite3_column_int(read.stmt, 2),
                    column(read.stmt, 3),
                    column(read.stmt, 4),
                    sqlite3_column_int(read.stmt, 5) != 0,
                    column(read.stmt, 6)};
      restored(std::move(record));
    }
  }
  db_ = db;
  path_ = path;
  enabled_ = true;
  // The writer never takes SIGINT or SIGTERM: the controller's thread handles them.
  sigset_t blocked, previous;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGINT);
  sigaddset(&blocked, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &blocked, &previous);
  thread_ = std::jthread([this](std::stop_token stop) { writer(stop); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return true;
}

void TaskStore::push(Op op) {
  if (!enabled_ || degraded_.load()) return;
  {
    std::lock_guard lock(mutex_);
    ops_.push_back(std::move(op));
  }
  wake_.notify_one();
}

void TaskStore::submitted(const std::string& msg_id, const std::string& client, int engine,
                          const std::string& msg_type, const std::string& request_header) {
  push({Op::Kind::kSubmitted, Record{msg_id, client, engine, msg_type, request_header, false, {}}});
}

void TaskStore::assigned(const std::string& msg_id, int engine) {
  push({Op::Kind::kAssigned, Record{msg_id, {}, engine, {}, {}, false, {}}});
}

void TaskStore::finished(const std::string& msg_id, int engine, std::string reply) {
  push({Op::Kind::kFinished, Record{msg_id, {}, engine, {}, {}, true, std::move(reply)}});
}

void TaskStore::purged(const std::vector<std::string>& msg_ids) {
  for (const auto& id : msg_ids) push({Op::Kind::kPurged, Record{id, {}, -1, {}, {}, false, {}}});
}

// Batches whatever arrived within kBatchDelay into one transaction.
void TaskStore::writer(std::stop_token stop) {
  sqlite3* db = handle(db_);
  while (true) {
    std::deque<Op> batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, stop, [this] { return !ops_.empty(); });
      if (ops_.empty() && stop.stop_requested()) return;
      lock.unlock();
      if (!stop.stop_requested()) std::this_thread::sleep_for(kBatchDelay);
      lock.lock();
      batch.swap(ops_);
    }
    Statement insert(db, "INSERT OR REPLACE INTO tasks (msg_id, client, engine, msg_type, request_header, done) "
                         "VALUES (?, ?, ?, ?, ?, 0)");
    Statement assign(db, "UPDATE tasks SET engine = ? WHERE msg_id = ?");
    Statement finish(db, "UPDATE tasks SET engine = ?, done = 1, reply = ?, request_header = '' WHERE msg_id = ?");
    Statement purge(db, "DELETE FROM tasks WHERE msg_id = ?");
    int rc = sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    for (const Op& op : batch) {
      if (rc != SQLITE_OK && rc != SQLITE_DONE) break;
      const Record& r = op.record;
      sqlite3_stmt* stmt = nullptr;
      switch (op.kind) {
        case Op::Kind::kSubmitted:
          stmt = insert.stmt;
          bind_text(stmt, 1, r.msg_id);
          bind_blob(stmt, 2, r.client);
          sqlite3_bind_int(stmt, 3, r.engine);
          bind_text(stmt, 4, r.msg_type);
          bind_text(stmt, 5, r.request_header);
          break;
        case Op::Kind::kAssigned:
          stmt = assign.stmt;
          sqlite3_bind_int(stmt, 1, r.engine);
          bind_text(stmt, 2, r.msg_id);
          break;
        case Op::Kind::kFinished:
          stmt = finish.stmt;
          sqlite3_bind_int(stmt, 1, r.engine);
          bind_blob(stmt, 2, r.reply);
          bind_text(stmt, 3, r.msg_id);
          break;
        case Op::Kind::kPurged:
          stmt = purge.stmt;
          bind_text(stmt, 1, r.msg_id);
          break;
      }
      rc = stmt == nullptr ? SQLITE_ERROR : sqlite3_step(stmt);
      if (stmt != nullptr) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
      }
    }
    if (rc == SQLITE_OK || rc == SQLITE_DONE) rc = sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
      spdlog::error("task store {}: {} (a full disk?); results stay in memory only from now on", path_,
                    sqlite3_errmsg(db));
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      degraded_ = true;
      std::lock_guard lock(mutex_);
      ops_.clear();
      return;
    }
    if (stop.stop_requested()) {
      std::lock_guard lock(mutex_);
      if (ops_.empty()) return;
    }
  }
}

}  // namespace ensemble::parallel
