#include "ensemble/kernel/history_store.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "ensemble/wire/thread_name.hpp"
#include "sql_statement.hpp"

namespace ensemble::kernel {

namespace {
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sessions (session INTEGER PRIMARY KEY AUTOINCREMENT,
                                     start TEXT, end TEXT, num_cmds INTEGER, remark TEXT);
CREATE TABLE IF NOT EXISTS history (session INTEGER, line INTEGER, source TEXT, source_raw TEXT,
                                    PRIMARY KEY (session, line));
CREATE TABLE IF NOT EXISTS output_history (session INTEGER, line INTEGER, output TEXT,
                                           PRIMARY KEY (session, line));
)sql";

// SQLite's GLOB, for the in-memory fallback: '*' any run, '?' one character.
bool glob_match(const char* pattern, const char* text) {
  if (*pattern == '\0') return *text == '\0';
  if (*pattern == '*') return glob_match(pattern + 1, text) || (*text != '\0' && glob_match(pattern, text + 1));
  if (*text == '\0') return false;
  return (*pattern == '?' || *pattern == *text) && glob_match(pattern + 1, text + 1);
}

std::vector<HistoryEntry> last_n(std::vector<HistoryEntry> entries, int n) {
  if (n > 0 && entries.size() > static_cast<std::size_t>(n)) {
    entries.erase(entries.begin(), entries.end() - n);
  }
  return entries;
}

// Keeps the newest of entries with equal input, in chronological order.
std::vector<HistoryEntry> unique_inputs(std::vector<HistoryEntry> entries) {
  std::set<std::string> seen;
  std::vector<HistoryEntry> kept;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (seen.insert(it->input).second) kept.push_back(std::move(*it));
  }
  std::reverse(kept.begin(), kept.end());
  return kept;
}
}  // namespace

