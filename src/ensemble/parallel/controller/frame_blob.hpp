// The task store keeps a message's frames as one blob: the frame count, each
// frame's size (u32, native order: the file never leaves this machine's
// controller), then the bytes. Header-only; no state.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ensemble::parallel {

template <typename Frames>
std::string pack_frames(const Frames& frames, std::size_t from = 0) {
  std::string blob;
  std::size_t total = sizeof(std::uint32_t);
  for (std::size_t i = from; i < frames.size(); ++i) total += sizeof(std::uint32_t) + frames[i].size();
  blob.reserve(total);
  auto put = [&blob](std::uint32_t value) { blob.append(reinterpret_cast<const char*>(&value), sizeof value); };
  put(static_cast<std::uint32_t>(frames.size() - from));
  for (std::size_t i = from; i < frames.size(); ++i) put(static_cast<std::uint32_t>(frames[i].size()));
  for (std::size_t i = from; i < frames.size(); ++i) {
    blob.append(static_cast<const char*>(static_cast<const void*>(frames[i].data())), frames[i].size());
  }
  return blob;
}

// Views into `blob`; nullopt if it is damaged (sizes that do not add up).
inline std::optional<std::vector<std::string_view>> unpack_frames(std::string_view blob) {
  std::size_t offset = 0;
  auto get = [&](std::uint32_t& value) {
    if (offset + sizeof value > blob.size()) return false;
    std::memcpy(&value, blob.data() + offset, sizeof value);
    offset += sizeof value;
    return true;
  };
  std::uint32_t count = 0;
  if (!get(count) || count > blob.size() / sizeof(std::uint32_t)) return std::nullopt;
  std::vector<std::uint32_t> sizes(count);
  for (auto& size : sizes) {
    if (!get(size)) return std::nullopt;
  }
  std::size_t total = 0;
  for (auto size : sizes) total += size;
  if (offset + total != blob.size()) return std::nullopt;
  std::vector<std::string_view> frames;
  frames.reserve(count);
  for (auto size : sizes) {
    frames.push_back(blob.substr(offset, size));
    offset += size;
  }
  return frames;
}

}  // namespace ensemble::parallel
