// HMAC-SHA256 message signing (OpenSSL) and the replay guard.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

namespace ensemble::wire {

// Signs and verifies the four signed frames of a message (header, parent,
// metadata, content). An empty key disables signing, as in jupyter_client:
// sign() returns "" and verify() accepts anything.
// Thread safety: const methods may be called from any thread concurrently.
class Signer {
 public:
  explicit Signer(std::string key);
  ~Signer();
  Signer(Signer&&) noexcept;
  Signer& operator=(Signer&&) noexcept;

  bool enabled() const { return !key_.empty(); }
  // Lowercase hex HMAC-SHA256 over the frames in order.
  std::string sign(std::string_view header, std::string_view parent, std::string_view metadata,
                   std::string_view content) const;
  // Constant-time comparison of `signature` against the expected digest.
  bool verify(std::string_view signature, std::string_view header, std::string_view parent, std::string_view metadata,
              std::string_view content) const;

 private:
  class Impl;
  std::string key_;
  std::unique_ptr<Impl> impl_;
};

// Remembers the last `capacity` signatures and rejects repeats.
// Not thread-safe: owned by the thread that decodes incoming messages.
class ReplayGuard {
 public:
  explicit ReplayGuard(std::size_t capacity = 1 << 16) : capacity_(capacity) {}
  // True if `signature` is new (and remembers it); false for a replay.
  // Empty signatures (signing disabled) are never tracked.
  bool admit(std::string_view signature);

 private:
  // A signature is remembered by a 64-bit hash of it, 8 bytes instead of a
  // 64-character copy in both containers (about 250 bytes per message: a
  // controller kept 16 MiB of them). Only verified signatures get here, and an
  // HMAC is uniformly random, so two distinct ones share a hash with odds of
  // about capacity / 2^64 (1 in 2.8e14 at the default capacity).
  std::size_t capacity_;
  std::unordered_set<std::uint64_t> seen_;
  std::deque<std::uint64_t> order_;
};

}  // namespace ensemble::wire
