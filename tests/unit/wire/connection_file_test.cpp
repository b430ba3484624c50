#include "ensemble/wire/connection_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ensemble::wire {
namespace {

TEST(ConnectionFile, ParsesEveryField) {
  auto info = ConnectionInfo::from_json_text(R"({"transport": "tcp", "ip": "127.0.0.1", "shell_port": 1,
    "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5, "key": "abc",
    "signature_scheme": "hmac-sha256", "kernel_name": "ensemble"})");
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info.value().endpoint(Channel::kControl), "tcp://127.0.0.1:4");
  EXPECT_EQ(info.value().hb_port, 5);
  EXPECT_EQ(info.value().key, "abc");
}

TEST(ConnectionFile, IpcEndpointsFollowJupyterNaming) {
  auto info = ConnectionInfo::from_json_text(R"({"transport": "ipc", "ip": "/tmp/k", "shell_port": 7})");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info.value().endpoint(Channel::kShell), "ipc:///tmp/k-7");
}

TEST(ConnectionFile, UnknownSignatureSchemeIsRefused) {
  auto info = ConnectionInfo::from_json_text(R"({"signature_scheme": "hmac-md5"})");
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
}

TEST(ConnectionFile, WrongTypesAndGarbageAreMalformed) {
  EXPECT_EQ(ConnectionInfo::from_json_text(R"({"shell_port": "x"})").status().code(), StatusCode::kMalformed);
  EXPECT_EQ(ConnectionInfo::from_json_text("not json").status().code(), StatusCode::kMalformed);
  EXPECT_EQ(ConnectionInfo::from_json_text(R"({"shell_port": 70000})").status().code(), StatusCode::kInvalidArgument);
}

TEST(ConnectionFile, IsWrittenOwnerOnlyAndReadsBack) {
  char dir[] = "/tmp/ensemble-cf-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/kernel.json";
  ConnectionInfo info = fresh_loopback_connection();
  info.shell_port = 1234;
  ASSERT_TRUE(write_connection_file(path, info).ok());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = ConnectionInfo::load(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.value().key, info.key);
  EXPECT_EQ(loaded.value().shell_port, 1234);
  EXPECT_EQ(info.key.size(), 64u);
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace ensemble::wire

namespace ensemble::wire {
namespace {

TEST(ConnectionFile, APrivateFileIsReplacedWholeAndLeavesNoTemporaryBehind) {
  char dir[] = "/tmp/ensemble-cf-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/cluster.json";
  ASSERT_TRUE(write_private_file(path, "{\"old\": 1}\n").ok());
  struct stat before {};
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  ASSERT_TRUE(write_private_file(path, "{\"new\": 2}\n").ok());
  struct stat after {};
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino) << "renamed over, not truncated and rewritten in place";
  EXPECT_EQ(after.st_mode & 0777, 0600u);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "{\"new\": 2}\n");
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) left.push_back(entry.path().filename());
  EXPECT_EQ(left, std::vector<std::string>{"cluster.json"});
  EXPECT_FALSE(write_private_file(std::string(dir) + "/no-such-dir/x.json", "{}").ok());
  unlink(path.c_str());
  rmdir(dir);
}

TEST(ConnectionFile, CurveFieldsRoundTripAndTellInvitationsApart) {
  std::string key(40, 'a');
  auto own = ConnectionInfo::from_json_text(R"({"curve_publickey": ")" + key + R"(", "curve_secretkey": ")" + key + R"("})");
  ASSERT_TRUE(own.ok()) << own.status().to_string();
  EXPECT_TRUE(own.value().encrypted());
  EXPECT_FALSE(own.value().is_invitation());
  Json json = own.value().to_json();
  json["curve_serverkey"] = key;
  json["username"] = "alice";
  auto parsed = ConnectionInfo::from_json(json);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed.value().is_invitation());
  EXPECT_EQ(parsed.value().username, "alice");
}

TEST(ConnectionFile, CurveKeyOfTheWrongLengthIsRefused) {
  auto info = ConnectionInfo::from_json_text(R"({"curve_secretkey": "short"})");
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ensemble::wire
