#include "ensemble/kernel/session.hpp"

#include "ensemble/wire/ids.hpp"

namespace ensemble::kernel {

Session::Session() : id_(wire::new_id()), username_("kernel") {}

wire::Message Session::make(const std::string& msg_type, wire::Json content, wire::Json parent_header) const {
  return wire::make_message(msg_type, id_, username_, std::move(content), std::move(parent_header));
}

wire::Message Session::reply(const wire::Message& request, wire::Json content) const {
  return reply(request, std::move(content), request.header.to_json(), nullptr);
}

wire::Message Session::reply(const wire::Message& request, wire::Json content, wire::Json parent,
                             std::shared_ptr<const std::string> parent_text) const {
  wire::Message message = make(wire::reply_type_for(request.header.msg_type), std::move(content), std::move(parent));
  message.parent_text = std::move(parent_text);
  message.identities = request.identities;
  return message;
}

}  // namespace ensemble::kernel
