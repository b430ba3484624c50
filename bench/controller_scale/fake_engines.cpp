// A worker process of fake engines (see the design note in controller_scale.cpp).
//
// Per engine: one DEALER to the controller's registration port, as a real
// engine's uplink (kernel/uplink.hpp): registration and heartbeats, shell
// requests in and replies out led by "shell", status on iopub led by "iopub".
// Thousands of sockets are watched with one epoll set over their ZMQ_FD
// mailboxes, so a task costs the worker O(1) whatever the engine count.
#include "fake_engines.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "ensemble/wire/codec.hpp"
#include "ensemble/wire/ids.hpp"
#include "ensemble/wire/message.hpp"
#include "ensemble/wire/signer.hpp"

namespace ensemble::bench {

namespace {

using Clock = std::chrono::steady_clock;
using Parts = std::vector<zmq::message_t>;
using wire::Json;

constexpr auto kRegistrationRetry = std::chrono::seconds(3);
// pickle.dumps(None, protocol=5): the result payload of a function returning None.
constexpr std::string_view kPickledNone = "\x80\x05N.";

std::string_view view(const zmq::message_t& frame) { return {static_cast<const char*>(frame.data()), frame.size()}; }

// The msg_type in a header's JSON text, found without parsing it.
std::string_view msg_type_of(std::string_view header) {
  std::size_t key = header.find("\"msg_type\"");
  if (key == std::string_view::npos) return {};
  std::size_t open = header.find('"', header.find(':', key + 10));
  std::size_t close = open == std::string_view::npos ? open : header.find('"', open + 1);
  return close == std::string_view::npos ? std::string_view() : header.substr(open + 1, close - open - 1);
}

struct FakeEngine {
  // From OpenSSL's CSPRNG, which reseeds after fork (see run_fake_engine_worker).
  std::string uuid = wire::random_hex(16);
  std::string session = wire::random_hex(16);  // its kernel session: names it in iopub topics
  std::string status_topic = "kernel." + session + ".status";
  int id = -1;                           // given by the controller
  Clock::time_point registration_sent{};
  std::unique_ptr<zmq::socket_t> link;  // DEALER: its one connection to the controller
};

class Worker {
 public:
  explicit Worker(const WorkerPlan& plan) : plan_(plan), signer_(plan.key) {
    context_.set(zmq::ctxopt::max_sockets, plan.engine_count + 64);
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    engines_.resize(plan.engine_count);
    for (int i = 0; i < plan.engine_count; ++i) build(i);
  }

  [[noreturn]] void run() {
    int next_to_register = 0, in_flight = 0;
    std::deque<std::pair<Clock::time_point, int>> heartbeats;  // FIFO: every engine has the same period
    auto period = std::chrono::milliseconds(plan_.heartbeat_period_ms);
    epoll_event events[256];
    while (true) {
      auto now = Clock::now();
      while (in_flight < plan_.registration_window && next_to_register < plan_.engine_count) {
        send_registration(next_to_register++);
        ++in_flight;
      }
      for (int i : just_registered_) heartbeats.emplace_back(now + period, i);
      in_flight -= static_cast<int>(just_registered_.size());
      just_registered_.clear();
      while (!heartbeats.empty() && heartbeats.front().first <= now) {
        int i = heartbeats.front().second;
        heartbeats.pop_front();
        send_signed(*engines_[i].link, {}, "heartbeat", engines_[i].session, "{}", "{}", "{}");
        drain(i);
        heartbeats.emplace_back(now + period, i);
      }
      if (now - last_retry_scan_ > kRegistrationRetry) {  // a lost registration: ask again
        last_retry_scan_ = now;
        for (int i = 0; i < next_to_register; ++i) {
          if (engines_[i].id < 0 && now - engines_[i].registration_sent > kRegistrationRetry) send_registration(i);
        }
      }
      int count = ::epoll_wait(epoll_, events, std::size(events), 10);
      for (int e = 0; e < count; ++e) drain(static_cast<int>(events[e].data.u64));
    }
  }

 private:
  void build(int i) {
    FakeEngine& engine = engines_[i];
    engine.link = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
    engine.link->set(zmq::sockopt::routing_id, "engine-" + engine.uuid);
    engine.link->set(zmq::sockopt::linger, 0);
    engine.link->set(zmq::sockopt::sndhwm, 0);
    engine.link->set(zmq::sockopt::rcvhwm, 0);
    engine.link->connect(plan_.registration_endpoint);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = static_cast<std::uint64_t>(i);
    int fd = engine.link->get(zmq::sockopt::fd);
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) std::perror("epoll_ctl");
  }

  void send_registration(int i) {
    FakeEngine& engine = engines_[i];
    // Its kernel's own ports (for a console) are not needed here: none are bound.
    Json connection{{"transport", "tcp"}, {"ip", "127.0.0.1"}, {"shell_port", 0}, {"control_port", 0},
                    {"iopub_port", 0},    {"stdin_port", 0},   {"hb_port", 0}};
    Json content{{"uuid", engine.uuid}, {"session", engine.session}, {"pid", ::getpid()},
                 {"hostname", "fake-engine"}, {"connection", connection}};
    engine.registration_sent = Clock::now();
    send_signed(*engine.link, {}, "registration_request", engine.session, "{}", "{}", content.dump());
    drain(i);
  }

