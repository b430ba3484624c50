// The kernel a console talks to: one it started (and will shut down) or one
// it attached to (and leaves running). Owns the client connection.
#pragma once

#include <memory>
#include <string>

#include "ensemble/client/kernel_client.hpp"
#include "ensemble/client/kernel_process.hpp"
#include "ensemble/console/console.hpp"
#include "ensemble/wire/status.hpp"

namespace ensemble::console {

class KernelSession {
 public:
  static wire::Result<std::unique_ptr<KernelSession>> open(const ConsoleOptions& options);
  ~KernelSession();

  client::KernelClient& client() { return *client_; }
  const wire::Json& kernel_info() const { return kernel_info_; }
  bool owns_kernel() const { return process_ != nullptr; }
  const std::string& connection_file() const { return connection_file_; }
  // The role an invitation grants ("observer" is read-only); empty otherwise.
  const std::string& role() const { return role_; }
  // Interrupts the running cell the way the kernelspec asks (signal or
  // message); an attached kernel gets an interrupt_request.
  void interrupt();
  // Starts a fresh kernel from the same spec (owned kernels only).
  wire::Status restart();
  // Asks an owned kernel to shut down, and makes sure it does.
  void shutdown();
  void keep_kernel() { keep_kernel_ = true; }

 private:
  KernelSession() = default;
  wire::Status connect(const wire::ConnectionInfo& info);

  ConsoleOptions options_;
  std::unique_ptr<client::KernelProcess> process_;
  std::unique_ptr<client::KernelClient> client_;
  client::KernelSpec spec_;
  std::string connection_file_;
  std::string role_;
  wire::Json kernel_info_ = wire::Json::object();
  bool keep_kernel_ = false;
  bool shut_down_ = false;
};

// The newest kernel-*.json in the Jupyter runtime directory, as
// `jupyter console --existing` picks it. Errors: kNotFound.
wire::Result<std::string> newest_connection_file();

}  // namespace ensemble::console
