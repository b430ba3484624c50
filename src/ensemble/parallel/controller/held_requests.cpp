// Client queries that wait for the engines' copies of direct requests and replies before
// they are answered (controller_impl.hpp, HeldRequest; docs/parallel-protocol.md).
#include <algorithm>

#include "controller_impl.hpp"

namespace ensemble::parallel {

namespace {

bool names_an_unknown_id(const Json& content, TaskTable& tasks) {
  auto listed = content.find("msg_ids");
  if (listed == content.end() || !listed->is_array()) return false;  // malformed: answered now
  return std::any_of(listed->begin(), listed->end(),
                     [&](const Json& id) { return id.is_string() && tasks.find(id.get_ref<const std::string&>()) == nullptr; });
}

// Queries whose answer covers every task: they wait for the copies of every direct request
// their client may know of through another (controller_impl.hpp, HeldRequest).
bool over_every_task(const std::string& msg_type) {
  return msg_type == "hub_history_request" || msg_type == "db_request" || msg_type == "queue_request";
}

bool lacks_a_reply(const Json& content, TaskTable& tasks) {
  auto listed = content.find("sync");
  if (listed == content.end() || !listed->is_array()) return false;
  return std::any_of(listed->begin(), listed->end(), [&](const Json& id) {
    if (!id.is_string()) return false;
    const Task* task = tasks.find(id.get_ref<const std::string&>());
    return task == nullptr || !task->done;
  });
}

// The engines running the direct requests `content` names that have no reply here yet: the
// reply may have reached the asking client's peer already, past the controller, and sit in
// the engine's copies (copy delay), so a result query waits for those engines' copies.
std::vector<int> engines_of_unanswered_direct(const Json& content, TaskTable& tasks) {
  std::vector<int> out;
  auto listed = content.find("msg_ids");
  if (listed == content.end() || !listed->is_array()) return out;
  for (const Json& id : *listed) {
    const Task* task = id.is_string() ? tasks.find(id.get_ref<const std::string&>()) : nullptr;
    if (task != nullptr && task->direct && !task->done && task->engine >= 0 &&
        std::find(out.begin(), out.end(), task->engine) == out.end()) {
      out.push_back(task->engine);
    }
  }
  return out;
}

}  // namespace

bool Controller::Impl::waits_for_engines(const wire::Message& request) {
  if (!request.content.is_object()) return false;
  return lacks_a_reply(request.content, tasks) ||
         (request.header.msg_type == "result_request" && names_an_unknown_id(request.content, tasks));
}

bool Controller::Impl::hold_for_copies(const std::string& rid, wire::Message& request) {
  HeldRequest hold{rid, std::move(request), Clock::now() + kHoldGrace};
  if (over_every_task(hold.request.header.msg_type)) {
    std::vector<int> every_engine;
    for (auto& [id, engine] : engines.all()) every_engine.push_back(id);
    wait_for_copies_round(hold, std::move(every_engine));
  } else if (waits_for_engines(hold.request)) {
    ask_for_copies(hold.request.content);
  }
  if (!still_waits(hold)) {
    request = std::move(hold.request);
    return false;
  }
  held_requests.push_back(std::move(hold));
  return true;
}

bool Controller::Impl::still_waits(HeldRequest& held) {
  // An engine that answered, or left, is waited for no more: each is looked at until then.
  std::erase_if(held.barrier_engines, [&](int id) {
    const Engine* engine = engines.find(id);
    return engine == nullptr || engine->copies_round >= held.barrier;
  });
  if (!held.barrier_engines.empty() || waits_for_engines(held.request)) return true;
  // Every id a result query names is known now (at once, or later by their copies): the
  // direct requests among them without a reply get one round with the engines running them.
  if (held.barrier == 0 && held.request.header.msg_type == "result_request" && held.request.content.is_object()) {
    std::vector<int> running_them = engines_of_unanswered_direct(held.request.content, tasks);
    if (!running_them.empty()) wait_for_copies_round(held, std::move(running_them));
    return !held.barrier_engines.empty();
  }
  return false;
}

void Controller::Impl::wait_for_copies_round(HeldRequest& held, std::vector<int> ids) {
  held.barrier = ++copies_rounds;
  std::string token = std::to_string(held.barrier);
  std::erase_if(ids, [&](int id) {
    const Engine* engine = engines.find(id);
    if (engine != nullptr) send_copies_request(*engine, token);
    return engine == nullptr;
  });
  held.barrier_engines = std::move(ids);
}

void Controller::Impl::answer_held_requests() {
  if (held_requests.empty()) return;
  auto now = Clock::now();
  std::vector<HeldRequest> due;
  std::erase_if(held_requests, [&](HeldRequest& held) {
    if (now < held.deadline && still_waits(held)) return false;
    due.push_back(std::move(held));
    return true;
  });
  for (auto& held : due) serve(held.rid, std::move(held.request), true);
}

std::optional<Clock::time_point> Controller::Impl::next_held_deadline() const {
  if (held_requests.empty()) return std::nullopt;
  return held_requests.front().deadline;  // held in arrival order, with one grace each
}

}  // namespace ensemble::parallel
