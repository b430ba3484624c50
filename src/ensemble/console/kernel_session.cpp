#include "kernel_session.hpp"

#include <signal.h>

#include <filesystem>

#include "ensemble/client/jupyter_paths.hpp"
#include "ensemble/client/kernelspec.hpp"

namespace ensemble::console {

namespace {
constexpr std::chrono::seconds kReadyTimeout{30};
}

wire::Result<std::string> newest_connection_file() {
  std::error_code error;
  std::filesystem::path newest;
  std::filesystem::file_time_type newest_time{};
  for (const auto& entry : std::filesystem::directory_iterator(client::jupyter_runtime_dir(), error)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("kernel-") || !name.ends_with(".json")) continue;
    auto time = entry.last_write_time(error);
    if (!error && (newest.empty() || time > newest_time)) {
      newest = entry.path();
      newest_time = time;
    }
  }
  if (newest.empty()) {
    return wire::Status::Error(wire::StatusCode::kNotFound,
                               "no kernel connection file in " + client::jupyter_runtime_dir());
  }
  return newest.string();
}

wire::Result<std::unique_ptr<KernelSession>> KernelSession::open(const ConsoleOptions& options) {
  std::unique_ptr<KernelSession> session(new KernelSession());
  session->options_ = options;
  if (options.existing) {
    std::string path = *options.existing;
    if (path.empty()) {
      auto newest = newest_connection_file();
      if (!newest.ok()) return newest.status();
      path = newest.value();
    } else if (!std::filesystem::exists(path)) {
      // As jupyter console: a bare name is looked up in the runtime directory.
      std::string in_runtime = client::jupyter_runtime_dir() + "/" + path;
      if (std::filesystem::exists(in_runtime)) path = in_runtime;
    }
    auto info = wire::ConnectionInfo::load(path);
    if (!info.ok()) return wire::Status::Error(info.status().code(), path + ": " + info.status().message());
    session->connection_file_ = path;
    session->role_ = info.value().role;
    if (auto status = session->connect(info.value()); !status.ok()) return status;
    return session;
  }
  auto spec = client::find_kernelspec(options.kernel_name);
  if (spec.ok()) {
    session->spec_ = spec.value();
  } else if (options.kernel_name == "ensemble" && !options.builtin_kernel_argv.empty()) {
    session->spec_.name = "ensemble";
    session->spec_.argv = options.builtin_kernel_argv;
    session->spec_.language = "python";
    session->spec_.interrupt_mode = "message";
  } else {
    return spec.status();
  }
  client::LaunchOptions launch;
  launch.extra_env = options.kernel_env;
  auto process = client::KernelProcess::launch(session->spec_, launch);
  if (!process.ok()) return process.status();
  session->process_ = std::move(process).value();
  session->connection_file_ = session->process_->connection_file();
  if (auto status = session->connect(session->process_->connection()); !status.ok()) return status;
  return session;
}

wire::Status KernelSession::connect(const wire::ConnectionInfo& info) {
  client_ = std::make_unique<client::KernelClient>(info, options_.username);
  auto ready = client_->wait_for_ready(std::chrono::duration_cast<std::chrono::milliseconds>(kReadyTimeout));
  if (!ready.ok()) {
    return wire::Status::Error(wire::StatusCode::kUnavailable,
                               "the kernel did not answer within " + std::to_string(kReadyTimeout.count()) + " s");
  }
  kernel_info_ = ready.value().content;
  return wire::Status::Ok();
}

KernelSession::~KernelSession() { shutdown(); }

void KernelSession::interrupt() {
  if (process_ && spec_.interrupt_mode != "message") {
    process_->send_interrupt_signal();
    return;
  }
  client_->send(client::ClientChannel::kControl, "interrupt_request", wire::Json::object());
}

wire::Status KernelSession::restart() {
  if (!process_) return wire::Status::Error(wire::StatusCode::kUnavailable, "this console did not start the kernel");
  client_.reset();
  process_->kill();
  process_.reset();
  client::LaunchOptions launch;
  launch.extra_env = options_.kernel_env;
  auto process = client::KernelProcess::launch(spec_, launch);
  if (!process.ok()) return process.status();
  process_ = std::move(process).value();
  connection_file_ = process_->connection_file();
  return connect(process_->connection());
}

void KernelSession::shutdown() {
  if (shut_down_ || !process_ || keep_kernel_) return;
  shut_down_ = true;
  if (client_ && process_->alive()) {
    client_->send(client::ClientChannel::kControl, "shutdown_request", wire::Json{{"restart", false}});
    if (!process_->wait_exit(std::chrono::seconds(3))) process_->kill();
  }
  client_.reset();
  process_.reset();
}

}  // namespace ensemble::console
