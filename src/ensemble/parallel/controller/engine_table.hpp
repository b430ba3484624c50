// The controller's engines: ids, addresses, liveness and their queues.
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
  std::string kernel_session;  // names the engine in its iopub topics
  std::string hostname;
  std::string connection_file;
  int pid = 0;
  std::string registration_rid;  // routing id of its registration socket
  std::string shell_endpoint, control_endpoint, iopub_endpoint;
  bool ready = false;        // its iopub is known to reach us
  std::string probe_msg_id;  // the kernel_info_request that proves it
  Clock::time_point probe_sent{};
  Clock::time_point last_seen{};
  std::unordered_set<std::string> queue;  // msg_ids sent, not yet answered
  std::vector<std::string> completed;     // msg_ids answered, until purged

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
  Engine* by_kernel_session(std::string_view session);
  Engine* by_registration_rid(const std::string& rid);
  void index_session(Engine& engine);
  void remove(int id);
  std::map<int, Engine>& all() { return engines_; }

 private:
  int next_id_ = 0;
  std::map<int, Engine> engines_;
  std::unordered_map<std::string, int> by_uuid_;
  std::unordered_map<std::string, int, StringHash, std::equal_to<>> by_session_;
  std::unordered_map<std::string, int> by_registration_;
};

}  // namespace ensemble::parallel
