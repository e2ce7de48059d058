// In-process protection: ModelCache honours its budget (evicts when a model is released, refuses
// a model larger than the budget, evicts everything unused on shed()), shed hooks, and the
// admission gate on a scripted memory reading.
#include "memopt/protect.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "memopt/error.hpp"
#include "memopt/inprocess.hpp"

namespace memopt {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Blob {
  explicit Blob(std::atomic<std::uint64_t>& memory, std::uint64_t size)
      : memory_(memory), size_(size) {
    memory_ += size_;
  }
  ~Blob() { memory_ -= size_; }
  Blob(const Blob&) = delete;
  Blob& operator=(const Blob&) = delete;
  std::atomic<std::uint64_t>& memory_;
  std::uint64_t size_;
};

struct Budgeted {
  std::atomic<std::uint64_t> memory{0};
  ModelCache cache;
  explicit Budgeted(std::uint64_t budget) : cache(budget, [this] { return memory.load(); }) {}
  void add(const std::string& name, std::uint64_t size) {
    cache.add<Blob>(name, [this, size] { return std::make_shared<Blob>(memory, size); });
  }
};

TEST(ModelCacheBudget, TwoModelsInUseOverBudgetAreEvictedDownToItWhenReleased) {
  // The case: 150 + 100 MiB held at once under a 200 MiB budget.
  Budgeted b(200);
  b.add("a", 150);
  b.add("b", 100);
  {
    auto a = b.cache.get<Blob>("a");
    auto model_b = b.cache.get<Blob>("b");
    EXPECT_EQ(b.cache.used_bytes(), 250u);  // both in use: over budget for now
    a.reset();
    // a released while b is in use: a goes at once (b, in use, cannot).
    EXPECT_THAT(b.cache.evictions(), ElementsAre("a"));
  }
  // Both released: the cache is under its budget and keeps b.
  EXPECT_THAT(b.cache.evictions(), ElementsAre("a"));
  EXPECT_THAT(b.cache.loaded(), ElementsAre("b"));
  EXPECT_EQ(b.cache.used_bytes(), 100u);
  EXPECT_EQ(b.memory.load(), 100u);
}

TEST(ModelCacheBudget, AModelLargerThanTheWholeBudgetIsRefusedNotKept) {
  Budgeted b(100);
  b.add("huge", 200);
  try {
    (void)b.cache.get<Blob>("huge");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("more than the whole budget"));
  }
  EXPECT_TRUE(b.cache.loaded().empty());
  EXPECT_EQ(b.memory.load(), 0u);  // dropped, not kept
}

TEST(ModelCacheBudget, AZeroBudgetIsAnError) {
  EXPECT_THROW(ModelCache(0, [] { return std::uint64_t{0}; }), Error);
}

TEST(Shed, RunsShedHooksAndEvictsEveryUnusedModel) {
  Budgeted b(1000);
  b.add("idle", 300);
  b.add("busy", 200);
  { auto idle = b.cache.get<Blob>("idle"); }
  const auto busy = b.cache.get<Blob>("busy");
  int batch = 8;
  register_shed_hook("halve_batch", [&batch] { batch /= 2; });
  register_shed_hook("broken", [] { throw std::runtime_error("cannot"); });
  const auto result = shed();
  EXPECT_TRUE(unregister_shed_hook("halve_batch"));
  EXPECT_TRUE(unregister_shed_hook("broken"));
  EXPECT_FALSE(unregister_shed_hook("broken"));
  EXPECT_EQ(batch, 4);
  ASSERT_GE(result.steps.size(), 4u);
  EXPECT_EQ(result.steps[0].name, "shed_hook:halve_batch");
  EXPECT_EQ(result.steps[0].status, "done");
  EXPECT_EQ(result.steps[1].status, "failed");
  EXPECT_EQ(result.steps[1].reason, "cannot");
  EXPECT_EQ(result.steps[2].name, "model_cache");
  EXPECT_THAT(result.steps[2].reason, HasSubstr("idle"));
  EXPECT_THAT(b.cache.loaded(), ElementsAre("busy"));  // in use: kept
  EXPECT_EQ(b.memory.load(), 200u);
  // The answer a shed request gets on the socket.
  EXPECT_THAT(cleanup_result_json(result), HasSubstr("\"model_cache\""));
}

