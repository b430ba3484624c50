// `ensemble invite` and `ensemble revoke`: per-user access to an encrypted kernel.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "ensemble/kernel/roster.hpp"
#include "ensemble/wire/connection_file.hpp"

namespace ensemble::cli {

namespace {

struct AccessArgs {
  std::string connection_file;
  std::string user;
  std::string role = "collaborator";
  std::string output;
};

wire::Result<wire::ConnectionInfo> load_encrypted(const std::string& path) {
  auto info = wire::ConnectionInfo::load(path);
  if (!info.ok()) return wire::Status::Error(info.status().code(), path + ": " + info.status().message());
  if (!info.value().encrypted() || info.value().is_invitation()) {
    return wire::Status::Error(wire::StatusCode::kInvalidArgument,
                               path + " is not an encrypted kernel's own connection file (it needs curve_publickey "
                                      "and curve_secretkey)");
  }
  return info;
}

int invite(const AccessArgs& args) {
  auto kernel = load_encrypted(args.connection_file);
  if (!kernel.ok()) {
    std::cerr << "ensemble invite: " << kernel.status().message() << std::endl;
    return 2;
  }
  auto role = kernel::role_from_string(args.role);
  std::string roster_path = kernel::roster_path_for(args.connection_file);
  auto roster = kernel::Roster::load(roster_path);
  if (!roster.ok()) {
    std::cerr << "ensemble invite: " << roster.status().message() << std::endl;
    return 1;
  }
  auto [public_key, secret_key] = kernel::new_curve_keypair();
  wire::ConnectionInfo invitation = kernel.value();
  invitation.curve_serverkey = kernel.value().curve_publickey;
  invitation.curve_publickey = public_key;
  invitation.curve_secretkey = secret_key;
  invitation.username = args.user;
  invitation.role = args.role;
  std::string output = args.output;
  if (output.empty()) {
    std::filesystem::path dir = std::filesystem::path(args.connection_file).parent_path();
    output = (dir / (std::filesystem::path(args.connection_file).stem().string() + "-" + args.user + ".json")).string();
  }
  if (auto status = wire::write_connection_file(output, invitation); !status.ok()) {
    std::cerr << "ensemble invite: " << status.message() << std::endl;
    return 1;
  }
  roster.value().put(kernel::Member{args.user, *role, public_key});
  if (auto status = roster.value().save(roster_path); !status.ok()) {
    std::cerr << "ensemble invite: " << status.message() << std::endl;
    return 1;
  }
  std::cout << output << std::endl;
  return 0;
}

int revoke(const AccessArgs& args) {
  std::string roster_path = kernel::roster_path_for(args.connection_file);
  auto roster = kernel::Roster::load(roster_path);
  if (!roster.ok()) {
    std::cerr << "ensemble revoke: " << roster.status().message() << std::endl;
    return 1;
  }
  if (!roster.value().remove(args.user)) {
    std::cerr << "ensemble revoke: no user '" << args.user << "' in " << roster_path << std::endl;
    return 1;
  }
  if (auto status = roster.value().save(roster_path); !status.ok()) {
    std::cerr << "ensemble revoke: " << status.message() << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace

Subcommand add_invite_command(CLI::App& app) {
  auto args = std::make_shared<AccessArgs>();
  CLI::App* sub = app.add_subcommand("invite", "Issue a per-user invitation to an encrypted kernel");
  sub->add_option("--role", args->role, "owner, collaborator or observer")
      ->check(CLI::IsMember({"owner", "collaborator", "observer"}))
      ->capture_default_str();
  sub->add_option("--user", args->user, "The user's name, shown to everyone on the kernel")->required();
  sub->add_option("-o,--output", args->output, "Where to write the invitation (default: beside the connection file)");
  sub->add_option("connection_file", args->connection_file, "The kernel's own connection file")->required();
  return {sub, [args] { return invite(*args); }};
}

Subcommand add_revoke_command(CLI::App& app) {
  auto args = std::make_shared<AccessArgs>();
  CLI::App* sub = app.add_subcommand("revoke", "Cut a user off a running encrypted kernel");
  sub->add_option("--user", args->user, "The user to remove")->required();
  sub->add_option("connection_file", args->connection_file, "The kernel's own connection file")->required();
  return {sub, [args] { return revoke(*args); }};
}

}  // namespace ensemble::cli
