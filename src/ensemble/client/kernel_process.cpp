#include "ensemble/client/kernel_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "ensemble/client/jupyter_paths.hpp"
#include "ensemble/wire/ids.hpp"

extern char** environ;

namespace ensemble::client {

using wire::Result;
using wire::Status;
using wire::StatusCode;

namespace {

Status io_error(const std::string& what, int error) {
  return Status::Error(StatusCode::kIoError, what + ": " + std::strerror(error));
}

// Chooses free loopback ports the way jupyter_client does: bind to port 0
// and read what the system picked. All sockets stay open until every port is
// known, so the five are distinct. Another process may still take one before
// the kernel binds it; jupyter_client lives with the same race.
Status choose_ports(wire::ConnectionInfo& info) {
  constexpr wire::Channel kChannels[] = {wire::Channel::kShell, wire::Channel::kIopub, wire::Channel::kStdin,
                                         wire::Channel::kControl, wire::Channel::kHeartbeat};
  std::vector<int> sockets;
  Status status;
  for (auto channel : kChannels) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      status = io_error("socket", errno);
      break;
    }
    sockets.push_back(fd);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      status = io_error("choosing a loopback port", errno);
      break;
    }
    info.set_port(channel, ntohs(address.sin_port));
  }
  for (int fd : sockets) ::close(fd);
  return status;
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

bool is_identifier_char(char c, bool first) {
  return c == '_' || std::isalpha(static_cast<unsigned char>(c)) ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// Python's string.Template(text).safe_substitute(values), which jupyter_client
// applies to a kernelspec's env: "$NAME" and "${NAME}" become the variable's
// value, "$$" a "$"; unknown names stay as written.
std::string substitute_variables(const std::string& text, const std::map<std::string, std::string>& values) {
  std::string result;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] != '$' || i + 1 == text.size()) {
      result += text[i++];
      continue;
    }
    if (text[i + 1] == '$') {
      result += '$';
      i += 2;
      continue;
    }
    bool braced = text[i + 1] == '{';
    std::size_t start = i + (braced ? 2 : 1);
    std::size_t end = start;
    while (end < text.size() && is_identifier_char(text[end], end == start)) ++end;
    bool closed = !braced || (end < text.size() && text[end] == '}');
    auto value = values.find(text.substr(start, end - start));
    if (end == start || !closed || value == values.end()) {
      result += text[i++];  // not a known placeholder: keep it literally
      continue;
    }
    result += value->second;
    i = end + (braced ? 1 : 0);
  }
  return result;
}

// Our environment, then the spec's env (with variables substituted from
// ours), then the caller's, then JPY_PARENT_PID; later entries override
// earlier ones.
std::vector<std::string> kernel_environment(const KernelSpec& spec, const LaunchOptions& options) {
  std::map<std::string, std::string> current;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string text(*entry);
    auto equals = text.find('=');
    if (equals != std::string::npos) current[text.substr(0, equals)] = text.substr(equals + 1);
  }
  std::map<std::string, std::string> merged = current;
  for (const auto& [key, value] : spec.env) merged[key] = substitute_variables(value, current);
  for (const auto& [key, value] : options.extra_env) merged[key] = value;
  merged["JPY_PARENT_PID"] = std::to_string(::getpid());
  // As jupyter_client: it makes a Python kernel believe it is another program.
  std::string language_prefix = spec.language.substr(0, 6);
  for (char& c : language_prefix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (language_prefix == "python") merged.erase("PYTHONEXECUTABLE");
  std::vector<std::string> result;
  result.reserve(merged.size());
  for (const auto& [key, value] : merged) result.push_back(key + '=' + value);
  return result;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (auto& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

// posix_spawn rather than fork: safe in a threaded process and cheap. The
// child gets every signal at its default disposition and none blocked,
// whatever this process set up (a console ignores or blocks SIGINT), so that
// SIGINT interrupts the kernel. Its stdin is /dev/null: the terminal belongs
// to the console. Descriptors above stderr are closed. As jupyter_client
// does, the kernel leads a session of its own: a Ctrl-C at the console's
// terminal reaches only the console (which interrupts the kernel as its
// kernelspec asks), and signals go to the kernel's whole process group, so
// its children end with it.
Result<pid_t> spawn(std::vector<std::string> argv, std::vector<std::string> env, bool quiet) {
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_init(&attributes);
  posix_spawn_file_actions_init(&actions);
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (quiet) {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  }
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);

  auto argv_pointers = c_strings(argv);
  auto env_pointers = c_strings(env);
  pid_t pid = -1;
  int error = ::posix_spawnp(&pid, argv_pointers[0], &actions, &attributes, argv_pointers.data(), env_pointers.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) return io_error("cannot start " + argv[0], error);
  return pid;
}

}  // namespace

Result<std::unique_ptr<KernelProcess>> KernelProcess::launch(const KernelSpec& spec, const LaunchOptions& options) {
  if (spec.argv.empty()) return Status::Error(StatusCode::kInvalidArgument, "kernelspec " + spec.name + " has no argv");
  std::string runtime_dir = options.runtime_dir.empty() ? jupyter_runtime_dir() : options.runtime_dir;
  if (!make_private_dirs(runtime_dir)) return io_error("cannot create " + runtime_dir, errno);

  std::unique_ptr<KernelProcess> process(new KernelProcess());
  process->spec_ = spec;
  process->connection_ = wire::fresh_loopback_connection();
  process->connection_.kernel_name = spec.name;
  if (auto status = choose_ports(process->connection_); !status.ok()) return status;
  process->connection_file_ = runtime_dir + "/kernel-" + wire::new_id() + ".json";
  if (auto status = wire::write_connection_file(process->connection_file_, process->connection_); !status.ok()) {
    process->connection_file_.clear();  // not ours to remove
    return status;
  }

  std::vector<std::string> argv = spec.argv;
  for (auto& arg : argv) {
    replace_all(arg, "{connection_file}", process->connection_file_);
    replace_all(arg, "{resource_dir}", spec.resource_dir);
  }
  auto pid = spawn(std::move(argv), kernel_environment(spec, options), options.quiet);
  if (!pid.ok()) return pid.status();  // the destructor removes the connection file
  process->pid_ = pid.value();
  return process;
}

KernelProcess::~KernelProcess() {
  kill();
  if (!connection_file_.empty()) ::unlink(connection_file_.c_str());
}

bool KernelProcess::alive() {
  if (exited_ || pid_ <= 0) return false;
  int status = 0;
  pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
  if (reaped == 0) return true;
  if (reaped < 0 && errno == EINTR) return true;
  exited_ = true;  // reaped now, or (ECHILD) by someone else
  return false;
}

void KernelProcess::send_interrupt_signal() {
  if (alive()) ::kill(-pid_, SIGINT);
}

bool KernelProcess::wait_exit(std::chrono::milliseconds timeout) {
  // Polling keeps this free of SIGCHLD handlers, which belong to the program
  // embedding the client; 10 ms is well below anything a user notices.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (alive()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void KernelProcess::kill() {
  if (!alive()) return;
  ::kill(-pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exited_ = true;
}

}  // namespace ensemble::client
