// The controller's engines: ids, connections, liveness and their queues.
// Owned by the controller's one thread; not thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ensemble/wire/message.hpp"

namespace ensemble::parallel {

using Clock = std::chrono::steady_clock;

struct Engine {
  int id = -1;
  std::string uuid;
  std::string hostname;
  std::string connection_file;
  std::string shell_endpoint;  // its kernel's shell socket, where clients may send to it directly
  int pid = 0;
  std::string registration_rid;  // routing id of its one connection (the engine's uplink)
  int fd = -1;                   // that connection's file descriptor here, to match disconnects
  Clock::time_point last_seen{};     // its last message
  std::unordered_set<std::string> queue;  // msg_ids sent, not yet answered
  std::uint64_t copies_round = 0;         // the last barrier it answered (controller_impl.hpp)

  std::string shell_route() const { return "e" + std::to_string(id); }
  std::string control_route() const { return "c" + std::to_string(id); }
  wire::Json describe() const;
};

// Lets a std::string-keyed map be searched with a string_view (no allocation per iopub message).
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};

class EngineTable {
 public:
  // A new id for a new uuid; the existing engine for a uuid seen before
  // (an engine repeats its registration until the reply arrives).
  // An engine that registers again with a new controller asks for its old id
  // (`wanted`), which it gets if it is free.
  Engine& register_engine(const std::string& uuid, bool& is_new, int wanted = -1);
  Engine* find(int id);
  Engine* by_uuid(const std::string& uuid);
  Engine* by_registration_rid(std::string_view rid);
  Engine* by_connection(int fd);
  void index_registration(Engine& engine);
  // Records the connection `fd` a message of `engine` came on (a reconnect changes it).
  void note_connection(Engine& engine, int fd);
  void remove(int id);
  std::map<int, Engine>& all() { return engines_; }

 private:
  int next_id_ = 0;
  std::map<int, Engine> engines_;
  std::unordered_map<std::string, int> by_uuid_;
  std::unordered_map<std::string, int, StringHash, std::equal_to<>> by_registration_;
  std::unordered_map<int, int> by_fd_;
};

}  // namespace ensemble::parallel
