// controller_scale_bench: the controller's CPU cost per task as the number of
// engines grows. A benchmark, not a test: it prints a table and writes JSON.
//
// Design
// - For each engine count N, a fresh real `ensemble controller` (--db memory)
//   is started as a child; its CPU (utime+stime of all its threads, from
//   /proc/<pid>/stat) is read before and after a fixed number of tasks.
// - The N engines are fakes, hosted by forked worker processes
//   (--engines-per-worker each, so that no process of ours runs out of fds):
//   they register like real engines (signed registration_request, heartbeats
//   at the controller's period) and answer every apply_request at once with a
//   signed apply_reply (status ok, metadata with engine_id/engine_uuid/
//   started/completed, parent = the request's header, a pickled None as
//   result). No Python anywhere. Each fake engine has one socket, a DEALER
//   connected to the controller, as a real engine's uplink: everything goes
//   over it (--status-per-task adds busy/idle on iopub). See fake_engines.cpp.
// - This process is the client, built as Ensemble's client core is: a DEALER
//   "<session>.tx" that sends, a DEALER "<session>" that receives, and a SUB
//   on the controller's iopub. It keeps --window tasks in flight: load-balanced
//   (routing frame "t") and direct (routing frame "e<N>", engines in turn).
// - The controller's fds bound N: it holds one connection per engine, against
//   a hard RLIMIT_NOFILE here of 20,000. An N that does not fit is still tried
//   and reported as failed, with the controller's fd count and log.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "child_processes.hpp"
#include "ensemble/wire/codec.hpp"
#include "ensemble/wire/ids.hpp"
#include "ensemble/wire/message.hpp"
#include "ensemble/wire/signer.hpp"
#include "fake_engines.hpp"

namespace bench = ensemble::bench;
namespace wire = ensemble::wire;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string ensemble = "build-bench/bin/ensemble";
  std::vector<int> engine_counts = {10, 100, 1000};
  int tasks = 20000;
  int warmup = 2000;
  int window = 64;  // tasks in flight
  std::string json_path;
  int engines_per_worker = 1000;
  int heartbeat_period_ms = 1000;
  bool status_per_task = false;
  bool direct = true;
  double idle_seconds = 3;
  int stall_seconds = 30;  // registration or tasks without progress this long: the run failed
};

void usage() {
  std::cerr << "usage: controller_scale_bench --ensemble PATH [--engines 10,100,1000] [--tasks 20000]\n"
               "  [--warmup 2000] [--window 64] [--json PATH] [--engines-per-worker 1000]\n"
               "  [--heartbeat-period MS] [--status-per-task] [--no-direct]\n"
               "  [--idle-seconds 3] [--stall-seconds 30]\n";
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--ensemble") o.ensemble = value();
    else if (arg == "--engines") {
      o.engine_counts.clear();
      std::stringstream list(value());
      for (std::string n; std::getline(list, n, ',');) o.engine_counts.push_back(std::stoi(n));
    } else if (arg == "--tasks") o.tasks = std::stoi(value());
    else if (arg == "--warmup") o.warmup = std::stoi(value());
    else if (arg == "--window") o.window = std::max(1, std::stoi(value()));
    else if (arg == "--json") o.json_path = value();
    else if (arg == "--engines-per-worker") o.engines_per_worker = std::max(1, std::stoi(value()));
    else if (arg == "--heartbeat-period") o.heartbeat_period_ms = std::stoi(value());
    else if (arg == "--status-per-task") o.status_per_task = true;
    else if (arg == "--no-direct") o.direct = false;
    else if (arg == "--idle-seconds") o.idle_seconds = std::stod(value());
    else if (arg == "--stall-seconds") o.stall_seconds = std::stoi(value());
    else if (arg == "-h" || arg == "--help") { usage(); std::exit(0); }
    else throw std::invalid_argument("unknown argument " + arg);
  }
  return o;
}

std::string_view view(const zmq::message_t& frame) { return {static_cast<const char*>(frame.data()), frame.size()}; }

