#include "task_query.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "frame_blob.hpp"

namespace ensemble::parallel {

namespace {

// Frame positions in the stored blobs (docs/parallel-protocol.md).
constexpr std::size_t kRequestHeader = 0, kRequestMetadata = 2, kRequestContent = 3, kRequestBuffers = 4;
constexpr std::size_t kReplyHeader = 2, kReplyMetadata = 4, kReplyContent = 5, kReplyBuffers = 6;

Json parsed(const std::vector<std::string_view>& frames, std::size_t index) {
  if (index >= frames.size()) return nullptr;
  Json value = Json::parse(frames[index], nullptr, /*allow_exceptions=*/false);
  return value.is_discarded() ? Json(nullptr) : value;
}

Json text_or_null(const std::string& text) { return text.empty() ? Json(nullptr) : Json(text); }

Json json_or_null(const std::string& text) {
  if (text.empty()) return nullptr;
  Json value = Json::parse(text, nullptr, false);
  return value.is_discarded() ? Json(nullptr) : value;
}

Json field_of(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? Json(nullptr) : *it;
}

// Ordering for $lt/$gt/...: numbers with numbers, text with text (ISO dates
// sort as text); anything else does not compare, and the test fails.
int compare(const Json& a, const Json& b, bool& comparable) {
  comparable = true;
  if (a.is_number() && b.is_number()) {
    double x = a.get<double>(), y = b.get<double>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) return a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
  comparable = false;
  return 0;
}

bool contains(const Json& haystack, const Json& needle) {
  if (haystack.is_array()) return std::find(haystack.begin(), haystack.end(), needle) != haystack.end();
  if (haystack.is_string() && needle.is_string()) {
    return haystack.get_ref<const std::string&>().find(needle.get_ref<const std::string&>()) != std::string::npos;
  }
  return false;
}

bool passes(const Json& value, const std::string& op, const Json& operand) {
  bool comparable = false;
  if (op == "$eq") return value == operand;
  if (op == "$ne") return value != operand;
  if (op == "$lt") return compare(value, operand, comparable) < 0 && comparable;
  if (op == "$lte") return compare(value, operand, comparable) <= 0 && comparable;
  if (op == "$gt") return compare(value, operand, comparable) > 0 && comparable;
  if (op == "$gte") return compare(value, operand, comparable) >= 0 && comparable;
  if (op == "$in" || op == "$nin") {
    if (!operand.is_array()) throw std::invalid_argument(op + " takes a list");
    bool found = std::find(operand.begin(), operand.end(), value) != operand.end();
    return op == "$in" ? found : !found;
  }
  if (op == "$all") {
    if (!operand.is_array()) throw std::invalid_argument("$all takes a list");
    return std::all_of(operand.begin(), operand.end(), [&](const Json& item) { return contains(value, item); });
  }
  if (op == "$mod") {
    if (!operand.is_array() || operand.size() != 2 || !operand[0].is_number() || !operand[1].is_number()) {
      throw std::invalid_argument("$mod takes [divisor, remainder]");
    }
    if (!value.is_number() || operand[0].get<double>() == 0) return false;
    return std::fmod(value.get<double>(), operand[0].get<double>()) == operand[1].get<double>();
  }
  if (op == "$exists") return operand.is_boolean() && operand.get<bool>() == !value.is_null();
  throw std::invalid_argument("unknown query operator '" + op + "'");
}

}  // namespace

const std::vector<std::string>& task_record_keys() {
  static const std::vector<std::string> keys = {
      "msg_id",        "header",          "metadata",       "content",       "buffers",       "submitted",
      "client_uuid",   "engine_uuid",     "started",        "completed",     "resubmitted",   "received",
      "result_header", "result_metadata", "result_content", "result_buffers", "queue",        "execute_input",
      "execute_result", "error",          "stdout",         "stderr"};
  return keys;
}

std::set<std::string> record_keys_for(const Json& requested) {
  const auto& all = task_record_keys();
  std::set<std::string> keys;
  if (requested.is_null()) {
    keys.insert(all.begin(), all.end());
    keys.erase("buffers");
    keys.erase("result_buffers");
    return keys;
  }
  Json names = requested.is_string() ? Json::array({requested}) : requested;
  if (!names.is_array()) throw std::invalid_argument("keys must be a list of names");
  for (const auto& name : names) {
    if (!name.is_string() || std::find(all.begin(), all.end(), name.get<std::string>()) == all.end()) {
      throw UnknownRecordKey(name.is_string() ? "'" + name.get<std::string>() + "'" : name.dump());
    }
    keys.insert(name.get<std::string>());
  }
  keys.insert("msg_id");
  return keys;
}

Json task_record(const TaskStore::Row& row, const std::set<std::string>& keys, const std::string& engine_uuid,
                 std::vector<std::string>* buffers, std::vector<std::string>* result_buffers) {
  auto request = unpack_frames(row.request).value_or(std::vector<std::string_view>{});
  std::vector<std::string_view> reply;
  if (row.done) reply = unpack_frames(row.reply).value_or(std::vector<std::string_view>{});
  Json header = parsed(request, kRequestHeader);
  Json result_header = parsed(reply, kReplyHeader);
  Json result_metadata = parsed(reply, kReplyMetadata);
  Json record = Json::object();
  for (const auto& key : keys) {
    if (key == "msg_id") {
      record[key] = row.msg_id;
    } else if (key == "header") {
      record[key] = header;
    } else if (key == "metadata") {
      record[key] = parsed(request, kRequestMetadata);
    } else if (key == "content") {
      record[key] = parsed(request, kRequestContent);
    } else if (key == "submitted") {
      record[key] = field_of(header, "date");
    } else if (key == "client_uuid") {
      record[key] = text_or_null(row.client);
    } else if (key == "engine_uuid") {
      Json named = field_of(result_metadata, "engine_uuid");
      record[key] = named.is_string() ? named : text_or_null(engine_uuid);
    } else if (key == "started") {
      record[key] = field_of(result_metadata, "started");
    } else if (key == "completed") {
      record[key] = row.done ? field_of(result_header, "date") : Json(nullptr);
    } else if (key == "resubmitted") {
      record[key] = text_or_null(row.resubmitted);
    } else if (key == "received") {
      record[key] = text_or_null(row.received);
    } else if (key == "result_header") {
      record[key] = result_header;
    } else if (key == "result_metadata") {
      record[key] = result_metadata;
    } else if (key == "result_content") {
      record[key] = parsed(reply, kReplyContent);
    } else if (key == "queue") {
      record[key] = text_or_null(row.queue);
    } else if (key == "execute_input") {
      record[key] = text_or_null(row.execute_input);
    } else if (key == "execute_result") {
      record[key] = json_or_null(row.execute_result);
    } else if (key == "error") {
      record[key] = json_or_null(row.error);
    } else if (key == "stdout") {
      record[key] = row.stdout_text;
    } else if (key == "stderr") {
      record[key] = row.stderr_text;
    } else if (key == "buffers" && buffers != nullptr) {
      for (std::size_t i = kRequestBuffers; i < request.size(); ++i) buffers->emplace_back(request[i]);
    } else if (key == "result_buffers" && result_buffers != nullptr) {
      for (std::size_t i = kReplyBuffers; i < reply.size(); ++i) result_buffers->emplace_back(reply[i]);
    }
  }
  return record;
}

bool record_matches(const Json& record, const Json& query) {
  if (!query.is_object()) throw std::invalid_argument("a query is a dict of {key: test}");
  for (const auto& [key, test] : query.items()) {
    Json value = field_of(record, key.c_str());
    if (test.is_object()) {
      for (const auto& [op, operand] : test.items()) {
        if (!passes(value, op, operand)) return false;
      }
    } else if (value != test) {
      return false;
    }
  }
  return true;
}

void check_query(const Json& query) {
  if (!query.is_object()) throw std::invalid_argument("a query is a dict of {key: test}");
  for (const auto& [key, test] : query.items()) {
    if (!test.is_object()) continue;
    for (const auto& [op, operand] : test.items()) (void)passes(Json(), op, operand);
  }
}

std::vector<std::string> msg_ids_pinned_by(const Json& query) {
  std::vector<std::string> ids;
  if (!query.is_object() || !query.contains("msg_id")) return ids;
  const Json& test = query["msg_id"];
  if (test.is_string()) {
    ids.push_back(test.get<std::string>());
  } else if (test.is_object() && test.size() == 1 && test.contains("$in") && test["$in"].is_array()) {
    for (const auto& id : test["$in"]) {
      if (!id.is_string()) return {};
      ids.push_back(id.get<std::string>());
    }
  }
  return ids;
}

}  // namespace ensemble::parallel
