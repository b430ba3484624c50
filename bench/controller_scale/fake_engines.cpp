// A worker process of fake engines (see the design note in controller_scale.cpp).
//
// Per engine: a DEALER to the controller's registration port (registration,
// heartbeats), one bound ROUTER that the controller's shell and control
// sockets both connect to (each connection is its own pipe, so replies go
// back on the one the request came from), and a bound PUB for iopub (or one
// PUB shared by the worker's engines: the controller's SUB connects to an
// endpoint only once, so every engine naming it costs one connection).
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
  std::unique_ptr<zmq::socket_t> registration;  // DEALER
  std::unique_ptr<zmq::socket_t> shell;         // ROUTER: shell and control
  zmq::socket_t* iopub = nullptr;               // its own PUB or the worker's
};

enum class SocketKind : std::uint64_t { kShell = 0, kRegistration = 1 };

class Worker {
 public:
  explicit Worker(const WorkerPlan& plan) : plan_(plan), signer_(plan.key) {
    // Two sockets per engine (three with its own PUB) in this context alone.
    context_.set(zmq::ctxopt::max_sockets, 3 * plan.engine_count + 64);
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (!plan.iopub_per_engine) shared_iopub_ = bound_pub(0);
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
        send_signed(*engines_[i].registration, {}, "heartbeat", engines_[i].session, "{}", "{}", "{}");
        drain(i, SocketKind::kRegistration);
        heartbeats.emplace_back(now + period, i);
      }
      if (now - last_retry_scan_ > kRegistrationRetry) {  // a lost registration: ask again
        last_retry_scan_ = now;
        for (int i = 0; i < next_to_register; ++i) {
          if (engines_[i].id < 0 && now - engines_[i].registration_sent > kRegistrationRetry) send_registration(i);
        }
      }
      int count = ::epoll_wait(epoll_, events, std::size(events), 10);
      for (int e = 0; e < count; ++e) {
        int index = static_cast<int>(events[e].data.u64 >> 1);
        auto kind = static_cast<SocketKind>(events[e].data.u64 & 1);
        drain(index, kind);
      }
    }
  }

 private:
  std::string endpoint(int port) const { return "ipc://" + plan_.ipc_prefix + "-" + std::to_string(port); }

  std::unique_ptr<zmq::socket_t> bound_pub(int port) {
    auto pub = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::pub);
    pub->set(zmq::sockopt::sndhwm, 0);
    pub->set(zmq::sockopt::linger, 0);
    pub->bind(endpoint(port));
    return pub;
  }

  void watch(zmq::socket_t& socket, int index, SocketKind kind) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = (static_cast<std::uint64_t>(index) << 1) | static_cast<std::uint64_t>(kind);
    int fd = socket.get(zmq::sockopt::fd);
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) std::perror("epoll_ctl");
  }

  // Ports: shell and control share 1..n; own iopub PUBs n+1..2n; a shared PUB 0.
  void build(int i) {
    FakeEngine& engine = engines_[i];
    engine.shell = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::router);
    engine.shell->set(zmq::sockopt::sndhwm, 0);
    engine.shell->set(zmq::sockopt::rcvhwm, 0);
    engine.shell->set(zmq::sockopt::linger, 0);
    engine.shell->bind(endpoint(1 + i));
    watch(*engine.shell, i, SocketKind::kShell);
    drain(i, SocketKind::kShell);
    if (plan_.iopub_per_engine) {
      own_iopub_.push_back(bound_pub(1 + plan_.engine_count + i));
      engine.iopub = own_iopub_.back().get();
    } else {
      engine.iopub = shared_iopub_.get();
    }
    engine.registration = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
    engine.registration->set(zmq::sockopt::linger, 0);
    engine.registration->set(zmq::sockopt::sndhwm, 0);
    engine.registration->connect(plan_.registration_endpoint);
    watch(*engine.registration, i, SocketKind::kRegistration);
  }

  void send_registration(int i) {
    FakeEngine& engine = engines_[i];
    Json connection{{"transport", "ipc"},
                    {"ip", plan_.ipc_prefix},
                    {"shell_port", 1 + i},
                    {"control_port", 1 + i},
                    {"iopub_port", plan_.iopub_per_engine ? 1 + plan_.engine_count + i : 0},
                    {"stdin_port", 0},
                    {"hb_port", 0}};
    Json content{{"uuid", engine.uuid}, {"session", engine.session}, {"pid", ::getpid()},
                 {"hostname", "fake-engine"}, {"connection", connection}, {"connection_file", ""}};
    engine.registration_sent = Clock::now();
    send_signed(*engine.registration, {}, "registration_request", engine.session, "{}", "{}", content.dump());
    drain(i, SocketKind::kRegistration);
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

  void publish_status(const FakeEngine& engine, std::string_view parent, const char* state) {
    std::string content = std::string("{\"execution_state\":\"") + state + "\"}";
    send_signed(*engine.iopub, {engine.status_topic}, "status", engine.session, parent, "{}", content);
  }

  // Reads everything the socket holds. ZMQ_FD only signals a change of state,
  // and a pipe the socket has never found empty raises none: so every use of
  // a socket (a send too) ends here, which leaves it waiting for a signal.
  void drain(int index, SocketKind kind) {
    FakeEngine& engine = engines_[index];
    zmq::socket_t& socket = kind == SocketKind::kShell ? *engine.shell : *engine.registration;
    while (socket.get(zmq::sockopt::events) & ZMQ_POLLIN) {
      parts_.clear();
      do {
        parts_.emplace_back();
        (void)socket.recv(parts_.back(), zmq::recv_flags::none);
      } while (parts_.back().more());
      if (kind == SocketKind::kShell) {
        answer(engine, parts_);
      } else if (engine.id < 0 && on_registration_reply(engine, parts_)) {
        just_registered_.push_back(index);
      }
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

  // One request from the controller's shell or control connection.
  void answer(FakeEngine& engine, const Parts& parts) {
    std::size_t d = 0;
    while (d < parts.size() && view(parts[d]) != wire::kDelimiter) ++d;
    if (d == 0 || d + 5 >= parts.size()) return;
    std::vector<std::string_view> routing;
    for (std::size_t i = 0; i < d; ++i) routing.push_back(view(parts[i]));
    std::string_view request_header = view(parts[d + 2]);
    std::string_view type = msg_type_of(request_header);
    if (type == "kernel_info_request") {
      // The controller's probe: the reply, and busy/idle on iopub with the probe as parent.
      publish_status(engine, request_header, "busy");
      send_signed(*engine.shell, routing, "kernel_info_reply", engine.session, request_header, "{}",
                  R"({"status":"ok","protocol_version":"5.4","implementation":"fake-engine",)"
                  R"("implementation_version":"0","language_info":{"name":"python"},"banner":""})");
      publish_status(engine, request_header, "idle");
    } else if (type == "apply_request" || type == "execute_request") {
      std::string started = wire::now_iso8601();
      if (plan_.status_per_task) publish_status(engine, request_header, "busy");
      Json metadata{{"engine_id", engine.id}, {"engine_uuid", engine.uuid}, {"started", started},
                    {"completed", wire::now_iso8601()}, {"status", "ok"}};
      bool apply = type == "apply_request";
      send_signed(*engine.shell, routing, apply ? "apply_reply" : "execute_reply", engine.session, request_header,
                  metadata.dump(), apply ? R"({"status":"ok"})" : R"({"status":"ok","execution_count":1})",
                  apply ? kPickledNone : std::string_view());
      if (plan_.status_per_task) publish_status(engine, request_header, "idle");
    }
    // Anything else (shutdown_request, abort_request on control) is ignored:
    // the benchmark kills the controller and the workers itself.
  }

  WorkerPlan plan_;
  wire::Signer signer_;
  zmq::context_t context_{1};
  int epoll_ = -1;
  std::unique_ptr<zmq::socket_t> shared_iopub_;
  std::vector<std::unique_ptr<zmq::socket_t>> own_iopub_;
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
