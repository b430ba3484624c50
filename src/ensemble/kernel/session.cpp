#include "ensemble/kernel/session.hpp"

#include "ensemble/wire/ids.hpp"

namespace ensemble::kernel {

Session::Session() : id_(wire::new_id()), username_("kernel") {}

wire::Message Session::make(const std::string& msg_type, wire::Json content, wire::Json parent_header) const {
  wire::Message message;
  message.header.msg_id = wire::new_id();
  message.header.session = id_;
  message.header.username = username_;
  message.header.date = wire::now_iso8601();
  message.header.msg_type = msg_type;
  message.parent_header = std::move(parent_header);
  message.content = std::move(content);
  return message;
}

wire::Message Session::reply(const wire::Message& request, wire::Json content) const {
  wire::Message message =
      make(wire::reply_type_for(request.header.msg_type), std::move(content), request.header.to_json());
  message.identities = request.identities;
  return message;
}

}  // namespace ensemble::kernel
