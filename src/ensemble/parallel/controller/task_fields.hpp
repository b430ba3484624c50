// Small value types for the fields of a task record (task_table.hpp). A
// long-lived controller keeps a record per task until it is purged, so each
// field that most finished tasks no longer need costs one pointer, and text
// that many records share is kept once.
// Owned by the controller's one thread, except InternedText's set (a mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../multipart.hpp"

namespace ensemble::parallel {

// Text kept once for the process's life and shared by every record naming it:
// client routing ids and msg_types (few distinct values, each in very many
// records). A record that names a new one costs what a copy of it would.
class InternedText {
 public:
  InternedText() = default;
  InternedText(const std::string& text);  // NOLINT(google-explicit-constructor): a Task is built from text
  InternedText(const char* text) : InternedText(std::string(text)) {}  // NOLINT(google-explicit-constructor)
  const std::string& str() const;
  operator const std::string&() const { return str(); }  // NOLINT(google-explicit-constructor)

 private:
  const std::string* text_ = nullptr;
};

using ClientId = InternedText;

// Text needed only while a task is pending (its request header): one pointer once let go.
class HeldText {
 public:
  HeldText() = default;
  HeldText(std::string text)  // NOLINT(google-explicit-constructor): a Task is built from text
      : text_(text.empty() ? nullptr : std::make_unique<std::string>(std::move(text))) {}
  HeldText(const char* text) : HeldText(std::string(text)) {}  // NOLINT(google-explicit-constructor)
  const std::string& str() const;
  void clear() { text_.reset(); }

 private:
  std::unique_ptr<std::string> text_;
};

// Other clients waiting for a pending task's reply (result_request); rare.
class Watchers {
 public:
  void add(const std::string& client);  // once each
  const std::vector<std::string>& all() const;
  void clear() { list_.reset(); }

 private:
  std::unique_ptr<std::vector<std::string>> list_;
};

// A reply kept for later askers. Small frames are copied into one allocation
// of its own: keeping the received frames would pin ZeroMQ's 8 KiB receive
// buffers, which small frames point into (~7 KiB per task instead of the
// reply's size). Large frames have buffers of their own, so they are shared
// (reference-counted), never copied: a 128 MB result costs no copy here.
class StoredReply {
 public:
  void store(Parts& parts, std::size_t from);
  template <typename Frames>
  void store_frames(const Frames& frames, std::size_t from) {
    clear();
    for (std::size_t i = from; i < frames.size(); ++i) append(frames[i].data(), frames[i].size());
  }
  // The frames again (small ones copied, large ones shared), for a send.
  Parts frames();
  bool empty() const { return data_ == nullptr || data_->sizes.empty(); }
  std::size_t bytes() const;
  // From the task store's blob (pack_frames() of the frames); empty if damaged.
  static StoredReply deserialize(const std::string& blob);
  void clear();

 private:
  struct Data {
    std::string bytes;                  // the small frames, back to back
    std::vector<std::uint32_t> sizes;   // every frame's size
    std::vector<zmq::message_t> large;  // the large frames, in order
  };
  Data& data();  // made when first written
  void append(const void* data, std::size_t size);
  // One pointer while empty: most finished tasks' replies live only in the
  // store, and every task record carries one of these for good.
  std::unique_ptr<Data> data_;
};

}  // namespace ensemble::parallel
