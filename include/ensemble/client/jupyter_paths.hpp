// Where Jupyter keeps things on disk, as jupyter_core computes it on Linux:
// kernelspecs, connection files. Used by the client layer and everything
// above it (console, cli). Thread-safe (reads the environment only).
#pragma once

#include <string>

namespace ensemble::client {

// $HOME, else the password database, else "/tmp".
std::string home_dir();
// $XDG_DATA_HOME, else ~/.local/share.
std::string xdg_data_home();
// $JUPYTER_DATA_DIR, else <xdg_data_home>/jupyter.
std::string jupyter_data_dir();
// $JUPYTER_RUNTIME_DIR, else <jupyter_data_dir>/runtime.
std::string jupyter_runtime_dir();
// mkdir -p; directories it creates get mode 0700 (connection files hold
// keys). False if `path` is not a directory afterwards.
bool make_private_dirs(const std::string& path);

}  // namespace ensemble::client
