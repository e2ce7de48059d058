// ModelCache loaders that re-enter their own cache: the loader held the cache's load lock and
// waited for it again, a deadlock that Ctrl-C did not end. Now it is an Error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>

#include "memopt/error.hpp"
#include "memopt/inprocess.hpp"

namespace memopt {
namespace {

using ::testing::HasSubstr;

// Runs `body` in a child with a time bound: a deadlock there fails the test instead of
// hanging it. The child exits 0 when `body` returns true.
bool in_child_within(int seconds, const std::function<bool()>& body) {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(body() ? 0 : 1);
  for (int waited = 0; waited < seconds * 10; ++waited) {
    int status = 0;
    if (::waitpid(child, &status, WNOHANG) == child)
      return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    ::usleep(100'000);
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ADD_FAILURE() << "deadlocked: still running after " << seconds << " s";
  return false;
}

TEST(HostileModelCache, ALoaderAskingItsOwnCacheRaises) {
  EXPECT_TRUE(in_child_within(20, [] {
    ModelCache cache(1 << 30, [] { return std::uint64_t{0}; });
    cache.add<int>("b", [] { return std::make_shared<int>(2); });
    cache.add<int>("a", [&cache] { return cache.get<int>("b"); });
    try {
      (void)cache.get<int>("a");
      return false;
    } catch (const Error& e) {
      if (std::string(e.what()).find("asked its own cache for 'b'") == std::string::npos)
        return false;
    }
    return *cache.get<int>("b") == 2;  // the cache still works
  }));
}

TEST(HostileModelCache, ALoaderMayUseAnotherCacheAndLoadedModels) {
  ModelCache inner(1 << 30, [] { return std::uint64_t{0}; });
  ModelCache outer(1 << 30, [] { return std::uint64_t{0}; });
  inner.add<int>("x", [] { return std::make_shared<int>(7); });
  outer.add<int>("base", [] { return std::make_shared<int>(1); });
  (void)outer.get<int>("base");
  outer.add<int>(
      "y", [&] { return std::make_shared<int>(*inner.get<int>("x") + *outer.get<int>("base")); });
  EXPECT_EQ(*outer.get<int>("y"), 8);
}

}  // namespace
}  // namespace memopt
