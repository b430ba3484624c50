#include "ensemble/wire/connection_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "ensemble/wire/ids.hpp"

namespace ensemble::wire {

namespace {
constexpr struct {
  Channel channel;
  const char* field;
} kPortFields[] = {{Channel::kShell, "shell_port"},
                   {Channel::kIopub, "iopub_port"},
                   {Channel::kStdin, "stdin_port"},
                   {Channel::kControl, "control_port"},
                   {Channel::kHeartbeat, "hb_port"}};
}  // namespace

int ConnectionInfo::port(Channel channel) const {
  switch (channel) {
    case Channel::kShell: return shell_port;
    case Channel::kControl: return control_port;
    case Channel::kStdin: return stdin_port;
    case Channel::kIopub: return iopub_port;
    case Channel::kHeartbeat: return hb_port;
  }
  return 0;
}

void ConnectionInfo::set_port(Channel channel, int value) {
  switch (channel) {
    case Channel::kShell: shell_port = value; break;
    case Channel::kControl: control_port = value; break;
    case Channel::kStdin: stdin_port = value; break;
    case Channel::kIopub: iopub_port = value; break;
    case Channel::kHeartbeat: hb_port = value; break;
  }
}

std::string ConnectionInfo::endpoint(Channel channel) const {
  int value = port(channel);
  if (transport == "ipc") return "ipc://" + ip + "-" + std::to_string(value);
  std::string host = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
  return "tcp://" + host + ":" + (value > 0 ? std::to_string(value) : std::string("*"));
}

Json ConnectionInfo::to_json() const {
  Json json{{"transport", transport},
            {"ip", ip},
            {"key", key},
            {"signature_scheme", signature_scheme},
            {"kernel_name", kernel_name}};
  for (const auto& field : kPortFields) json[field.field] = port(field.channel);
  for (auto [name, value] : {std::pair{"curve_publickey", &curve_publickey}, std::pair{"curve_secretkey", &curve_secretkey},
                             std::pair{"curve_serverkey", &curve_serverkey}, std::pair{"username", &username},
                             std::pair{"role", &role}}) {
    if (!value->empty()) json[name] = *value;
  }
  return json;
}

Result<ConnectionInfo> ConnectionInfo::from_json(const Json& json) {
  if (!json.is_object()) return Status::Error(StatusCode::kMalformed, "connection info is not an object");
  ConnectionInfo info;
  auto read_string = [&json](const char* name, std::string& out) {
    auto it = json.find(name);
    if (it == json.end() || it->is_null()) return true;
    if (!it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  if (!read_string("transport", info.transport) || !read_string("ip", info.ip) || !read_string("key", info.key) ||
      !read_string("signature_scheme", info.signature_scheme) || !read_string("kernel_name", info.kernel_name) ||
      !read_string("curve_publickey", info.curve_publickey) || !read_string("curve_secretkey", info.curve_secretkey) ||
      !read_string("curve_serverkey", info.curve_serverkey) || !read_string("username", info.username) ||
      !read_string("role", info.role)) {
    return Status::Error(StatusCode::kMalformed, "a string field has another type");
  }
  for (const auto& field : kPortFields) {
    auto it = json.find(field.field);
    if (it == json.end() || it->is_null()) continue;
    if (!it->is_number_integer()) {
      return Status::Error(StatusCode::kMalformed, std::string(field.field) + " is not an integer");
    }
    auto value = it->get<long long>();
    if (value < 0 || value > 65535) {
      return Status::Error(StatusCode::kInvalidArgument, std::string(field.field) + " is out of range");
    }
    info.set_port(field.channel, static_cast<int>(value));
  }
  if (info.transport != "tcp" && info.transport != "ipc") {
    return Status::Error(StatusCode::kInvalidArgument, "unknown transport '" + info.transport + "'");
  }
  if (info.signature_scheme != "hmac-sha256") {
    return Status::Error(StatusCode::kInvalidArgument, "unsupported signature scheme '" + info.signature_scheme + "'");
  }
  if (info.ip.empty()) return Status::Error(StatusCode::kInvalidArgument, "empty ip");
  for (const std::string* key : {&info.curve_publickey, &info.curve_secretkey, &info.curve_serverkey}) {
    if (!key->empty() && key->size() != 40) {
      return Status::Error(StatusCode::kInvalidArgument, "a curve key is not 40 Z85 characters");
    }
  }
  return info;
}

Result<ConnectionInfo> ConnectionInfo::from_json_text(const std::string& text) {
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Status::Error(StatusCode::kMalformed, "connection file is not valid JSON");
  return from_json(json);
}

Result<ConnectionInfo> ConnectionInfo::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error(StatusCode::kNotFound, "cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return from_json_text(text.str());
}

Status write_private_file(const std::string& path, const std::string& text) {
  // Written beside `path` and renamed over it: a reader (a client, `cluster list`, a test
  // polling for the file) sees the old file or the whole new one, never an empty or half one.
  std::string temporary = path + ".tmp-" + random_hex(8);
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Error(StatusCode::kIoError, path + ": " + std::strerror(errno));
  auto fail = [&](int error) {
    ::close(fd);
    ::unlink(temporary.c_str());
    return Status::Error(StatusCode::kIoError, path + ": " + std::strerror(error));
  };
  std::size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(n < 0 ? errno : ENOSPC);
    written += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) {
    int error = errno;
    ::unlink(temporary.c_str());
    return Status::Error(StatusCode::kIoError, path + ": " + std::strerror(error));
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(temporary.c_str());
    return Status::Error(StatusCode::kIoError, path + ": " + std::strerror(error));
  }
  return Status::Ok();
}

Status write_connection_file(const std::string& path, const ConnectionInfo& info) {
  return write_private_file(path, info.to_json().dump(2) + "\n");
}

ConnectionInfo fresh_loopback_connection() {
  ConnectionInfo info;
  info.key = random_hex(32);
  return info;
}

}  // namespace ensemble::wire