// The client: sends on "<session>.tx", receives at "<session>", as Ensemble's client core does.
class BenchClient {
 public:
  explicit BenchClient(const Json& client_file)
      : session_(wire::new_id()), signer_(client_file.at("key").get<std::string>()) {
    std::string base = "tcp://" + client_file.value("ip", std::string("127.0.0.1")) + ":";
    for (zmq::socket_t* s : {&tx_, &rx_, &iopub_}) {
      s->set(zmq::sockopt::sndhwm, 0);
      s->set(zmq::sockopt::rcvhwm, 0);
      s->set(zmq::sockopt::linger, 0);
    }
    tx_.set(zmq::sockopt::routing_id, session_ + ".tx");
    rx_.set(zmq::sockopt::routing_id, session_);
    iopub_.set(zmq::sockopt::subscribe, "");
    iopub_.connect(base + std::to_string(client_file.at("iopub_port").get<int>()));
    rx_.connect(base + std::to_string(client_file.at("client_port").get<int>()));
    tx_.connect(base + std::to_string(client_file.at("client_port").get<int>()));
  }

  // Sends a request; `route` empty = to the controller itself.
  std::string send(const std::string& route, const std::string& msg_type, const std::string& content = "{}",
                   std::string_view buffer = {}) {
    wire::Header header{wire::new_id(), session_, "bench", wire::now_iso8601(), msg_type};
    std::string header_text = header.to_json().dump();
    static const std::string kEmpty = "{}";
    std::string signature = signer_.sign(header_text, kEmpty, kEmpty, content);
    auto more = zmq::send_flags::sndmore;
    if (!route.empty()) tx_.send(zmq::buffer(route), more);
    tx_.send(zmq::buffer(std::string_view(wire::kDelimiter)), more);
    tx_.send(zmq::buffer(signature), more);
    tx_.send(zmq::buffer(header_text), more);
    tx_.send(zmq::buffer(kEmpty), more);
    tx_.send(zmq::buffer(kEmpty), more);
    tx_.send(zmq::buffer(content), buffer.empty() ? zmq::send_flags::none : more);
    if (!buffer.empty()) tx_.send(zmq::buffer(buffer), zmq::send_flags::none);
    return header.msg_id;
  }

  // A request to the controller; the reply's content, or null after `timeout`.
  Json ask_controller(const std::string& msg_type, std::chrono::milliseconds timeout) {
    std::string msg_id = send("", msg_type);
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      for (auto& parts : wait(std::chrono::milliseconds(50))) {
        std::size_t d = delimiter(parts);
        if (d + 5 >= parts.size()) continue;
        Json parent = Json::parse(view(parts[d + 3]), nullptr, false);
        if (parent.is_object() && parent.value("msg_id", "") == msg_id) return Json::parse(view(parts[d + 5]));
      }
    }
    return nullptr;
  }

  // Engine ids the controller lists as ready.
  std::vector<int> ready_engines(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    Json reply = ask_controller("connection_request", timeout);
    if (!reply.is_object()) throw std::runtime_error("the controller did not answer connection_request");
    std::vector<int> ids;
    for (auto& [id, engine] : reply.at("engines").items()) ids.push_back(std::stoi(id));
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  struct Batch {
    double wall_seconds = 0;
    int errors = 0;
    std::string first_error;
  };

  // `count` apply_requests, `window` in flight; route(i) names the i-th one's routing frame.
  template <typename Route>
  Batch run(int count, int window, Route route, int stall_seconds) {
    static const std::string kPayload(64, 'p');  // stands for the pickled (f, args, kwargs)
    Batch batch;
    int sent = 0, done = 0;
    auto start = Clock::now(), progress = start;
    while (done < count) {
      while (sent < count && sent - done < window) send(route(sent++), "apply_request", "{}", kPayload);
      for (auto& parts : wait(std::chrono::milliseconds(100))) {
        std::size_t d = delimiter(parts);
        if (d + 5 >= parts.size()) continue;
        ++done;
        if (view(parts[d + 5]).find("\"status\":\"ok\"") == std::string_view::npos && batch.errors++ == 0) {
          batch.first_error = std::string(view(parts[d + 5]));
        }
        progress = Clock::now();
      }
      if (Clock::now() - progress > std::chrono::seconds(stall_seconds)) {
        throw std::runtime_error("no reply for " + std::to_string(stall_seconds) + " s (" + std::to_string(done) +
                                 " of " + std::to_string(count) + " tasks done)");
      }
    }
    batch.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return batch;
  }

 private:
  static std::size_t delimiter(const std::vector<zmq::message_t>& parts) {
    std::size_t d = 0;
    while (d < parts.size() && view(parts[d]) != wire::kDelimiter) ++d;
    return d;
  }

  // Waits up to `timeout` for traffic; returns the messages on the receiving
  // socket (iopub is drained and dropped: it only has to be consumed).
  std::vector<std::vector<zmq::message_t>> wait(std::chrono::milliseconds timeout) {
    zmq::pollitem_t items[] = {{rx_.handle(), 0, ZMQ_POLLIN, 0}, {iopub_.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 2, timeout);
    std::vector<std::vector<zmq::message_t>> messages;
    for (zmq::socket_t* socket : {&rx_, &iopub_}) {
      while (true) {
        std::vector<zmq::message_t> parts;
        zmq::message_t frame;
        if (!socket->recv(frame, zmq::recv_flags::dontwait)) break;
        parts.push_back(std::move(frame));
        while (parts.back().more()) {
          parts.emplace_back();
          (void)socket->recv(parts.back(), zmq::recv_flags::none);
        }
        if (socket == &rx_) messages.push_back(std::move(parts));
      }
    }
    return messages;
  }

  zmq::context_t context_{1};
  std::string session_;
  wire::Signer signer_;
  zmq::socket_t tx_{context_, zmq::socket_type::dealer};
  zmq::socket_t rx_{context_, zmq::socket_type::dealer};
  zmq::socket_t iopub_{context_, zmq::socket_type::sub};
};

std::string log_tail(const std::string& path, std::size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string tail;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) tail += all[i] + "\n";
  return tail;
}

