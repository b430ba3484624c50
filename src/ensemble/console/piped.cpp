#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "cell_runner.hpp"
#include "interactive.hpp"

namespace ensemble::console {

namespace {

bool is_blank(const std::string& line) { return line.find_first_not_of(" \t\r") == std::string::npos; }

// A line that cannot start a cell: it continues the block before it.
bool continues_block(const std::string& line) {
  if (line.empty() || is_blank(line)) return false;
  if (line[0] == ' ' || line[0] == '\t') return true;
  for (const char* keyword : {"else", "elif", "except", "finally", ")", "]", "}"}) {
    if (line.starts_with(keyword)) return true;
  }
  return false;
}

std::string completeness(KernelSession& session, const std::string& code) {
  auto reply = session.client().request(client::ClientChannel::kShell, "is_complete_request",
                                        wire::Json{{"code", code}}, std::chrono::seconds(10));
  return reply.ok() ? reply.value().content.value("status", "unknown") : "unknown";
}

}  // namespace

int run_piped(KernelSession& session) {
  std::vector<std::string> lines;
  for (std::string line; std::getline(std::cin, line);) lines.push_back(line);

  std::atomic<bool> interrupted{false};
  Renderer renderer(std::cout, std::cerr, session.client().session_id(), /*color=*/isatty(STDERR_FILENO) != 0);
  // Input requests cannot be answered: the script is stdin.
  CellRunner runner(session, renderer, [](const std::string&, bool) { return std::nullopt; }, interrupted);

  std::string cell;
  auto run_cell = [&]() -> bool {
    if (cell.empty()) return true;
    CellOutcome outcome = runner.run(cell, /*allow_stdin=*/false);
    cell.clear();
    renderer.ensure_line_start();
    show_payload(outcome.payload, std::cout);
    if (outcome.status == "dead") std::cerr << "The kernel died.\n";
    return outcome.status == "ok";
  };
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (cell.empty() && is_blank(line)) continue;
    cell += line + "\n";
    bool more_follows = i + 1 < lines.size() && continues_block(lines[i + 1]);
    if (more_follows) continue;
    std::string status = completeness(session, cell);
    if (status == "incomplete" && i + 1 < lines.size()) continue;
    if (!run_cell()) return 1;
  }
  return run_cell() ? 0 : 1;
}

}  // namespace ensemble::console