// A container of 1000 bytes whose usage the test sets.
struct FakeContainer {
  std::atomic<std::uint64_t> used{100};
  std::atomic<int> readings{0};  ///< how often the gate looked: a waiter rechecks every 20 ms
  AdmissionGate::Reading reading() {
    return [this] {
      ++readings;
      analysis::EffectiveMemory m;
      m.scope = analysis::Scope::kContainer;
      m.limit_bytes = 1000;
      m.used_bytes = used.load();
      m.available_bytes = m.limit_bytes - m.used_bytes;
      return m;
    };
  }
};

TEST(AdmissionGate, AdmitsWhileThereIsRoomCountingWhatAdmittedRequestsHaveNotAllocated) {
  FakeContainer c;
  AdmissionGate gate(c.reading());
  auto first = gate.admit(400, milliseconds(0));
  ASSERT_TRUE(first);
  // 900 available, 400 promised and not allocated yet: 500 of room.
  auto second = gate.admit(400, milliseconds(0));
  ASSERT_TRUE(second);
  EXPECT_EQ(gate.admitted_bytes(), 800u);
  EXPECT_FALSE(gate.admit(200, milliseconds(0)));  // 100 of room
  // The first allocates its 400: the room is the same (it was counted already).
  c.used = 500;
  EXPECT_FALSE(gate.admit(200, milliseconds(0)));
  EXPECT_TRUE(gate.admit(100, milliseconds(0)));
}

TEST(AdmissionGate, ALoneRequestIsAdmittedEvenWithoutRoom) {
  FakeContainer c;
  c.used = 950;
  AdmissionGate gate(c.reading());
  auto alone = gate.admit(100, milliseconds(0));
  ASSERT_TRUE(alone);  // nobody else could free anything for it
  EXPECT_FALSE(gate.admit(10, milliseconds(0)));
}

TEST(AdmissionGate, AWaiterGetsInWhenARequestEnds) {
  FakeContainer c;
  AdmissionGate gate(c.reading());
  auto first = gate.admit(800, milliseconds(0));
  ASSERT_TRUE(first);
  std::atomic<bool> admitted{false};
  std::thread waiter([&] {
    auto ticket = gate.admit(800, milliseconds(60'000));
    admitted = ticket.has_value();
  });
  // The waiter has looked at the memory twice more (it is in its wait, not yet at its start),
  // and it is still waiting.
  const int before = c.readings.load();
  while (c.readings.load() < before + 2) std::this_thread::yield();
  EXPECT_FALSE(admitted.load());
  first->release();
  waiter.join();
  EXPECT_TRUE(admitted.load());
  EXPECT_EQ(gate.admitted_bytes(), 0u);
}

TEST(AdmissionGate, AnEstimateAboveTheLimitNeverFitsAndIsAnError) {
  FakeContainer c;
  AdmissionGate gate(c.reading());
  EXPECT_THROW((void)gate.admit(2000, milliseconds(0)), Error);
  EXPECT_THROW((void)gate.admit(std::nullopt, milliseconds(0)), Error);
  EXPECT_THROW((void)gate.admit(std::nullopt, milliseconds(0), "never-seen"), Error);
}

TEST(AdmissionGate, LearnsTheEstimateOfAKeyFromARequestThatRanAlone) {
  AdmissionGate gate([] {
    analysis::EffectiveMemory m;
    m.limit_bytes = std::uint64_t{1} << 40;
    m.available_bytes = m.limit_bytes;
    return m;
  });
  {
    auto ticket = gate.admit(1, milliseconds(0), "grow");
    ASSERT_TRUE(ticket);
    // Touch 32 MiB inside the request: its peak growth is what is learned.
    std::vector<char> block(32u << 20, 1);
    EXPECT_EQ(block[12345], 1);
  }
  const auto learned = gate.learned_bytes("grow");
  ASSERT_TRUE(learned);
  EXPECT_GE(*learned, 30u << 20);
  auto next = gate.admit(std::nullopt, milliseconds(0), "grow");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->estimate_bytes(), *learned);
}

}  // namespace
}  // namespace memopt
