// Private: a prepared SQLite statement that finalizes itself.
#pragma once

#include <sqlite3.h>

#include <string>
#include <utility>

namespace ensemble::kernel {

class SqlStatement {
 public:
  SqlStatement() = default;
  SqlStatement(sqlite3* db, const std::string& sql) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &statement_, nullptr) != SQLITE_OK) statement_ = nullptr;
  }
  ~SqlStatement() { sqlite3_finalize(statement_); }
  SqlStatement(SqlStatement&& other) noexcept : statement_(std::exchange(other.statement_, nullptr)) {}
  SqlStatement& operator=(SqlStatement&& other) noexcept {
    std::swap(statement_, other.statement_);
    return *this;
  }

  bool ok() const { return statement_ != nullptr; }
  SqlStatement& bind(int index, int value) {
    sqlite3_bind_int(statement_, index, value);
    return *this;
  }
  SqlStatement& bind(int index, const std::string& value) {
    sqlite3_bind_text(statement_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    return *this;
  }
  int step() { return statement_ != nullptr ? sqlite3_step(statement_) : SQLITE_MISUSE; }
  void reset() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }
  int column_int(int index) const { return sqlite3_column_int(statement_, index); }
  bool column_is_null(int index) const { return sqlite3_column_type(statement_, index) == SQLITE_NULL; }
  std::string column_text(int index) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement_, index));
    return text != nullptr ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(statement_, index)))
                           : std::string();
  }

 private:
  sqlite3_stmt* statement_ = nullptr;
};

}  // namespace ensemble::kernel
