// Opens a file in the user's editor for %edit (the kernel's edit_magic payload): the
// console owns the terminal, so the editor runs here, not in the kernel. Blocks until
// the editor exits. Main (console) thread only.
#pragma once

#include <optional>
#include <ostream>
#include <string>

namespace ensemble::console {

// Runs $VISUAL, else $EDITOR, else vi, on `file` (at `line` if given: "+LINE", which vi,
// emacs, nano and most others take). A file that is not on this machine (the kernel is
// elsewhere) or an editor that cannot start is reported on `out`; nothing throws.
void open_in_editor(const std::string& file, std::optional<int> line, std::ostream& out);

}  // namespace ensemble::console
