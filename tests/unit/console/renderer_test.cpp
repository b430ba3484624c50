#include "renderer.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace ensemble::console {
namespace {

wire::Message iopub(const std::string& type, wire::Json content, const std::string& session = "me",
                    const std::string& user = "me") {
  wire::Message message;
  message.header.msg_type = type;
  message.content = std::move(content);
  message.parent_header = {{"session", session}, {"username", user}, {"msg_id", "m"}};
  return message;
}

class RendererTest : public ::testing::Test {
 protected:
  std::ostringstream out, err;
  Renderer renderer{out, err, "me", /*color=*/false};
};

TEST_F(RendererTest, ResultShowsTheOutPromptWithTheCount) {
  renderer.render(iopub("execute_result", {{"execution_count", 3}, {"data", {{"text/plain", "2"}}}}));
  EXPECT_EQ(out.str(), "Out[3]: 2\n");
}

TEST_F(RendererTest, MultiLineResultStartsOnItsOwnLine) {
  renderer.render(iopub("execute_result", {{"execution_count", 1}, {"data", {{"text/plain", "a\nb"}}}}));
  EXPECT_EQ(out.str(), "Out[1]: \na\nb\n");
}

TEST_F(RendererTest, StreamsGoToTheirOwnStreamAsTheyArrive) {
  renderer.render(iopub("stream", {{"name", "stdout"}, {"text", "par"}}));
  renderer.render(iopub("stream", {{"name", "stdout"}, {"text", "tial\n"}}));
  renderer.render(iopub("stream", {{"name", "stderr"}, {"text", "oops\n"}}));
  EXPECT_EQ(out.str(), "partial\n");
  EXPECT_EQ(err.str(), "oops\n");
}

TEST_F(RendererTest, MimeTypesATerminalCannotShowGetANote) {
  renderer.render(iopub("display_data", {{"data", {{"image/png", "AAAA"}}}}));
  EXPECT_NE(out.str().find("image/png"), std::string::npos);
}

TEST_F(RendererTest, ErrorPrintsTheTraceback) {
  renderer.render(iopub("error", {{"ename", "ValueError"}, {"evalue", "x"}, {"traceback", {"line 1", "ValueError: x"}}}));
  EXPECT_EQ(err.str(), "line 1\nValueError: x\n");
}

TEST_F(RendererTest, TracebackColoursAreDroppedWhenColourIsOff) {
  renderer.render(iopub("error", {{"ename", "E"}, {"evalue", ""}, {"traceback", {"\033[1;31mE\033[0m: x"}}}));
  EXPECT_EQ(err.str(), "E: x\n");
}

TEST_F(RendererTest, OtherClientsInputsAndOutputsAreMarkedWithTheirName) {
  renderer.render(iopub("execute_input", {{"execution_count", 7}, {"code", "x = 1"}}, "other", "alice"));
  renderer.render(iopub("stream", {{"name", "stdout"}, {"text", "hi\n"}}, "other", "alice"));
  EXPECT_EQ(out.str(), "[alice] In [7]: x = 1\n[alice] hi\n");
}

TEST_F(RendererTest, OwnInputIsNotEchoedAgain) {
  EXPECT_FALSE(renderer.render(iopub("execute_input", {{"execution_count", 1}, {"code", "x"}})));
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace ensemble::console
