#include "child_processes.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ensemble::bench {

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The children alive now, for the signal handler (which may only kill and _exit).
constexpr int kMaxChildren = 1024;
volatile pid_t live_children[kMaxChildren] = {};

void remember(pid_t pid) {
  for (auto& slot : live_children) {
    if (slot == 0) {
      slot = pid;
      return;
    }
  }
}

void forget(pid_t pid) {
  for (auto& slot : live_children) {
    if (slot == pid) slot = 0;
  }
}

void on_stop_signal(int) {
  for (pid_t pid : live_children) {
    if (pid > 0) ::kill(pid, SIGKILL);
  }
  ::_exit(130);
}

// Reaps `pid` if it has ended; true when it has.
bool reaped(pid_t pid) {
  int status = 0;
  pid_t done = ::waitpid(pid, &status, WNOHANG);
  bool gone = done == pid || (done < 0 && errno == ECHILD);
  if (gone) forget(pid);
  return gone;
}

}  // namespace

void kill_children_on_signal() {
  ::signal(SIGINT, on_stop_signal);
  ::signal(SIGTERM, on_stop_signal);
}

long raise_fd_limit() {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  return static_cast<long>(limit.rlim_cur);
}

double cpu_seconds(pid_t pid) {
  std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After ")": state(3) ... utime is field 14, stime 15 (1-based in proc(5)).
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 14) utime = std::stoull(field);
    if (index == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double rss_mib(pid_t pid) {
  std::istringstream status(read_text("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  }
  return -1;
}

int open_fds(pid_t pid) {
  DIR* dir = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* entry = ::readdir(dir)) count += entry->d_name[0] != '.';
  ::closedir(dir);
  return count;
}

ControllerProcess::ControllerProcess(const std::string& ensemble, const std::string& profile_dir,
                                     const std::string& cluster_id, int heartbeat_period_ms,
                                     const std::string& log_path)
    : security_dir_(profile_dir + "/security"), cluster_id_(cluster_id) {
  std::vector<std::string> args = {ensemble, "controller", "--profile-dir", profile_dir, "--cluster-id", cluster_id,
                                   "--db", "memory", "--ip", "127.0.0.1",
                                   "--heartbeat-period", std::to_string(heartbeat_period_ms)};
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  remember(pid_);
}

ControllerProcess::~ControllerProcess() { stop(); }

void ControllerProcess::wait_for_files(std::chrono::seconds timeout) {
  // ipyparallel's names: ipcontroller[-ID]-client.json, ipcontroller[-ID]-engine.json.
  std::string stem = security_dir_ + (cluster_id_.empty() ? "/ipcontroller-" : "/ipcontroller-" + cluster_id_ + "-");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!alive()) throw std::runtime_error("the controller exited at start (see its log)");
    auto client = nlohmann::json::parse(read_text(stem + "client.json"), nullptr, false);
    auto engine = nlohmann::json::parse(read_text(stem + "engine.json"), nullptr, false);
    if (client.is_object() && engine.is_object() && client.value("controller_pid", 0) == pid_) {
      client_file_ = std::move(client);
      engine_file_ = std::move(engine);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("the controller wrote no files in time");
}

bool ControllerProcess::alive() {
  if (pid_ <= 0) return false;
  if (reaped(pid_)) pid_ = -1;
  return pid_ > 0;
}

void ControllerProcess::stop() {
  if (!alive()) return;
  ::kill(pid_, SIGTERM);
  for (int waited = 0; waited < 300 && !reaped(pid_); ++waited) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!reaped(pid_)) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    forget(pid_);
  }
  pid_ = -1;
}

void ChildGroup::add(pid_t pid) {
  pids_.push_back(pid);
  remember(pid);
}

pid_t ChildGroup::first_exited() {
  for (auto it = pids_.begin(); it != pids_.end(); ++it) {
    if (reaped(*it)) {
      pid_t pid = *it;
      pids_.erase(it);  // reaped: its pid may be reused, so never signal it again
      return pid;
    }
  }
  return -1;
}

void ChildGroup::kill_all() {
  for (pid_t pid : pids_) ::kill(pid, SIGKILL);
  for (pid_t pid : pids_) {
    ::waitpid(pid, nullptr, 0);
    forget(pid);
  }
  pids_.clear();
}

}  // namespace ensemble::bench