// Registers N fake engines with a fresh controller, then measures. Everything
// it starts is ended before it returns.
Json run_one(const Options& o, int engines) {
  Json result{{"engines", engines}, {"status", "failed"}};
  result["controller_fds_needed_estimate"] = engines + 40;  // one connection per engine
  char pattern[] = "/tmp/csb-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  std::string dir = pattern;
  std::string log_path = dir + "/controller.log";
  bench::ControllerProcess controller(o.ensemble, dir + "/profile", "bench", o.heartbeat_period_ms, log_path);
  bench::ChildGroup workers;
  try {
    controller.wait_for_files(std::chrono::seconds(20));
    const Json& engine_file = controller.engine_file();
    std::string registration = "tcp://" + engine_file.value("ip", std::string("127.0.0.1")) + ":" +
                               std::to_string(engine_file.at("registration_port").get<int>());
    // Workers are forked before this process makes a ZeroMQ context of its own.
    int worker_count = (engines + o.engines_per_worker - 1) / o.engines_per_worker;
    for (int w = 0; w < worker_count; ++w) {
      bench::WorkerPlan plan;
      plan.worker = w;
      plan.engine_count = std::min(o.engines_per_worker, engines - w * o.engines_per_worker);
      plan.registration_endpoint = registration;
      plan.key = engine_file.at("key").get<std::string>();
      plan.heartbeat_period_ms = engine_file.value("heartbeat_period_ms", o.heartbeat_period_ms);
      plan.status_per_task = o.status_per_task;
      pid_t pid = ::fork();
      if (pid < 0) throw std::runtime_error("fork failed");
      if (pid == 0) {
        ::signal(SIGINT, SIG_DFL);  // the parent's handler kills the children: not a worker's job
        ::signal(SIGTERM, SIG_DFL);
        bench::run_fake_engine_worker(plan);
      }
      workers.add(pid);
    }
    result["workers"] = worker_count;
    BenchClient client(controller.client_file());

    // Registration: wait until the controller lists all N as ready.
    auto start = Clock::now(), progress = start;
    std::size_t ready = 0;
    std::vector<int> ids;
    while (true) {
      if (!controller.alive()) throw std::runtime_error("the controller died during registration");
      if (pid_t dead = workers.first_exited(); dead > 0) {
        throw std::runtime_error("fake engine worker " + std::to_string(dead) + " exited during registration");
      }
      ids = client.ready_engines();
      if (ids.size() > ready) progress = Clock::now();
      ready = ids.size();
      result["ready"] = ready;
      result["controller_fds"] = bench::open_fds(controller.pid());
      if (ready >= static_cast<std::size_t>(engines)) break;
      if (Clock::now() - progress > std::chrono::seconds(o.stall_seconds) ||
          Clock::now() - start > std::chrono::seconds(60) + engines * std::chrono::milliseconds(20)) {
        throw std::runtime_error("registration stalled at " + std::to_string(ready) + " of " +
                                 std::to_string(engines) + " ready engines");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    result["registration_seconds"] = std::chrono::duration<double>(Clock::now() - start).count();
    std::cerr << "  " << engines << " engines ready in " << result["registration_seconds"].get<double>() << " s\n";

    // Background: heartbeats and the periodic liveness scan, with no tasks.
    double cpu_before = bench::cpu_seconds(controller.pid());
    std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_seconds));
    result["idle_controller_cpu_ms_per_s"] = (bench::cpu_seconds(controller.pid()) - cpu_before) * 1000 / o.idle_seconds;
    result["controller_rss_mib_idle"] = bench::rss_mib(controller.pid());

    auto measure = [&](const std::string& mode, auto route) {
      client.run(o.warmup, o.window, route, o.stall_seconds);
      double cpu0 = bench::cpu_seconds(controller.pid());
      auto batch = client.run(o.tasks, o.window, route, o.stall_seconds);
      double cpu = bench::cpu_seconds(controller.pid()) - cpu0;
      Json m{{"tasks", o.tasks},
             {"controller_cpu_us_per_task", cpu * 1e6 / o.tasks},
             {"tasks_per_s", o.tasks / batch.wall_seconds},
             {"controller_rss_mib", bench::rss_mib(controller.pid())},
             {"errors", batch.errors}};
      if (batch.errors > 0) m["first_error"] = batch.first_error;
      result["modes"][mode] = m;
      std::cerr << "  " << mode << ": " << m.dump() << "\n";
    };
    measure("load_balanced", [](int) { return std::string("t"); });
    if (o.direct) measure("direct", [&ids](int i) { return "e" + std::to_string(ids[i % ids.size()]); });
    result["controller_fds"] = bench::open_fds(controller.pid());
    result["status"] = "ok";
  } catch (const std::exception& error) {
    result["reason"] = error.what();
    if (controller.alive()) result["controller_fds"] = bench::open_fds(controller.pid());
    result["controller_log_tail"] = log_tail(log_path, 5);
    std::cerr << "  N=" << engines << " failed: " << error.what() << "\n" << log_tail(log_path, 5);
  }
  controller.stop();
  workers.kill_all();
  std::filesystem::remove_all(dir);
  return result;
}

