// Private to the task store (task_store.cpp, task_store_rows.cpp): the few
// SQLite helpers both its writing and its reading side use.
#pragma once

#include <sqlite3.h>

#include <string>
#include <string_view>

namespace ensemble::parallel::store_sql {

inline sqlite3* handle(void* db) {
  return static_cast<sqlite3*>(db);
}

// A statement prepared once per batch or query; finalized on scope exit.
struct Statement {
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr); }
  ~Statement() { sqlite3_finalize(stmt); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* stmt = nullptr;
};

inline void bind_text(sqlite3_stmt* stmt, int index, std::string_view text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

// A text or blob column's bytes; empty for NULL.
inline std::string column(sqlite3_stmt* stmt, int index) {
  const void* data = sqlite3_column_blob(stmt, index);
  int size = sqlite3_column_bytes(stmt, index);
  return data == nullptr ? std::string() : std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

}  // namespace ensemble::parallel::store_sql
