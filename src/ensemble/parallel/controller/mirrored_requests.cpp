// Requests that clients sent to an engine directly (docs/parallel-protocol.md,
// "Direct requests"): the engine mirrors each, and its reply, on its uplink,
// and the controller records them as if it had routed them, so that
// queue_status, get_result, the task store and abort see every request.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>

#include "controller_impl.hpp"
#include "ensemble/kernel/uplink.hpp"
#include "ensemble/wire/json_scan.hpp"

namespace ensemble::parallel {

void Controller::Impl::on_mirrored(Engine& engine, bool request, std::uint64_t left_out) {
  // parts: [channel, client identity, <IDS|MSG>, signature, header, parent, metadata, content, ...]
  if (parts.size() < 8 || !view(parts[1]).ends_with(kDirectIdentitySuffix) || view(parts[2]) != wire::kDelimiter) {
    spdlog::warn("engine {}: dropped a mirrored message that is malformed", engine.id);
    return;
  }
  std::string_view identity = view(parts[1]);
  std::string client(identity.substr(0, identity.size() - kDirectIdentitySuffix.size()));
  std::string route = engine.shell_route();
  ++messages_since_trim;
  if (!request) {
    // Laid out as an engine's routed reply: [client, route, <IDS|MSG>, ...].
    parts[0].rebuild(client.data(), client.size());
    parts[1].rebuild(route.data(), route.size());
    record_reply(engine.id);  // the client has it already; clients that asked for it get it now
    return;
  }
  // Laid out as a routed request: [route, client, <IDS|MSG>, signature, header, ...].
  parts[0].rebuild(route.data(), route.size());
  parts[1].rebuild(client.data(), client.size());
  if (!verified(parts, 2, signer)) {
    spdlog::warn("engine {}: dropped a mirrored request with a bad signature", engine.id);
    return;
  }
  static constexpr std::array<std::string_view, 2> kNames{"msg_id", "msg_type"};
  std::array<std::string, 2> fields;  // msg_id, msg_type
  if (!wire::scan_string_members(view(parts[4]), kNames, fields) || fields[0].empty() || fields[1].empty()) {
    spdlog::warn("engine {}: dropped a mirrored request whose header is not valid", engine.id);
    return;
  }
  if (tasks.find(fields[0]) != nullptr) {
    spdlog::warn("engine {}: dropped a mirrored request whose msg_id {} is already known", engine.id, fields[0]);
    return;
  }
  Task task{client, engine.id, fields[1], std::string(view(parts[4])), false, {}, {}};
  task.direct = true;
  tasks.add(fields[0], std::move(task), "mux", parts, 4, left_out);
  engine.queue.insert(fields[0]);
  balancer.note_direct(fields[0]);
}

void Controller::Impl::ask_for_copies(const Json& content) {
  // The engines a held request waits on hold their copies for up to their copy delay, to
  // send several at once; asked, they send them now.
  auto listed = content.find("sync_engines");
  if (listed == content.end() || !listed->is_array()) return;
  for (const Json& id : *listed) {
    bool an_id = id.is_number_integer() && id.get<long long>() >= 0 && id.get<long long>() <= INT_MAX;
    Engine* engine = an_id ? engines.find(static_cast<int>(id.get<long long>())) : nullptr;
    if (engine != nullptr) send_copies_request(*engine, {});
  }
}

void Controller::Impl::send_copies_request(const Engine& engine, std::string_view token) {
  try {
    auto more = token.empty() ? zmq::send_flags::none : zmq::send_flags::sndmore;
    registration.send(zmq::buffer(engine.registration_rid), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    registration.send(zmq::buffer(std::string_view(kernel::kUplinkSendCopies)), more | zmq::send_flags::dontwait);
    if (!token.empty()) registration.send(zmq::buffer(token), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& error) {  // gone meanwhile: its departure answers the request
    spdlog::debug("asking engine {} for its copies: {}", engine.id, error.what());
  }
}

void Controller::Impl::on_copies_sent(Engine& engine) {
  // parts: [rid, "copies-sent", token]
  std::uint64_t round = 0;
  std::string_view token = parts.size() == 3 ? view(parts[2]) : std::string_view();
  auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), round);
  if (token.empty() || error != std::errc() || end != token.data() + token.size() || round > copies_rounds) {
    spdlog::warn("engine {}: dropped a malformed '{}'", engine.id, kernel::kUplinkCopiesSent);
    return;
  }
  engine.copies_round = std::max(engine.copies_round, round);
}

}  // namespace ensemble::parallel
