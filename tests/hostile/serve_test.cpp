// The in-process cleanup server (serve_cleanup) under forks and several clients at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "memopt/inprocess.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/socket.hpp"
#include "support/tree.hpp"

namespace memopt {
namespace {

using ::testing::HasSubstr;

class RuntimeDir {
 public:
  RuntimeDir() : dir_(tree_.mkdir("run")) { ::setenv("MEMOPT_RUNTIME_DIR", dir_.c_str(), 1); }
  ~RuntimeDir() { ::unsetenv("MEMOPT_RUNTIME_DIR"); }
  RuntimeDir(const RuntimeDir&) = delete;
  RuntimeDir& operator=(const RuntimeDir&) = delete;

 private:
  testing::TempTree tree_;
  std::string dir_;
};

std::optional<std::string> ping(const std::string& socket, std::chrono::milliseconds timeout) {
  int err = 0;
  auto connection = sys::Socket::connect(socket, err);
  if (!connection) return std::nullopt;
  if (connection->send_all("ping\n") != 0) return std::nullopt;
  return connection->receive_line(timeout, 1 << 16);
}

// A child forked after serve_cleanup() (a DataLoader worker, a gunicorn worker) that exits
// through its destructors used to unlink the parent's socket: the parent vanished from
// `memopt cleanup`.
TEST(HostileServe, AForkedChildsExitLeavesTheParentsSocket) {
  const RuntimeDir runtime;
  auto server = serve_cleanup();
  const std::string socket = server->socket_path();
  const pid_t child = ::fork();
  if (child == 0) {
    server.reset();  // what a child's exit does to a server it inherited
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the child did not exit cleanly (hung or crashed)";
  EXPECT_TRUE(sys::exists(socket)) << "the child removed the parent's socket";
  const auto answer = ping(socket, std::chrono::seconds(10));
  ASSERT_TRUE(answer);
  EXPECT_THAT(*answer, HasSubstr("\"pid\":" + std::to_string(::getpid())));
  server->stop();
  EXPECT_FALSE(sys::exists(socket)) << "the parent's own stop removes it";
}

// A client that connects and says nothing held the only server thread for the request
// timeout (2 s): a second client waited behind it. Now each client has its own thread.
TEST(HostileServe, ASilentClientDoesNotHoldTheOthers) {
  const RuntimeDir runtime;
  auto server = serve_cleanup();
  int err = 0;
  auto silent = sys::Socket::connect(server->socket_path(), err);
  ASSERT_TRUE(silent) << err;
  // Give the server time to take the silent connection first.
  ::usleep(200'000);
  const auto answer = ping(server->socket_path(), std::chrono::milliseconds(1500));
  EXPECT_TRUE(answer) << "the second client was not answered while the first was silent";
}

}  // namespace
}  // namespace memopt
