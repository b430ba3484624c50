// Feeds arbitrary multipart messages to the decoder: frames are the input
// split at 0xFF bytes. The first byte picks signing on or off, so both the
// signature check and the JSON parsing behind it are reached.
#include <cstddef>
#include <cstdint>

#include "ensemble/wire/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ensemble::wire;
  if (size == 0) return 0;
  static const Signer unsigned_signer("");
  static const Signer keyed_signer("fuzz-key");
  const Signer& signer = (data[0] & 1) != 0 ? keyed_signer : unsigned_signer;
  Frames frames(1);
  for (std::size_t i = 1; i < size; ++i) {
    if (data[i] == 0xFF) {
      frames.emplace_back();
    } else {
      frames.back().push_back(static_cast<char>(data[i]));
    }
  }
  // Make the delimiter reachable without the fuzzer having to guess it.
  if ((data[0] & 2) != 0) frames.insert(frames.begin(), kDelimiter);
  ReplayGuard guard(16);
  auto decoded = decode(frames, signer, &guard, DecodeLimits{1 << 16});
  if (decoded.ok()) {
    // Whatever decodes must encode and decode again to the same header.
    Frames again = encode(decoded.value(), signer);
    auto round_trip = decode(again, signer, nullptr);
    if (!round_trip.ok() || round_trip.value().header.msg_id != decoded.value().header.msg_id) __builtin_trap();
  }
  decode_envelope(frames, signer);
  return 0;
}
