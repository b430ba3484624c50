#include "external_editor.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace ensemble::console {

void open_in_editor(const std::string& file, std::optional<int> line, std::ostream& out) {
  std::error_code error;
  if (!std::filesystem::exists(file, error)) {
    out << "%edit: " << file << " is not on this machine; edit it where the kernel runs." << std::endl;
    return;
  }
  // The shell splits the editor's command line ("code --wait") as a user's shell would;
  // the file and line stay single arguments.
  std::vector<std::string> args = {"/bin/sh", "-c", "exec ${VISUAL:-${EDITOR:-vi}} \"$@\"", "ensemble-edit"};
  if (line && *line > 0) args.push_back("+" + std::to_string(*line));
  args.push_back(file);
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  out.flush();
  pid_t pid = ::fork();
  if (pid < 0) {
    out << "%edit: cannot start an editor: " << std::strerror(errno) << std::endl;
    return;
  }
  if (pid == 0) {
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    out << "%edit: no editor found; set $EDITOR" << std::endl;
  }
}

}  // namespace ensemble::console
