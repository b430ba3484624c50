// The controller requests answered from the task store: db_query and
// resubmit. Both first let the store's writer catch up (TaskStore::sync), so
// they see every task the controller has recorded.
#include <spdlog/spdlog.h>

#include <unordered_map>
#include <unordered_set>

#include "controller_impl.hpp"
#include "frame_blob.hpp"
#include "task_query.hpp"

namespace ensemble::parallel {

namespace {

Json store_unavailable(const TaskStore& store) {
  return error_content("TaskStoreUnavailable",
                       store.enabled() ? "the task store stopped taking writes (see the controller's log)"
                                       : "the controller runs without a task store");
}

bool needs_any(const std::set<std::string>& keys, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(), [&](const char* name) { return keys.contains(name); });
}

}  // namespace

Json Controller::Impl::db_reply(const Json& request, std::vector<std::string>& buffers) {
  std::set<std::string> keys = record_keys_for(request.value("keys", Json()));
  Json query = request.value("query", Json::object());
  if (!query.is_object()) throw std::invalid_argument("the query must be a dict");
  check_query(query);
  std::set<std::string> fields = keys;  // what must be read: the keys asked for and the keys tested
  for (const auto& [key, test] : query.items()) {
    if (key == "buffers" || key == "result_buffers") throw std::invalid_argument("buffers cannot be queried");
    const auto& known = task_record_keys();
    if (std::find(known.begin(), known.end(), key) != known.end()) fields.insert(key);  // else it reads as None
  }
  if (!store.sync()) return store_unavailable(store);
  std::vector<std::string> pinned = msg_ids_pinned_by(query);
  std::unordered_set<std::string> seen;
  std::erase_if(pinned, [&](const std::string& id) { return !seen.insert(id).second; });
  bool with_request = needs_any(fields, {"header", "metadata", "content", "buffers", "submitted"});
  bool with_reply = needs_any(fields, {"engine_uuid", "started", "completed", "result_header", "result_metadata",
                                       "result_content", "result_buffers"});
  auto rows = store.rows(pinned.empty() ? nullptr : &pinned, with_request, with_reply);
  Json records = Json::array(), buffer_lens = Json::array(), result_buffer_lens = Json::array();
  std::vector<std::string> result_buffers;
  for (const auto& row : rows) {
    Engine* engine = row.engine >= 0 ? engines.find(row.engine) : nullptr;
    std::string uuid = engine != nullptr ? engine->uuid : std::string();
    if (!record_matches(task_record(row, fields, uuid, nullptr, nullptr), query)) continue;
    std::size_t before = buffers.size(), result_before = result_buffers.size();
    records.push_back(task_record(row, keys, uuid, &buffers, &result_buffers));
    buffer_lens.push_back(buffers.size() - before);
    result_buffer_lens.push_back(result_buffers.size() - result_before);
  }
  for (auto& buffer : result_buffers) buffers.push_back(std::move(buffer));
  return Json{{"status", "ok"},
              {"records", std::move(records)},
              {"buffer_lens", keys.contains("buffers") ? buffer_lens : Json(nullptr)},
              {"result_buffer_lens", keys.contains("result_buffers") ? result_buffer_lens : Json(nullptr)}};
}

// Sends each request again under a new msg_id (the client's, if it chose
// them) to the scheduler, as the requesting client's. The header stays the
// original's but for msg_id and date; the parent is the original header.
Json Controller::Impl::resubmit_reply(const std::string& rid, const Json& request) {
  auto ids = request.at("msg_ids").get<std::vector<std::string>>();
  std::vector<std::string> new_ids;
  if (request.contains("new_msg_ids")) new_ids = request["new_msg_ids"].get<std::vector<std::string>>();
  if (!new_ids.empty() && new_ids.size() != ids.size()) {
    throw std::invalid_argument("new_msg_ids must name one id per msg_id");
  }
  if (!store.sync()) return store_unavailable(store);
  std::unordered_map<std::string, TaskStore::Row> found;
  for (auto& row : store.rows(&ids, true, false)) found.emplace(row.msg_id, std::move(row));
  Json missing = Json::array();
  for (const auto& id : ids) {
    if (!found.contains(id)) missing.push_back(id);
  }
  if (!missing.empty()) return error_content("KeyError", "No such msg(s): " + missing.dump());
  for (std::size_t i = 0; i < new_ids.size(); ++i) {
    if (tasks.find(new_ids[i]) != nullptr) return error_content("KeyError", "msg_id " + new_ids[i] + " is taken");
  }
  struct Prepared {
    std::vector<std::string_view> frames;
    Json header, metadata;
  };
  std::vector<Prepared> prepared;
  for (const auto& id : ids) {
    if (std::uint64_t left_out = found[id].buffers_left_out; left_out > 0) {
      return error_content("RuntimeError", "the request of " + id + " cannot be resubmitted: its buffers (" +
                                               std::to_string(left_out) + " bytes) were too large to keep");
    }
    auto frames = unpack_frames(found[id].request);
    Prepared p;
    if (frames && frames->size() >= 4) {
      p.header = parse_or_null((*frames)[0]);
      p.metadata = parse_or_null((*frames)[2]);
      p.frames = std::move(*frames);
    }
    if (!p.header.is_object() || !p.header.contains("msg_type") || !p.header["msg_type"].is_string() ||
        !p.metadata.is_object()) {
      return error_content("RuntimeError", "the request of " + id + " was not kept, so it cannot be resubmitted");
    }
    prepared.push_back(std::move(p));
  }
  Json mapping = Json::object();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    Prepared& p = prepared[i];
    std::string new_id = new_ids.empty() ? wire::new_id() : new_ids[i];
    std::string parent(p.frames[0]);
    p.header["msg_id"] = new_id;
    p.header["date"] = wire::now_iso8601();
    std::string header = p.header.dump();
    std::string signature = signer.sign(header, parent, p.frames[2], p.frames[3]);
    Parts out;
    out.reserve(p.frames.size() + 4);
    for (std::string_view frame : {std::string_view(rid), std::string_view("t"), std::string_view(wire::kDelimiter),
                                   std::string_view(signature), std::string_view(header), std::string_view(parent)}) {
      out.emplace_back(frame.data(), frame.size());
    }
    for (std::size_t f = 2; f < p.frames.size(); ++f) out.emplace_back(p.frames[f].data(), p.frames[f].size());
    store.resubmitted(ids[i], new_id);
    mapping[ids[i]] = new_id;
    ++messages_since_trim;
    balancer.submit(std::move(out), rid, new_id, p.header["msg_type"].get<std::string>(), p.metadata);
  }
  return Json{{"status", "ok"}, {"resubmitted", std::move(mapping)}};
}


StoredReply Controller::Impl::read_reply(const std::string& msg_id) {
  // A reply is let go only once written, so even a store that has stopped
  // writing since (sync() false) still has it.
  store.sync();
  std::vector<std::string> ids{msg_id};
  for (auto& row : store.rows(&ids, false, true)) {
    if (row.msg_id == msg_id && row.done) return StoredReply::deserialize(row.reply);
  }
  spdlog::error("task store {}: the reply of {} is missing", store.path(), msg_id);
  return {};
}

}  // namespace ensemble::parallel
