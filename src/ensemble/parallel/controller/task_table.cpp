#include "task_table.hpp"

#include <algorithm>
#include <cstring>

#include "ensemble/wire/json_scan.hpp"
#include "frame_blob.hpp"

namespace ensemble::parallel {

Task& TaskTable::add(const std::string& msg_id, Task task, const char* queue, Parts& request, std::size_t from,
                     std::uint64_t left_out) {
  if (store_ != nullptr) {
    // header, parent, metadata, content; then the buffers, kept when small enough
    std::size_t first_buffer = std::min(from + 4, request.size());
    std::uint64_t buffer_bytes = left_out;
    for (std::size_t i = first_buffer; i < request.size(); ++i) buffer_bytes += request[i].size();
    bool keep_buffers = buffer_bytes <= kLargestKeptRequestBuffers;
    Parts kept = keep(request, from);
    if (!keep_buffers) kept.resize(first_buffer - from);
    store_->submitted(msg_id, task.client_rid, task.engine, task.msg_type, queue, std::move(kept),
                      keep_buffers ? 0 : buffer_bytes);
  }
  std::string date = wire::string_member(task.request_header.str(), "date");
  if (auto it = tasks_.find(msg_id); it != tasks_.end()) return replace(it->second, std::move(task));
  Entry& entry = *tasks_.try_emplace(msg_id, std::move(task)).first;
  place_in_history(entry, std::move(date));
  return entry.second;
}

// A msg_id recorded again: the record is replaced where it stands in history.
Task& TaskTable::replace(Task& kept, Task task) {
  if (kept.done) count_finished(kept, -1);
  Entry *earlier = kept.earlier, *later = kept.later;
  kept = std::move(task);
  kept.earlier = earlier;
  kept.later = later;
  return kept;
}

void TaskTable::link_before(Entry& entry, Entry* next) {
  Entry* previous = next != nullptr ? next->second.earlier : last_;
  entry.second.earlier = previous;
  entry.second.later = next;
  (previous != nullptr ? previous->second.later : first_) = &entry;
  (next != nullptr ? next->second.earlier : last_) = &entry;
}

void TaskTable::unlink(Entry& entry) {
  Entry* previous = entry.second.earlier;
  Entry* next = entry.second.later;
  (previous != nullptr ? previous->second.later : first_) = next;
  (next != nullptr ? next->second.earlier : last_) = previous;
  entry.second.earlier = entry.second.later = nullptr;
}

void TaskTable::place_in_history(Entry& entry, std::string date) {
  std::size_t later = 0;  // recent entries submitted after it (ISO 8601 dates compare as text)
  while (!date.empty() && later < recent_dates_.size() && recent_dates_[recent_dates_.size() - 1 - later] > date) {
    ++later;
  }
  Entry* next = nullptr;  // the entry it goes before: `later` steps back from the end
  for (std::size_t i = 0; i < later; ++i) next = next == nullptr ? last_ : next->second.earlier;
  link_before(entry, next);
  recent_dates_.insert(recent_dates_.end() - static_cast<std::ptrdiff_t>(later), std::move(date));
  if (recent_dates_.size() > kOrderedWindow) recent_dates_.pop_front();
}

void TaskTable::restore(const std::string& msg_id, Task task) {
  if (task.done) count_finished(task, +1);
  if (auto it = tasks_.find(msg_id); it != tasks_.end()) {
    replace(it->second, std::move(task));
  } else {
    link_before(*tasks_.try_emplace(msg_id, std::move(task)).first, nullptr);
  }
  recent_dates_.clear();  // no longer aligned with the end of history
}

void TaskTable::assigned(const std::string& msg_id, const Task& task) {
  if (store_ != nullptr) store_->assigned(msg_id, task.engine);
}

void TaskTable::count_finished(const Task& task, int delta) {
  std::size_t& count = finished_per_engine_[task.engine];
  count = delta > 0 ? count + 1 : count - std::min<std::size_t>(count, 1);
}

std::size_t TaskTable::finished_on(int engine) const {
  auto it = finished_per_engine_.find(engine);
  return it == finished_per_engine_.end() ? 0 : it->second;
}

std::vector<std::string> TaskTable::finished_ids_on(int engine) const {
  std::vector<std::string> ids;
  if (finished_on(engine) == 0) return ids;
  for (const Entry* entry = first_; entry != nullptr; entry = entry->second.later) {
    if (entry->second.done && entry->second.engine == engine) ids.push_back(entry->first);
  }
  return ids;
}

void TaskTable::finished(const std::string& msg_id, Task& task) {
  count_finished(task, +1);
  if (store_ == nullptr) return;
  // shared, not packed: the store's writer packs it, off the controller's thread
  std::uint64_t sequence = store_->finished(msg_id, task.engine, task.reply.frames());
  if (sequence == 0 || !store_->durable()) return;
  in_memory_.push_back({msg_id, sequence, task.reply.bytes()});
  in_memory_bytes_ += in_memory_.back().bytes;
  let_go_of_written_replies();
}

std::size_t TaskTable::let_go_of_written_replies() {
  if (store_ == nullptr) return 0;
  std::size_t before = in_memory_bytes_;
  // Oldest first, and only what is on disk: a store that stopped writing (a
  // full disk) leaves every reply here, as if there were no store.
  std::uint64_t written = store_->written();
  while (in_memory_bytes_ > kRepliesInMemory && !in_memory_.empty() && in_memory_.front().sequence <= written) {
    InMemory oldest = std::move(in_memory_.front());
    in_memory_.pop_front();
    in_memory_bytes_ -= oldest.bytes;
    Task* task = find(oldest.msg_id);
    if (task == nullptr || !task->done || task->reply_in_store) continue;  // purged, or answered again
    task->reply.clear();
    task->reply_in_store = true;
  }
  return before - in_memory_bytes_;
}

Task* TaskTable::find(const std::string& msg_id) {
  auto it = tasks_.find(msg_id);
  return it == tasks_.end() ? nullptr : &it->second;
}

void TaskTable::erase(std::unordered_map<std::string, Task>::iterator it) {
  if (it->second.done) count_finished(it->second, -1);
  unlink(*it);
  tasks_.erase(it);
  recent_dates_.clear();  // no longer aligned with the end of history
}

std::size_t TaskTable::purge_all() {
  std::vector<std::string> gone;
  for (const Entry* entry = first_; entry != nullptr; entry = entry->second.later) {
    if (entry->second.done) gone.push_back(entry->first);
  }
  for (const auto& id : gone) erase(tasks_.find(id));
  if (store_ != nullptr) store_->purged(gone);
  return gone.size();
}

std::size_t TaskTable::purge(const std::vector<std::string>& msg_ids) {
  std::size_t removed = 0;
  for (const auto& id : msg_ids) {
    auto it = tasks_.find(id);
    if (it != tasks_.end() && it->second.done) {
      erase(it);
      ++removed;
      if (store_ != nullptr) store_->purged({id});
    }
  }
  return removed;
}

std::vector<std::string> TaskTable::history() const {
  std::vector<std::string> ids;
  ids.reserve(tasks_.size());
  for (const Entry* entry = first_; entry != nullptr; entry = entry->second.later) ids.push_back(entry->first);
  return ids;
}

}  // namespace ensemble::parallel
