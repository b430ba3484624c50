// The controller's task records (task_table.hpp) without a store: history,
// finished counts, and what a record costs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "task_table.hpp"

namespace ensemble::parallel {
namespace {

TEST(TaskTable, HistoryKeepsSubmissionOrderAndForgetsPurgedFinishedTasksOnly) {
  TaskTable table;
  Parts none;
  for (const char* id : {"a", "b", "c", "d"}) table.add(id, Task{"client", 0, "apply_request", "{}", false, {}, {}}, "mux", none, 0);
  for (const char* id : {"a", "b", "d"}) table.find(id)->done = true;
  EXPECT_EQ(table.purge({"b", "c"}), 1u) << "c is pending: it stays";
  EXPECT_EQ(table.history(), (std::vector<std::string>{"a", "c", "d"}));
  EXPECT_EQ(table.purge_all(), 2u);
  EXPECT_EQ(table.history(), std::vector<std::string>{"c"});
  table.add("e", Task{"client", 0, "apply_request", "{}", false, {}, {}}, "mux", none, 0);
  EXPECT_EQ(table.history(), (std::vector<std::string>{"c", "e"}));
}

TEST(TaskTable, ARequestThatArrivesLateTakesItsPlaceInHistoryBySubmissionDate) {
  TaskTable table;
  Parts none;
  auto header = [](const char* date) { return std::string(R"({"msg_id":"x","date":")") + date + "\"}"; };
  auto add = [&](const char* id, const char* date) {
    table.add(id, Task{"client", 0, "apply_request", header(date), false, {}, {}}, "mux", none, 0);
  };
  add("first", "2026-11-26T10:00:00.000001Z");
  add("third", "2026-11-26T10:00:00.000003Z");
  add("second", "2026-11-26T10:00:00.000002Z");  // a direct request's copy, from a slower engine
  add("fourth", "2026-11-26T10:00:00.000004Z");
  table.add("undated", Task{"client", 0, "apply_request", "{}", false, {}, {}}, "mux", none, 0);
  add("zeroth", "2026-11-26T09:59:59.999999Z");  // older than all: but an undated one is not passed
  EXPECT_EQ(table.history(), (std::vector<std::string>{"first", "second", "third", "fourth", "undated", "zeroth"}));
}

TEST(TaskTable, CountsFinishedTasksPerEngineAndListsThemUntilPurged) {
  TaskTable table;
  Parts none;
  for (const char* id : {"a", "b", "c", "d"}) table.add(id, Task{"client", 0, "apply_request", "{}", false, {}, {}}, "mux", none, 0);
  for (const char* id : {"a", "b", "c"}) {
    Task& task = *table.find(id);
    task.done = true;
    task.engine = std::string_view(id) == "b" ? 1 : 0;
    table.finished(id, task);
  }
  EXPECT_EQ(table.finished_on(0), 2u);
  EXPECT_EQ(table.finished_on(1), 1u);
  EXPECT_EQ(table.finished_on(7), 0u);
  EXPECT_EQ(table.finished_ids_on(0), (std::vector<std::string>{"a", "c"})) << "d is pending";
  table.purge({"a"});
  EXPECT_EQ(table.finished_on(0), 1u);
  EXPECT_EQ(table.finished_ids_on(0), std::vector<std::string>{"c"});
  table.purge_all();
  EXPECT_EQ(table.finished_on(0) + table.finished_on(1), 0u);
  EXPECT_TRUE(table.finished_ids_on(1).empty());
}

TEST(TaskTable, ATaskRecordKeepsItsClientIdOnceAndAnEmptyReplyAsOnePointer) {
  TaskTable table;
  Parts none;
  std::string rid = "client-with-a-routing-id-past-the-small-string-size";
  table.add("a", Task{rid, 0, "apply_request", "{}", false, {}, {}}, "mux", none, 0);
  table.add("b", Task{rid, 0, "apply_request", "{}", false, {}, {}}, "mux", none, 0);
  EXPECT_EQ(table.find("a")->client_rid.str(), rid);
  EXPECT_EQ(&table.find("a")->client_rid.str(), &table.find("b")->client_rid.str()) << "one copy for both";
  EXPECT_EQ(ClientId().str(), "");
  static_assert(sizeof(StoredReply) == sizeof(void*), "a reply let go of costs a task record one pointer");
  StoredReply reply;
  EXPECT_TRUE(reply.empty());
  EXPECT_EQ(reply.bytes(), 0u);
  EXPECT_TRUE(reply.frames().empty());
}

TEST(TaskTable, HistoryStaysInOrderWhateverIsPurgedFirstLastOrBetween) {
  TaskTable table;
  Parts none;
  for (const char* id : {"a", "b", "c", "d", "e"}) {
    table.add(id, Task{"client", 0, "apply_request", "{}", true, {}, {}}, "mux", none, 0);
  }
  EXPECT_EQ(table.purge({"a", "c", "e"}), 3u);
  EXPECT_EQ(table.history(), (std::vector<std::string>{"b", "d"}));
  table.add("f", Task{"client", 0, "apply_request", "{}", false, {}, {}}, "mux", none, 0);
  table.restore("b", Task{"client", 0, "apply_request", "{}", true, {}, {}});  // in place
  EXPECT_EQ(table.history(), (std::vector<std::string>{"b", "d", "f"}));
  EXPECT_EQ(table.purge_all(), 2u);
  EXPECT_EQ(table.history(), std::vector<std::string>{"f"});
  table.find("f")->done = true;
  EXPECT_EQ(table.purge({"f"}), 1u);
  EXPECT_TRUE(table.history().empty());
  table.add("g", Task{"client", 0, "apply_request", "{}", false, {}, {}}, "mux", none, 0);
  EXPECT_EQ(table.history(), std::vector<std::string>{"g"});
}

TEST(TaskTable, ARecordsPendingOnlyFieldsCostOnePointerEachOnceLetGo) {
  Task task{"client", 0, "apply_request", R"({"msg_id":"a"})", false, {}, {}};
  task.watchers.add("other");
  task.watchers.add("other");
  EXPECT_EQ(task.watchers.all(), std::vector<std::string>{"other"}) << "each watcher once";
  EXPECT_EQ(task.request_header.str(), R"({"msg_id":"a"})");
  task.request_header.clear();
  task.watchers.clear();
  EXPECT_EQ(task.request_header.str(), "");
  EXPECT_TRUE(task.watchers.all().empty());
  static_assert(sizeof(HeldText) == sizeof(void*) && sizeof(Watchers) == sizeof(void*) &&
                sizeof(InternedText) == sizeof(void*));
  Task other{"c", 0, "apply_request", "", false, {}, {}};
  EXPECT_EQ(&other.msg_type.str(), &task.msg_type.str()) << "one msg_type string for every record";
}

}  // namespace
}  // namespace ensemble::parallel
