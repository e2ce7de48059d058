// ModelCache and LazyModel: load once, measured cost, LRU eviction under a budget, and a model
// that someone holds is never evicted, also with many threads at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "memopt/error.hpp"
#include "memopt/inprocess.hpp"

namespace memopt {
namespace {

using ::testing::ElementsAre;

// A fake "memory in use" that loaders raise by their model's size, so costs are exact.
struct FakeMemory {
  std::atomic<std::uint64_t> bytes{1000};
  ModelCache::Measure measure() {
    return [this] { return bytes.load(); };
  }
};

struct Model {
  Model(FakeMemory& memory, std::uint64_t size) : memory_(memory), size_(size) {
    memory_.bytes += size_;
  }
  ~Model() { memory_.bytes -= size_; }
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  FakeMemory& memory_;
  std::uint64_t size_;
};

std::function<std::shared_ptr<Model>()> loader(FakeMemory& memory, std::uint64_t size,
                                               std::atomic<int>* loads = nullptr) {
  return [&memory, size, loads] {
    if (loads != nullptr) ++*loads;
    return std::make_shared<Model>(memory, size);
  };
}

TEST(ModelCache, MeasuresEachModelsCostAtLoad) {
  FakeMemory memory;
  ModelCache cache(1000, memory.measure());
  cache.add<Model>("a", loader(memory, 300));
  cache.add<Model>("b", loader(memory, 200));
  EXPECT_EQ(cache.used_bytes(), 0u);
  EXPECT_NE(cache.get<Model>("a"), nullptr);
  EXPECT_NE(cache.get<Model>("b"), nullptr);
  EXPECT_EQ(cache.cost_bytes("a"), 300u);
  EXPECT_EQ(cache.cost_bytes("b"), 200u);
  EXPECT_EQ(cache.used_bytes(), 500u);
  EXPECT_THAT(cache.loaded(), ElementsAre("b", "a"));
}

TEST(ModelCache, LoadsOnceAndReturnsTheSameModel) {
  FakeMemory memory;
  std::atomic<int> loads{0};
  ModelCache cache(1000, memory.measure());
  cache.add<Model>("a", loader(memory, 100, &loads));
  const auto first = cache.get<Model>("a");
  const auto second = cache.get<Model>("a");
  EXPECT_EQ(first, second);
  EXPECT_EQ(loads.load(), 1);
}

TEST(ModelCache, EvictsLeastRecentlyUsedWhenOverBudget) {
  FakeMemory memory;
  ModelCache cache(1000, memory.measure());
  cache.add<Model>("a", loader(memory, 400));
  cache.add<Model>("b", loader(memory, 400));
  cache.add<Model>("c", loader(memory, 400));
  { auto a = cache.get<Model>("a"); }
  { auto b = cache.get<Model>("b"); }
  { auto a = cache.get<Model>("a"); }  // b is now the least recently used
  { auto c = cache.get<Model>("c"); }
  EXPECT_THAT(cache.evictions(), ElementsAre("b"));
  EXPECT_THAT(cache.loaded(), ElementsAre("c", "a"));
  EXPECT_EQ(cache.used_bytes(), 800u);
  EXPECT_EQ(memory.bytes.load(), 1800u);  // b's memory really went away
}

TEST(ModelCache, NeverEvictsAModelInUse) {
  FakeMemory memory;
  ModelCache cache(500, memory.measure());
  cache.add<Model>("a", loader(memory, 400));
  cache.add<Model>("b", loader(memory, 400));
  const auto a = cache.get<Model>("a");    // held
  auto b = cache.get<Model>("b");          // held too
  EXPECT_TRUE(cache.evictions().empty());  // over budget, but both are in use
  EXPECT_EQ(cache.used_bytes(), 800u);
  EXPECT_FALSE(cache.evict("a"));
  EXPECT_FALSE(cache.evict("b"));
  b.reset();  // released while over budget: evicted at once, a stays (in use)
  EXPECT_THAT(cache.evictions(), ElementsAre("b"));
  EXPECT_THAT(cache.loaded(), ElementsAre("a"));
  EXPECT_EQ(memory.bytes.load(), 1400u);
}

TEST(ModelCache, UnknownNameIsAnError) {
  ModelCache cache(100, [] { return std::uint64_t{0}; });
  EXPECT_THROW((void)cache.get<Model>("nope"), Error);
}

TEST(ModelCache, ThreadsNeverSeeAHeldModelEvicted) {
  FakeMemory memory;
  ModelCache cache(1000, memory.measure());
  constexpr int kModels = 6;
  for (int i = 0; i < kModels; ++i) cache.add<Model>("m" + std::to_string(i), loader(memory, 400));
  std::atomic<bool> broken{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&cache, &broken, t] {
      for (int i = 0; i < 300; ++i) {
        const auto model = cache.get<Model>("m" + std::to_string((i + t) % kModels));
        const auto size = model->size_;
        std::this_thread::yield();
        // A model evicted while held would be destroyed under us; ASan/TSan would see it and
        // its size would not read back.
        if (model->size_ != size || size != 400) broken = true;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_FALSE(broken.load());
  EXPECT_LE(cache.loaded().size(), static_cast<std::size_t>(kModels));
  // With no holders left, one more load brings the cache back under its budget.
  cache.add<Model>("last", loader(memory, 100));
  (void)cache.get<Model>("last");
  EXPECT_LE(cache.used_bytes(), 1000u);
}

TEST(LazyModel, LoadsOnceUnderManyThreads) {
  std::atomic<int> loads{0};
  LazyModel<int> model([&loads] {
    ++loads;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return std::make_shared<int>(42);
  });
  EXPECT_FALSE(model.loaded());
  std::vector<std::thread> threads;
  std::atomic<int> sum{0};
  for (int t = 0; t < 8; ++t) threads.emplace_back([&] { sum += *model.get(); });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(loads.load(), 1);
  EXPECT_EQ(sum.load(), 8 * 42);
  model.unload();
  EXPECT_FALSE(model.loaded());
  EXPECT_EQ(*model.get(), 42);
  EXPECT_EQ(loads.load(), 2);
}

TEST(LazyModel, IdleTimeoutIsCheckedOnAccess) {
  using Clock = std::chrono::steady_clock;
  Clock::time_point now{};
  int loads = 0;
  LazyModel<int> model([&loads] { return std::make_shared<int>(++loads); },
                       std::chrono::seconds(10), [&now] { return now; });
  EXPECT_EQ(*model.get(), 1);
  now += std::chrono::seconds(5);
  EXPECT_FALSE(model.unload_if_idle());
  EXPECT_EQ(*model.get(), 1);
  now += std::chrono::seconds(11);
  const auto held = model.get();  // idle too long: reloaded
  EXPECT_EQ(*held, 2);
  now += std::chrono::seconds(11);
  EXPECT_TRUE(model.unload_if_idle());
  EXPECT_FALSE(model.loaded());
  EXPECT_EQ(*held, 2);  // a holder's handle outlives the unload
}

TEST(LazyModel, AFailedLoadIsRetried) {
  int calls = 0;
  LazyModel<int> model([&calls]() -> std::shared_ptr<int> {
    if (++calls == 1) throw std::runtime_error("disk busy");
    return std::make_shared<int>(7);
  });
  EXPECT_THROW((void)model.get(), std::runtime_error);
  EXPECT_FALSE(model.loaded());
  EXPECT_EQ(*model.get(), 7);
}

}  // namespace
}  // namespace memopt
