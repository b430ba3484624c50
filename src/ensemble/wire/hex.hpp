// Private to the wire layer: lowercase hex of raw bytes.
#pragma once

#include <cstddef>
#include <string>

namespace ensemble::wire::detail {

// Writes 2 * size characters at `out`.
inline void write_hex(const unsigned char* data, std::size_t size, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 0x0f];
  }
}

inline std::string to_hex(const unsigned char* data, std::size_t size) {
  std::string out(size * 2, '0');
  write_hex(data, size, out.data());
  return out;
}

}  // namespace ensemble::wire::detail