  // Sends [prefix..., <IDS|MSG>, signature, header, parent, metadata, content, extra...] under a fresh header.
  void send_signed(zmq::socket_t& socket, const std::vector<std::string_view>& prefix, const std::string& msg_type,
                   const std::string& session, std::string_view parent, std::string_view metadata,
                   std::string_view content, std::string_view extra = {}) {
    wire::Header header{wire::new_id(), session, "engine", wire::now_iso8601(), msg_type};
    std::string header_text = header.to_json().dump();
    std::string signature = signer_.sign(header_text, parent, metadata, content);
    auto more = zmq::send_flags::sndmore;
    for (auto frame : prefix) socket.send(zmq::buffer(frame), more);
    socket.send(zmq::buffer(std::string_view(wire::kDelimiter)), more);
    socket.send(zmq::buffer(signature), more);
    socket.send(zmq::buffer(header_text), more);
    socket.send(zmq::buffer(parent), more);
    socket.send(zmq::buffer(metadata), more);
    socket.send(zmq::buffer(content), extra.empty() ? zmq::send_flags::none : more);
    if (!extra.empty()) socket.send(zmq::buffer(extra), zmq::send_flags::none);
  }

  // On the link, led by its channel frame, as a real engine copies its iopub there.
  void publish_status(const FakeEngine& engine, std::string_view parent, const char* state) {
    std::string content = std::string("{\"execution_state\":\"") + state + "\"}";
    send_signed(*engine.link, {"iopub", engine.status_topic}, "status", engine.session, parent, "{}", content);
  }

  // Reads everything the socket holds. ZMQ_FD only signals a change of state,
  // and a pipe the socket has never found empty raises none: so every use of
  // a socket (a send too) ends here, which leaves it waiting for a signal.
  void drain(int index) {
    FakeEngine& engine = engines_[index];
    zmq::socket_t& socket = *engine.link;
    while (socket.get(zmq::sockopt::events) & ZMQ_POLLIN) {
      parts_.clear();
      do {
        parts_.emplace_back();
        (void)socket.recv(parts_.back(), zmq::recv_flags::none);
      } while (parts_.back().more());
      std::string_view lead = view(parts_[0]);
      if (lead == "shell") {
        answer(engine, parts_);
      } else if (lead == wire::kDelimiter && engine.id < 0 && on_registration_reply(engine, parts_)) {
        just_registered_.push_back(index);
      }
      // "control" (shutdown_request, abort_request) is ignored: the benchmark
      // kills the controller and the workers itself.
    }
  }

  bool on_registration_reply(FakeEngine& engine, const Parts& parts) {
    wire::Frames frames;
    for (const auto& part : parts) frames.emplace_back(view(part));
    auto decoded = wire::decode(std::move(frames), signer_, nullptr);
    if (!decoded.ok() || decoded.value().header.msg_type != "registration_reply") return false;
    const Json& content = decoded.value().content;
    if (content.value("status", "") != "ok") {
      std::fprintf(stderr, "worker %d: registration refused: %s\n", plan_.worker, content.dump().c_str());
      return false;
    }
    engine.id = content.value("id", -1);
    return engine.id >= 0;
  }

  // One shell request: ["shell", client, <IDS|MSG>, ...]; the reply repeats the routing.
  void answer(FakeEngine& engine, const Parts& parts) {
    std::size_t d = 0;
    while (d < parts.size() && view(parts[d]) != wire::kDelimiter) ++d;
    if (d == 0 || d + 5 >= parts.size()) return;
    std::vector<std::string_view> routing;
    for (std::size_t i = 0; i < d; ++i) routing.push_back(view(parts[i]));
    std::string_view request_header = view(parts[d + 2]);
    std::string_view type = msg_type_of(request_header);
    if (type != "apply_request" && type != "execute_request") return;
    std::string started = wire::now_iso8601();
    if (plan_.status_per_task) publish_status(engine, request_header, "busy");
    Json metadata{{"engine_id", engine.id}, {"engine_uuid", engine.uuid}, {"started", started},
                  {"completed", wire::now_iso8601()}, {"status", "ok"}};
    bool apply = type == "apply_request";
    send_signed(*engine.link, routing, apply ? "apply_reply" : "execute_reply", engine.session, request_header,
                metadata.dump(), apply ? R"({"status":"ok"})" : R"({"status":"ok","execution_count":1})",
                apply ? kPickledNone : std::string_view());
    if (plan_.status_per_task) publish_status(engine, request_header, "idle");
  }

  WorkerPlan plan_;
  wire::Signer signer_;
  zmq::context_t context_{1};
  int epoll_ = -1;
  std::vector<FakeEngine> engines_;
  Parts parts_;
  std::vector<int> just_registered_;  // engines whose registration_reply came: they start heartbeating
  Clock::time_point last_retry_scan_ = Clock::now();
};

}  // namespace

void run_fake_engine_worker(const WorkerPlan& plan) {
  // On a thread of its own: wire::new_id() keeps a thread_local generator
  // seeded once, so a forked child's main thread would repeat its parent's
  // (and its sibling workers') msg_ids. A new thread seeds a new one.
  std::thread([&plan] {
    try {
      Worker worker(plan);
      worker.run();
    } catch (const std::exception& error) {
      std::fprintf(stderr, "fake engine worker %d failed: %s\n", plan.worker, error.what());
      std::fflush(stderr);
      ::_exit(3);
    }
  }).join();
  ::_exit(3);
}

}  // namespace ensemble::bench
