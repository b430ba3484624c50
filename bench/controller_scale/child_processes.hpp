// The benchmark's child processes: the real controller it measures (CPU and
// memory from /proc) and the forked fake-engine workers. Every process is
// ended by the pid this code started, never by name.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ensemble::bench {

// On SIGINT/SIGTERM, kills every child this process started (by pid) and exits.
void kill_children_on_signal();

// Raises this process's soft fd limit to the hard one (children inherit it). Returns the limit.
long raise_fd_limit();

// /proc/<pid> readings.
double cpu_seconds(pid_t pid);  // utime + stime of all its threads
double rss_mib(pid_t pid);
int open_fds(pid_t pid);

class ControllerProcess {
 public:
  // Starts `ensemble controller` with its output in `log_path`.
  ControllerProcess(const std::string& ensemble, const std::string& profile_dir, const std::string& cluster_id,
                    int heartbeat_period_ms, const std::string& log_path);
  ~ControllerProcess();  // stops it if still running
  ControllerProcess(const ControllerProcess&) = delete;
  ControllerProcess& operator=(const ControllerProcess&) = delete;

  // Waits for both of its files; their contents, or throws.
  void wait_for_files(std::chrono::seconds timeout);
  const nlohmann::json& client_file() const { return client_file_; }
  const nlohmann::json& engine_file() const { return engine_file_; }
  pid_t pid() const { return pid_; }
  bool alive();
  void stop();  // SIGTERM, then SIGKILL after a grace period

 private:
  pid_t pid_ = -1;
  std::string security_dir_, cluster_id_;
  nlohmann::json client_file_, engine_file_;
};

// Forked children (the fake-engine workers): killed and reaped together.
class ChildGroup {
 public:
  ~ChildGroup() { kill_all(); }
  void add(pid_t pid);
  // The first child that has exited, or -1.
  pid_t first_exited();
  void kill_all();

 private:
  std::vector<pid_t> pids_;
};

}  // namespace ensemble::bench
