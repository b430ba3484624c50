// db_query's pieces without sockets: the TaskRecord built from a stored row,
// the MongoDB-style filters, and the task store's rows, outputs and sync.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

#include <sqlite3.h>

#include "frame_blob.hpp"
#include "task_query.hpp"
#include "task_store.hpp"
#include "task_table.hpp"

namespace ensemble::parallel {
namespace {

using wire::Json;

TaskStore::Row finished_row() {
  TaskStore::Row row;
  row.msg_id = "m1";
  row.client = "client-1";
  row.engine = 3;
  row.queue = "task";
  row.done = true;
  row.received = "2026-11-26T07:00:02.000000Z";
  std::vector<std::string> request = {
      R"({"msg_id":"m1","msg_type":"apply_request","date":"2026-11-26T07:00:00.000000Z"})", "{}",
      R"({"retries":1})", "{}", "request-buffer"};
  std::vector<std::string> reply = {"<IDS|MSG>", "sig",
                                    R"({"msg_id":"r1","msg_type":"apply_reply","date":"2026-11-26T07:00:01.500000Z"})",
                                    R"({"msg_id":"m1"})",
                                    R"({"engine_uuid":"uuid-3","started":"2026-11-26T07:00:01.000000Z"})",
                                    R"({"status":"ok"})", "result-buffer-a", "result-buffer-b"};
  row.request = pack_frames(request);
  row.reply = pack_frames(reply);
  row.stdout_text = "hello\n";
  return row;
}

TEST(TaskQuery, DefaultKeysAreEveryFieldButTheBuffers) {
  auto keys = record_keys_for(Json());
  EXPECT_TRUE(keys.contains("submitted"));
  EXPECT_TRUE(keys.contains("stdout"));
  EXPECT_FALSE(keys.contains("buffers"));
  EXPECT_FALSE(keys.contains("result_buffers"));
  EXPECT_EQ(keys.size(), task_record_keys().size() - 2);
}

TEST(TaskQuery, AskedKeysAlwaysIncludeMsgIdAndUnknownOnesAreRefused) {
  EXPECT_EQ(record_keys_for(Json("completed")), (std::set<std::string>{"msg_id", "completed"}));
  EXPECT_THROW(record_keys_for(Json::array({"completed", "nonsense"})), std::invalid_argument);
}

TEST(TaskQuery, RecordFieldsComeFromTheStoredRequestAndReply) {
  std::vector<std::string> buffers, result_buffers;
  Json record = task_record(finished_row(), record_keys_for(Json::array({"buffers", "result_buffers", "submitted",
                                                                          "started", "completed", "engine_uuid",
                                                                          "metadata", "result_content", "stdout",
                                                                          "queue", "resubmitted", "received"})),
                            "fallback", &buffers, &result_buffers);
  EXPECT_EQ(record["msg_id"], "m1");
  EXPECT_EQ(record["submitted"], "2026-11-26T07:00:00.000000Z");
  EXPECT_EQ(record["started"], "2026-11-26T07:00:01.000000Z");
  EXPECT_EQ(record["completed"], "2026-11-26T07:00:01.500000Z");
  EXPECT_EQ(record["engine_uuid"], "uuid-3");
  EXPECT_EQ(record["metadata"], Json({{"retries", 1}}));
  EXPECT_EQ(record["result_content"], Json({{"status", "ok"}}));
  EXPECT_EQ(record["stdout"], "hello\n");
  EXPECT_EQ(record["queue"], "task");
  EXPECT_TRUE(record["resubmitted"].is_null());
  EXPECT_EQ(record["received"], "2026-11-26T07:00:02.000000Z");
  EXPECT_FALSE(record.contains("buffers"));
  EXPECT_EQ(buffers, std::vector<std::string>{"request-buffer"});
  EXPECT_EQ(result_buffers, (std::vector<std::string>{"result-buffer-a", "result-buffer-b"}));
}

TEST(TaskQuery, APendingTaskHasNoResultFieldsAndTakesTheEnginesUuidFromTheTable) {
  TaskStore::Row row = finished_row();
  row.done = false;
  row.reply.clear();
  Json record = task_record(row, record_keys_for(Json()), "uuid-from-table", nullptr, nullptr);
  EXPECT_TRUE(record["completed"].is_null());
  EXPECT_TRUE(record["result_header"].is_null());
  EXPECT_EQ(record["engine_uuid"], "uuid-from-table");
}

TEST(TaskQuery, EqualityAndComparisonsMatchAsIpyparallelDocumentsThem) {
  Json record = {{"msg_id", "b"}, {"submitted", "2026-11-26T07:00:00.000000Z"}, {"completed", nullptr},
                 {"n", 7}};
  EXPECT_TRUE(record_matches(record, {{"msg_id", "b"}}));
  EXPECT_FALSE(record_matches(record, {{"msg_id", "c"}}));
  EXPECT_TRUE(record_matches(record, {{"submitted", {{"$lt", "2026-11-26T07:00:00.000001Z"}}}}));
  EXPECT_FALSE(record_matches(record, {{"submitted", {{"$gt", "2026-11-26T07:00:00.000001Z"}}}}));
  EXPECT_TRUE(record_matches(record, {{"submitted", {{"$gte", "2026-11-26T07:00:00.000000Z"}}}}));
  EXPECT_TRUE(record_matches(record, {{"n", {{"$gt", 6}, {"$lte", 7}}}}));
  EXPECT_FALSE(record_matches(record, {{"completed", {{"$lt", "9999"}}}})) << "None orders with nothing";
  EXPECT_TRUE(record_matches(record, {{"msg_id", {{"$ne", ""}}}}));
}

TEST(TaskQuery, SetOperatorsModAndExists) {
  Json record = {{"msg_id", "b"}, {"completed", nullptr}, {"n", 7}, {"stdout", "one two"}};
  EXPECT_TRUE(record_matches(record, {{"msg_id", {{"$in", {"a", "b"}}}}}));
  EXPECT_FALSE(record_matches(record, {{"msg_id", {{"$nin", {"a", "b"}}}}}));
  EXPECT_TRUE(record_matches(record, {{"stdout", {{"$all", {"one", "two"}}}}}));
  EXPECT_TRUE(record_matches(record, {{"n", {{"$mod", {3, 1}}}}}));
  EXPECT_TRUE(record_matches(record, {{"completed", {{"$exists", false}}}}));
  EXPECT_FALSE(record_matches(record, {{"n", {{"$exists", false}}}}));
  EXPECT_TRUE(record_matches(record, {{"not_a_field", nullptr}})) << "an absent field reads as None";
}

TEST(TaskQuery, AnUnknownOperatorOrAMalformedOperandIsRefused) {
  Json record = {{"n", 7}};
  EXPECT_THROW(record_matches(record, {{"n", {{"$near", 1}}}}), std::invalid_argument);
  EXPECT_THROW(record_matches(record, {{"n", {{"$in", 7}}}}), std::invalid_argument);
  EXPECT_THROW(record_matches(record, {{"n", {{"$mod", {3}}}}}), std::invalid_argument);
  EXPECT_THROW(record_matches(record, Json::array()), std::invalid_argument);
}

TEST(TaskQuery, ABadQueryIsRefusedWithoutARecordToTestItOn) {
  EXPECT_THROW(check_query({{"n", {{"$near", 1}}}}), std::invalid_argument);
  EXPECT_THROW(check_query({{"n", {{"$in", 7}}}}), std::invalid_argument);
  EXPECT_THROW(check_query(Json::array()), std::invalid_argument);
  EXPECT_NO_THROW(check_query({{"n", {{"$gt", 1}, {"$in", {1, 2}}}}, {"m", 3}}));
}

TEST(TaskQuery, MsgIdEqualityOrInPinsTheRowsToRead) {
  EXPECT_EQ(msg_ids_pinned_by({{"msg_id", "x"}}), std::vector<std::string>{"x"});
  EXPECT_EQ(msg_ids_pinned_by({{"msg_id", {{"$in", {"x", "y"}}}}}), (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(msg_ids_pinned_by({{"msg_id", {{"$ne", ""}}}}).empty());
  EXPECT_TRUE(msg_ids_pinned_by({{"submitted", "x"}}).empty());
}

TEST(FrameBlob, PacksAndUnpacksAndRefusesDamagedBlobs) {
  std::vector<std::string> frames = {"a", "", std::string(1000, 'z')};
  std::string blob = pack_frames(frames);
  auto back = unpack_frames(blob);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(std::vector<std::string>(back->begin(), back->end()), frames);
  EXPECT_FALSE(unpack_frames(blob.substr(0, blob.size() - 1)).has_value());
  EXPECT_FALSE(unpack_frames("\xff\xff\xff\x7f").has_value());
  EXPECT_FALSE(unpack_frames("").has_value());
}

class TaskStoreFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ensemble-store-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "tasks.sqlite").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static Parts parts_of(const std::vector<std::string>& frames) {
    Parts parts;
    for (const auto& f : frames) parts.emplace_back(f.data(), f.size());
    return parts;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(TaskStoreFile, SyncMakesEveryPushedRecordReadableWithItsRequestOutputsAndResubmission) {
  TaskStore store;
  ASSERT_TRUE(store.open(path_, [](TaskStore::Record&&) {}));
  store.submitted("m1", "client", -1, "apply_request", "task", parts_of({"{\"msg_id\":\"m1\"}", "{}", "{}", "{}"}));
  store.output("m1", TaskStore::Output::kStdout, "one ");
  store.output("m1", TaskStore::Output::kStdout, "two");
  store.output("m1", TaskStore::Output::kError, R"({"ename":"E"})");
  store.assigned("m1", 2);
  store.finished("m1", 2, parts_of({"<IDS|MSG>", "s", "{}", "{}", "{}", "{}"}));
  store.resubmitted("m1", "m2");
  ASSERT_TRUE(store.sync());
  auto rows = store.rows(nullptr, true, true);
  ASSERT_EQ(rows.size(), 1u);
  const auto& row = rows[0];
  EXPECT_EQ(row.engine, 2);
  EXPECT_TRUE(row.done);
  EXPECT_EQ(row.queue, "task");
  EXPECT_EQ(row.stdout_text, "one two");
  EXPECT_EQ(row.error, R"({"ename":"E"})");
  EXPECT_EQ(row.resubmitted, "m2");
  EXPECT_FALSE(row.received.empty());
  EXPECT_EQ(unpack_frames(row.request)->size(), 4u);
  std::vector<std::string> only = {"missing", "m1"};
  EXPECT_EQ(store.rows(&only, false, false).size(), 1u);
  EXPECT_TRUE(store.rows(&only, false, false)[0].request.empty()) << "blobs only when asked for";
}

TEST_F(TaskStoreFile, APendingTaskReadBackHasItsRequestsHeaderFrameAsItsHeader) {
  // the parent of the reply a restarted controller makes up for it
  const std::string header = R"({"msg_id":"pending","msg_type":"apply_request","date":"2026-11-26T16:40:00Z"})";
  {
    TaskStore store;
    ASSERT_TRUE(store.open(path_, [](TaskStore::Record&&) {}));
    store.submitted("pending", "client", 1, "apply_request", "mux", parts_of({header, "{}", "{}", "{}"}));
    ASSERT_TRUE(store.sync());
  }
  std::vector<TaskStore::Record> restored;
  TaskStore again;
  ASSERT_TRUE(again.open(path_, [&](TaskStore::Record&& r) { restored.push_back(std::move(r)); }));
  ASSERT_EQ(restored.size(), 1u);
  EXPECT_EQ(restored[0].request_header, header);
  EXPECT_FALSE(restored[0].done);
}

TEST_F(TaskStoreFile, AssignmentsFoldedIntoTheirTasksInsertLeaveTheSameEnginesAsWritingEachInTurn) {
  TaskStore store;
  ASSERT_TRUE(store.open(path_, [](TaskStore::Record&&) {}));
  auto request = [&](const char* id) {
    return parts_of({std::string("{\"msg_id\":\"") + id + "\"}", "{}", "{}", "{}"});
  };
  auto reply = [&] { return parts_of({"<IDS|MSG>", "s", "{}", "{}", "{}", "{}"}); };
  store.submitted("assigned", "c", -1, "apply_request", "task", request("assigned"));
  store.assigned("assigned", 3);
  store.submitted("reassigned", "c", -1, "apply_request", "task", request("reassigned"));
  store.assigned("reassigned", 1);
  store.assigned("reassigned", 2);
  store.submitted("assigned-after-reply", "c", -1, "apply_request", "task", request("assigned-after-reply"));
  store.finished("assigned-after-reply", 1, reply());
  store.assigned("assigned-after-reply", 4);
  store.submitted("unassigned", "c", -1, "apply_request", "task", request("unassigned"));
  ASSERT_TRUE(store.sync());
  store.assigned("unassigned", 5);  // a later batch: an UPDATE of the row written before
  ASSERT_TRUE(store.sync());
  std::map<std::string, int> engines;
  for (const auto& row : store.rows(nullptr, false, false)) engines[row.msg_id] = row.engine;
  EXPECT_EQ(engines, (std::map<std::string, int>{
                         {"assigned", 3}, {"reassigned", 2}, {"assigned-after-reply", 4}, {"unassigned", 5}}));
}

TEST_F(TaskStoreFile, RepliesFoldedIntoTheirTasksInsertLeaveTheSameRowsAsWritingEachOpInTurn) {
  auto request = [&](const std::string& id) {
    return parts_of({"{\"msg_id\":\"" + id + "\"}", "{}", "{}", "{}", "buffer-" + id});
  };
  auto reply = [&](const std::string& tag) { return parts_of({"<IDS|MSG>", "s", "{}", "{}", "{}", tag}); };
  // every kind of op that can follow a submission in one batch
  auto play = [&](TaskStore& store, bool one_op_per_batch) {
    auto step = [&] {
      if (one_op_per_batch) ASSERT_TRUE(store.sync());
    };
    store.submitted("plain", "c", -1, "apply_request", "task", request("plain"));
    step();
    store.assigned("plain", 1);
    step();
    store.output("plain", TaskStore::Output::kStdout, "out ");
    step();
    store.finished("plain", 1, reply("plain-reply"));
    step();
    store.output("plain", TaskStore::Output::kStdout, "late");
    step();
    store.resubmitted("plain", "again");
    step();
    store.submitted("twice", "c", 0, "apply_request", "mux", request("twice"));
    step();
    store.finished("twice", 0, reply("first"));
    step();
    store.assigned("twice", 3);
    step();
    store.finished("twice", 3, reply("second"));
    step();
    store.submitted("purged", "c", 1, "execute_request", "mux", request("purged"));
    step();
    store.finished("purged", 1, reply("gone"));
    step();
    store.purged({"purged"});
    step();
    store.submitted("pending", "c", -1, "apply_request", "task", request("pending"));
    step();
    store.assigned("pending", 2);
    ASSERT_TRUE(store.sync());
  };
  auto rows_of = [&](const std::string& path, bool one_op_per_batch) {
    TaskStore store;
    EXPECT_TRUE(store.open(path, [](TaskStore::Record&&) {}));
    play(store, one_op_per_batch);
    std::map<std::string, std::vector<std::string>> rows;
    for (const auto& row : store.rows(nullptr, true, true)) {
      rows[row.msg_id] = {std::to_string(row.engine), row.queue,         std::to_string(row.done),
                          row.received.empty() ? "" : "received", row.resubmitted, row.request,
                          row.reply,              row.stdout_text};
    }
    return rows;
  };
  auto folded = rows_of(path_, false);
  auto in_turn = rows_of((dir_ / "in-turn.sqlite").string(), true);
  EXPECT_EQ(folded, in_turn);
  ASSERT_EQ(folded.size(), 3u);
  EXPECT_EQ(folded["plain"][2], "1");
  EXPECT_EQ(folded["plain"][7], "out late");
  EXPECT_EQ(folded["twice"][0], "3");
  EXPECT_EQ(folded["pending"][2], "0");
  std::vector<std::pair<std::string, std::string>> restored_folded, restored_in_turn;
  for (auto [path, restored] : {std::pair{path_, &restored_folded},
                                std::pair{(dir_ / "in-turn.sqlite").string(), &restored_in_turn}}) {
    TaskStore again;
    ASSERT_TRUE(again.open(path, [&, restored = restored](TaskStore::Record&& r) {
      restored->emplace_back(r.msg_id, r.request_header);
    }));
  }
  EXPECT_EQ(restored_folded, restored_in_turn);
}

TEST_F(TaskStoreFile, AStoreFromBeforeTheLaterColumnsOpensAndGainsThem) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE tasks (seq INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT UNIQUE NOT NULL,"
                           " client BLOB, engine INTEGER, msg_type TEXT, request_header TEXT,"
                           " done INTEGER NOT NULL DEFAULT 0, reply BLOB);"
                           "INSERT INTO tasks (msg_id, client, engine, msg_type, request_header, done)"
                           " VALUES ('old', 'c', 1, 'apply_request', '{}', 0)",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  TaskStore store;
  std::vector<std::string> restored;
  ASSERT_TRUE(store.open(path_, [&](TaskStore::Record&& r) { restored.push_back(r.msg_id); }));
  EXPECT_EQ(restored, std::vector<std::string>{"old"});
  store.output("old", TaskStore::Output::kStderr, "warning");
  ASSERT_TRUE(store.sync());
  auto rows = store.rows(nullptr, true, true);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].stderr_text, "warning");
  EXPECT_TRUE(rows[0].request.empty());
}

TEST_F(TaskStoreFile, ANewStoreHasSixteenKibPagesAndOneFromBeforeKeepsItsOwn) {
  // the WAL takes a write per page: 16 KiB pages cut the writer's syscalls per task (task_store.cpp)
  auto page_size = [](const std::string& path) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &stmt, nullptr);
    int size = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return size;
  };
  std::string old_path = (dir_ / "old.sqlite").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(old_path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA page_size=4096; CREATE TABLE t (x)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  for (const std::string& path : {path_, old_path}) {
    TaskStore store;
    ASSERT_TRUE(store.open(path, [](TaskStore::Record&&) {}));
    store.submitted("m", "c", 0, "apply_request", "task", parts_of({"{}", "{}", "{}", "{}"}));
    ASSERT_TRUE(store.sync());
    EXPECT_EQ(store.rows(nullptr, false, false).size(), 1u);
  }
  EXPECT_EQ(page_size(path_), 16384);
  EXPECT_EQ(page_size(old_path), 4096);
}

TEST_F(TaskStoreFile, RowsKeepTheirOrderWhenTheNewestIsPurgedAndAnotherComes) {
  // `seq` without AUTOINCREMENT: a purged newest row's number is used again, and the new
  // row still sorts after every row left, in the store and in what a restart restores
  std::vector<std::string> order;
  {
    TaskStore store;
    ASSERT_TRUE(store.open(path_, [](TaskStore::Record&&) {}));
    auto submit = [&](const char* id, int engine) {
      store.submitted(id, "c", engine, "apply_request", "task", parts_of({"{}", "{}", "{}", "{}"}));
    };
    for (const char* id : {"a", "b", "c"}) submit(id, 0);
    store.purged({"c"});
    submit("d", 0);
    submit("a", 1);  // again: now the newest
    ASSERT_TRUE(store.sync());
    for (const auto& row : store.rows(nullptr, false, false)) order.push_back(row.msg_id);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"b", "d", "a"}));
  TaskStore again;
  std::vector<std::string> restored;
  ASSERT_TRUE(again.open(path_, [&](TaskStore::Record&& r) { restored.push_back(r.msg_id); }));
  EXPECT_EQ(restored, order);
}

