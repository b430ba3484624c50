#include "ensemble/client/kernelspec.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "client_test_support.hpp"
#include "ensemble/wire/message.hpp"

namespace ensemble::client {
namespace {

using testing::ScopedEnv;
using testing::TempDir;
using testing::write_kernel_json;
using wire::StatusCode;

// JUPYTER_PATH = first:second, and an empty user data dir, so only what a
// test writes (and the system directories) can be found.
class KernelSpecTest : public ::testing::Test {
 protected:
  TempDir first_;
  TempDir second_;
  TempDir user_;
  ScopedEnv jupyter_path_{"JUPYTER_PATH", first_.path() + ":" + second_.path()};
  ScopedEnv data_dir_{"JUPYTER_DATA_DIR", user_.path()};
};

TEST_F(KernelSpecTest, SearchDirsFollowJupyterPriority) {
  std::vector<std::string> expected = {first_.path() + "/kernels", second_.path() + "/kernels",
                                       user_.path() + "/kernels", "/usr/local/share/jupyter/kernels",
                                       "/usr/share/jupyter/kernels"};
  EXPECT_EQ(kernelspec_search_dirs(), expected);
}

TEST_F(KernelSpecTest, FindsSpecAndReadsEveryField) {
  std::string dir = write_kernel_json(second_.path(), "toy",
                                      wire::Json{{"argv", {"toy-kernel", "-f", "{connection_file}"}},
                                                 {"display_name", "Toy"},
                                                 {"language", "toylang"},
                                                 {"interrupt_mode", "message"},
                                                 {"env", {{"TOY_MODE", "fast"}}}});
  auto spec = find_kernelspec("toy");
  ASSERT_TRUE(spec.ok()) << spec.status().to_string();
  EXPECT_EQ(spec.value().name, "toy");
  EXPECT_EQ(spec.value().resource_dir, dir);
  EXPECT_EQ(spec.value().argv, (std::vector<std::string>{"toy-kernel", "-f", "{connection_file}"}));
  EXPECT_EQ(spec.value().display_name, "Toy");
  EXPECT_EQ(spec.value().language, "toylang");
  EXPECT_EQ(spec.value().interrupt_mode, "message");
  EXPECT_EQ(spec.value().env.at("TOY_MODE"), "fast");
}

TEST_F(KernelSpecTest, InterruptModeDefaultsToSignal) {
  write_kernel_json(first_.path(), "plain", wire::Json{{"argv", {"k"}}});
  auto spec = find_kernelspec("plain");
  ASSERT_TRUE(spec.ok()) << spec.status().to_string();
  EXPECT_EQ(spec.value().interrupt_mode, "signal");
  EXPECT_EQ(spec.value().display_name, "plain");
  EXPECT_TRUE(spec.value().env.empty());
}

TEST_F(KernelSpecTest, NamesMatchCaseInsensitivelyAndComeBackLowercase) {
  write_kernel_json(first_.path(), "MixedCase", wire::Json{{"argv", {"k"}}});
  auto spec = find_kernelspec("MIXEDcase");
  ASSERT_TRUE(spec.ok()) << spec.status().to_string();
  EXPECT_EQ(spec.value().name, "mixedcase");
}

TEST_F(KernelSpecTest, UnknownNameIsNotFound) {
  EXPECT_EQ(find_kernelspec("no-such-kernel-anywhere").status().code(), StatusCode::kNotFound);
}

TEST_F(KernelSpecTest, MalformedKernelJsonIsAnError) {
  write_kernel_json(first_.path(), "garbage", std::string("{not json"));
  write_kernel_json(first_.path(), "no-argv", wire::Json{{"display_name", "x"}});
  write_kernel_json(first_.path(), "empty-argv", wire::Json{{"argv", wire::Json::array()}});
  write_kernel_json(first_.path(), "bad-mode", wire::Json{{"argv", {"k"}}, {"interrupt_mode", "shout"}});
  write_kernel_json(first_.path(), "bad-env", wire::Json{{"argv", {"k"}}, {"env", {{"N", 1}}}});
  for (const char* name : {"garbage", "no-argv", "empty-argv", "bad-mode", "bad-env"}) {
    EXPECT_EQ(find_kernelspec(name).status().code(), StatusCode::kMalformed) << name;
  }
}

TEST_F(KernelSpecTest, EarlierDirectoryWins) {
  write_kernel_json(first_.path(), "dup", wire::Json{{"argv", {"k"}}, {"display_name", "first"}});
  write_kernel_json(second_.path(), "dup", wire::Json{{"argv", {"k"}}, {"display_name", "second"}});
  write_kernel_json(user_.path(), "dup", wire::Json{{"argv", {"k"}}, {"display_name", "user"}});
  write_kernel_json(second_.path(), "shadowed", wire::Json{{"argv", {"k"}}, {"display_name", "second"}});
  write_kernel_json(user_.path(), "shadowed", wire::Json{{"argv", {"k"}}, {"display_name", "user"}});
  EXPECT_EQ(find_kernelspec("dup").value().display_name, "first");
  EXPECT_EQ(find_kernelspec("shadowed").value().display_name, "second");
}

TEST_F(KernelSpecTest, MalformedSpecShadowsLaterOnesAsInJupyterClient) {
  write_kernel_json(first_.path(), "broken", std::string("[]"));
  write_kernel_json(second_.path(), "broken", wire::Json{{"argv", {"k"}}});
  EXPECT_EQ(find_kernelspec("broken").status().code(), StatusCode::kMalformed);
}

TEST_F(KernelSpecTest, ListHasEachNameOnceAndSkipsMalformed) {
  write_kernel_json(first_.path(), "dup", wire::Json{{"argv", {"k"}}, {"display_name", "first"}});
  write_kernel_json(second_.path(), "DUP", wire::Json{{"argv", {"k"}}, {"display_name", "second"}});
  write_kernel_json(second_.path(), "good", wire::Json{{"argv", {"k"}}});
  write_kernel_json(second_.path(), "bad", std::string("{"));
  auto specs = list_kernelspecs();
  auto count = [&specs](const std::string& name) {
    return std::count_if(specs.begin(), specs.end(), [&name](const KernelSpec& spec) { return spec.name == name; });
  };
  EXPECT_EQ(count("dup"), 1);
  EXPECT_EQ(count("good"), 1);
  EXPECT_EQ(count("bad"), 0);
  auto dup = std::find_if(specs.begin(), specs.end(), [](const KernelSpec& spec) { return spec.name == "dup"; });
  ASSERT_NE(dup, specs.end());
  EXPECT_EQ(dup->display_name, "first");
}

}  // namespace
}  // namespace ensemble::client
