// Fake engines for the controller scaling benchmark: a worker process that
// registers a range of engines with a real controller and answers every
// request at once from C++. See controller_scale.cpp for the whole design.
#pragma once

#include <string>

namespace ensemble::bench {

struct WorkerPlan {
  int worker = 0;                 // names this worker's engines (uuids, log lines)
  int engine_count = 0;           // engines this worker hosts
  std::string registration_endpoint;
  std::string key;                // the cluster key (HMAC-SHA256)
  int heartbeat_period_ms = 1000;
  int registration_window = 100;  // registrations in flight at once
  bool status_per_task = false;   // publish busy/idle around every task, as a real engine does
};

// Runs in a forked child: builds the engines, registers them, serves them
// until the process is killed. Never returns.
[[noreturn]] void run_fake_engine_worker(const WorkerPlan& plan);

}  // namespace ensemble::bench
