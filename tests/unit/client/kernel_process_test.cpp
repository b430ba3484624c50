#include "ensemble/client/kernel_process.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "client_test_support.hpp"

namespace ensemble::client {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

// A "kernel" that is a shell script: it reports its arguments and
// environment to a file, then becomes `sleep` (exec, so the launched pid is
// the only process to clean up once the report exists; before that, `mv` is
// a child of its own).
KernelSpec reporting_spec(const std::string& report_path) {
  KernelSpec spec;
  spec.name = "reporter";
  spec.resource_dir = "/opt/reporter";
  spec.env = {{"SPEC_VAR", "${ENSEMBLE_TEST_BASE}/bin:$ENSEMBLE_TEST_BASE:$$:${ENSEMBLE_TEST_UNSET}"},
              {"SHARED_VAR", "spec"}};
  spec.argv = {"/bin/sh",
               "-c",
               R"(printf '%s\n' "$1" "$2" "$JPY_PARENT_PID" "$SPEC_VAR" "$SHARED_VAR" > "$3.tmp" && mv "$3.tmp" "$3"
                  exec sleep 30)",
               "sh",
               "{connection_file}",
               "{resource_dir}/logo.png",
               report_path};
  return spec;
}

std::vector<std::string> wait_for_lines(const std::string& path, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!std::filesystem::exists(path) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

KernelSpec sleeping_spec() {
  KernelSpec spec;
  spec.name = "sleeper";
  spec.argv = {"/bin/sleep", "30"};
  return spec;
}

bool process_exists(pid_t pid) {
  return ::kill(pid, 0) == 0;
}

TEST(KernelProcess, WritesPrivateConnectionFileWithFiveDistinctPorts) {
  TempDir dir;
  LaunchOptions options;
  options.runtime_dir = dir.path() + "/new/runtime";
  auto launched = KernelProcess::launch(sleeping_spec(), options);
  ASSERT_TRUE(launched.ok()) << launched.status().to_string();
  const KernelProcess& process = *launched.value();

  const std::string& file = process.connection_file();
  EXPECT_EQ(std::filesystem::path(file).parent_path(), options.runtime_dir);
  EXPECT_TRUE(std::filesystem::path(file).filename().string().starts_with("kernel-"));
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(options.runtime_dir.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);

  auto loaded = wire::ConnectionInfo::load(file);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  const auto& connection = loaded.value();
  std::set<int> ports = {connection.shell_port, connection.iopub_port, connection.stdin_port, connection.control_port,
                         connection.hb_port};
  EXPECT_EQ(ports.size(), 5u);
  EXPECT_EQ(ports.count(0), 0u);
  EXPECT_EQ(connection.ip, "127.0.0.1");
  EXPECT_EQ(connection.transport, "tcp");
  EXPECT_EQ(connection.key.size(), 64u);
  EXPECT_EQ(connection.key, process.connection().key);
  EXPECT_EQ(connection.shell_port, process.connection().shell_port);
  EXPECT_EQ(connection.kernel_name, "sleeper");
}

TEST(KernelProcess, SubstitutesArgvAndSetsEnvironment) {
  TempDir dir;
  testing::ScopedEnv base("ENSEMBLE_TEST_BASE", "/base");
  testing::ScopedEnv unset("ENSEMBLE_TEST_UNSET", std::nullopt);
  LaunchOptions options;
  options.runtime_dir = dir.path();
  options.extra_env = {{"SHARED_VAR", "caller"}};
  std::string report = dir.path() + "/report";
  auto launched = KernelProcess::launch(reporting_spec(report), options);
  ASSERT_TRUE(launched.ok()) << launched.status().to_string();
  auto lines = wait_for_lines(report, 5s);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], launched.value()->connection_file());
  EXPECT_EQ(lines[1], "/opt/reporter/logo.png");
  EXPECT_EQ(lines[2], std::to_string(::getpid()));
  EXPECT_EQ(lines[3], "/base/bin:/base:$:${ENSEMBLE_TEST_UNSET}");  // as string.Template.safe_substitute
  EXPECT_EQ(lines[4], "caller");                                    // the caller's extra_env overrides the spec's env
}

TEST(KernelProcess, DestructorKillsProcessAndRemovesConnectionFile) {
  TempDir dir;
  LaunchOptions options;
  options.runtime_dir = dir.path();
  auto launched = KernelProcess::launch(sleeping_spec(), options);
  ASSERT_TRUE(launched.ok()) << launched.status().to_string();
  pid_t pid = launched.value()->pid();
  std::string file = launched.value()->connection_file();
  EXPECT_TRUE(launched.value()->alive());
  launched.value().reset();
  EXPECT_FALSE(process_exists(pid));  // killed and reaped, not a zombie
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST(KernelProcess, ExitIsNoticedAndKillIsHarmlessAfterIt) {
  TempDir dir;
  KernelSpec spec;
  spec.name = "quick";
  spec.argv = {"/bin/true", "{connection_file}"};
  auto launched = KernelProcess::launch(spec, LaunchOptions{dir.path(), {}, true});
  ASSERT_TRUE(launched.ok()) << launched.status().to_string();
  EXPECT_TRUE(launched.value()->wait_exit(5s));
  EXPECT_FALSE(launched.value()->alive());
  launched.value()->kill();
  EXPECT_FALSE(launched.value()->alive());
}

TEST(KernelProcess, KillEndsARunningKernel) {
  TempDir dir;
  auto launched = KernelProcess::launch(sleeping_spec(), LaunchOptions{dir.path(), {}, true});
  ASSERT_TRUE(launched.ok()) << launched.status().to_string();
  EXPECT_FALSE(launched.value()->wait_exit(50ms));
  launched.value()->kill();
  EXPECT_FALSE(launched.value()->alive());
  EXPECT_FALSE(process_exists(launched.value()->pid()));
}

TEST(KernelProcess, InterruptSignalReachesKernelEvenWhenLauncherIgnoresAndBlocksIt) {
  // A console typically ignores or blocks SIGINT; the kernel must not inherit that.
  struct sigaction ignore {};
  struct sigaction previous {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGINT, &ignore, &previous);
  sigset_t block;
  sigset_t previous_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &block, &previous_mask);

  TempDir dir;
  auto launched = KernelProcess::launch(sleeping_spec(), LaunchOptions{dir.path(), {}, true});
  ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
  ::sigaction(SIGINT, &previous, nullptr);
  ASSERT_TRUE(launched.ok()) << launched.status().to_string();

  launched.value()->send_interrupt_signal();
  EXPECT_TRUE(launched.value()->wait_exit(5s));
}

TEST(KernelProcess, MissingExecutableIsAnIoErrorAndLeavesNoConnectionFile) {
  TempDir dir;
  KernelSpec spec;
  spec.name = "missing";
  spec.argv = {"/nonexistent/kernel", "-f", "{connection_file}"};
  auto launched = KernelProcess::launch(spec, LaunchOptions{dir.path(), {}, true});
  ASSERT_FALSE(launched.ok());
  EXPECT_EQ(launched.status().code(), wire::StatusCode::kIoError);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace ensemble::client
