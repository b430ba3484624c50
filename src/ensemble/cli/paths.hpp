// Where things live on disk, following Jupyter's and XDG's conventions.
#pragma once

#include <string>

namespace ensemble::cli {

std::string home_dir();
// $JUPYTER_RUNTIME_DIR, else $XDG_RUNTIME_DIR/jupyter, else ~/.local/share/jupyter/runtime.
std::string jupyter_runtime_dir();
// $JUPYTER_DATA_DIR, else $XDG_DATA_HOME/jupyter, else ~/.local/share/jupyter.
std::string jupyter_data_dir();
// $ENSEMBLE_HISTORY, else $XDG_DATA_HOME/ensemble/history.sqlite, else ~/.local/share/ensemble/history.sqlite.
std::string default_history_path();
// The directory holding this executable.
std::string executable_dir();
std::string executable_path();
// mkdir -p with mode 0700 for new directories; false on failure.
bool make_dirs(const std::string& path);

}  // namespace ensemble::cli
