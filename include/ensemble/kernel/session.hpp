// Builds the messages a kernel sends: a fresh header for each, under the
// kernel's own session id. Immutable after construction; thread-safe.
#pragma once

#include <memory>
#include <string>

#include "ensemble/wire/message.hpp"

namespace ensemble::kernel {

class Session {
 public:
  Session();
  const std::string& id() const { return id_; }
  wire::Message make(const std::string& msg_type, wire::Json content, wire::Json parent_header) const;
  // A reply to `request`, routed back to the same client.
  wire::Message reply(const wire::Message& request, wire::Json content) const;
  // The same, with the request's header already made into `parent` and its
  // text (wire::Message::parent_text), shared by the request's messages.
  wire::Message reply(const wire::Message& request, wire::Json content, wire::Json parent,
                      std::shared_ptr<const std::string> parent_text) const;

 private:
  std::string id_;
  std::string username_;
};

}  // namespace ensemble::kernel
