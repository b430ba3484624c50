#include "ensemble/wire/message.hpp"

#include "ensemble/wire/ids.hpp"

namespace ensemble::wire {

Json Header::to_json() const {
  return Json{{"msg_id", msg_id}, {"session", session},   {"username", username},
              {"date", date},     {"msg_type", msg_type}, {"version", version}};
}

std::string Header::to_text() const {
  // Keys in the order nlohmann::json (a std::map) dumps them, so the text is
  // the same bytes as to_json().dump().
  const std::pair<const char*, const std::string*> fields[] = {
      {"date", &date},         {"msg_id", &msg_id},     {"msg_type", &msg_type},
      {"session", &session},   {"username", &username}, {"version", &version}};
  std::size_t size = 2;
  for (const auto& [key, value] : fields) {
    for (unsigned char c : *value) {
      if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return to_json().dump();  // needs escaping
    }
    size += std::char_traits<char>::length(key) + value->size() + 6;
  }
  std::string text;
  text.reserve(size);
  text += '{';
  for (const auto& [key, value] : fields) {
    if (text.size() > 1) text += ',';
    text += '"';
    text += key;
    text += "\":\"";
    text += *value;
    text += '"';
  }
  text += '}';
  return text;
}

namespace {
// Copies an optional string field; a present field of another type is malformed.
bool read_optional_string(const Json& json, const char* name, std::string& out) {
  auto it = json.find(name);
  if (it == json.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}
}  // namespace

Result<Header> Header::from_json(const Json& json) {
  if (!json.is_object()) return Status::Error(StatusCode::kMalformed, "header is not an object");
  Header header;
  header.version.clear();
  for (const char* required : {"msg_id", "msg_type"}) {
    auto it = json.find(required);
    if (it == json.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
      return Status::Error(StatusCode::kMalformed, std::string("header lacks a string '") + required + "'");
    }
  }
  header.msg_id = json["msg_id"].get<std::string>();
  header.msg_type = json["msg_type"].get<std::string>();
  if (!read_optional_string(json, "session", header.session) ||
      !read_optional_string(json, "username", header.username) || !read_optional_string(json, "date", header.date) ||
      !read_optional_string(json, "version", header.version)) {
    return Status::Error(StatusCode::kMalformed, "header field has the wrong type");
  }
  return header;
}

Message make_message(const std::string& msg_type, const std::string& session, const std::string& username,
                     Json content, Json parent_header) {
  Message message;
  message.header.msg_id = new_id();
  message.header.session = session;
  message.header.username = username;
  message.header.date = now_iso8601();
  message.header.msg_type = msg_type;
  message.parent_header = std::move(parent_header);
  message.content = std::move(content);
  return message;
}

std::string reply_type_for(const std::string& request_type) {
  static constexpr std::string_view kSuffix = "_request";
  if (request_type.size() > kSuffix.size() &&
      request_type.compare(request_type.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0) {
    return request_type.substr(0, request_type.size() - kSuffix.size()) + "_reply";
  }
  return request_type + "_reply";
}

}  // namespace ensemble::wire
