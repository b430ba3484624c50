// Broadcast requests (routing frame "b"): one request from the client, sent
// on by the controller to every engine its metadata lists, so the client
// serializes and sends once however many engines there are. Each engine gets
// the request under its own msg_id, "<msg_id>_<engine id>", and answers it
// as a direct request (docs/parallel-protocol.md, "Broadcast").
#include <spdlog/spdlog.h>

#include "controller_impl.hpp"

namespace ensemble::parallel {

void Controller::Impl::forward_broadcast(const std::string& rid, Json header) {
  Json metadata = parse_or_null(view(parts[6]));
  const Json* targets = metadata.is_object() && metadata.contains("targets") ? &metadata["targets"] : nullptr;
  if (targets == nullptr || !targets->is_array()) {
    spdlog::warn("client: dropped a broadcast without a list of targets");
    return;
  }
  std::string msg_id = header["msg_id"];
  std::string msg_type = header["msg_type"];
  std::string parent(view(parts[5])), metadata_text(view(parts[6])), content(view(parts[7]));
  for (const auto& target : *targets) {
    if (!target.is_number_integer()) continue;
    int id = target.get<int>();
    std::string sub_id = msg_id + "_" + std::to_string(id);
    header["msg_id"] = sub_id;
    if (tasks.find(sub_id) != nullptr) {
      spdlog::warn("client: dropped a broadcast whose msg_id {} is already known", sub_id);
      continue;
    }
    Engine* engine = engines.find(id);
    if (engine == nullptr) {
      send_to_client(rid, "e" + std::to_string(id),
                     message(wire::reply_type_for(msg_type),
                             error_content("EngineError", "engine " + std::to_string(id) + " is not registered"),
                             header));
      continue;
    }
    std::string header_text = header.dump();
    std::string signature = signer.sign(header_text, parent, metadata_text, content);
    std::string route = engine->shell_route();
    Parts out;
    out.reserve(parts.size());
    out.emplace_back(route.data(), route.size());
    out.emplace_back(rid.data(), rid.size());
    out.emplace_back(wire::kDelimiter, std::char_traits<char>::length(wire::kDelimiter));
    out.emplace_back(signature.data(), signature.size());
    out.emplace_back(header_text.data(), header_text.size());
    for (std::size_t i = 5; i < parts.size(); ++i) {  // parent, metadata, content, buffers: shared, not copied
      out.emplace_back();
      out.back().copy(parts[i]);
    }
    tasks.add(sub_id, Task{rid, id, msg_type, header_text, false, {}, {}}, "mux", out, 4);
    engine->queue.insert(sub_id);
    balancer.note_direct(sub_id);
    ++messages_since_trim;
    if (!send_to_engine(out)) {
      engine->queue.erase(sub_id);
      answer_task(sub_id, id, "EngineError", "could not reach engine " + std::to_string(id));
      balancer.on_reply(sub_id, id, "error", "EngineError");
    }
  }
}

}  // namespace ensemble::parallel
