#include "task_table.hpp"

#include <cstring>

namespace ensemble::parallel {

void StoredReply::store(const Parts& parts, std::size_t from) {
  clear();
  std::size_t total = 0;
  for (std::size_t i = from; i < parts.size(); ++i) total += parts[i].size();
  bytes_.reserve(total);
  for (std::size_t i = from; i < parts.size(); ++i) append(parts[i].data(), parts[i].size());
}

void StoredReply::append(const void* data, std::size_t size) {
  bytes_.append(static_cast<const char*>(data), size);
  sizes_.push_back(static_cast<std::uint32_t>(size));
}

Parts StoredReply::frames() const {
  Parts parts;
  parts.reserve(sizes_.size());
  std::size_t offset = 0;
  for (auto size : sizes_) {
    parts.emplace_back(bytes_.data() + offset, size);
    offset += size;
  }
  return parts;
}

void StoredReply::clear() {
  std::string().swap(bytes_);
  std::vector<std::uint32_t>().swap(sizes_);
}

std::string StoredReply::serialize() const {
  std::string blob;
  auto put = [&blob](std::uint32_t value) { blob.append(reinterpret_cast<const char*>(&value), sizeof value); };
  put(static_cast<std::uint32_t>(sizes_.size()));
  for (auto size : sizes_) put(size);
  blob += bytes_;
  return blob;
}

StoredReply StoredReply::deserialize(const std::string& blob) {
  StoredReply reply;
  std::size_t offset = 0;
  auto get = [&](std::uint32_t& value) {
    if (offset + sizeof value > blob.size()) return false;
    std::memcpy(&value, blob.data() + offset, sizeof value);
    offset += sizeof value;
    return true;
  };
  std::uint32_t count = 0;
  if (!get(count)) return reply;
  std::vector<std::uint32_t> sizes(count);
  for (auto& size : sizes) {
    if (!get(size)) return StoredReply();
  }
  std::size_t total = 0;
  for (auto size : sizes) total += size;
  if (offset + total != blob.size()) return StoredReply();  // damaged: treat as absent
  for (auto size : sizes) {
    reply.append(blob.data() + offset, size);
    offset += size;
  }
  return reply;
}

Task& TaskTable::add(const std::string& msg_id, Task task) {
  if (store_ != nullptr) store_->submitted(msg_id, task.client_rid, task.engine, task.msg_type, task.request_header);
  auto [it, inserted] = tasks_.insert_or_assign(msg_id, std::move(task));
  if (inserted) history_.push_back(msg_id);
  return it->second;
}

void TaskTable::restore(const std::string& msg_id, Task task) {
  auto [it, inserted] = tasks_.insert_or_assign(msg_id, std::move(task));
  if (inserted) history_.push_back(msg_id);
}

void TaskTable::assigned(const std::string& msg_id, const Task& task) {
  if (store_ != nullptr) store_->assigned(msg_id, task.engine);
}

void TaskTable::finished(const std::string& msg_id, const Task& task) {
  if (store_ != nullptr) store_->finished(msg_id, task.engine, task.reply.serialize());
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
      if (store_ != nullptr) store_->purged({id});
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
