#include "interactive.hpp"

#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>

#include "cell_runner.hpp"
#include "external_editor.hpp"
#include "line_editor.hpp"

namespace ensemble::console {

std::atomic<bool>& sigint_flag();  // console.cpp

namespace {

// Prompts as IPython colours them; \1 brackets what libedit must not count.
std::string in_prompt(int count) { return "\1\033[32m\1In [\1\033[1;32m\1" + std::to_string(count) + "\1\033[0;32m\1]: \1\033[0m\1"; }
std::string continuation_prompt(int count) {
  return "\1\033[32m\1" + std::string(std::to_string(count).size() + 4, ' ') + "...: \1\033[0m\1";
}

std::optional<std::string> read_password(const std::string& prompt) {
  std::cout << prompt << std::flush;
  termios saved{};
  bool terminal = tcgetattr(STDIN_FILENO, &saved) == 0;
  if (terminal) {
    termios silent = saved;
    silent.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &silent);  // TCSANOW: keep what was typed ahead
  }
  std::string line;
  bool ok = static_cast<bool>(std::getline(std::cin, line));
  if (terminal) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  std::cout << "\n";
  if (!ok) {
    std::cin.clear();
    return std::nullopt;
  }
  return line;
}

bool ask_yes_no(LineEditor& editor, const std::string& question, bool default_yes) {
  auto answer = editor.read_line(question + (default_yes ? " ([y]/n) " : " (y/[n]) "));
  if (!answer || answer->empty()) return answer ? default_yes : true;  // Ctrl-D means yes
  return (*answer)[0] == 'y' || (*answer)[0] == 'Y';
}

// The count the next cell will run as: a silent execute reports the current one.
int next_execution_count(KernelSession& session) {
  auto reply = session.client().request(
      client::ClientChannel::kShell, "execute_request",
      wire::Json{{"code", ""}, {"silent", true}, {"store_history", false}, {"allow_stdin", false}},
      std::chrono::seconds(10));
  return reply.ok() ? reply.value().content.value("execution_count", 0) + 1 : 1;
}

std::optional<Completion> complete(KernelSession& session, const std::string& cell, const std::string& line,
                                   int cursor) {
  std::string code = cell.empty() ? line : cell + "\n" + line;
  int offset = static_cast<int>(code.size() - line.size());
  auto reply = session.client().request(client::ClientChannel::kShell, "complete_request",
                                        wire::Json{{"code", code}, {"cursor_pos", offset + cursor}},
                                        std::chrono::seconds(2));
  if (!reply.ok()) return std::nullopt;
  const auto& content = reply.value().content;
  Completion completion;
  completion.replace_from = content.value("cursor_start", offset + cursor) - offset;
  for (const auto& match : content.value("matches", wire::Json::array())) {
    if (match.is_string()) completion.matches.push_back(match.get<std::string>());
  }
  return completion;
}

}  // namespace

int run_observer(KernelSession& session) {
  std::atomic<bool>& interrupted = sigint_flag();
  Renderer renderer(std::cout, std::cerr, session.client().session_id(), /*color=*/true);
  CellRunner runner(session, renderer, [](const std::string&, bool) { return std::nullopt; }, interrupted);
  std::cout << session.kernel_info().value("banner", std::string())
            << "\nRead-only: you are an observer. Others' cells and outputs appear here; Ctrl-C or Ctrl-D leaves."
            << std::endl;
  termios saved{};
  bool terminal = tcgetattr(STDIN_FILENO, &saved) == 0;
  if (terminal) {  // single keys, so Ctrl-D is seen without Enter
    termios raw = saved;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
  }
  int code = 0;
  while (!interrupted.exchange(false)) {
    bool stdin_ready = false;
    if (!runner.pump(std::chrono::milliseconds(500), STDIN_FILENO, &stdin_ready)) {
      std::cout << "\nThe kernel died." << std::endl;
      code = 1;
      break;
    }
    if (stdin_ready) {
      char key = 0;
      if (::read(STDIN_FILENO, &key, 1) <= 0 || key == 4) break;  // end of input, or Ctrl-D
    }
  }
  if (terminal) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  return code;
}

int run_interactive(KernelSession& session, const ConsoleOptions& options) {
  std::atomic<bool>& interrupted = sigint_flag();
  Renderer renderer(std::cout, std::cerr, session.client().session_id(), /*color=*/true);
  std::string cell;
  LineEditor editor(options.history_file, [&](const std::string& line, int cursor) {
    return complete(session, cell, line, cursor);
  });
  auto input = [&](const std::string& prompt, bool password) {
    return password ? read_password(prompt) : editor.read_line(prompt);
  };
  CellRunner runner(session, renderer, input, interrupted);
  runner.set_output_guards([&] { editor.hide_prompt(); }, [&] { editor.show_prompt(); });

  std::cout << session.kernel_info().value("banner", std::string()) << std::endl;
  int count = next_execution_count(session);
  std::string prefill;
  editor.start(in_prompt(count));
  for (;;) {
    bool stdin_ready = false;
    bool alive = runner.pump(std::chrono::milliseconds(500), STDIN_FILENO, &stdin_ready);
    if (!alive || (!stdin_ready && !session.client().alive())) {
      editor.stop();
      std::cout << "\nThe kernel died." << std::endl;
      if (!session.owns_kernel() || !ask_yes_no(editor, "Restart it?", true)) return 1;
      if (auto status = session.restart(); !status.ok()) {
        std::cerr << "Cannot restart the kernel: " << status.message() << std::endl;
        return 1;
      }
      renderer.set_own_session(session.client().session_id());
      std::cout << "Kernel restarted." << std::endl;
      count = 1;
      cell.clear();
      editor.start(in_prompt(count));
      continue;
    }
    if (interrupted.exchange(false)) {
      cell.clear();
      editor.clear_line();
      editor.start(in_prompt(count));
      continue;
    }
    if (!stdin_ready) continue;
    bool eof = false;
    auto line = editor.feed(&eof);
    if (eof) {
      std::cout << std::endl;
      if (!options.confirm_exit || ask_yes_no(editor, "Do you really want to exit?", true)) break;
      cell.clear();
      editor.start(in_prompt(count));
      continue;
    }
    if (!line) continue;
    cell += (cell.empty() ? "" : "\n") + *line;
    if (cell.find_first_not_of(" \t\n") == std::string::npos) {
      cell.clear();
      editor.start(in_prompt(count));
      continue;
    }
    auto verdict = session.client().request(client::ClientChannel::kShell, "is_complete_request",
                                            wire::Json{{"code", cell}}, std::chrono::seconds(2));
    if (verdict.ok() && verdict.value().content.value("status", "") == "incomplete") {
      editor.start(continuation_prompt(count), verdict.value().content.value("indent", ""));
      continue;
    }
    editor.add_history(cell);
    CellOutcome outcome = runner.run(cell, /*allow_stdin=*/true);
    cell.clear();
    renderer.ensure_line_start();
    if (outcome.status == "dead") continue;  // reported at the top of the loop
    PayloadRequests requests = show_payload(outcome.payload, std::cout);
    if (!requests.edit_file.empty()) {
      open_in_editor(requests.edit_file, requests.edit_line, std::cout);
      sigint_flag().store(false);  // a Ctrl-C meant for the editor is not for the next cell
    }
    if (requests.keep_kernel) session.keep_kernel();
    if (requests.exit) break;
    prefill = requests.next_input;
    count = outcome.execution_count + 1;
    editor.start(in_prompt(count), prefill);
    prefill.clear();
  }
  editor.stop();
  return 0;
}

}  // namespace ensemble::console
