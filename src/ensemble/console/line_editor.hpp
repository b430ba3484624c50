// Line editing with libedit through its readline interface, used in
// callback mode so the console can wait on the terminal and the kernel's
// sockets at once. libedit keeps global state, so there is one LineEditor
// per process. Not thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ensemble::console {

struct Completion {
  std::vector<std::string> matches;
  int replace_from = 0;  // offset in the line where each match begins
};

class LineEditor {
 public:
  using Completer = std::function<std::optional<Completion>(const std::string& line, int cursor)>;

  // Loads the history file (missing is fine). Only one instance may exist.
  LineEditor(std::string history_file, Completer completer);
  ~LineEditor();
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  // Shows `prompt` and starts reading a line; `prefill` is typed for the user
  // (the kernel's indent on continuation lines).
  void start(const std::string& prompt, const std::string& prefill = "");
  // Stops reading (while a cell runs); keystrokes wait in the terminal.
  void stop();
  bool reading() const { return reading_; }
  // Feeds what the terminal has; returns a finished line, or nullopt.
  // At end of input (Ctrl-D on an empty line) sets *eof.
  std::optional<std::string> feed(bool* eof);
  // Forgets the partial line (Ctrl-C at the prompt).
  void clear_line();
  // Around output printed while a prompt is shown: hide, then redraw.
  void hide_prompt();
  void show_prompt();
  void add_history(const std::string& line);
  // A blocking read of one line, for questions (yes/no, input()).
  std::optional<std::string> read_line(const std::string& prompt);

 private:
  std::string history_file_;
  bool reading_ = false;
  std::string prompt_;
};

}  // namespace ensemble::console
