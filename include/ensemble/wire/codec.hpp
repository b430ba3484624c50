// The Jupyter multipart codec:
//   [identities...] "<IDS|MSG>" signature header parent metadata content [buffers...]
// Pure functions over frames held as strings; no sockets, no threads.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "ensemble/wire/message.hpp"
#include "ensemble/wire/signer.hpp"
#include "ensemble/wire/status.hpp"

namespace ensemble::wire {

using Frames = std::vector<std::string>;

inline constexpr const char* kDelimiter = "<IDS|MSG>";

struct DecodeLimits {
  std::size_t max_message_bytes = std::size_t{1} << 30;  // sum of all frame sizes
};

// Serialises and signs `message`. Never fails.
Frames encode(const Message& message, const Signer& signer);
// The same, moving the buffers out of `message` instead of copying them.
Frames encode(Message&& message, const Signer& signer);

// Parses, verifies the signature and (when `guard` is given) rejects replays.
// Errors: kMalformed, kBadSignature, kReplayed, kTooLarge.
Result<Message> decode(Frames frames, const Signer& signer, ReplayGuard* guard, const DecodeLimits& limits = {});

// For answering a message decode() refused as kTooLarge: verifies the
// signature and parses only identities, header and parent header.
Result<Message> decode_envelope(const Frames& frames, const Signer& signer);

}  // namespace ensemble::wire
