// TaskStore's writer thread: it gathers ops into batches, folds each task's
// ops into one INSERT where it can, writes a batch as one transaction and
// checkpoints the WAL when that is worth it (task_store.hpp says who calls what).
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <chrono>
#include <unordered_map>

#include "frame_blob.hpp"
#include "task_store.hpp"
#include "task_store_sql.hpp"

namespace ensemble::parallel {

using store_sql::handle;
using store_sql::Statement;

namespace {

constexpr auto kBatchDelay = std::chrono::milliseconds(20);
// SQLite checkpoints the WAL inside the commit that takes it past 1000 pages:
// a fifth of the writer's work in a burst of tasks, on the hot thread's heels.
// The writer checkpoints instead once the store has been idle this long, with
// 4 MiB of WAL or more, or at once past kCheckpointAnyway (64 MiB of WAL at
// most); and SQLite truncates the WAL to kWalKept bytes after a checkpoint.
// In bytes, not pages: a new store's pages are 4 times an old one's.
constexpr auto kCheckpointWhenIdle = std::chrono::milliseconds(100);
constexpr std::int64_t kCheckpointWorthIt = 4000 * 1024;
constexpr std::int64_t kCheckpointAnyway = 64 << 20;
// SQLite refuses values past SQLITE_MAX_LENGTH (1e9 by default). A message
// that big is sent on, but its copy in the store is left out, and said so.
constexpr std::size_t kLargestBlob = 900u << 20;

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

}  // namespace

// The writer's statements, prepared once for the writer's life: preparing them
// for every batch was a fifth of its work when batches are small (a loop of
// round trips gathers some 50 tasks in kBatchDelay). Finalized when the writer
// returns, before the database is closed.
struct TaskStore::Writes {
  explicit Writes(sqlite3* connection)
      : db(connection),
        insert(db,
               "INSERT OR REPLACE INTO tasks (msg_id, client, engine, msg_type, request_header, done, "
               "queue, request, buffers_left_out) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)"),
        insert_done(db,
                    "INSERT OR REPLACE INTO tasks (msg_id, client, engine, msg_type, request_header, done, "
                    "queue, request, buffers_left_out, reply, received) VALUES (?, ?, ?, ?, '', 1, ?, ?, ?, ?, ?)"),
        assign(db, "UPDATE tasks SET engine = ? WHERE msg_id = ?"),
        finish(db,
               "UPDATE tasks SET engine = ?, done = 1, reply = ?, request_header = '', received = ? "
               "WHERE msg_id = ?"),
        resubmit(db, "UPDATE tasks SET resubmitted = ? WHERE msg_id = ?"),
        purge(db, "DELETE FROM tasks WHERE msg_id = ?") {
    for (const char* name : kOutputColumns) {
      bool appended = std::string_view(name) == "stdout" || std::string_view(name) == "stderr";
      std::string sql = std::string("UPDATE tasks SET ") + name + " = " +
                        (appended ? std::string("coalesce(") + name + ", '') || ?" : std::string("?")) +
                        " WHERE msg_id = ?";
      outputs.emplace_back(db, sql.c_str());
    }
  }
  sqlite3* db;
  Statement insert, insert_done, assign, finish, resubmit, purge;
  std::deque<Statement> outputs;  // a deque: a Statement never moves
};

// Batches whatever arrived within kBatchDelay (less if a sync() waits) into
// one transaction.
void TaskStore::writer(std::stop_token stop) {
  sqlite3* db = handle(db_);
  Writes writes(db);
  while (true) {
    std::deque<Op> batch;
    {
      std::unique_lock lock(mutex_);
      if (wal_bytes() >= kCheckpointWorthIt &&
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
    if (!write_batch(writes, batch)) {
      spdlog::error("task store {}: {} (a full disk?); results stay in memory only from now on", path_,
                    sqlite3_errmsg(db));
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      degraded_ = true;
      std::lock_guard lock(mutex_);
      ops_.clear();
      written_cv_.notify_all();
      return;
    }
    if (wal_bytes() >= kCheckpointAnyway) checkpoint(db);
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
      case Op::Kind::kResubmitted: break;
    }
  }
  return folds;
}

bool TaskStore::write_batch(Writes& writes, const std::deque<Op>& batch) {
  sqlite3* db = writes.db;
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
        stmt = done != nullptr ? writes.insert_done.stmt : writes.insert.stmt;
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
        stmt = writes.assign.stmt;
        sqlite3_bind_int(stmt, 1, r.engine);
        bind_text(stmt, 2, r.msg_id);
        break;
      case Op::Kind::kFinished:
        stmt = writes.finish.stmt;
        sqlite3_bind_int(stmt, 1, r.engine);
        reply_blob = pack_frames(op.frames);
        bind_blob(stmt, 2, reply_blob, r.msg_id);
        bind_text(stmt, 3, op.extra);
        bind_text(stmt, 4, r.msg_id);
        break;
      case Op::Kind::kOutput: {
        auto column_index = static_cast<std::size_t>(op.column);
        stmt = column_index < writes.outputs.size() ? writes.outputs[column_index].stmt : nullptr;
        if (stmt == nullptr) break;
        bind_text(stmt, 1, op.extra);
        bind_text(stmt, 2, r.msg_id);
        break;
      }
      case Op::Kind::kResubmitted:
        stmt = writes.resubmit.stmt;
        bind_text(stmt, 1, op.extra);
        bind_text(stmt, 2, r.msg_id);
        break;
      case Op::Kind::kPurged:
        stmt = writes.purge.stmt;
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
