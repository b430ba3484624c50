#include "ensemble/wire/ids.hpp"

#include "hex.hpp"

#include <openssl/rand.h>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <stdexcept>
#include <vector>

namespace ensemble::wire {

using detail::to_hex;

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buffer(bytes);
  if (RAND_bytes(buffer.data(), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return to_hex(buffer.data(), bytes);
}

namespace {

// Bumped in every child of a fork: a child must not repeat its parent's ids.
std::atomic<unsigned> fork_generation{0};

std::mt19937_64 seeded_generator() {
  std::random_device device;
  std::seed_seq seed{device(), device(), device(), device()};
  return std::mt19937_64(seed);
}

}  // namespace

std::string new_id() {
  // Message ids need uniqueness, not secrecy: a per-thread generator seeded
  // from the CSPRNG is fast and collision-free in practice. It is seeded
  // again after a fork, or parent and child would make the same ids.
  static const bool watching_forks = [] {
    return pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); }) == 0;
  }();
  (void)watching_forks;
  thread_local std::mt19937_64 generator = seeded_generator();
  thread_local unsigned seeded_in = fork_generation.load();
  if (unsigned now = fork_generation.load(); now != seeded_in) {
    generator = seeded_generator();
    seeded_in = now;
  }
  unsigned char bytes[16];
  for (int half = 0; half < 2; ++half) {
    std::uint64_t value = generator();
    for (int i = 0; i < 8; ++i) bytes[half * 8 + i] = static_cast<unsigned char>(value >> (8 * i));
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return to_hex(bytes, sizeof bytes);
}

std::string now_iso8601() { return iso8601_at(std::chrono::system_clock::now()); }

std::string iso8601_at(std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  auto since_epoch = duration_cast<microseconds>(when.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(since_epoch / 1000000);
  long micros = static_cast<long>(since_epoch % 1000000);
  // Each message is stamped, several per request: the seconds are formatted
  // once per second and thread (gmtime_r and strftime were a few µs per
  // request on an engine), the microseconds by hand.
  thread_local std::time_t formatted_seconds = -1;
  thread_local char text[28];  // "YYYY-MM-DDTHH:MM:SS" + ".uuuuuuZ"
  if (seconds != formatted_seconds) {
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    if (std::strftime(text, 20, "%Y-%m-%dT%H:%M:%S", &utc) != 19) {
      char wide[64];  // a year past 9999: rare enough for the slow way
      std::size_t n = std::strftime(wide, sizeof wide, "%Y-%m-%dT%H:%M:%S", &utc);
      std::snprintf(wide + n, sizeof wide - n, ".%06ldZ", micros);
      return wide;
    }
    formatted_seconds = seconds;
  }
  text[19] = '.';
  for (int i = 25; i >= 20; --i) {
    text[i] = static_cast<char>('0' + micros % 10);
    micros /= 10;
  }
  text[26] = 'Z';
  return std::string(text, 27);
}

}  // namespace ensemble::wire
