#include "ensemble/parallel/cluster_files.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <pwd.h>
#include <unistd.h>

namespace ensemble::parallel {

using wire::Json;
using wire::Status;
using wire::StatusCode;

namespace {

std::string home_dir() {
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return home;
  if (const passwd* entry = getpwuid(getuid())) return entry->pw_dir;
  return "/tmp";
}

}  // namespace

std::string security_dir(const std::string& profile, const std::string& profile_dir) {
  if (!profile_dir.empty()) return profile_dir + "/security";
  std::string ipython_dir;
  if (const char* env = std::getenv("IPYTHONDIR"); env != nullptr && *env != '\0') {
    ipython_dir = env;
  } else {
    ipython_dir = home_dir() + "/.ipython";
  }
  return ipython_dir + "/profile_" + (profile.empty() ? std::string("default") : profile) + "/security";
}

std::string cluster_file_name(const std::string& stem, const std::string& cluster_id) {
  if (cluster_id.empty()) return stem + ".json";
  auto dash = stem.find('-');
  if (dash == std::string::npos) return stem + "-" + cluster_id + ".json";
  return stem.substr(0, dash) + "-" + cluster_id + stem.substr(dash) + ".json";
}

std::string engine_file_name(const std::string& cluster_id, int engine_id) {
  return cluster_file_name("engine-" + std::to_string(engine_id), cluster_id);
}

std::string ControllerAddress::endpoint(int port) const {
  if (transport == "ipc") return "ipc://" + ip + "-" + std::to_string(port);
  return transport + "://" + ip + ":" + std::to_string(port);
}

namespace {

Json common_json(const ControllerAddress& a) {
  Json json{{"transport", a.transport},     {"ip", a.ip},
            {"key", a.key},                 {"signature_scheme", a.signature_scheme},
            {"cluster_id", a.cluster_id},   {"security_dir", a.security_dir},
            {"controller_pid", a.controller_pid}};
  if (!a.location.empty()) json["location"] = a.location;
  return json;
}

}  // namespace

Json ControllerAddress::client_json() const {
  Json json = common_json(*this);
  json["client_port"] = client_port;
  json["iopub_port"] = iopub_port;
  return json;
}

Json ControllerAddress::engine_json() const {
  Json json = common_json(*this);
  json["registration_port"] = registration_port;
  json["heartbeat_period_ms"] = heartbeat_period_ms;
  json["heartbeat_misses"] = heartbeat_misses;
  return json;
}

wire::Result<ControllerAddress> ControllerAddress::from_json(const Json& json) {
  if (!json.is_object()) return Status::Error(StatusCode::kMalformed, "a cluster file must hold a JSON object");
  ControllerAddress a;
  try {
    a.transport = json.value("transport", a.transport);
    a.ip = json.value("ip", a.ip);
    a.client_port = json.value("client_port", 0);
    a.iopub_port = json.value("iopub_port", 0);
    a.registration_port = json.value("registration_port", 0);
    a.key = json.value("key", std::string());
    a.signature_scheme = json.value("signature_scheme", a.signature_scheme);
    a.cluster_id = json.value("cluster_id", std::string());
    a.security_dir = json.value("security_dir", std::string());
    a.heartbeat_period_ms = json.value("heartbeat_period_ms", a.heartbeat_period_ms);
    a.heartbeat_misses = json.value("heartbeat_misses", a.heartbeat_misses);
    a.controller_pid = json.value("controller_pid", 0);
    a.location = json.value("location", std::string());
  } catch (const Json::exception& error) {
    return Status::Error(StatusCode::kMalformed, std::string("a cluster file field has the wrong type: ") + error.what());
  }
  if (a.transport != "tcp" && a.transport != "ipc") {
    return Status::Error(StatusCode::kMalformed, "unknown transport '" + a.transport + "'");
  }
  if (a.signature_scheme != "hmac-sha256") {
    return Status::Error(StatusCode::kMalformed, "unsupported signature scheme '" + a.signature_scheme + "'");
  }
  return a;
}

wire::Result<ControllerAddress> ControllerAddress::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error(StatusCode::kNotFound, path + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  Json json = Json::parse(text.str(), nullptr, false);
  if (json.is_discarded()) return Status::Error(StatusCode::kMalformed, path + ": not JSON");
  return from_json(json);
}

}  // namespace ensemble::parallel