TEST_F(TaskStoreFile, AnInMemoryStoreServesReadsAndSyncOnAClosedStoreSaysSo) {
  TaskStore memory;
  ASSERT_TRUE(memory.open(":memory:", [](TaskStore::Record&&) {}));
  memory.submitted("m", "c", 0, "apply_request", "mux", parts_of({"{}", "{}", "{}", "{}"}));
  ASSERT_TRUE(memory.sync());
  EXPECT_EQ(memory.rows(nullptr, false, false).size(), 1u);
  TaskStore off;
  EXPECT_FALSE(off.sync());
  EXPECT_TRUE(off.rows(nullptr, false, false).empty());
}

// Finishes `id` with a reply of about `bytes` (one buffer frame).
void finish_with_reply(TaskTable& table, const std::string& id, std::size_t bytes) {
  Parts none;
  Task& task = table.add(id, Task{"client", 0, "apply_request", "{}", false, {}, {}}, "mux", none, 0);
  std::vector<std::string> frames = {"<IDS|MSG>", "sig", "{}", "{\"msg_id\":\"" + id + "\"}", "{}",
                                     "{\"status\":\"ok\"}", std::string(bytes, 'r')};
  Parts reply;
  for (const auto& f : frames) reply.emplace_back(f.data(), f.size());
  task.done = true;
  task.reply.store(reply, 0);
  table.finished(id, task);
}

