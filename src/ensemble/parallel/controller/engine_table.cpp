#include "engine_table.hpp"

#include <algorithm>

namespace ensemble::parallel {

wire::Json Engine::describe() const {
  wire::Json described{{"uuid", uuid}, {"pid", pid}, {"hostname", hostname}, {"connection_file", connection_file}};
  if (!shell_endpoint.empty()) described["shell"] = shell_endpoint;
  return described;
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

void EngineTable::index_registration(Engine& engine) {
  by_registration_[engine.registration_rid] = engine.id;
}

void EngineTable::note_connection(Engine& engine, int fd) {
  if (engine.fd == fd || fd < 0) return;
  if (auto old = by_fd_.find(engine.fd); old != by_fd_.end() && old->second == engine.id) by_fd_.erase(old);
  engine.fd = fd;
  by_fd_[fd] = engine.id;
}

Engine* EngineTable::by_connection(int fd) {
  auto it = by_fd_.find(fd);
  return it == by_fd_.end() ? nullptr : find(it->second);
}

Engine* EngineTable::by_uuid(const std::string& uuid) {
  auto it = by_uuid_.find(uuid);
  return it == by_uuid_.end() ? nullptr : find(it->second);
}

Engine* EngineTable::find(int id) {
  auto it = engines_.find(id);
  return it == engines_.end() ? nullptr : &it->second;
}

Engine* EngineTable::by_registration_rid(std::string_view rid) {
  auto it = by_registration_.find(rid);
  return it == by_registration_.end() ? nullptr : find(it->second);
}

void EngineTable::remove(int id) {
  auto it = engines_.find(id);
  if (it == engines_.end()) return;
  by_uuid_.erase(it->second.uuid);
  if (auto fd = by_fd_.find(it->second.fd); fd != by_fd_.end() && fd->second == id) by_fd_.erase(fd);
  if (auto rid = by_registration_.find(it->second.registration_rid); rid != by_registration_.end() && rid->second == id) {
    by_registration_.erase(rid);
  }
  engines_.erase(it);
}

}  // namespace ensemble::parallel
