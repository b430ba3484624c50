// The I/O loop's side of access control (collaboration): who a message is
// from, and cutting iopub subscribers off after a revocation.
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "io_loop.hpp"
#include "socket_setup.hpp"

namespace ensemble::kernel {

void IoLoop::enable_curve(std::string secret_key, RosterFile& roster) {
  curve_secret_key_ = std::move(secret_key);
  roster_ = &roster;
  revocations_seen_ = roster.revocations();
}

bool IoLoop::authenticate(const std::string& public_key, wire::Message& message, const char* channel) {
  auto member = public_key.empty() ? std::nullopt : roster_->find_by_key(public_key);
  if (!member) {
    spdlog::warn("{}: dropped {} from a sender without access (key {})", channel, message.header.msg_type,
                 public_key.empty() ? "none" : public_key);
    return false;
  }
  // What the client claims is replaced by who it is.
  message.header.username = member->username;
  message.role = to_string(member->role);
  return true;
}

void IoLoop::rebind_iopub_after_revocation() {
  // ZAP only runs at handshake, and a PUB socket cannot drop one
  // subscriber: rebinding cuts every subscription; the remaining members
  // reconnect by themselves and pass the roster again.
  revocations_seen_ = roster_->revocations();
  spdlog::warn("access revoked: reconnecting every iopub subscriber");
  iopub_.close();
  iopub_ = zmq::socket_t(context_, zmq::socket_type::xpub);
  iopub_topics_.clear();  // the subscribers come back, and subscribe again
  iopub_.set(zmq::sockopt::linger, 1000);
  iopub_.set(zmq::sockopt::sndhwm, 100000);
  configure_curve_server(iopub_, curve_secret_key_);
  // libzmq releases the old listener asynchronously: retry for a while.
  for (int attempt = 0;; ++attempt) {
    try {
      iopub_.bind(iopub_endpoint_);
      return;
    } catch (const zmq::error_t& error) {
      if (attempt >= 200) {
        spdlog::critical("cannot rebind iopub at {}: {}", iopub_endpoint_, error.what());
        return;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace ensemble::kernel
