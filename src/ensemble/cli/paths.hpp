// Where the ensemble executable keeps things on disk, beyond Jupyter's own
// directories (ensemble/client/jupyter_paths.hpp).
#pragma once

#include <string>
#include <vector>

#include "ensemble/client/jupyter_paths.hpp"

namespace ensemble::cli {

// $ENSEMBLE_HISTORY, else <xdg_data_home>/ensemble/history.sqlite.
std::string default_history_path();
// This executable, and the directory holding it.
std::string executable_path();
std::string executable_dir();
// Where the ensemble Python package is, for the embedded interpreter's sys.path.
std::vector<std::string> package_paths();

}  // namespace ensemble::cli
