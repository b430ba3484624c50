// `ensemble cluster start|stop|list`: a controller and N engines as local processes.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "cluster_priority.hpp"
#include "cluster_processes.hpp"
#include "commands.hpp"
#include "ensemble/parallel/cluster_files.hpp"
#include "ensemble/wire/connection_file.hpp"
#include "paths.hpp"

namespace ensemble::cli {

namespace {

using wire::Json;
using Clock = std::chrono::steady_clock;

struct ClusterArgs {
  std::string cluster_id;
  std::string profile = "default";
  std::string profile_dir;
  int n = 0;
  std::string ip = "127.0.0.1";
  bool daemonize = false;
  int heartbeat_period_ms = 1000;
  std::string scheme = "leastload";
  int hwm = 0;
  std::string db;
  double timeout = 30;
  std::optional<int> nice;  // none: default_cluster_nice()
  bool mpi = false;            // engines started by one mpiexec per set, with `ensemble engine --mpi`
  std::string mpiexec = "mpiexec";
  std::vector<std::string> mpi_args;  // before the program on mpiexec's command line

  std::string security_dir() const { return parallel::security_dir(profile, profile_dir); }
  std::string file(const std::string& stem) const {
    return security_dir() + "/" + parallel::cluster_file_name(stem, cluster_id);
  }
  std::string log_dir() const {
    return std::filesystem::path(security_dir()).parent_path().string() + "/log";
  }
};

// Runs `launch` in a child process that has made a session of its own, so that
// every process it spawns shares that one session, away from the terminal's.
// Why one: Linux's scheduler (autogroup) shares the CPUs between sessions first.
// With a session per daemon, a client competing with 2 busy engines and their
// controller got a quarter of a 2-core machine (a tenth with 8 engines); with
// the cluster as one session, the user's session keeps half, and the cluster
// still gets all of it while the user's side is idle. `launch` then stands the
// session back from the user's (cluster_priority.hpp). Returns launch's status.
int in_cluster_session(const std::function<int()>& launch) {
  std::cout.flush();
  std::cerr.flush();
  pid_t child = ::fork();  // the CLI has no threads yet: fork is safe here
  if (child < 0) {
    spdlog::error("cannot fork: {}", std::strerror(errno));
    return 1;
  }
  if (child == 0) {
    ::setsid();
    int status = launch();
    std::cout.flush();
    std::cerr.flush();
    ::_exit(status);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

Json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nullptr;
  std::stringstream text;
  text << in.rdbuf();
  Json json = Json::parse(text.str(), nullptr, false);
  return json.is_discarded() ? Json(nullptr) : json;
}

std::vector<std::string> location_args(const ClusterArgs& args) {
  std::vector<std::string> out = {"--cluster-id", args.cluster_id, "--profile", args.profile};
  if (!args.profile_dir.empty()) {
    out.push_back("--profile-dir");
    out.push_back(args.profile_dir);
  }
  return out;
}

// Whether `pid` is one of the cluster's own processes: this program, or an mpiexec it started
// (still running the program it ran then).
bool of_the_cluster(const Json& cluster, pid_t pid) {
  if (runs_ensemble(pid)) return true;
  for (const auto& launcher : cluster.value("mpiexec", Json::array())) {
    if (launcher.is_object() && launcher.value("pid", 0) == pid) {
      std::string program = launcher.value("program", std::string());
      return !program.empty() && program_of(pid) == program;
    }
  }
  return false;
}

// Ends every process of the cluster file at `path`: SIGTERM (the controller
// then shuts its engines down), SIGKILL for whatever is left after `grace`.
int stop_cluster(const ClusterArgs& args, const std::string& path) {
  Json cluster = read_json(path);
  if (!cluster.is_object()) {
    std::cerr << "ensemble cluster: no cluster '" << args.cluster_id << "' (" << path << ")" << std::endl;
    return 1;
  }
  std::vector<pid_t> pids;  // only those still running this program
  pid_t controller = cluster.value("controller_pid", 0);
  if (controller > 0 && runs_ensemble(controller)) pids.push_back(controller);
  for (const auto& pid : cluster.value("engine_pids", Json::array())) {
    if (pid.is_number_integer() && of_the_cluster(cluster, pid.get<pid_t>())) pids.push_back(pid.get<pid_t>());
  }
  if (running(controller) && runs_ensemble(controller)) ::kill(controller, SIGTERM);
  auto all_gone = [&] {
    for (pid_t pid : pids) {
      if (running(pid)) return false;
    }
    return true;
  };
  auto wait_until = [&](Clock::time_point deadline) {
    while (!all_gone() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  wait_until(Clock::now() + std::chrono::seconds(1));
  // An engine busy in Python does not take the controller's shutdown until its task ends:
  // SIGTERM ends it at once, and it removes its connection file on the way out.
  for (pid_t pid : pids) {
    if (pid != controller && running(pid)) ::kill(pid, SIGTERM);
  }
  wait_until(Clock::now() + std::chrono::seconds(2));
  for (pid_t pid : pids) {
    if (running(pid)) {
      spdlog::warn("process {} did not stop; killing it", pid);
      ::kill(-pid, SIGKILL);  // its whole process group: each was started as a group leader
      ::kill(pid, SIGKILL);
    }
  }
  std::error_code ignored;
  for (const char* stem : {"ipcontroller-client", "ipcontroller-engine", "cluster"}) {
    std::filesystem::remove(args.file(stem), ignored);
  }
  return 0;
}

std::string log_stem_of(const ClusterArgs& args) {
  return args.log_dir() + "/ensemble-" + (args.cluster_id.empty() ? "default" : args.cluster_id);
}

// Starts `n` engines on the cluster's engine file; their pids join `cluster`. An MPI set is
// one mpiexec, whose pid stands for its engines (signals and stops go through it) and is
// listed with its program under "mpiexec", so that a stop knows it for the cluster's.
void spawn_engines(Json& cluster, const ClusterArgs& args, const std::string& log_stem) {
  std::string engine_file = cluster.value("engine_file", std::string());
  std::size_t first = cluster["engine_pids"].size();
  if (args.mpi && args.n > 0) {
    std::vector<std::string> argv = {args.mpiexec, "-n", std::to_string(args.n)};
    argv.insert(argv.end(), args.mpi_args.begin(), args.mpi_args.end());
    argv.insert(argv.end(), {executable_path(), "engine", "--file", engine_file, "--mpi"});
    pid_t pid = spawn(argv, log_stem + "-engines-mpi-" + std::to_string(first) + ".log");
    if (pid > 0) {
      cluster["engine_pids"].push_back(pid);
      cluster["mpiexec"].push_back(Json{{"pid", pid}, {"program", program_of(pid)}, {"n", args.n}});
    }
    return;
  }
  for (int i = 0; i < args.n; ++i) {
    std::vector<std::string> engine_argv = {executable_path(), "engine", "--file", engine_file};
    pid_t pid = spawn(engine_argv, log_stem + "-engine-" + std::to_string(first + i) + ".log");
    if (pid > 0) cluster["engine_pids"].push_back(pid);
  }
}

int add_engines_now(const ClusterArgs& args) {
  std::string path = args.file("cluster");
  Json cluster = read_json(path);
  if (!cluster.is_object() || !running(cluster.value("controller_pid", 0))) {
    std::cerr << "ensemble cluster: no running cluster '" << args.cluster_id << "' (" << path << ")" << std::endl;
    return 1;
  }
  // as far back as the cluster's first session stands (a file from before --nice: as that ran, 0)
  Json nice = cluster.value("nice", Json(kClusterNiceBeforeTheOption));
  stand_back_from_users_session(nice.is_number_integer() ? nice.get<int>() : kClusterNiceBeforeTheOption);
  spawn_engines(cluster, args, log_stem_of(args));
  cluster["n"] = cluster.value("n", 0) + args.n;
  if (auto status = wire::write_private_file(path, cluster.dump(1) + "\n"); !status.ok()) {
    spdlog::error("{}", status.to_string());
    return 1;
  }
  std::cout << "cluster '" << args.cluster_id << "': " << args.n << " more engine(s)" << std::endl;
  return 0;
}

// `ensemble cluster engines -n N`: more engines for a running cluster (in a
// session of their own: nothing outside the cluster's first session can join it).
int add_engines(const ClusterArgs& args) {
  return in_cluster_session([&args] { return add_engines_now(args); });
}

// Starts the controller, waits until it is up, then the engines; writes the cluster file.
int launch_cluster(const ClusterArgs& args, int nice) {
  stand_back_from_users_session(nice);
  std::string security = args.security_dir();
  std::error_code error;
  std::filesystem::create_directories(security, error);
  std::filesystem::permissions(security, std::filesystem::perms::owner_all, error);
  std::filesystem::create_directories(args.log_dir(), error);
  std::string cluster_path = args.file("cluster");
  if (Json old = read_json(cluster_path); old.is_object() && running(old.value("controller_pid", 0))) {
    std::cerr << "ensemble cluster: cluster '" << args.cluster_id << "' is already running (controller pid "
              << old.value("controller_pid", 0) << ")" << std::endl;
    return 1;
  }
  std::string client_file = args.file("ipcontroller-client");
  std::string engine_file = args.file("ipcontroller-engine");
  std::filesystem::remove(client_file, error);
  std::filesystem::remove(engine_file, error);

  std::string log_stem = log_stem_of(args);
  std::vector<std::string> controller_argv = {executable_path(), "controller", "--ip", args.ip,
                                              "--heartbeat-period", std::to_string(args.heartbeat_period_ms),
                                              "--scheme", args.scheme, "--hwm", std::to_string(args.hwm)};
  if (!args.db.empty()) {
    controller_argv.push_back("--db");
    controller_argv.push_back(args.db);
  }
  for (auto& a : location_args(args)) controller_argv.push_back(a);
  pid_t controller = spawn(controller_argv, log_stem + "-controller.log");
  if (controller < 0) return 1;
  Json cluster{{"cluster_id", args.cluster_id}, {"n", args.n},          {"controller_pid", controller},
               {"engine_pids", Json::array()},  {"client_file", client_file}, {"engine_file", engine_file},
               {"profile_dir", std::filesystem::path(security).parent_path().string()}, {"nice", nice}};
  auto write_cluster = [&] { return wire::write_private_file(cluster_path, cluster.dump(1) + "\n"); };
  if (!write_cluster().ok()) return 1;

  // The controller's own pid in its client file tells it apart from a stale one.
  auto deadline = Clock::now() + std::chrono::duration<double>(args.timeout);
  while (true) {
    Json client = read_json(client_file);
    if (client.is_object() && client.value("controller_pid", 0) == controller) break;
    if (!running(controller) || Clock::now() >= deadline) {
      std::cerr << "ensemble cluster: the controller did not start; see " << log_stem << "-controller.log"
                << std::endl;
      stop_cluster(args, cluster_path);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  spawn_engines(cluster, args, log_stem);
  if (!write_cluster().ok()) return 1;
  std::cout << "cluster '" << args.cluster_id << "': controller " << controller << ", " << args.n
            << " engine(s); client file " << client_file << std::endl;
  return 0;
}

int start_cluster(const ClusterArgs& args) {
  int nice = args.nice ? *args.nice : default_cluster_nice();
  if (int status = in_cluster_session([&args, nice] { return launch_cluster(args, nice); });
      status != 0 || args.daemonize) {
    return status;
  }
  // In the foreground: run until interrupted or the controller ends, then stop everything.
  std::string cluster_path = args.file("cluster");
  Json cluster = read_json(cluster_path);
  pid_t controller = cluster.is_object() ? cluster.value("controller_pid", 0) : 0;
  static volatile std::sig_atomic_t interrupted = 0;
  std::signal(SIGINT, [](int) { interrupted = 1; });
  std::signal(SIGTERM, [](int) { interrupted = 1; });
  while (!interrupted && running(controller)) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return stop_cluster(args, cluster_path);
}

int list_clusters(const ClusterArgs& args) {
  std::string security = args.security_dir();
  std::error_code error;
  std::cout << "cluster_id\tcontroller_pid\tengines\tstate" << std::endl;
  for (const auto& entry : std::filesystem::directory_iterator(security, error)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with("cluster") || !name.ends_with(".json")) continue;
    Json cluster = read_json(entry.path().string());
    if (!cluster.is_object()) continue;
    pid_t controller = cluster.value("controller_pid", 0);
    int alive = 0;
    for (const auto& pid : cluster.value("engine_pids", Json::array())) alive += running(pid.get<pid_t>()) ? 1 : 0;
    for (const auto& launcher : cluster.value("mpiexec", Json::array())) {  // one pid, n engines
      if (launcher.is_object() && running(launcher.value("pid", 0))) alive += launcher.value("n", 1) - 1;
    }
    std::string id = cluster.value("cluster_id", std::string());
    std::cout << (id.empty() ? "''" : id) << "\t" << controller << "\t" << alive << "\t"
              << (running(controller) ? "running" : "stopped") << std::endl;
  }
  return 0;
}

void add_location(CLI::App* sub, ClusterArgs& args) {
  sub->add_option("--cluster-id", args.cluster_id, "The cluster's id (default: the unnamed cluster)");
  sub->add_option("--profile", args.profile, "IPython profile (default: default)");
  sub->add_option("--profile-dir", args.profile_dir, "Profile directory (overrides --profile)");
}

}  // namespace

Subcommand add_cluster_command(CLI::App& app) {
  auto args = std::make_shared<ClusterArgs>();
  CLI::App* sub = app.add_subcommand("cluster", "Start, stop or list local clusters (a controller and engines)");
  sub->require_subcommand(1);
  CLI::App* start = sub->add_subcommand("start", "Start a controller and N engines");
  add_location(start, *args);
  start->add_option("-n,--n", args->n, "Number of engines")->required();
  start->add_option("--ip", args->ip, "Address the controller binds (default: 127.0.0.1)");
  start->add_flag("--daemonize", args->daemonize, "Return once the controller is up, leaving the cluster running");
  start->add_option("--heartbeat-period", args->heartbeat_period_ms, "Engine heartbeat period in ms");
  start->add_option("--timeout", args->timeout, "Seconds to wait for the controller (default: 30)");
  start->add_option("--scheme", args->scheme, "Load-balancing scheme: leastload (default), lru, plainrandom, "
                                              "weighted or twobin");
  start->add_option("--hwm", args->hwm, "Most load-balanced tasks one engine may hold; 0: no limit (default)");
  start->add_option("--nice", args->nice,
                    "How far the cluster stands back from your own session when both want the CPUs: a nice "
                    "value, 0 (as you) to 19 (default: $ENSEMBLE_CLUSTER_NICE, else 3)")
      ->check(CLI::Range(kLeastClusterNice, kMostClusterNice));
  start->add_option("--db", args->db, "Task store: a SQLite file, or 'memory' (default: in the profile directory)");
  CLI::App* engines = sub->add_subcommand("engines", "Start more engines for a running cluster");
  add_location(engines, *args);
  engines->add_option("-n,--n", args->n, "Number of engines to add")->required();
  for (CLI::App* starts : {start, engines}) {
    starts->add_flag("--mpi", args->mpi, "Start the engines with one mpiexec (`ensemble engine --mpi`: MPI rank as "
                                         "engine id, mpi4py set up in the namespace)");
    starts->add_option("--mpiexec", args->mpiexec, "The MPI launcher, with --mpi (default: mpiexec)");
    starts->add_option("--mpi-arg", args->mpi_args, "An argument for the MPI launcher, before the program "
                                                     "(repeatable; --mpi-arg=--oversubscribe)")
        ->allow_extra_args(false);
  }
  CLI::App* stop = sub->add_subcommand("stop", "Stop a cluster and every process it started");
  add_location(stop, *args);
  CLI::App* list = sub->add_subcommand("list", "List the clusters of a profile");
  add_location(list, *args);
  return {sub, [args, start, stop, engines] {
            if ((start->parsed() || engines->parsed()) && args->mpi && !finds_program(args->mpiexec)) {
              // before anything starts: a cluster whose engines never come is no use
              std::cerr << "ensemble cluster: MPI launcher '" << args->mpiexec
                        << "' not found (install Debian's openmpi-bin or mpich, or give --mpiexec)" << std::endl;
              return 2;
            }
            if (start->parsed()) return start_cluster(*args);
            if (engines->parsed()) return add_engines(*args);
            if (stop->parsed()) return stop_cluster(*args, args->file("cluster"));
            return list_clusters(*args);
          }};
}

}  // namespace ensemble::cli
