// The controller's state and its handlers, shared by the files that
// implement them: controller.cpp (setup, the poll loop, sending),
// client_requests.cpp (what clients send) and engine_events.cpp (what
// engines send, liveness, shutdown). One thread owns all of it.
#pragma once

#include <stdexcept>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.hpp>

#include <chrono>
#include <string>

#include "../multipart.hpp"
#include "engine_table.hpp"
#include "ensemble/parallel/controller.hpp"
#include "ensemble/wire/codec.hpp"
#include "ensemble/wire/ids.hpp"
#include "load_balancer.hpp"
#include "task_store.hpp"
#include "task_table.hpp"

namespace ensemble::parallel {

using wire::Json;

inline constexpr auto kShutdownLinger = std::chrono::milliseconds(500);
// Messages taken from one socket per wake-up: a flood on one (engines'
// replies, a client's submissions) never holds up the others, or a closed
// engine connection waiting to be noticed. ZeroMQ's poll wakes again at once
// for what is left.
inline constexpr int kBatchPerWake = 1024;

Json error_content(const std::string& ename, const std::string& evalue);
// "e3" -> 3 for kind 'e'; -1 if it is not a route of that kind.
int route_id(std::string_view route, char kind);
Json parse_or_null(std::string_view text);

// A purge that names a task still pending: the client gets an IndexError, as from
// ipyparallel's hub, and nothing is purged.
struct PendingTaskNamed : std::out_of_range {
  using std::out_of_range::out_of_range;
};

struct Controller::Impl {
  explicit Impl(ControllerOptions o)
      : options(std::move(o)),
        signer(wire::random_hex(32)),
        balancer(scheme_from_string(options.scheme).value_or(Scheme::kLeastLoad), options.hwm, engines, tasks,
                 [this](Parts& out) { return send_task(out); },
                 [this](const Task&, const std::string& msg_id, const std::string& ename,
                        const std::string& evalue) { answer_task(msg_id, -1, ename, evalue); }) {
    stop_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (stop_fd < 0) throw std::runtime_error("eventfd failed");
    for (zmq::socket_t* s : {&clients, &iopub, &registration}) {
      // Nothing is dropped for a slow peer: results are only lost when purged.
      s->set(zmq::sockopt::sndhwm, 0);
      s->set(zmq::sockopt::rcvhwm, 0);
      s->set(zmq::sockopt::linger, 1000);
    }
    iopub.set(zmq::sockopt::xpub_verbose, 1);
    // Each engine's one connection (its uplink, kernel/uplink.hpp). No ZeroMQ
    // heartbeats on it: their timeout restarts only when a whole frame has
    // arrived, so they would cut off an engine sending a large result.
    registration.set(zmq::sockopt::router_mandatory, 1);
    registration.set(zmq::sockopt::router_handover, 1);  // a reconnecting engine takes its routing id back
    std::string monitor = "inproc://engine-connections-" + session;
    if (zmq_socket_monitor(registration.handle(), monitor.c_str(), ZMQ_EVENT_DISCONNECTED) != 0) {
      throw std::runtime_error("cannot monitor the engine connections");
    }
    connection_monitor.connect(monitor);
    char name[256] = {};
    hostname = ::gethostname(name, sizeof name - 1) == 0 ? std::string(name) : std::string();
  }
  ~Impl() { ::close(stop_fd); }

  ControllerOptions options;
  zmq::context_t context{1};
  zmq::socket_t clients{context, zmq::socket_type::router};
  zmq::socket_t iopub{context, zmq::socket_type::xpub};
  // Registration, heartbeats, and all traffic with the engines: one connection each.
  zmq::socket_t registration{context, zmq::socket_type::router};
  // Closed engine connections: a local engine whose process is gone is dead at once.
  zmq::socket_t connection_monitor{context, zmq::socket_type::pair};
  std::string hostname;
  int stop_fd = -1;
  wire::Signer signer;
  wire::ReplayGuard replay_guard;
  std::string session = wire::new_id();
  std::string key;
  ControllerAddress address;
  EngineTable engines;
  TaskStore store;  // before `tasks`, which writes to it
  TaskTable tasks;
  LoadBalancer balancer;
  std::size_t messages_since_trim = 0;  // glibc keeps freed heap unless asked to return it
  bool stopping = false;
  Clock::time_point stop_deadline{};
  Parts parts;  // reused receive buffer

