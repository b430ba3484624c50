// Engines leaving the cluster: gone (engine_gone), dead by a closed
// connection or by silence (on_engine_disconnect, on_tick), or asked to go
// (begin_shutdown). on_tick also gives freed heap back after traffic.
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unordered_set>

#include "controller_impl.hpp"
#include "ensemble/wire/free_memory.hpp"

namespace ensemble::parallel {

// Fails what the engine still owed, forgets it, and tells the clients.
void Controller::Impl::engine_gone(int id, const std::string& why) {
  Engine* engine = engines.find(id);
  if (engine == nullptr) return;
  // Load-balanced tasks with retries left go to another engine; the rest fail.
  std::unordered_set<std::string> resubmitted = balancer.engine_gone(id);
  std::vector<std::string> owed(engine->queue.begin(), engine->queue.end());
  for (const auto& msg_id : owed) {
    if (resubmitted.contains(msg_id)) continue;
    answer_task(msg_id, id, "EngineError",
                "Engine " + std::to_string(id) + " " + why + " while running task " + msg_id);
    balancer.on_reply(msg_id, id, "error", "EngineError");
  }
  std::string uuid = engine->uuid;
  engines.remove(id);
  publish("unregistration_notification", Json{{"id", id}, {"uuid", uuid}});
}

namespace {

// Whether bytes arrived on connection `fd` within `within`.
bool receiving(int fd, std::chrono::milliseconds within) {
  if (fd < 0) return false;
  tcp_info info{};
  socklen_t size = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) == 0) {
    return info.tcpi_last_data_recv < static_cast<std::uint32_t>(within.count());
  }
  int queued = 0;  // not TCP (ipc): bytes waiting to be read
  return ::ioctl(fd, SIOCINQ, &queued) == 0 && queued > 0;
}

// Whether `pid` is a live process here (a zombie is not).
bool process_alive(int pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() || text[close + 2] != 'Z';
}

}  // namespace

void Controller::Impl::on_engine_disconnect() {
  Parts event;
  while (receive(connection_monitor, event)) {
    if (event.empty() || event[0].size() < 6) continue;
    uint32_t fd = 0;
    std::memcpy(&fd, static_cast<const char*>(event[0].data()) + 2, sizeof fd);
    Engine* engine = engines.by_connection(static_cast<int>(fd));
    if (engine == nullptr) continue;
    // Whatever was on its way to the engine went with the connection, so its
    // requests are failed (or retried) now. If the engine itself lives on (a
    // network blip), its next heartbeat is told to register again.
    bool dead = engine->hostname == hostname && !process_alive(engine->pid);
    spdlog::warn("engine {} (pid {}) {}", engine->id, engine->pid, dead ? "is gone" : "lost its connection");
    engine_gone(engine->id, "died");  // ipyparallel's words, which users may match
  }
}

void Controller::Impl::on_tick() {
  // Trimmed at every tick that follows traffic (twice a second at most), and
  // after letting go: the allocator keeps what a burst freed (ZeroMQ's receive buffers,
  // forwarded requests) unless asked, and the end of a burst may bring no more
  // messages to ask at. An idle controller (heartbeats only) does not trim.
  bool let_go = tasks.let_go_of_written_replies() > 0;
  if (messages_since_trim > 0 || let_go) {
    wire::release_free_memory();
    messages_since_trim = 0;
  }
  auto now = Clock::now();
  balancer.tick(now);
  auto allowed = options.heartbeat_period * options.heartbeat_misses;
  std::vector<int> dead;
  for (auto& [id, engine] : engines.all()) {
    if (now - engine.last_seen <= allowed) continue;
    // Silent, but bytes are arriving: one large message is on its way (its
    // heartbeats queue behind it).
    if (receiving(engine.fd, std::chrono::duration_cast<std::chrono::milliseconds>(allowed))) continue;
    dead.push_back(id);
  }
  for (int id : dead) {
    spdlog::warn("engine {} missed {} heartbeats; unregistering it", id, options.heartbeat_misses);
    engine_gone(id, "died");
  }
}

void Controller::Impl::begin_shutdown() {
  spdlog::info("shutting down the cluster");
  for (auto& [id, engine] : engines.all()) {
    send_to_control(engine, wire::encode(message("shutdown_request", Json{{"restart", false}}), signer));
  }
  stopping = true;
  stop_deadline = Clock::now() + kShutdownLinger;
}

}  // namespace ensemble::parallel
