#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "inprocess/self.hpp"
#include "memopt/error.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/sys/self.hpp"
#include "memopt/units.hpp"

namespace memopt {

namespace {

// The caches whose loaders run on this thread, innermost last. A loader that asks one of them
// for a model not loaded yet would wait on that cache's load lock, held by itself: forever.
thread_local std::vector<const ModelCache*> loading_here;

struct LoadingHere {
  explicit LoadingHere(const ModelCache* cache) { loading_here.push_back(cache); }
  ~LoadingHere() { loading_here.pop_back(); }
  LoadingHere(const LoadingHere&) = delete;
  LoadingHere& operator=(const LoadingHere&) = delete;
};

// Every live cache, for shed(). A cache leaves it in its destructor, before its members go.
std::mutex g_caches_mutex;
std::set<ModelCache*> g_caches;

}  // namespace

ModelCache::ModelCache(std::uint64_t budget_bytes, Measure measure)
    : budget_bytes_(budget_bytes),
      measure_(measure ? std::move(measure) : Measure(&inprocess::self_rss_bytes)),
      anchor_(std::make_shared<Anchor>(Anchor{this})) {
  if (budget_bytes == 0) throw Error("model cache: the budget must be positive, not 0 bytes");
  std::lock_guard lock(g_caches_mutex);
  g_caches.insert(this);
}

ModelCache::~ModelCache() {
  std::lock_guard lock(g_caches_mutex);
  g_caches.erase(this);
  anchor_.reset();
}

std::shared_ptr<void> ModelCache::lease(Entry& entry) {
  if (auto held = entry.lease.lock()) return held;
  std::weak_ptr<Anchor> anchor = anchor_;
  // The deleter runs once the last copy is gone (the lease has expired by then): the cache
  // evicts over budget, then the deleter's own reference to the model goes.
  std::shared_ptr<void> held(entry.model.get(),
                             [model = entry.model, anchor = std::move(anchor)](void*) mutable {
                               const auto a = anchor.lock();
                               model.reset();
                               if (a) a->cache->released();
                             });
  entry.lease = held;
  return held;
}

void ModelCache::released() {
  std::vector<std::shared_ptr<void>> dropped;
  {
    std::lock_guard lock(mutex_);
    evict_over_budget("", dropped);
  }
  if (!dropped.empty()) {
    dropped.clear();
    sys::malloc_trim();
  }
}

std::vector<std::string> ModelCache::evict_unused() {
  std::vector<std::shared_ptr<void>> dropped;
  auto names = evict_unused(dropped);
  dropped.clear();
  return names;
}

std::vector<std::string> ModelCache::evict_unused(std::vector<std::shared_ptr<void>>& dropped) {
  std::vector<std::string> names;
  std::lock_guard lock(mutex_);
  for (auto it = recency_.begin(); it != recency_.end();) {
    auto& entry = entries_.at(*it);
    if (in_use(entry)) {
      ++it;
      continue;
    }
    dropped.push_back(std::move(entry.model));
    entry.model.reset();
    entry.cost_bytes = 0;
    evictions_.push_back(*it);
    names.push_back(*it);
    it = recency_.erase(it);
  }
  return names;
}

std::vector<std::string> ModelCache::evict_unused_everywhere() {
  // The models go after the lock: a model's destructor may wait (for Python's GIL, held by a
  // thread that is creating or destroying a cache, which waits for this lock).
  std::vector<std::shared_ptr<void>> dropped;
  std::vector<std::string> names;
  {
    std::lock_guard lock(g_caches_mutex);
    for (auto* cache : g_caches) {
      auto evicted = cache->evict_unused(dropped);
      names.insert(names.end(), evicted.begin(), evicted.end());
    }
  }
  dropped.clear();
  return names;
}

std::vector<ModelCache::Held> ModelCache::held() const {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  std::vector<Held> models;
  for (const auto& name : recency_) {
    const auto& entry = entries_.at(name);
    models.push_back({name, entry.cost_bytes, now - entry.last_use, in_use(entry)});
  }
  return models;
}

std::vector<ModelCache::Held> ModelCache::held_everywhere() {
  std::lock_guard lock(g_caches_mutex);
  std::vector<Held> models;
  for (const auto* cache : g_caches) {
    auto held = cache->held();
    models.insert(models.end(), held.begin(), held.end());
  }
  return models;
}

void ModelCache::add_erased(const std::string& name,
                            std::function<std::shared_ptr<void>()> loader) {
  std::lock_guard lock(mutex_);
  entries_[name].loader = std::move(loader);
}

void ModelCache::touch(const std::string& name) {
  entries_.at(name).last_use = std::chrono::steady_clock::now();
  recency_.remove(name);
  recency_.push_front(name);
}

std::shared_ptr<void> ModelCache::get_erased(const std::string& name) {
  {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(name);
    if (it == entries_.end()) throw Error("model cache: no loader named '" + name + "'");
    if (it->second.model) {
      touch(name);
      return lease(it->second);
    }
  }
  if (std::find(loading_here.begin(), loading_here.end(), this) != loading_here.end()) {
    throw Error("model cache: a loader asked its own cache for '" + name +
                "', which is not loaded: loads are one at a time, so it would wait for itself "
                "forever (load it before, or from another cache)");
  }
  // One load at a time, so the memory measured around a loader is that loader's.
  std::lock_guard load_lock(load_mutex_);
  std::function<std::shared_ptr<void>()> loader;
  {
    std::lock_guard lock(mutex_);
    auto& entry = entries_.at(name);
    if (entry.model) {  // another thread loaded it while this one waited
      touch(name);
      return lease(entry);
    }
    loader = entry.loader;
  }
  const auto before = measure_();
  std::shared_ptr<void> model;
  {
    const LoadingHere mark(this);
    model = loader();
  }
  const auto after = measure_();
  const std::uint64_t cost = after > before ? after - before : 0;
  if (cost > budget_bytes_) {
    model.reset();
    sys::malloc_trim();
    throw Error(
        fmt::format("model cache: '{}' costs {}, more than the whole budget of {}: it is "
                    "not kept (raise the budget, or load it outside the cache)",
                    name, format_bytes(cost), format_bytes(budget_bytes_)));
  }
  std::vector<std::shared_ptr<void>> dropped;  // destroyed outside the lock
  std::shared_ptr<void> held;
  {
    std::lock_guard lock(mutex_);
    auto& entry = entries_.at(name);
    entry.model = std::move(model);
    entry.cost_bytes = cost;
    touch(name);
    held = lease(entry);
    evict_over_budget(name, dropped);
  }
  if (!dropped.empty()) {
    dropped.clear();
    sys::malloc_trim();  // hand the evicted models' heap back, or RSS would not go down
  }
  return held;
}

void ModelCache::evict_over_budget(const std::string& keep,
                                   std::vector<std::shared_ptr<void>>& dropped) {
  std::uint64_t used = 0;
  for (const auto& [name, entry] : entries_) {
    if (entry.model) used += entry.cost_bytes;
  }
  // Least recently used first; a model whose lease is held elsewhere stays. A lease can only
  // be taken through get(), which takes mutex_.
  for (auto it = recency_.rbegin(); it != recency_.rend() && used > budget_bytes_;) {
    auto& entry = entries_.at(*it);
    if (*it == keep || in_use(entry)) {
      ++it;
      continue;
    }
    used -= entry.cost_bytes;
    dropped.push_back(std::move(entry.model));
    entry.model.reset();
    entry.cost_bytes = 0;
    evictions_.push_back(*it);
    it = std::make_reverse_iterator(recency_.erase(std::next(it).base()));
  }
}

bool ModelCache::evict(const std::string& name) {
  std::shared_ptr<void> dropped;
  {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(name);
    if (it == entries_.end() || !it->second.model || in_use(it->second)) return false;
    dropped = std::move(it->second.model);
    it->second.model.reset();
    it->second.cost_bytes = 0;
    recency_.remove(name);
    evictions_.push_back(name);
  }
  dropped.reset();
  sys::malloc_trim();
  return true;
}

std::uint64_t ModelCache::used_bytes() const {
  std::lock_guard lock(mutex_);
  std::uint64_t used = 0;
  for (const auto& [name, entry] : entries_) {
    if (entry.model) used += entry.cost_bytes;
  }
  return used;
}

std::optional<std::uint64_t> ModelCache::cost_bytes(const std::string& name) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(name);
  if (it == entries_.end() || !it->second.model) return std::nullopt;
  return it->second.cost_bytes;
}

std::vector<std::string> ModelCache::loaded() const {
  std::lock_guard lock(mutex_);
  return {recency_.begin(), recency_.end()};
}

std::vector<std::string> ModelCache::evictions() const {
  std::lock_guard lock(mutex_);
  return evictions_;
}

}  // namespace memopt
