// An engine started by mpiexec (`ensemble engine --mpi`), as ipyparallel's `ipengine --mpi`:
// it asks the controller for its MPI rank as its engine id, and runs ipyparallel's MPI setup in
// its namespace before the startup files.
#pragma once

#include <optional>

namespace ensemble::cli {

// This process's rank in MPI_COMM_WORLD, read from the variables MPI launchers set (Open MPI,
// MPICH/Hydra, PMIx, MVAPICH; Slurm's srun), so the engine needs no MPI library of its own;
// none when the process was not started by one.
std::optional<int> mpi_rank_from_environment();

// ipyparallel's default `IPEngine.init_mpi`: mpi4py's MPI, mpi_rank and mpi_size in the namespace.
inline constexpr const char* kMpiInitCode =
    "from mpi4py import MPI\n"
    "mpi_rank = MPI.COMM_WORLD.Get_rank()\n"
    "mpi_size = MPI.COMM_WORLD.Get_size()\n";

}  // namespace ensemble::cli
