#include "zap_handler.hpp"

#include <spdlog/spdlog.h>

#include <vector>

#include "ensemble/wire/thread_name.hpp"

namespace ensemble::kernel {

namespace {
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";  // fixed by the ZAP RFC

std::string z85(const std::string& binary_key) {
  if (binary_key.size() != 32) return {};
  char text[41];
  zmq_z85_encode(text, reinterpret_cast<const uint8_t*>(binary_key.data()), 32);
  return text;
}
}  // namespace

ZapHandler::ZapHandler(zmq::context_t& context, RosterFile& roster)
    : socket_(context, zmq::socket_type::rep), roster_(roster) {
  socket_.set(zmq::sockopt::linger, 0);
}

ZapHandler::~ZapHandler() {
  // The owner shuts the context down first, which ends serve().
  if (thread_.joinable()) thread_.join();
}

void ZapHandler::start() {
  socket_.bind(kZapEndpoint);
  thread_ = std::jthread([this] {
    wire::name_this_thread("zap");
    serve();
  });
}

void ZapHandler::serve() {
  for (;;) {
    std::vector<std::string> request;
    try {
      zmq::message_t part;
      do {
        if (!socket_.recv(part)) break;
        request.emplace_back(static_cast<const char*>(part.data()), part.size());
      } while (part.more());
    } catch (const zmq::error_t& error) {
      if (error.num() != ETERM) spdlog::error("authentication handler stopped: {}", error.what());
      break;
    }
    // version, request id, domain, address, routing id, mechanism, credentials...
    std::string status = "400";
    std::string text = "unknown key";
    std::string user_id;
    if (request.size() >= 7 && request[0] == "1.0" && request[5] == "CURVE") {
      std::string key = z85(request[6]);
      if (auto member = roster_.find_by_key(key, /*reload_if_missing=*/true)) {
        status = "200";
        text = "OK";
        user_id = key;
      } else {
        spdlog::warn("refused a connection from {} with an unknown key {}", request[3], key);
      }
    } else {
      spdlog::warn("refused a connection without CURVE credentials");
      text = "CURVE required";
    }
    std::vector<std::string> reply = {"1.0", request.size() > 1 ? request[1] : "", status, text, user_id, ""};
    try {
      for (std::size_t i = 0; i < reply.size(); ++i) {
        socket_.send(zmq::buffer(reply[i]), i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
    } catch (const zmq::error_t& error) {
      if (error.num() == ETERM) break;
      spdlog::error("authentication reply failed: {}", error.what());
    }
  }
  socket_.close();
}

}  // namespace ensemble::kernel
