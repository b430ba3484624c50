#include "engine_table.hpp"

#include <algorithm>

namespace ensemble::parallel {

wire::Json Engine::describe() const {
  return wire::Json{{"uuid", uuid}, {"pid", pid}, {"hostname", hostname}, {"connection_file", connection_file}};
}

Engine& EngineTable::register_engine(const std::string& uuid, bool& is_new, int wanted) {
  if (auto known = by_uuid_.find(uuid); known != by_uuid_.end()) {
    is_new = false;
    return engines_.at(known->second);
  }
  is_new = true;
  int id = wanted >= 0 && !engines_.contains(wanted) ? wanted : next_id_;
  next_id_ = std::max(next_id_, id + 1);
  Engine& engine = engines_[id];
  engine.id = id;
  engine.uuid = uuid;
  by_uuid_[uuid] = id;
  return engine;
}

void EngineTable::index_session(Engine& engine) {
  by_session_[engine.kernel_session] = engine.id;
  by_registration_[engine.registration_rid] = engine.id;
}

Engine* EngineTable::find(int id) {
  auto it = engines_.find(id);
  return it == engines_.end() ? nullptr : &it->second;
}

Engine* EngineTable::by_kernel_session(std::string_view session) {
  auto it = by_session_.find(session);
  return it == by_session_.end() ? nullptr : find(it->second);
}

Engine* EngineTable::by_registration_rid(const std::string& rid) {
  auto it = by_registration_.find(rid);
  return it == by_registration_.end() ? nullptr : find(it->second);
}

void EngineTable::remove(int id) {
  auto it = engines_.find(id);
  if (it == engines_.end()) return;
  by_uuid_.erase(it->second.uuid);
  by_session_.erase(it->second.kernel_session);
  by_registration_.erase(it->second.registration_rid);
  engines_.erase(it);
}

}  // namespace ensemble::parallel
