#include "line_editor.hpp"

#include <editline/readline.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ensemble::console {

namespace {

// libedit's callback interface hands lines to a plain function; the editor
// is a process-wide singleton, so these globals belong to it alone.
std::optional<std::string> g_finished_line;
bool g_eof = false;
LineEditor::Completer g_completer;

void on_line(char* line) {
  if (line == nullptr) {
    g_eof = true;
    return;
  }
  g_finished_line = std::string(line);
  std::free(line);
}

char* duplicate(const std::string& text) { return ::strdup(text.c_str()); }

// readline expects [common-replacement, match1, ..., nullptr], malloc'd, with
// matches replacing the word from `start`; the kernel's matches replace from
// its cursor_start, so each is rebased onto readline's word.
char** complete(const char* /*text*/, int start, int end) {
  rl_attempted_completion_over = 1;  // never fall back to file names
  if (!g_completer) return nullptr;
  std::string line(rl_line_buffer != nullptr ? rl_line_buffer : "");
  auto completion = g_completer(line, end);
  if (!completion || completion->matches.empty()) return nullptr;
  std::vector<std::string> words;
  for (const auto& match : completion->matches) {
    std::string word = line.substr(0, static_cast<std::size_t>(std::max(0, completion->replace_from))) + match;
    if (static_cast<int>(word.size()) < start) continue;
    words.push_back(word.substr(static_cast<std::size_t>(start)));
  }
  if (words.empty()) return nullptr;
  std::string common = words.front();
  for (const auto& word : words) {
    std::size_t n = 0;
    while (n < common.size() && n < word.size() && common[n] == word[n]) ++n;
    common.resize(n);
  }
  auto** result = static_cast<char**>(std::calloc(words.size() + 2, sizeof(char*)));
  result[0] = duplicate(words.size() == 1 ? words.front() : common);
  for (std::size_t i = 0; i < words.size(); ++i) result[i + 1] = duplicate(words[i]);
  return result;
}

}  // namespace

LineEditor::LineEditor(std::string history_file, Completer completer) : history_file_(std::move(history_file)) {
  g_completer = std::move(completer);
  rl_readline_name = const_cast<char*>("ensemble");
  rl_attempted_completion_function = complete;
  // Dotted names are one word: "os.pa<TAB>" completes as a whole.
  rl_completer_word_break_characters = const_cast<char*>(" \t\n\"\\'`@$><=;|&{(,[+-*/%");
  using_history();
  stifle_history(10000);
  if (!history_file_.empty()) read_history(history_file_.c_str());
}

LineEditor::~LineEditor() {
  stop();
  if (!history_file_.empty()) write_history(history_file_.c_str());
  g_completer = nullptr;
}

void LineEditor::start(const std::string& prompt, const std::string& prefill) {
  prompt_ = prompt;
  g_finished_line.reset();
  g_eof = false;
  rl_callback_handler_install(prompt_.c_str(), on_line);
  reading_ = true;
  // Typed for the user (libedit runs no startup hook in callback mode).
  if (!prefill.empty()) {
    rl_insert_text(prefill.c_str());
    rl_forced_update_display();
  }
}

void LineEditor::stop() {
  if (!reading_) return;
  rl_callback_handler_remove();
  reading_ = false;
}

std::optional<std::string> LineEditor::feed(bool* eof) {
  if (!reading_) return std::nullopt;
  rl_callback_read_char();
  if (g_eof) {
    g_eof = false;
    if (eof != nullptr) *eof = true;
    stop();
    return std::nullopt;
  }
  if (g_finished_line) {
    stop();
    std::string line = std::move(*g_finished_line);
    g_finished_line.reset();
    return line;
  }
  return std::nullopt;
}

void LineEditor::clear_line() {
  if (!reading_) return;
  rl_replace_line("", 0);
  std::fputs("^C\n", stdout);
  std::fflush(stdout);
  rl_callback_handler_remove();
  rl_callback_handler_install(prompt_.c_str(), on_line);
}

void LineEditor::hide_prompt() {
  if (!reading_) return;
  std::fputs("\r\033[K", stdout);
  std::fflush(stdout);
}

void LineEditor::show_prompt() {
  if (!reading_) return;
  rl_forced_update_display();
}

void LineEditor::add_history(const std::string& line) {
  if (line.empty()) return;
  ::add_history(line.c_str());
  if (!history_file_.empty()) write_history(history_file_.c_str());
}

std::optional<std::string> LineEditor::read_line(const std::string& prompt) {
  bool was_reading = reading_;
  stop();
  char* line = readline(prompt.c_str());
  std::optional<std::string> result;
  if (line != nullptr) {
    result = std::string(line);
    std::free(line);
  }
  if (was_reading) start(prompt_);
  return result;
}

}  // namespace ensemble::console
