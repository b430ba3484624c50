// An Outbox for unit tests: keeps what is sent, in order, with its route.
// Single-threaded; the tests call it from their own thread only.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "ensemble/kernel/channels.hpp"

namespace ensemble::kernel {

class RecordingOutbox final : public Outbox {
 public:
  struct Record {
    Route route;
    wire::Message message;
  };
  std::vector<Record> sent;
  void send(Route route, wire::Message message) override { sent.push_back({route, std::move(message)}); }
  void enqueue(Route route, wire::Message message) override { send(route, std::move(message)); }
  void write_stream(const std::string&, std::string_view, const ParentPtr&) override {}
  void flush() override {}

  std::vector<std::string> types() const {
    std::vector<std::string> out;
    for (const auto& record : sent) out.push_back(record.message.header.msg_type);
    return out;
  }
  const wire::Message& last_of(const std::string& type) const {
    for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
      if (it->message.header.msg_type == type) return it->message;
    }
    throw std::out_of_range(type);
  }
};

}  // namespace ensemble::kernel