void write_json(const std::string& path, const Json& document) {
  if (path.empty()) return;
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  std::ofstream(path) << document.dump(2) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << error.what() << "\n";
    usage();
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  bench::kill_children_on_signal();
  long fd_limit = bench::raise_fd_limit();
  Json document{{"benchmark", "controller_scale"},
                {"fd_limit", fd_limit},
                {"cpus", std::thread::hardware_concurrency()},
                {"tasks", o.tasks},
                {"warmup", o.warmup},
                {"window", o.window},
                {"heartbeat_period_ms", o.heartbeat_period_ms},
                {"status_per_task", o.status_per_task},
                {"runs", Json::array()}};
  std::cerr << "fd limit " << fd_limit << "; " << o.tasks << " tasks per mode after " << o.warmup << " warm-up\n";
  for (int engines : o.engine_counts) {
    std::cerr << "N=" << engines << "\n";
    document["runs"].push_back(run_one(o, engines));
    write_json(o.json_path, document);  // after every N: a later failure keeps what was measured
  }
  std::printf("%8s  %-14s %14s %10s %9s\n", "engines", "mode", "ctl_us/task", "tasks/s", "RSS_MiB");
  for (const auto& run : document["runs"]) {
    if (run["status"] != "ok") {
      std::printf("%8d  failed: %s\n", run["engines"].get<int>(), run.value("reason", "").c_str());
      continue;
    }
    for (auto& [mode, m] : run["modes"].items()) {
      std::printf("%8d  %-14s %14.1f %10.0f %9.1f\n", run["engines"].get<int>(), mode.c_str(),
                  m["controller_cpu_us_per_task"].get<double>(), m["tasks_per_s"].get<double>(),
                  m["controller_rss_mib"].get<double>());
    }
  }
  return 0;
}
