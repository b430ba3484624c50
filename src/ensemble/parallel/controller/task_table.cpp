#include "task_table.hpp"

namespace ensemble::parallel {

Task& TaskTable::add(const std::string& msg_id, Task task) {
  auto [it, inserted] = tasks_.insert_or_assign(msg_id, std::move(task));
  if (inserted) history_.push_back(msg_id);
  return it->second;
}

Task* TaskTable::find(const std::string& msg_id) {
  auto it = tasks_.find(msg_id);
  return it == tasks_.end() ? nullptr : &it->second;
}

std::size_t TaskTable::purge_all() {
  std::size_t before = tasks_.size();
  std::erase_if(tasks_, [](const auto& entry) { return entry.second.done; });
  compact_history();
  return before - tasks_.size();
}

std::size_t TaskTable::purge(const std::vector<std::string>& msg_ids) {
  std::size_t removed = 0;
  for (const auto& id : msg_ids) {
    auto it = tasks_.find(id);
    if (it != tasks_.end() && it->second.done) {
      tasks_.erase(it);
      ++removed;
    }
  }
  if (removed > 0) compact_history();
  return removed;
}

void TaskTable::compact_history() {
  std::deque<std::string> kept;
  for (auto& id : history_) {
    if (tasks_.contains(id)) kept.push_back(std::move(id));
  }
  history_ = std::move(kept);
}

}  // namespace ensemble::parallel
