// Message ids and timestamps. Thread-safe.
#pragma once

#include <chrono>
#include <string>

namespace ensemble::wire {

// A random 128-bit id as 32 lowercase hex digits (uuid4 without dashes, as
// jupyter_client's Session does for msg_id).
std::string new_id();

// The current UTC time as ISO 8601 with microseconds and a 'Z', the form
// Jupyter clients parse.
std::string now_iso8601();
// `when` in the same form (microseconds rounded down).
std::string iso8601_at(std::chrono::system_clock::time_point when);

// `bytes` bytes from the operating system's CSPRNG as lowercase hex.
std::string random_hex(std::size_t bytes);

}  // namespace ensemble::wire
