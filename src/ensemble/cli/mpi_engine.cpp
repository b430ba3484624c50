#include "mpi_engine.hpp"

#include <charconv>
#include <cstdlib>
#include <cstring>

namespace ensemble::cli {

std::optional<int> mpi_rank_from_environment() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK", "SLURM_PROCID"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    int rank = -1;
    const char* end = value + std::strlen(value);
    auto [stopped, error] = std::from_chars(value, end, rank);
    if (error == std::errc() && stopped == end && rank >= 0) return rank;
  }
  return std::nullopt;
}

}  // namespace ensemble::cli
