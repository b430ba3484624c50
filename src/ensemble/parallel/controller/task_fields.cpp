#include "task_fields.hpp"

#include <algorithm>
#include <mutex>
#include <unordered_set>

#include "frame_blob.hpp"

namespace ensemble::parallel {

InternedText::InternedText(const std::string& text) {
  static std::mutex mutex;  // controllers in one process (the unit tests) share the set
  static std::unordered_set<std::string> known;  // nodes: the strings never move
  std::lock_guard lock(mutex);
  text_ = &*known.insert(text).first;
}

const std::string& InternedText::str() const {
  static const std::string kNone;
  return text_ != nullptr ? *text_ : kNone;
}

const std::string& HeldText::str() const {
  static const std::string kNone;
  return text_ != nullptr ? *text_ : kNone;
}

void Watchers::add(const std::string& client) {
  if (list_ == nullptr) list_ = std::make_unique<std::vector<std::string>>();
  if (std::find(list_->begin(), list_->end(), client) == list_->end()) list_->push_back(client);
}

const std::vector<std::string>& Watchers::all() const {
  static const std::vector<std::string> kNone;
  return list_ != nullptr ? *list_ : kNone;
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

std::size_t StoredReply::bytes() const {
  if (data_ == nullptr) return 0;
  std::size_t total = data_->bytes.size();
  for (const auto& frame : data_->large) total += frame.size();
  return total;
}

}  // namespace ensemble::parallel
