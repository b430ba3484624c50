// Arbitrary bytes as a connection file: parsing must fail cleanly or yield
// a connection whose endpoints can be formed.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ensemble/wire/connection_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ensemble::wire;
  auto parsed = ConnectionInfo::from_json_text(std::string(reinterpret_cast<const char*>(data), size));
  if (parsed.ok()) {
    for (auto channel : {Channel::kShell, Channel::kControl, Channel::kStdin, Channel::kIopub, Channel::kHeartbeat}) {
      (void)parsed.value().endpoint(channel);
    }
    (void)parsed.value().to_json().dump();
  }
  return 0;
}