  // Controller requests that wait for the engines' copies of direct requests
  // (mirrored_requests.cpp), which travel past the controller:
  //   - a request whose "sync" lists msg_ids the client has had replies to
  //     (docs/parallel-protocol.md): until the controller has those replies,
  //     so what it answers agrees with what the client has seen;
  //   - a result_request naming a msg_id not known yet: its client may have
  //     told another client the msg_id before the copy arrived;
  //   - a query over every task (hub_history, db_query, queue_status): until
  //     every engine has sent the copies it held when asked (a barrier), so it
  //     sees what other clients had from engines directly before it was sent.
  // Each is served once it no longer waits, or after kHoldGrace as it is (an
  // id still unknown is a KeyError then).
  struct HeldRequest {
    std::string rid;
    wire::Message request;
    Clock::time_point deadline;
    std::uint64_t barrier = 0;          // the "send-copies" round it waits for; 0: none
    std::vector<int> barrier_engines;   // the engines asked in it that have not answered
  };
  std::vector<HeldRequest> held_requests;  // in arrival order, one grace each
  static constexpr auto kHoldGrace = std::chrono::milliseconds(250);
  std::uint64_t copies_rounds = 0;  // the last barrier's number
  bool waits_for_engines(const wire::Message& request);
  bool still_waits(HeldRequest& held);
  // Holds `request` (moved from) if it waits for copies, asking the engines for them.
  bool hold_for_copies(const std::string& rid, wire::Message& request);
  // Asks the engines a held request names ("sync_engines") to send the copies they hold.
  void ask_for_copies(const Json& content);
  // Asks the engines `ids` for their copies with a token, a new round's number, which each
  // answers with "copies-sent" behind its copies; `held` waits for that round from them.
  void wait_for_copies_round(HeldRequest& held, std::vector<int> ids);
  void send_copies_request(const Engine& engine, std::string_view token);
  void on_copies_sent(Engine& engine);
  // Serves the held requests that no longer wait, and those past their deadline.
  void answer_held_requests();
  std::optional<Clock::time_point> next_held_deadline() const;
  // Answers a decoded controller request, unless it waits (above) and `held` is false.
  void serve(const std::string& rid, wire::Message request, bool held);
  // Sends the reply to a controller request (`content`, `buffers`) to client `rid`.
  void answer(const std::string& rid, const wire::Message& request, Json content, std::vector<std::string> buffers);


  // sending
  wire::Message message(const std::string& msg_type, Json content, Json parent = Json::object()) const;
  void send_to_client(const std::string& rid, const std::string& route, wire::Message msg);
  void publish(const std::string& msg_type, Json content);

  // clients
  void on_client();
  void forward_to_engine();
  // broadcast.cpp: a request for several engines, sent on to each under its own msg_id.
  void forward_broadcast(const std::string& rid, Json header);
  const Json& task_metadata(std::string_view text);
  std::string last_task_metadata_text;  // task_metadata()'s last frame, and its parse
  Json last_task_metadata;
  bool send_task(Parts& out);
  // Answers a request no engine will answer (a dead engine, an impossible or
  // timed-out task, an abort), and keeps the answer as the task's result.
  void answer_task(const std::string& msg_id, int engine_id, const std::string& ename, const std::string& evalue);
  void handle_controller_request();
  Json connection_reply();
  Json queue_reply(const Json& request);
  Json result_reply(const std::string& rid, const Json& request);
  // A finished task's reply that only the store still has; empty if it cannot be read.
  StoredReply read_reply(const std::string& msg_id);
  // Tasks not yet on an engine are answered "aborted" here; those an engine
  // holds are passed to its control (it aborts them if they have not started).
  Json abort_reply(const Json& request);
  Json purge_reply(const Json& request);
  // store_requests.cpp: ipyparallel's db_query (buffers go to `buffers`) and resubmit.
  Json db_reply(const Json& request, std::vector<std::string>& buffers);
  Json resubmit_reply(const std::string& rid, const Json& request);

  // engines
  // Everything engines send: registration messages, and their shell and
  // control replies and iopub, each led by its channel frame.
  void on_registration();
  void on_registration_message();
  void register_engine(const wire::Message& msg);
  void reply_to_engine(const wire::Message& request, Json content);
  // Sends `parts` ([route, client, <IDS|MSG>, ...], route "e<id>" for shell
  // or "c<id>" for control) to that engine; false if it cannot be reached.
  bool send_to_engine(Parts& parts);
  // `frames` (an encoded message without identities) to `engine`'s control.
  void send_to_control(const Engine& engine, const wire::Frames& frames);
  // `parts`: [route, client, <IDS|MSG>, ...] from engine `id`; `kind` 'e' (shell) or 'c' (control).
  void on_engine_reply(int id, char kind);
  // False when the reply is not for the client (a task that moves to another engine).
  bool record_reply(int engine_id);
  // `parts`: [channel, client identity, <IDS|MSG>, ...], a copy of a request a
  // client sent `engine` directly, or of its reply (mirrored_requests.cpp).
  // `left_out`: bytes of a request's buffers the engine did not copy.
  void on_mirrored(Engine& engine, bool request, std::uint64_t left_out = 0);
  // `parts`: [topic, <IDS|MSG>, ...] published by `engine`.
  void on_engine_iopub(const Engine& engine);
  void record_output();
  void on_subscription();
  // Fails what the engine still owed, forgets it, and tells the clients.
  void engine_gone(int id, const std::string& why);
  void on_tick();
  void on_engine_disconnect();
  void begin_shutdown();
};

}  // namespace ensemble::parallel
