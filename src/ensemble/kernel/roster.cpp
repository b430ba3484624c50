#include "ensemble/kernel/roster.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "ensemble/wire/connection_file.hpp"

namespace ensemble::kernel {

namespace {
constexpr std::chrono::milliseconds kRecheck{250};
}

const char* to_string(Role role) {
  switch (role) {
    case Role::kOwner: return "owner";
    case Role::kCollaborator: return "collaborator";
    case Role::kObserver: return "observer";
  }
  return "observer";
}

std::optional<Role> role_from_string(std::string_view name) {
  if (name == "owner") return Role::kOwner;
  if (name == "collaborator") return Role::kCollaborator;
  if (name == "observer") return Role::kObserver;
  return std::nullopt;
}

bool permits(Role role, std::string_view channel, std::string_view msg_type) {
  if (role == Role::kOwner) return true;
  static constexpr std::array kReading = {"kernel_info_request", "complete_request", "inspect_request",
                                          "history_request",     "is_complete_request", "comm_info_request"};
  bool reading = std::find(kReading.begin(), kReading.end(), msg_type) != kReading.end();
  if (role == Role::kObserver) return reading;
  // A collaborator works in the namespace but cannot end the kernel.
  if (channel == "control") return msg_type == "kernel_info_request" || msg_type == "interrupt_request";
  if (msg_type == "shutdown_request") return false;
  return true;
}

wire::Result<Roster> Roster::load(const std::string& path) {
  Roster roster;
  std::ifstream in(path);
  if (!in) return roster;
  std::stringstream text;
  text << in.rdbuf();
  auto json = nlohmann::json::parse(text.str(), nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json.value("members", nlohmann::json::array()).is_array()) {
    return wire::Status::Error(wire::StatusCode::kMalformed, path + " is not a roster");
  }
  for (const auto& entry : json.value("members", nlohmann::json::array())) {
    if (!entry.is_object()) continue;
    auto role = role_from_string(entry.value("role", ""));
    std::string key = entry.value("public_key", "");
    if (!role || key.size() != 40) continue;
    roster.members_.push_back(Member{entry.value("username", ""), *role, key});
  }
  return roster;
}

wire::Status Roster::save(const std::string& path) const {
  nlohmann::json members = nlohmann::json::array();
  for (const auto& member : members_) {
    members.push_back({{"username", member.username}, {"role", to_string(member.role)}, {"public_key", member.public_key}});
  }
  std::string text = nlohmann::json{{"members", members}}.dump(2) + "\n";
  std::string temporary = path + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return wire::Status::Error(wire::StatusCode::kIoError, "cannot write " + temporary);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(temporary.c_str(), path.c_str()) != 0) {
    ::unlink(temporary.c_str());
    return wire::Status::Error(wire::StatusCode::kIoError, "cannot write " + path);
  }
  return wire::Status::Ok();
}

std::optional<Member> Roster::find_by_key(const std::string& public_key) const {
  for (const auto& member : members_) {
    if (member.public_key == public_key) return member;
  }
  return std::nullopt;
}

void Roster::put(Member member) {
  remove(member.username);
  members_.push_back(std::move(member));
}

bool Roster::remove(const std::string& username) {
  auto it = std::remove_if(members_.begin(), members_.end(), [&](const Member& m) { return m.username == username; });
  bool removed = it != members_.end();
  members_.erase(it, members_.end());
  return removed;
}

std::string roster_path_for(const std::string& connection_file) {
  std::filesystem::path path(connection_file);
  return (path.parent_path() / (path.stem().string() + ".roster.json")).string();
}

std::pair<std::string, std::string> new_curve_keypair() {
  char public_key[41];
  char secret_key[41];
  if (zmq_curve_keypair(public_key, secret_key) != 0) throw std::runtime_error("libzmq has no CURVE support");
  return {public_key, secret_key};
}

RosterFile::RosterFile(std::string path, Member owner) : path_(std::move(path)), owner_(std::move(owner)) {
  std::lock_guard lock(mutex_);
  refresh_locked();
}

void RosterFile::refresh_locked(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now - checked_ < kRecheck) return;
  checked_ = now;
  std::error_code error;
  auto mtime = std::filesystem::last_write_time(path_, error);
  if (error) mtime = {};
  if (mtime == loaded_mtime_ && mtime != std::filesystem::file_time_type{}) return;
  auto loaded = Roster::load(path_);
  if (!loaded.ok()) {
    spdlog::warn("roster: {}; keeping the previous one", loaded.status().message());
    return;
  }
  for (const auto& member : roster_.members()) {
    auto still = loaded.value().find_by_key(member.public_key);
    if (!still || still->role != member.role) {
      spdlog::warn("roster: access of '{}' revoked or changed", member.username);
      ++revocations_;
      break;
    }
  }
  roster_ = std::move(loaded).value();
  loaded_mtime_ = mtime;
}

std::optional<Member> RosterFile::find_by_key(const std::string& public_key, bool reload_if_missing) {
  if (public_key == owner_.public_key) return owner_;
  std::lock_guard lock(mutex_);
  refresh_locked();
  auto member = roster_.find_by_key(public_key);
  if (!member && reload_if_missing) {
    refresh_locked(/*force=*/true);
    member = roster_.find_by_key(public_key);
  }
  return member;
}

int RosterFile::revocations() {
  std::lock_guard lock(mutex_);
  refresh_locked();
  return revocations_;
}

}  // namespace ensemble::kernel
