// The task store's reading side: rows for db_query and resubmit
// (task_store.hpp), read on the controller's thread.
#include <spdlog/spdlog.h>

#include "task_store.hpp"
#include "task_store_sql.hpp"

namespace ensemble::parallel {

using store_sql::bind_text;
using store_sql::column;
using store_sql::handle;
using store_sql::Statement;

std::vector<TaskStore::Row> TaskStore::rows(const std::vector<std::string>* only, bool with_request, bool with_reply) {
  std::vector<Row> found;
  if (!enabled_) return found;
  sqlite3* db = handle(db_);
  std::string sql = std::string(
                        "SELECT msg_id, client, engine, msg_type, queue, done, received, resubmitted, "
                        "stdout, stderr, execute_input, execute_result, error, buffers_left_out, ") +
                    (with_request ? "request" : "NULL") + ", " + (with_reply ? "reply" : "NULL") + " FROM tasks" +
                    (only != nullptr ? " WHERE msg_id = ?" : " ORDER BY seq");
  Statement select(db, sql.c_str());
  if (select.stmt == nullptr) {
    spdlog::error("task store {}: {}", path_, sqlite3_errmsg(db));
    return found;
  }
  auto read_rows = [&] {
    int rc;
    while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW) {
      sqlite3_stmt* s = select.stmt;
      Row row;
      row.msg_id = column(s, 0);
      row.client = column(s, 1);
      row.engine = sqlite3_column_type(s, 2) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 2);
      row.msg_type = column(s, 3);
      row.queue = column(s, 4);
      row.done = sqlite3_column_int(s, 5) != 0;
      row.received = column(s, 6);
      row.resubmitted = column(s, 7);
      row.stdout_text = column(s, 8);
      row.stderr_text = column(s, 9);
      row.execute_input = column(s, 10);
      row.execute_result = column(s, 11);
      row.error = column(s, 12);
      row.buffers_left_out = static_cast<std::uint64_t>(sqlite3_column_int64(s, 13));
      row.request = column(s, 14);
      row.reply = column(s, 15);
      found.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) spdlog::error("task store {}: {}", path_, sqlite3_errmsg(db));
    sqlite3_reset(select.stmt);
  };
  if (only == nullptr) {
    read_rows();
  } else {
    for (const auto& msg_id : *only) {
      bind_text(select.stmt, 1, msg_id);
      read_rows();
    }
  }
  return found;
}

}  // namespace ensemble::parallel