HistoryStore::HistoryStore(const std::string& path) {
  std::lock_guard lock(mutex_);
  if (path.empty() || path == ":memory:") {
    warning_ = "history is kept in memory only";
  } else if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             nullptr) != SQLITE_OK) {
    degrade_locked("cannot open history database " + path + ": " +
                   (db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory"));
  } else {
    sqlite3_busy_timeout(db_, 2000);
    sqlite3_exec(db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", nullptr, nullptr, nullptr);
    if (sqlite3_exec(db_, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK) {
      degrade_locked(std::string("cannot create history tables: ") + sqlite3_errmsg(db_));
    } else {
      SqlStatement insert(db_, "INSERT INTO sessions (start, num_cmds, remark) VALUES (datetime('now'), 0, '')");
      if (!insert.ok() || insert.step() != SQLITE_DONE) {
        degrade_locked(std::string("cannot start a history session: ") + sqlite3_errmsg(db_));
      } else {
        session_ = static_cast<int>(sqlite3_last_insert_rowid(db_));
      }
    }
  }
  writer_ = std::jthread([this](std::stop_token stop) {
    wire::name_this_thread("history-store");
    writer_loop(stop);
  });
}

HistoryStore::~HistoryStore() {
  writer_.request_stop();
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  std::lock_guard lock(mutex_);
  write_pending_locked();
  if (db_ != nullptr) sqlite3_close(db_);
}

void HistoryStore::degrade_locked(const std::string& why) {
  if (!warning_) spdlog::warn("history degraded to memory: {}", why);
  warning_ = why;
  if (db_ != nullptr) sqlite3_close(db_);
  db_ = nullptr;
  pending_.clear();
}

std::optional<std::string> HistoryStore::warning() const {
  std::lock_guard lock(mutex_);
  return warning_;
}

void HistoryStore::append(int line, std::string input) {
  std::lock_guard lock(mutex_);
  HistoryEntry entry{session_, line, std::move(input), std::nullopt};
  memory_.push_back(entry);
  if (db_ == nullptr) return;
  pending_.push_back(PendingWrite{std::move(entry)});
  // The writer sleeps until there is work, then gathers a batch by itself;
  // waking it for every cell would cost a context switch per execute.
  if (pending_.size() == 1) wake_.notify_all();
}

void HistoryStore::set_output(int line, std::string output) {
  std::lock_guard lock(mutex_);
  for (auto it = memory_.rbegin(); it != memory_.rend(); ++it) {
    if (it->line == line) {
      it->output = output;
      break;
    }
  }
  if (db_ == nullptr) return;
  for (auto& pending : pending_) {
    if (pending.entry.line == line) {
      pending.entry.output = std::move(output);
      return;
    }
  }
  pending_.push_back(PendingWrite{HistoryEntry{session_, line, {}, std::move(output)}, false});
}

void HistoryStore::write_pending_locked() {
  if (db_ == nullptr || pending_.empty()) return;
  bool ok = sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK;
  {
    SqlStatement input(db_, "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?)");
    SqlStatement output(db_, "INSERT OR REPLACE INTO output_history VALUES (?, ?, ?)");
    ok = ok && input.ok() && output.ok();
    for (const auto& [entry, has_input] : pending_) {
      if (!ok) break;
      if (has_input) {
        input.reset();
        input.bind(1, entry.session).bind(2, entry.line).bind(3, entry.input).bind(4, entry.input);
        ok = input.step() == SQLITE_DONE;
      }
      if (ok && entry.output) {
        output.reset();
        output.bind(1, entry.session).bind(2, entry.line).bind(3, *entry.output);
        ok = output.step() == SQLITE_DONE;
      }
    }
  }
  if (ok) {
    ok = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  if (!ok) {
    std::string why = std::string("cannot write history: ") + sqlite3_errmsg(db_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    degrade_locked(why);
    return;
  }
  pending_.clear();
}

void HistoryStore::writer_loop(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    wake_.wait(lock, stop, [this] { return !pending_.empty(); });
    if (stop.stop_requested()) break;
    // Let a burst of cells gather into one transaction (appends during this
    // pause do not notify, see append()).
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    lock.lock();
    write_pending_locked();
  }
}

void HistoryStore::sync() {
  std::lock_guard lock(mutex_);
  write_pending_locked();
}

std::vector<HistoryEntry> HistoryStore::query(const HistoryQuery& query) {
  std::lock_guard lock(mutex_);
  write_pending_locked();
  if (db_ == nullptr) return query_memory_locked(query);
  return query_sql_locked(query);
}

std::vector<HistoryEntry> HistoryStore::query_memory_locked(const HistoryQuery& query) const {
  std::vector<HistoryEntry> selected;
  int session = query.session > 0 ? query.session : session_ + query.session;
  for (const auto& entry : memory_) {
    switch (query.kind) {
      case HistoryQuery::Kind::kTail: selected.push_back(entry); break;
      case HistoryQuery::Kind::kRange:
        if (entry.session == session && entry.line >= query.start && (!query.stop || entry.line < *query.stop)) {
          selected.push_back(entry);
        }
        break;
      case HistoryQuery::Kind::kSearch:
        if (glob_match(query.pattern.c_str(), entry.input.c_str())) selected.push_back(entry);
        break;
    }
  }
  if (query.kind == HistoryQuery::Kind::kSearch && query.unique) selected = unique_inputs(std::move(selected));
  if (query.kind != HistoryQuery::Kind::kRange) selected = last_n(std::move(selected), query.n);
  if (!query.output) {
    for (auto& entry : selected) entry.output.reset();
  }
  return selected;
}

std::vector<HistoryEntry> HistoryStore::query_sql_locked(const HistoryQuery& query) {
  std::string sql =
      "SELECT h.session, h.line, h.source_raw, o.output FROM history h "
      "LEFT JOIN output_history o ON h.session = o.session AND h.line = o.line ";
  SqlStatement statement;
  switch (query.kind) {
    case HistoryQuery::Kind::kTail:
      sql = "SELECT * FROM (" + sql + "ORDER BY h.session DESC, h.line DESC LIMIT ?) ORDER BY 1, 2";
      statement = SqlStatement(db_, sql);
      statement.bind(1, query.n > 0 ? query.n : -1);
      break;
    case HistoryQuery::Kind::kRange:
      sql += "WHERE h.session = ? AND h.line >= ? AND h.line < ? ORDER BY h.session, h.line";
      statement = SqlStatement(db_, sql);
      statement.bind(1, query.session > 0 ? query.session : session_ + query.session)
          .bind(2, query.start)
          .bind(3, query.stop.value_or(1 << 30));
      break;
    case HistoryQuery::Kind::kSearch:
      sql += "WHERE h.source_raw GLOB ? ORDER BY h.session, h.line";
      statement = SqlStatement(db_, sql);
      statement.bind(1, query.pattern);
      break;
  }
  std::vector<HistoryEntry> rows;
  if (!statement.ok()) {
    spdlog::warn("history query failed: {}", sqlite3_errmsg(db_));
    return query_memory_locked(query);
  }
  while (statement.step() == SQLITE_ROW) {
    HistoryEntry entry{statement.column_int(0), statement.column_int(1), statement.column_text(2), std::nullopt};
    if (query.output && !statement.column_is_null(3)) entry.output = statement.column_text(3);
    rows.push_back(std::move(entry));
  }
  if (query.kind == HistoryQuery::Kind::kSearch) {
    if (query.unique) rows = unique_inputs(std::move(rows));
    rows = last_n(std::move(rows), query.n);
  }
  return rows;
}

}  // namespace ensemble::kernel
