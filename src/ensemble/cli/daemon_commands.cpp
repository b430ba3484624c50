// `ensemble controller` and `ensemble engine`: the two parallel daemons.
#include <malloc.h>
#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include "commands.hpp"
#include "ensemble/kernel/kernel.hpp"
#include "ensemble/parallel/cluster_files.hpp"
#include "ensemble/parallel/controller.hpp"
#include "ensemble/parallel/engine.hpp"
#include "ensemble/python/python_interpreter.hpp"
#include "ensemble/python/python_runtime.hpp"
#include "ensemble/wire/connection_file.hpp"
#include "ensemble/wire/ids.hpp"
#include "mpi_engine.hpp"
#include "paths.hpp"

namespace ensemble::cli {

namespace {

struct ClusterLocation {
  std::string cluster_id;
  std::string profile = "default";
  std::string profile_dir;

  void add_to(CLI::App* sub) {
    sub->add_option("--cluster-id", cluster_id, "The cluster's id (default: the unnamed cluster)");
    sub->add_option("--profile", profile, "IPython profile whose security directory holds the cluster files");
    sub->add_option("--profile-dir", profile_dir, "Profile directory (overrides --profile)");
  }
  std::string security_dir() const { return parallel::security_dir(profile, profile_dir); }
  std::string file(const std::string& stem) const {
    return security_dir() + "/" + parallel::cluster_file_name(stem, cluster_id);
  }
};

// -- controller ------------------------------------------------------------------

struct ControllerArgs {
  ClusterLocation where;
  std::string ip = "127.0.0.1";
  int heartbeat_period_ms = 1000;
  int heartbeat_misses = 5;
  std::string scheme = "leastload";
  int hwm = 0;
  std::string db;  // "" = the default file; "memory" = SQLite in memory (not durable)
  bool restore = false;
};

parallel::Controller* running_controller = nullptr;

// Fixed thresholds rather than glibc's adaptive ones: once a large frame (a
// push) has been freed, glibc raises both to its size, so the next large frames
// land in a ZeroMQ thread's arena, whose free top is never trimmed below
// twice that. The controller only passes large frames through: each gets a
// mapping of its own, returned when the frame goes. (On glibc's malloc only: an
// executable built with jemalloc, as by default, does not allocate from it.)
void return_large_frames_to_the_system() {
  ::mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  ::mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
}

int run_controller(const ControllerArgs& args) {
  return_large_frames_to_the_system();
  parallel::ControllerOptions options;
  options.ip = args.ip;
  options.cluster_id = args.where.cluster_id;
  options.security_dir = args.where.security_dir();
  options.heartbeat_period = std::chrono::milliseconds(std::max(args.heartbeat_period_ms, 10));
  options.heartbeat_misses = std::max(args.heartbeat_misses, 1);
  options.scheme = args.scheme;
  options.hwm = std::max(args.hwm, 0);
  options.restore = args.restore;
  if (args.db.empty()) {
    // Beside the profile's security directory, as ipyparallel keeps its task database.
    options.db_path = std::filesystem::path(options.security_dir).parent_path().string() + "/" +
                      parallel::cluster_file_name("ensemble-tasks", args.where.cluster_id);
    options.db_path.replace(options.db_path.size() - 5, 5, ".sqlite");
  } else {
    options.db_path = args.db == "memory" ? ":memory:" : args.db;
  }
  parallel::Controller controller(options);
  auto bound = controller.bind();
  if (!bound.ok()) {
    spdlog::error("{}", bound.status().to_string());
    return 1;
  }
  spdlog::info("controller {} serving clients at {}", ::getpid(), bound.value().endpoint(bound.value().client_port));
  running_controller = &controller;
  auto stop = [](int) { running_controller->request_stop(); };
  std::signal(SIGTERM, stop);
  std::signal(SIGINT, stop);
  controller.run();
  running_controller = nullptr;
  for (const char* stem : {"ipcontroller-client", "ipcontroller-engine"}) {
    std::error_code ignored;
    std::filesystem::remove(args.where.file(stem), ignored);
  }
  return 0;
}

// -- engine ----------------------------------------------------------------------

struct EngineArgs {
  ClusterLocation where;
  std::string file;
  std::string ip;
  double wait_seconds = 60;
  double copy_delay_ms = 1;
  bool mpi = false;
};

// The engine's connection file, for its SIGTERM handler: `ensemble cluster stop` and a
// Cluster's stop_engines() end engines with SIGTERM, which by default killed them without
// removing the file (its key and ports stayed behind in the profile). Written on the I/O
// thread when the engine (re)registers; the handler reads it only while `engine_file_set`.
char engine_file_path[4096];
std::atomic<bool> engine_file_set{false};

void remember_engine_file(const std::string& path) {
  engine_file_set.store(false, std::memory_order_release);
  if (path.size() >= sizeof engine_file_path) return;  // too long to keep: left as before
  std::memcpy(engine_file_path, path.c_str(), path.size() + 1);
  engine_file_set.store(true, std::memory_order_release);
}

// Async-signal-safe (unlink): for the SIGTERM handler and the kernel's forced exit.
void remove_engine_file_now() {
  if (engine_file_set.load(std::memory_order_acquire)) ::unlink(engine_file_path);
}

// Async-signal-safe: unlink(), signal() and raise(). The engine still ends by SIGTERM, as
// before, whatever its Python was doing.
extern "C" void end_engine_on_sigterm(int) {
  remove_engine_file_now();
  std::signal(SIGTERM, SIG_DFL);
  std::raise(SIGTERM);
}

std::string hostname() {
  char name[256] = {};
  return ::gethostname(name, sizeof name - 1) == 0 ? std::string(name) : std::string("localhost");
}

// Whether this host has `ip` (a TCP socket can be bound there). ipc "addresses"
// are paths, and always local.
bool is_local_address(const std::string& transport, const std::string& ip) {
  if (transport != "tcp" || ip == "*" || ip == "0.0.0.0") return true;
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(ip.c_str(), "0", &hints, &found) != 0) return false;
  bool local = false;
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    local = ::bind(fd, found->ai_addr, found->ai_addrlen) == 0;
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return local;
}

// An engine may start before its controller: wait for the controller's file.
wire::Result<parallel::ControllerAddress> await_controller(const std::string& path, double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    auto loaded = parallel::ControllerAddress::load(path);
    if (loaded.ok() && loaded.value().registration_port > 0) return loaded;
    if (std::chrono::steady_clock::now() >= deadline) {
      return wire::Status::Error(wire::StatusCode::kNotFound,
                                 path + ": no controller file appeared (" + loaded.status().to_string() + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int run_engine(const EngineArgs& args) {
  std::string path = args.file.empty() ? args.where.file("ipcontroller-engine") : args.file;
  auto found = await_controller(path, args.wait_seconds);
  if (!found.ok()) {
    spdlog::error("{}", found.status().to_string());
    return 1;
  }
  parallel::ControllerAddress controller = std::move(found).value();

  kernel::KernelOptions options;
  options.connection.transport = controller.transport;
  // Its own kernel sockets (for consoles) go beside the controller's address
  // when that is on this host; an engine on another host binds loopback unless
  // told otherwise: the controller never connects to it.
  options.connection.ip = args.ip;
  if (options.connection.ip.empty()) {
    options.connection.ip = is_local_address(controller.transport, controller.ip) ? controller.ip : "127.0.0.1";
  }
  options.connection.key = controller.key;
  options.connection.kernel_name = "ensemble";
  options.history_path = ":memory:";  // many engines must not contend for one history file
  // what C code and child processes print in a task reaches the client, as from ipyparallel's
  options.capture_output_fds = true;
  // a shutdown (rc.shutdown) that a task still running did not let end the process normally
  options.before_forced_exit = remove_engine_file_now;

  // Not started by an MPI launcher, mpi4py would make a world of one (a singleton MPI_Init,
  // which may hang or abort outside a launcher): the engine then runs without MPI.
  std::optional<int> rank = args.mpi ? mpi_rank_from_environment() : std::nullopt;
  if (args.mpi && !rank) {
    spdlog::warn("--mpi: no MPI rank in the environment (not started by mpiexec?): running without MPI");
  }

  python::PythonRuntime runtime({package_paths(), {executable_path(), "--engine"}});
  std::string security = controller.security_dir.empty() ? std::filesystem::path(path).parent_path().string()
                                                         : controller.security_dir;
  // The cluster's profile, whose startup files run in the engine as in ipyparallel's.
  python::PythonInterpreter interpreter(std::filesystem::path(security).parent_path().string(),
                                        rank ? kMpiInitCode : "");
  std::string connection_file;  // touched on the kernel's I/O thread until the kernel is gone
  {
    kernel::Kernel kernel(std::move(options), interpreter);
    // The engine's uuid is its kernel's session, as an ipyparallel engine's is: a reply's
    // header.session names the engine that sent it.
    std::string uuid = kernel.session_id();
    wire::Json identity{
        {"uuid", uuid},
        {"session", kernel.session_id()},
        {"pid", static_cast<int>(::getpid())},
        {"hostname", hostname()},
    };
    if (rank) identity["id"] = *rank;  // its MPI rank, if free, as ipyparallel's MPI engines ask
    auto copy_delay = std::chrono::microseconds(static_cast<long>(args.copy_delay_ms * 1000));
    auto link = std::make_shared<parallel::ControllerLink>(
        controller, identity, copy_delay, [&connection_file, security, cluster_id = controller.cluster_id](
                                  int id, const wire::ConnectionInfo& info) {
          // For `ensemble console --engine ID`: this engine as an ordinary kernel.
          std::string file = security + "/" + parallel::engine_file_name(cluster_id, id);
          if (!connection_file.empty() && connection_file != file) {
            engine_file_set.store(false, std::memory_order_release);
            std::error_code ignored;
            std::filesystem::remove(connection_file, ignored);  // registered again under another id
          }
          connection_file = file;
          if (auto status = wire::write_connection_file(connection_file, info); !status.ok()) {
            spdlog::warn("{}", status.to_string());
          }
          remember_engine_file(connection_file);
        });
    kernel.set_uplink(link);
    parallel::add_apply_handler(kernel, *link, uuid);
    std::signal(SIGTERM, end_engine_on_sigterm);
    auto bound = kernel.bind();
    if (!bound.ok()) {
      spdlog::error("{}", bound.status().to_string());
      return 1;
    }
    kernel.run();
  }
  if (!connection_file.empty()) {
    engine_file_set.store(false, std::memory_order_release);
    std::error_code ignored;
    std::filesystem::remove(connection_file, ignored);
  }
  std::fflush(nullptr);
  ::_exit(0);  // Python is not finalised (see python_runtime.hpp)
}

}  // namespace

Subcommand add_controller_command(CLI::App& app) {
  auto args = std::make_shared<ControllerArgs>();
  CLI::App* sub = app.add_subcommand("controller", "Run a cluster's controller (engines register with it)");
  args->where.add_to(sub);
  sub->add_option("--ip", args->ip, "Address to bind (default: 127.0.0.1)");
  sub->add_option("--heartbeat-period", args->heartbeat_period_ms, "Engine heartbeat period in ms (default: 1000)");
  sub->add_option("--heartbeat-misses", args->heartbeat_misses,
                  "Missed heartbeats before an engine counts as dead (default: 5)");
  sub->add_option("--scheme", args->scheme, "Load-balancing scheme (default: leastload)")
      ->check(CLI::IsMember({"leastload", "lru", "plainrandom", "weighted", "twobin", "pure"}));
  sub->add_option("--hwm", args->hwm, "Most load-balanced tasks one engine may hold; 0: no limit (default)");
  sub->add_option("--db", args->db,
                  "Task store: a SQLite file, or 'memory' (default: PROFILE_DIR/ensemble-tasks[-ID].sqlite)");
  sub->add_flag("--restore", args->restore,
                "Take over a previous controller's ports and key, so its engines and clients find this one");
  return {sub, [args] { return run_controller(*args); }};
}

Subcommand add_engine_command(CLI::App& app) {
  auto args = std::make_shared<EngineArgs>();
  CLI::App* sub = app.add_subcommand("engine", "Run one engine: a kernel that registers with a controller");
  args->where.add_to(sub);
  sub->add_option("--file", args->file, "The controller's engine file (default: from the cluster id and profile)");
  sub->add_option("--ip", args->ip, "Address the engine's own kernel sockets bind (default: the controller's if it is on this host, else 127.0.0.1)");
  sub->add_option("--timeout", args->wait_seconds, "Seconds to wait for the controller's file (default: 60)");
  sub->add_option("--copy-delay-ms", args->copy_delay_ms,
                  "How long the engine may hold the controller's copies of direct requests and replies, "
                  "to send several at once (default: 1)")
      ->envname("ENSEMBLE_COPY_DELAY_MS")
      ->check(CLI::Range(0.0, 60000.0));
  sub->add_flag("--mpi", args->mpi,
                "Started by mpiexec: ask for the MPI rank as engine id, and run `from mpi4py import MPI`, "
                "`mpi_rank` and `mpi_size` in the namespace first (as ipyparallel's ipengine --mpi)");
  return {sub, [args] { return run_engine(*args); }};
}

}  // namespace ensemble::cli