TEST_F(TaskStoreFile, RepliesTheStoreHasWrittenLeaveMemoryOldestFirstAndReadBackWhole) {
  TaskStore store;
  ASSERT_TRUE(store.open(path_, [](TaskStore::Record&&) {}));
  TaskTable table;
  table.persist_to(&store);
  constexpr std::size_t kReply = 512 * 1024;
  for (int i = 0; i < 16; ++i) finish_with_reply(table, "t" + std::to_string(i), kReply);  // 8 MiB in all
  ASSERT_TRUE(store.sync());
  table.let_go_of_written_replies();
  EXPECT_TRUE(table.find("t0")->reply_in_store && table.find("t0")->reply.empty());
  EXPECT_FALSE(table.find("t15")->reply_in_store) << "the newest stay in memory";
  std::size_t kept = 0;
  for (int i = 0; i < 16; ++i) kept += table.find("t" + std::to_string(i))->reply.bytes();
  EXPECT_LE(kept, kRepliesInMemory);
  EXPECT_GT(kept, kRepliesInMemory - 2 * kReply);
  std::vector<std::string> only = {"t0"};
  auto rows = store.rows(&only, false, true);
  ASSERT_EQ(rows.size(), 1u);
  auto read_back = StoredReply::deserialize(rows[0].reply);
  ASSERT_EQ(read_back.frames().size(), 7u);
  EXPECT_EQ(read_back.frames().back().size(), kReply);
}

TEST_F(TaskStoreFile, WithoutAFileEveryReplyStaysInMemory) {
  TaskStore memory;
  ASSERT_TRUE(memory.open(":memory:", [](TaskStore::Record&&) {}));
  TaskTable in_memory;
  in_memory.persist_to(&memory);
  for (int i = 0; i < 16; ++i) finish_with_reply(in_memory, "m" + std::to_string(i), 512 * 1024);
  ASSERT_TRUE(memory.sync());
  in_memory.let_go_of_written_replies();
  EXPECT_FALSE(in_memory.find("m0")->reply_in_store) << "an in-memory store would only move it";
  TaskTable no_store;
  for (int i = 0; i < 16; ++i) finish_with_reply(no_store, "n" + std::to_string(i), 512 * 1024);
  no_store.let_go_of_written_replies();
  EXPECT_FALSE(no_store.find("n0")->reply_in_store);
  EXPECT_FALSE(no_store.find("n0")->reply.empty());
}

}  // namespace
}  // namespace ensemble::parallel
