#include "engine_pool.hpp"

#include <algorithm>

namespace ensemble::parallel {

std::optional<Scheme> scheme_from_string(const std::string& name) {
  if (name == "leastload" || name == "pure") return Scheme::kLeastLoad;
  if (name == "lru") return Scheme::kLru;
  if (name == "plainrandom") return Scheme::kPlainRandom;
  if (name == "weighted") return Scheme::kWeighted;
  if (name == "twobin") return Scheme::kTwoBin;
  return std::nullopt;
}

EnginePool::EnginePool(Scheme scheme, int hwm, std::uint64_t seed)
    : scheme_(scheme), hwm_(std::max(hwm, 0)), random_(seed) {}

void EnginePool::add(int engine) {
  loads_[engine] = 0;
  last_used_[engine] = 0;
  mark_available(engine, true);
}

void EnginePool::remove(int engine) {
  if (!loads_.contains(engine)) return;
  if (available(engine)) mark_available(engine, false);
  loads_.erase(engine);
  last_used_.erase(engine);
}

void EnginePool::take(int engine) {
  if (available(engine)) mark_available(engine, false);
  last_used_[engine] = ++clock_;
  loads_[engine] += 1;
  if (available(engine)) mark_available(engine, true);
}

bool EnginePool::release(int engine) {
  if (!loads_.contains(engine)) return false;
  bool was = available(engine);
  set_load(engine, loads_.at(engine) - 1);
  return !was && available(engine);
}

bool EnginePool::available(int engine) const {
  auto it = loads_.find(engine);
  return it != loads_.end() && (hwm_ == 0 || it->second < hwm_);
}

void EnginePool::fenwick_set(std::size_t slot, double weight) {
  if (slot >= weights_.size()) {
    std::size_t size = std::max<std::size_t>(16, weights_.size() * 2);
    while (size <= slot) size *= 2;
    weights_.resize(size, 0.0);
    fenwick_.assign(size + 1, 0.0);
    for (std::size_t i = 0; i < size; ++i) {
      for (std::size_t j = i + 1; j <= size; j += j & (~j + 1)) fenwick_[j] += weights_[i];
    }
  }
  double delta = weight - weights_[slot];
  weights_[slot] = weight;
  for (std::size_t j = slot + 1; j < fenwick_.size(); j += j & (~j + 1)) fenwick_[j] += delta;
}

// The slot whose cumulative weight range holds `point` (0 <= point < total).
std::size_t EnginePool::fenwick_find(double point) const {
  std::size_t position = 0;
  std::size_t step = 1;
  while (step * 2 < fenwick_.size()) step *= 2;
  for (; step > 0; step /= 2) {
    if (position + step < fenwick_.size() && fenwick_[position + step] <= point) {
      position += step;
      point -= fenwick_[position];
    }
  }
  return std::min(position, pool_.empty() ? 0 : pool_.size() - 1);
}

void EnginePool::mark_available(int engine, bool yes) {
  int load = loads_.at(engine);
  std::uint64_t age = last_used_[engine];
  if (yes) {
    by_load_.insert({load, age, engine});
    by_age_.insert({age, engine});
    if (!pool_index_.contains(engine)) {
      pool_index_[engine] = pool_.size();
      pool_.push_back(engine);
    }
    fenwick_set(pool_index_[engine], 1.0 / (1.0 + load));
  } else {
    by_load_.erase({load, age, engine});
    by_age_.erase({age, engine});
    if (auto it = pool_index_.find(engine); it != pool_index_.end()) {
      std::size_t slot = it->second;
      int last = pool_.back();
      pool_[slot] = last;
      pool_index_[last] = slot;
      pool_.pop_back();
      pool_index_.erase(engine);
      if (last != engine) fenwick_set(slot, weights_[pool_.size()]);
      fenwick_set(pool_.size(), 0.0);
    }
  }
}

void EnginePool::set_load(int engine, int load) {
  if (available(engine)) mark_available(engine, false);
  loads_[engine] = load;
  if (available(engine)) mark_available(engine, true);
}

int EnginePool::pick(const std::unordered_set<int>* allowed) {
  if (allowed != nullptr) {
    // Restricted: the least-loaded allowed engine below its mark (O(|allowed|)).
    int best = -1;
    for (int e : *allowed) {
      if (available(e) && (best < 0 || loads_.at(e) < loads_.at(best))) best = e;
    }
    return best;
  }
  if (pool_.empty()) return -1;
  switch (scheme_) {
    case Scheme::kLeastLoad: return std::get<2>(*by_load_.begin());
    case Scheme::kLru: return by_age_.begin()->second;
    case Scheme::kPlainRandom: return pool_[std::uniform_int_distribution<std::size_t>(0, pool_.size() - 1)(random_)];
    case Scheme::kTwoBin: {
      std::uniform_int_distribution<std::size_t> any(0, pool_.size() - 1);
      int a = pool_[any(random_)], b = pool_[any(random_)];
      return last_used_[a] <= last_used_[b] ? a : b;  // the one used longer ago, as ipyparallel's twobin
    }
    case Scheme::kWeighted: {
      double total = 0;
      for (std::size_t j = fenwick_.size() - 1; j > 0; j -= j & (~j + 1)) total += fenwick_[j];
      double point = std::uniform_real_distribution<double>(0.0, total)(random_);
      return pool_[fenwick_find(point)];
    }
  }
  return -1;
}

}  // namespace ensemble::parallel
