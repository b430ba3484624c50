// Who may use an encrypted kernel, and for what (docs/security.md).
//
// The roster is a JSON file beside the kernel's connection file listing each
// invited user's public key, name and role. The kernel's own key pair is the
// owner. Roster values are plain data; RosterFile adds thread-safe reloading.
#pragma once

#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ensemble/wire/status.hpp"

namespace ensemble::kernel {

enum class Role { kOwner, kCollaborator, kObserver };

const char* to_string(Role role);
std::optional<Role> role_from_string(std::string_view name);

// Whether `role` may send `msg_type` on `channel` ("shell", "control", "stdin").
bool permits(Role role, std::string_view channel, std::string_view msg_type);

struct Member {
  std::string username;
  Role role = Role::kObserver;
  std::string public_key;  // Z85
};

class Roster {
 public:
  // A missing file is an empty roster. Errors: kMalformed.
  static wire::Result<Roster> load(const std::string& path);
  // Written 0600 through a temporary file and a rename.
  wire::Status save(const std::string& path) const;

  std::optional<Member> find_by_key(const std::string& public_key) const;
  // Adds, or replaces the member of the same name.
  void put(Member member);
  // False if there was no such user.
  bool remove(const std::string& username);
  const std::vector<Member>& members() const { return members_; }

 private:
  std::vector<Member> members_;
};

// "<dir>/kernel-x.json" -> "<dir>/kernel-x.roster.json".
std::string roster_path_for(const std::string& connection_file);

// A fresh CurveZMQ key pair (public, secret), Z85.
std::pair<std::string, std::string> new_curve_keypair();

// The roster file as the running kernel sees it: re-read when it changes
// (checked at most every `recheck`), plus the owner's key. Thread-safe.
class RosterFile {
 public:
  RosterFile(std::string path, Member owner);
  // `reload_if_missing`: re-read the file at once before saying no, so that
  // a user invited a moment ago is admitted (a refused CURVE handshake is
  // not retried by libzmq).
  std::optional<Member> find_by_key(const std::string& public_key, bool reload_if_missing = false);
  // Counts reloads in which somebody lost access; a change means open
  // connections must be cut.
  int revocations();

 private:
  void refresh_locked(bool force = false);

  const std::string path_;
  const Member owner_;
  std::mutex mutex_;
  Roster roster_;                                            // GUARDED_BY(mutex_)
  std::filesystem::file_time_type loaded_mtime_{};           // GUARDED_BY(mutex_)
  std::chrono::steady_clock::time_point checked_{};          // GUARDED_BY(mutex_)
  int revocations_ = 0;                                      // GUARDED_BY(mutex_)
};

}  // namespace ensemble::kernel
