#include "task_table.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "ensemble/wire/json_scan.hpp"
#include "frame_blob.hpp"

namespace ensemble::parallel {

ClientId::ClientId(const std::string& rid) {
  static std::mutex mutex;  // controllers in one process (the unit tests) share the set
  static std::unordered_set<std::string> known;  // nodes: the strings never move
  std::lock_guard lock(mutex);
  text_ = &*known.insert(rid).first;
}

const std::string& ClientId::str() const {
  static const std::string kNone;
  return text_ != nullptr ? *text_ : kNone;
}

StoredReply::Data& StoredReply::data() {
  if (data_ == nullptr) data_ = std::make_unique<Data>();
  return *data_;
}

void StoredReply::store(Parts& parts, std::size_t from) {
  clear();
  std::size_t small = 0;
  for (std::size_t i = from; i < parts.size(); ++i) {
    if (parts[i].size() < kSharedFrameFrom) small += parts[i].size();
  }
  Data& kept = data();
  kept.bytes.reserve(small);
  for (std::size_t i = from; i < parts.size(); ++i) {
    if (parts[i].size() < kSharedFrameFrom) {
      append(parts[i].data(), parts[i].size());
    } else {
      kept.large.emplace_back();
      kept.large.back().copy(parts[i]);
      kept.sizes.push_back(static_cast<std::uint32_t>(parts[i].size()));
    }
  }
}

void StoredReply::append(const void* bytes, std::size_t size) {
  Data& kept = data();
  kept.bytes.append(static_cast<const char*>(bytes), size);
  kept.sizes.push_back(static_cast<std::uint32_t>(size));
}

Parts StoredReply::frames() {
  Parts parts;
  if (data_ == nullptr) return parts;
  parts.reserve(data_->sizes.size());
  std::size_t offset = 0, next_large = 0;
  for (auto size : data_->sizes) {
    if (size < kSharedFrameFrom) {
      parts.emplace_back(data_->bytes.data() + offset, size);
      offset += size;
    } else {
      parts.emplace_back();
      parts.back().copy(data_->large.at(next_large++));
    }
  }
  return parts;
}

void StoredReply::clear() { data_.reset(); }

StoredReply StoredReply::deserialize(const std::string& blob) {
  StoredReply reply;
  auto frames = unpack_frames(blob);
  if (!frames) return reply;  // damaged: treat as absent
  for (auto frame : *frames) {
    if (frame.size() < kSharedFrameFrom) {
      reply.append(frame.data(), frame.size());
    } else {
      Data& kept = reply.data();
      kept.large.emplace_back(frame.data(), frame.size());
      kept.sizes.push_back(static_cast<std::uint32_t>(frame.size()));
    }
  }
  return reply;
}

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
  std::string date = wire::string_member(task.request_header, "date");
  auto [it, inserted] = tasks_.insert_or_assign(msg_id, std::move(task));
  if (inserted) place_in_history(msg_id, std::move(date));
  return it->second;
}

void TaskTable::place_in_history(const std::string& msg_id, std::string date) {
  std::size_t later = 0;  // recent entries submitted after it (ISO 8601 dates compare as text)
  while (!date.empty() && later < recent_dates_.size() && recent_dates_[recent_dates_.size() - 1 - later] > date) {
    ++later;
  }
  history_.insert(history_.end() - static_cast<std::ptrdiff_t>(later), msg_id);
  recent_dates_.insert(recent_dates_.end() - static_cast<std::ptrdiff_t>(later), std::move(date));
  if (recent_dates_.size() > kOrderedWindow) recent_dates_.pop_front();
}

void TaskTable::restore(const std::string& msg_id, Task task) {
  if (Task* before = find(msg_id); before != nullptr && before->done) count_finished(*before, -1);
  if (task.done) count_finished(task, +1);
  auto [it, inserted] = tasks_.insert_or_assign(msg_id, std::move(task));
  if (inserted) history_.push_back(msg_id);
  recent_dates_.clear();  // no longer aligned with the end of history_
}

void TaskTable::assigned(const std::string& msg_id, const Task& task) {
  if (store_ != nullptr) store_->assigned(msg_id, task.engine);
}

std::size_t StoredReply::bytes() const {
  if (data_ == nullptr) return 0;
  std::size_t total = data_->bytes.size();
  for (const auto& frame : data_->large) total += frame.size();
  return total;
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
  for (const auto& id : history_) {
    auto it = tasks_.find(id);
    if (it != tasks_.end() && it->second.done && it->second.engine == engine) ids.push_back(id);
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

std::size_t TaskTable::purge_all() {
  std::size_t before = tasks_.size();
  if (store_ != nullptr) {
    std::vector<std::string> gone;
    for (const auto& [id, task] : tasks_) {
      if (task.done) gone.push_back(id);
    }
    store_->purged(gone);
  }
  std::erase_if(tasks_, [](const auto& entry) { return entry.second.done; });
  finished_per_engine_.clear();
  purged_in_history_ += before - tasks_.size();
  compact_history_if_sparse();
  return before - tasks_.size();
}

std::size_t TaskTable::purge(const std::vector<std::string>& msg_ids) {
  std::size_t removed = 0;
  for (const auto& id : msg_ids) {
    auto it = tasks_.find(id);
    if (it != tasks_.end() && it->second.done) {
      count_finished(it->second, -1);
      tasks_.erase(it);
      ++removed;
      if (store_ != nullptr) store_->purged({id});
    }
  }
  purged_in_history_ += removed;
  compact_history_if_sparse();
  return removed;
}

std::vector<std::string> TaskTable::history() const {
  std::vector<std::string> live;
  live.reserve(history_.size() - purged_in_history_);
  for (const auto& id : history_) {
    if (tasks_.contains(id)) live.push_back(id);
  }
  return live;
}

void TaskTable::compact_history_if_sparse() {
  if (purged_in_history_ * 2 < history_.size()) return;
  std::deque<std::string> kept;
  for (auto& id : history_) {
    if (tasks_.contains(id)) kept.push_back(std::move(id));
  }
  history_ = std::move(kept);
  purged_in_history_ = 0;
  recent_dates_.clear();  // no longer aligned with the end of history_
}

}  // namespace ensemble::parallel
