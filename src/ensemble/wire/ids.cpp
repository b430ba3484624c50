#include "ensemble/wire/ids.hpp"

#include "hex.hpp"

#include <openssl/rand.h>

#include <pthread.h>

#include <atomic>
#include <chrono>
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

std::string now_iso8601() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto micros = duration_cast<microseconds>(now.time_since_epoch()).count() % 1000000;
  std::time_t seconds = system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  std::size_t n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buffer + n, sizeof buffer - n, ".%06ldZ", static_cast<long>(micros));
  return buffer;
}

}  // namespace ensemble::wire
