// The scheduler's view of the engines: their loads, when each was last given
// a task, and which are below the high-water mark, kept in the structures each
// scheme searches so that a pick costs O(log engines):
//   leastload   ordered set of (load, last used, engine)
//   lru         ordered set of (last used, engine)
//   plainrandom vector of available engines with a position index (swap-remove)
//   twobin      the same vector, two picks
//   weighted    a Fenwick tree of 1/(1+load) over the vector's slots
// Owned by the controller's one thread; not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ensemble::parallel {

enum class Scheme { kLeastLoad, kLru, kPlainRandom, kWeighted, kTwoBin };
// "leastload", "lru", "plainrandom", "weighted", "twobin" (and ipyparallel's "pure" as leastload).
std::optional<Scheme> scheme_from_string(const std::string& name);

class EnginePool {
 public:
  EnginePool(Scheme scheme, int hwm, std::uint64_t seed);

  void add(int engine);
  void remove(int engine);
  bool contains(int engine) const { return loads_.contains(engine); }
  const std::map<int, int>& loads() const { return loads_; }
  // Below the high-water mark (0: no mark).
  bool available(int engine) const;
  bool any_available() const { return !pool_.empty(); }
  // One task more on `engine` (it becomes the most recently used).
  void take(int engine);
  // One task fewer; true if that made the engine available again.
  bool release(int engine);
  // An available engine by the scheme (or, when `allowed` is given, the
  // least-loaded available one of those); -1 if none.
  int pick(const std::unordered_set<int>* allowed);

 private:
  void set_load(int engine, int load);
  void mark_available(int engine, bool yes);
  void fenwick_set(std::size_t slot, double weight);
  std::size_t fenwick_find(double point) const;

  Scheme scheme_;
  int hwm_;
  std::mt19937_64 random_;
  std::uint64_t clock_ = 0;  // assignment counter, for lru and tie-breaks

  std::map<int, int> loads_;
  std::unordered_map<int, std::uint64_t> last_used_;
  std::set<std::tuple<int, std::uint64_t, int>> by_load_;  // available: ties go to the engine used longest ago
  std::set<std::pair<std::uint64_t, int>> by_age_;         // available
  std::vector<int> pool_;                                  // available, any order
  std::unordered_map<int, std::size_t> pool_index_;
  std::vector<double> weights_;  // weighted: 1/(1+load) per pool slot
  std::vector<double> fenwick_;  // prefix sums of weights_
};

}  // namespace ensemble::parallel
