#include "ensemble/wire/codec.hpp"

#include <algorithm>

namespace ensemble::wire {

namespace {

Status malformed(std::string why) {
  return Status::Error(StatusCode::kMalformed, std::move(why));
}

// Parses a JSON object frame; nlohmann's non-throwing parse keeps bad input
// on the value path.
Result<Json> parse_object(const std::string& frame, const char* what) {
  Json json = Json::parse(frame, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return malformed(std::string(what) + " is not valid JSON");
  if (!json.is_object()) return malformed(std::string(what) + " is not a JSON object");
  return json;
}

// Index of the delimiter frame, or frames.size() if absent.
std::size_t find_delimiter(const Frames& frames) {
  auto it = std::find(frames.begin(), frames.end(), kDelimiter);
  return static_cast<std::size_t>(it - frames.begin());
}

struct Envelope {
  std::size_t delimiter = 0;
};

Result<Envelope> verify_envelope(const Frames& frames, const Signer& signer) {
  Envelope envelope{find_delimiter(frames)};
  if (envelope.delimiter == frames.size()) return malformed("no <IDS|MSG> delimiter");
  if (frames.size() - envelope.delimiter < 6) return malformed("fewer than 5 frames after the delimiter");
  const std::size_t d = envelope.delimiter;
  if (!signer.verify(frames[d + 1], frames[d + 2], frames[d + 3], frames[d + 4], frames[d + 5])) {
    return Status::Error(StatusCode::kBadSignature, "signature does not verify");
  }
  return envelope;
}

Status fill_envelope(const Frames& frames, std::size_t d, Message& message) {
  message.identities.assign(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(d));
  auto header_json = parse_object(frames[d + 2], "header");
  if (!header_json.ok()) return header_json.status();
  auto header = Header::from_json(header_json.value());
  if (!header.ok()) return header.status();
  message.header = std::move(header).value();
  auto parent = parse_object(frames[d + 3], "parent header");
  if (!parent.ok()) return parent.status();
  message.parent_header = std::move(parent).value();
  return Status::Ok();
}

}  // namespace

Frames encode(Message&& message, const Signer& signer) {
  std::vector<std::string> buffers = std::move(message.buffers);
  message.buffers.clear();
  Frames frames = encode(static_cast<const Message&>(message), signer);
  frames.insert(frames.end(), std::make_move_iterator(buffers.begin()), std::make_move_iterator(buffers.end()));
  return frames;
}

Frames encode(const Message& message, const Signer& signer) {
  Frames frames;
  frames.reserve(message.identities.size() + 6 + message.buffers.size());
  frames.insert(frames.end(), message.identities.begin(), message.identities.end());
  frames.emplace_back(kDelimiter);
  std::string header = message.header.to_text();
  std::string parent = message.parent_text ? *message.parent_text
                                            : message.parent_header.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string metadata = message.metadata.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string content = message.content.dump(-1, ' ', false, Json::error_handler_t::replace);
  frames.push_back(signer.sign(header, parent, metadata, content));
  frames.push_back(std::move(header));
  frames.push_back(std::move(parent));
  frames.push_back(std::move(metadata));
  frames.push_back(std::move(content));
  frames.insert(frames.end(), message.buffers.begin(), message.buffers.end());
  return frames;
}

Result<Message> decode(Frames frames, const Signer& signer, ReplayGuard* guard, const DecodeLimits& limits) {
  auto envelope = verify_envelope(frames, signer);
  if (!envelope.ok()) return envelope.status();
  const std::size_t d = envelope.value().delimiter;
  if (guard != nullptr && !guard->admit(frames[d + 1])) {
    return Status::Error(StatusCode::kReplayed, "signature seen before");
  }
  std::size_t total = 0;
  for (const auto& frame : frames) total += frame.size();
  if (total > limits.max_message_bytes) {
    return Status::Error(StatusCode::kTooLarge, "message of " + std::to_string(total) + " bytes exceeds the limit of " +
                                                    std::to_string(limits.max_message_bytes));
  }
  Message message;
  if (Status status = fill_envelope(frames, d, message); !status.ok()) return status;
  auto metadata = parse_object(frames[d + 4], "metadata");
  if (!metadata.ok()) return metadata.status();
  auto content = parse_object(frames[d + 5], "content");
  if (!content.ok()) return content.status();
  message.metadata = std::move(metadata).value();
  message.content = std::move(content).value();
  message.buffers.assign(std::make_move_iterator(frames.begin() + static_cast<std::ptrdiff_t>(d + 6)),
                         std::make_move_iterator(frames.end()));
  return message;
}

Result<Message> decode_envelope(const Frames& frames, const Signer& signer) {
  auto envelope = verify_envelope(frames, signer);
  if (!envelope.ok()) return envelope.status();
  Message message;
  if (Status status = fill_envelope(frames, envelope.value().delimiter, message); !status.ok()) {
    return status;
  }
  return message;
}

}  // namespace ensemble::wire
