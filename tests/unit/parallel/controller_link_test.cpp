// ControllerLink: the engine id a request's reply carries, also when the request is read
// before the registration reply (they come on different connections).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "ensemble/parallel/engine.hpp"
#include "ensemble/wire/codec.hpp"

namespace ensemble::parallel {
namespace {

using namespace std::chrono_literals;

ControllerAddress address() {
  ControllerAddress controller;
  controller.key = "a-key";
  return controller;
}

std::vector<zmq::message_t> registration_reply(int id, const std::string& key) {
  wire::Message reply = wire::make_message("registration_reply", "controller-session", "controller",
                                           wire::Json{{"status", "ok"}, {"id", id}, {"heartbeat_period_ms", 1000}});
  std::vector<zmq::message_t> parts;
  for (const auto& frame : wire::encode(reply, wire::Signer(key))) parts.emplace_back(frame.data(), frame.size());
  return parts;
}

TEST(ControllerLinkTest, EngineIdWithinWaitsForARegistrationReplyReadMeanwhile) {
  ControllerLink link(address(), wire::Json{{"uuid", "u"}}, 0us, nullptr);
  EXPECT_EQ(link.engine_id(), -1);
  auto started = std::chrono::steady_clock::now();
  std::thread io([&link] {
    std::this_thread::sleep_for(50ms);
    auto parts = registration_reply(7, "a-key");
    link.on_message(parts);
  });
  EXPECT_EQ(link.engine_id_within(10s), 7);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "woken by the reply, not by the time limit";
  io.join();
  EXPECT_EQ(link.engine_id(), 7);
  EXPECT_EQ(link.engine_id_within(0ms), 7);
}

TEST(ControllerLinkTest, EngineIdWithinIsMinusOneWhenNoReplyComesInTime) {
  ControllerLink link(address(), wire::Json{{"uuid", "u"}}, 0us, nullptr);
  auto bad = registration_reply(3, "another-key");  // a bad signature is dropped, not taken
  link.on_message(bad);
  EXPECT_EQ(link.engine_id_within(30ms), -1);
}

}  // namespace
}  // namespace ensemble::parallel
