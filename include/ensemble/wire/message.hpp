// The Jupyter wire message as the program sees it. JSON is the wire format;
// the header, which every layer branches on, is a typed struct. Parent header,
// metadata and content stay JSON: they are echoed or handed to handlers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ensemble/wire/status.hpp"

namespace ensemble::wire {

using Json = nlohmann::json;

inline constexpr const char* kProtocolVersion = "5.4";

struct Header {
  std::string msg_id;
  std::string session;
  std::string username;
  std::string date;
  std::string msg_type;
  std::string version = kProtocolVersion;

  Json to_json() const;
  // to_json().dump(), byte for byte, without building a Json object: every
  // message sent encodes its header, and that object cost a dozen allocations.
  std::string to_text() const;
  // Requires msg_id and msg_type (strings); the other fields default to empty.
  static Result<Header> from_json(const Json& json);
};

// A buffer left where it already is (a received ZeroMQ frame, a Python
// object's memory) instead of being copied into a std::string. `keeper` owns
// that memory and keeps it alive; it may be released on any thread.
struct SharedBuffer {
  std::shared_ptr<const void> keeper;
  const char* data = nullptr;
  std::size_t size = 0;
};

struct Message {
  std::vector<std::string> identities;  // ROUTER routing prefix, echoed on replies
  Header header;
  Json parent_header = Json::object();
  // parent_header as JSON text, when the sender wrote it once for several
  // messages (a request's busy, reply and idle): encode() sends it instead of
  // dumping parent_header, which must describe the same header. Null: dump.
  std::shared_ptr<const std::string> parent_text;
  Json metadata = Json::object();
  Json content = Json::object();
  std::vector<std::string> buffers;
  // Buffers sent or received without a copy; on the wire they follow
  // `buffers`. The kernel's receiver puts every buffer of a large message
  // here (none in `buffers`); an engine's apply reply puts its result's here.
  // The codec ignores them: the kernel's I/O loop sends and receives them.
  std::vector<SharedBuffer> shared_buffers;
  // Set by a kernel that authenticated the sender (CurveZMQ and its roster):
  // the sender's role; empty when the kernel runs without authentication.
  std::string role;
};

// A message under a fresh header: a new msg_id and the current date.
Message make_message(const std::string& msg_type, const std::string& session, const std::string& username,
                     Json content, Json parent_header = Json::object());

// The msg_type a request's reply carries: "execute_request" -> "execute_reply".
std::string reply_type_for(const std::string& request_type);

}  // namespace ensemble::wire
