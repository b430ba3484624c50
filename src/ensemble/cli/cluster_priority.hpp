// How far a local cluster stands back from its user's own session when both
// want the CPUs.
//
// Why: a cluster's daemons do background work for a client that its user
// drives, and on a machine they share (a laptop, a 2-core VM) each CPU the
// engines take under load is one the client, a notebook or a terminal waits
// for. Linux's scheduler shares the CPUs between sessions first (autogroup,
// see in_cluster_session): half and half on a CPU that both want. With the
// cluster's session at nice 5 (weights 335 to the user's 1024) the user's side
// gets three quarters of such a CPU instead. While the user's side is idle the
// cluster still gets every CPU: niceness only orders runnable work.
//
// Default 3 (weights 526 to the user's 1024: two thirds of a CPU both want).
// Session 17 measured nice 5 costing the cluster 15-18 % of its pipelined
// throughput and kept 0, as ipyparallel runs. Session 26 measured again, nice
// 0 against 3 in alternating runs on 2 cores (bench/parallel_bench.py --one,
// 14-17 runs each): with 8 engines, the median `lview.apply_async` call went
// from 17.5 µs (4 runs in 17 past 30, up to 46) to 11.1 (none past 17.3),
// while the cluster's throughputs moved within 5 % either way, except the
// load-balanced map's, 15 % higher (docs/performance.md, session 26).
//
// Threads: called once, before the session's leader starts any thread or daemon.
#pragma once

namespace ensemble::cli {

// The nice value of a cluster started without --nice, and the range it may take.
inline constexpr int kDefaultClusterNice = 3;
// What a cluster started before --nice existed ran at (its file has no "nice").
inline constexpr int kClusterNiceBeforeTheOption = 0;
inline constexpr int kLeastClusterNice = 0;  // the user's own priority: a cluster never runs above it
inline constexpr int kMostClusterNice = 19;

// The cluster's nice value when none is given: ENSEMBLE_CLUSTER_NICE (0 to 19)
// if set, else kDefaultClusterNice. An invalid value is reported on stderr and
// the default used.
int default_cluster_nice();

// Lowers the calling process's priority to `nice` (0 to 19; never raises it
// above what the caller had), which the daemons it spawns inherit, and sets
// its session's autogroup to `nice`. For the leader of a cluster's session,
// just after setsid(). A kernel without autogroups, or a refusal, is logged at
// debug level and otherwise ignored: the cluster then runs as the user does.
void stand_back_from_users_session(int nice);

}  // namespace ensemble::cli
