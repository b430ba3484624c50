#include "task_store.hpp"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <unordered_map>

#include "ensemble/wire/ids.hpp"
#include "frame_blob.hpp"
#include "task_store_sql.hpp"

namespace ensemble::parallel {

using store_sql::column;
using store_sql::handle;
using store_sql::Statement;

namespace {

constexpr auto kBatchDelay = std::chrono::milliseconds(20);
// SQLite checkpoints the WAL inside the commit that takes it past 1000 pages:
// a fifth of the writer's work in a burst of tasks, on the hot thread's heels.
// The writer checkpoints instead once the store has been idle this long, or
// at once past kCheckpointAnyway pages (64 MiB of WAL at most); and SQLite
// truncates the WAL to kWalKept bytes after a checkpoint.
constexpr auto kCheckpointWhenIdle = std::chrono::milliseconds(100);
constexpr int kCheckpointWorthIt = 1000;
constexpr int kCheckpointAnyway = 16384;
constexpr const char* kWalKept = "PRAGMA journal_size_limit=16777216";
// SQLite refuses values past SQLITE_MAX_LENGTH (1e9 by default). A message
// that big is sent on, but its copy in the store is left out, and said so.
constexpr std::size_t kLargestBlob = 900u << 20;

const char* kSchema =
    "CREATE TABLE IF NOT EXISTS tasks ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT UNIQUE NOT NULL, client BLOB, engine INTEGER,"
    " msg_type TEXT, request_header TEXT, done INTEGER NOT NULL DEFAULT 0, reply BLOB)";
// Added after the first release of the schema; a store from then gains them.
const char* kLaterColumns[][2] = {
    {"request", "BLOB"},     {"queue", "TEXT"},          {"received", "TEXT"},
    {"resubmitted", "TEXT"}, {"stdout", "TEXT"},         {"stderr", "TEXT"},
    {"execute_input", "TEXT"}, {"execute_result", "TEXT"}, {"error", "TEXT"},
    {"buffers_left_out", "INTEGER"}};
// TaskStore::Output -> its column.
const char* kOutputColumns[] = {"stdout", "stderr", "execute_input", "execute_result", "error"};

// Bound without a copy (SQLITE_STATIC): every caller's bytes outlive the
// statement's step (an op of the batch, or a blob packed for this one row).
void bind_text(sqlite3_stmt* stmt, int index, std::string_view text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

void bind_blob(sqlite3_stmt* stmt, int index, const std::string& bytes, const std::string& msg_id) {
  if (bytes.size() > kLargestBlob) {
    spdlog::warn("task store: {} is {} MiB, past what SQLite keeps; its copy in the store is left out", msg_id,
                 bytes.size() >> 20);
    sqlite3_bind_null(stmt, index);
    return;
  }
  sqlite3_bind_blob(stmt, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
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
  for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", kWalKept, kSchema}) {
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
      Record record{column(read.stmt, 0),
                    column(read.stmt, 1),
                    sqlite3_column_int(read.stmt, 2),
                    column(read.stmt, 3),
                    column(read.stmt, 4),
                    sqlite3_column_int(read.stmt, 5) != 0};
      restored(std::move(record));
    }
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
  thread_ = std::jthread([this](std::stop_token stop) { writer(stop); });
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

void TaskStore::submitted(const std::string& msg_id, const std::string& client, int engine,
                          const std::string& msg_type, const char* queue, Parts request,
                          std::uint64_t buffers_left_out) {
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
  bool caught_up = written_cv_.wait_for(lock, std::chrono::seconds(30),
                                        [&] { return written_ >= target || degraded_.load(); });
  if (!caught_up) spdlog::warn("task store {}: the writer is more than 30 s behind", path_);
  return caught_up && !degraded_.load();
}

// Batches whatever arrived within kBatchDelay (less if a sync() waits) into
// one transaction.
void TaskStore::writer(std::stop_token stop) {
  sqlite3* db = handle(db_);
  while (true) {
    std::deque<Op> batch;
    {
      std::unique_lock lock(mutex_);
      if (wal_pages_ >= kCheckpointWorthIt &&
          !wake_.wait_for(lock, stop, kCheckpointWhenIdle, [this] { return !ops_.empty(); })) {
        if (stop.stop_requested()) return;  // closing the database checkpoints
        lock.unlock();
        checkpoint(db);
        continue;
      }
      wake_.wait(lock, stop, [this] { return !ops_.empty(); });
      if (ops_.empty() && stop.stop_requested()) return;
      if (!stop.stop_requested()) wake_.wait_for(lock, stop, kBatchDelay, [this] { return urgent_; });
      urgent_ = false;
      batch.swap(ops_);
    }
    if (!write_batch(db, batch)) {
      spdlog::error("task store {}: {} (a full disk?); results stay in memory only from now on", path_,
                    sqlite3_errmsg(db));
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      degraded_ = true;
      std::lock_guard lock(mutex_);
      ops_.clear();
      written_cv_.notify_all();
      return;
    }
    if (wal_pages_ >= kCheckpointAnyway) checkpoint(db);
    {
      std::lock_guard lock(mutex_);
      written_ += batch.size();
      committed_ = written_;
      written_cv_.notify_all();
      if (stop.stop_requested() && ops_.empty()) return;
    }
  }
}

void TaskStore::checkpoint(void* connection) {
  int logged = 0, copied = 0;
  int rc = sqlite3_wal_checkpoint_v2(handle(connection), nullptr, SQLITE_CHECKPOINT_PASSIVE, &logged, &copied);
  if (rc != SQLITE_OK) {
    // Not fatal: the WAL keeps every write, and the next idle moment tries again.
    spdlog::warn("task store {}: checkpoint failed: {}", path_, sqlite3_errmsg(handle(connection)));
  }
  wal_pages_ = rc == SQLITE_OK ? logged - copied : 0;  // after a failure, again once more is written
}

// A load-balanced task is usually assigned an engine, and a short one answered
// too, in the batch that submits it. Its INSERT then carries that engine and
// that reply, and the UPDATEs are skipped: one statement per task instead of
// three, and each row's pages written once. An assignment after the task's
// reply, or anything after a purge or a second submission of the same msg_id,
// is not folded, so the effects come out as writing each op in turn would
// leave them (the outputs update columns that the reply does not touch).
std::vector<TaskStore::Fold> TaskStore::fold_into_inserts(const std::deque<Op>& batch) {
  std::vector<Fold> folds(batch.size());
  std::unordered_map<std::string_view, std::size_t> inserted_at;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const Op& op = batch[i];
    std::string_view msg_id = op.record.msg_id;
    auto insert = inserted_at.find(msg_id);
    switch (op.kind) {
      case Op::Kind::kSubmitted:
        folds[i].engine = op.record.engine;
        inserted_at[msg_id] = i;
        break;
      case Op::Kind::kAssigned:
        if (insert == inserted_at.end()) break;
        folds[insert->second].engine = op.record.engine;
        folds[i].skip = true;
        break;
      case Op::Kind::kFinished:
        if (insert == inserted_at.end()) break;
        folds[insert->second].engine = op.record.engine;
        folds[insert->second].finished_by = i;
        folds[i].skip = true;
        inserted_at.erase(insert);
        break;
      case Op::Kind::kPurged:
        if (insert != inserted_at.end()) inserted_at.erase(insert);
        break;
      case Op::Kind::kOutput:
      case Op::Kind::kResubmitted:
        break;
    }
  }
  return folds;
}

bool TaskStore::write_batch(void* connection, const std::deque<Op>& batch) {
  sqlite3* db = handle(connection);
  Statement insert(db, "INSERT OR REPLACE INTO tasks (msg_id, client, engine, msg_type, request_header, done, "
                       "queue, request, buffers_left_out) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)");
  Statement insert_done(db, "INSERT OR REPLACE INTO tasks (msg_id, client, engine, msg_type, request_header, done, "
                            "queue, request, buffers_left_out, reply, received) VALUES (?, ?, ?, ?, '', 1, ?, ?, ?, ?, ?)");
  Statement assign(db, "UPDATE tasks SET engine = ? WHERE msg_id = ?");
  Statement finish(db, "UPDATE tasks SET engine = ?, done = 1, reply = ?, request_header = '', received = ? "
                       "WHERE msg_id = ?");
  Statement resubmit(db, "UPDATE tasks SET resubmitted = ? WHERE msg_id = ?");
  Statement purge(db, "DELETE FROM tasks WHERE msg_id = ?");
  std::deque<Statement> outputs;  // a deque: a Statement never moves
  for (const char* name : kOutputColumns) {
    bool appended = std::string_view(name) == "stdout" || std::string_view(name) == "stderr";
    std::string sql = std::string("UPDATE tasks SET ") + name + " = " +
                      (appended ? std::string("coalesce(") + name + ", '') || ?" : std::string("?")) +
                      " WHERE msg_id = ?";
    outputs.emplace_back(db, sql.c_str());
  }
  std::vector<Fold> folds = fold_into_inserts(batch);
  int rc = sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE) return false;
    const Op& op = batch[i];
    const Record& r = op.record;
    if (folds[i].skip) continue;
    sqlite3_stmt* stmt = nullptr;
    std::string request_blob, reply_blob;  // bound as they are: kept until the step
    switch (op.kind) {
      case Op::Kind::kSubmitted: {
        const Op* done = folds[i].finished_by ? &batch[*folds[i].finished_by] : nullptr;
        stmt = done != nullptr ? insert_done.stmt : insert.stmt;
        int column = 0;
        bind_text(stmt, ++column, r.msg_id);
        sqlite3_bind_blob(stmt, ++column, r.client.data(), static_cast<int>(r.client.size()), SQLITE_STATIC);
        sqlite3_bind_int(stmt, ++column, folds[i].engine);
        bind_text(stmt, ++column, r.msg_type);
        if (done == nullptr) bind_text(stmt, ++column, op.frames.empty() ? std::string_view() : view(op.frames[0]));
        bind_text(stmt, ++column, op.extra);
        request_blob = pack_frames(op.frames);
        bind_blob(stmt, ++column, request_blob, r.msg_id);
        sqlite3_bind_int64(stmt, ++column, static_cast<sqlite3_int64>(op.left_out));
        if (done != nullptr) {
          reply_blob = pack_frames(done->frames);
          bind_blob(stmt, ++column, reply_blob, r.msg_id);
          bind_text(stmt, ++column, done->extra);
        }
        break;
      }
      case Op::Kind::kAssigned:
        stmt = assign.stmt;
        sqlite3_bind_int(stmt, 1, r.engine);
        bind_text(stmt, 2, r.msg_id);
        break;
      case Op::Kind::kFinished:
        stmt = finish.stmt;
        sqlite3_bind_int(stmt, 1, r.engine);
        reply_blob = pack_frames(op.frames);
        bind_blob(stmt, 2, reply_blob, r.msg_id);
        bind_text(stmt, 3, op.extra);
        bind_text(stmt, 4, r.msg_id);
        break;
      case Op::Kind::kOutput: {
        auto column_index = static_cast<std::size_t>(op.column);
        stmt = column_index < outputs.size() ? outputs[column_index].stmt : nullptr;
        if (stmt == nullptr) break;
        bind_text(stmt, 1, op.extra);
        bind_text(stmt, 2, r.msg_id);
        break;
      }
      case Op::Kind::kResubmitted:
        stmt = resubmit.stmt;
        bind_text(stmt, 1, op.extra);
        bind_text(stmt, 2, r.msg_id);
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
  return rc == SQLITE_OK || rc == SQLITE_DONE;
}

}  // namespace ensemble::parallel
