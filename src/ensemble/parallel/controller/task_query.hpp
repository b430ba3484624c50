// db_query over the task store: ipyparallel's TaskRecord, built from a stored
// row, and its MongoDB-style filters ($lt $gt $lte $gte $eq $ne $in $nin $all
// $mod $exists). Pure functions; the controller's thread calls them.
#pragma once

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "ensemble/wire/message.hpp"
#include "task_store.hpp"

namespace ensemble::parallel {

// A query or `keys` list naming no task record field: the client gets a KeyError with
// the name as its value (what() is "'name'"), as ipyparallel's task databases raise.
struct UnknownRecordKey : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

using wire::Json;

// Every key a TaskRecord has, as ipyparallel names them.
const std::vector<std::string>& task_record_keys();

// The keys db_query returns: `requested` (a list or one name), or all but the
// buffers when it is null. msg_id is always among them. Throws
// std::invalid_argument naming an unknown key.
std::set<std::string> record_keys_for(const Json& requested);

// The record's fields named in `keys`, from a row read with its request and
// reply blobs. Buffers ("buffers", "result_buffers") go to `buffers` and
// `result_buffers`, not into the JSON. `engine_uuid` is the fallback for
// replies that do not name their engine.
Json task_record(const TaskStore::Row& row, const std::set<std::string>& keys, const std::string& engine_uuid,
                 std::vector<std::string>* buffers, std::vector<std::string>* result_buffers);

// True if `record` passes every test of `query`: {key: value} is equality,
// {key: {"$op": operand, ...}} applies each operator. Dates compare as the
// ISO 8601 text they are stored as. Throws std::invalid_argument for an
// unknown operator.
bool record_matches(const Json& record, const Json& query);

// Throws std::invalid_argument for what record_matches would refuse (an unknown
// operator, an operand of the wrong shape), so that a bad query is refused
// even when no record is there to test it on.
void check_query(const Json& query);

// The msg_ids a query pins down ({"msg_id": "x"} or {"msg_id": {"$in": [...]}}),
// so that only those rows are read; empty when it pins none.
std::vector<std::string> msg_ids_pinned_by(const Json& query);

}  // namespace ensemble::parallel
