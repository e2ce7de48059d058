#include "memopt/sys/socket.hpp"

#include <gtest/gtest.h>

namespace memopt::sys {
namespace {

TEST(CleanupSocketName, RoundTripsAPid) {
  EXPECT_EQ(cleanup_socket_name(4242), "4242.sock");
  EXPECT_EQ(cleanup_socket_pid(cleanup_socket_name(4242)), 4242);
}

TEST(CleanupSocketPid, RejectsEveryOtherName) {
  for (const char* name : {"", ".sock", "sock", "4242", "4242.socket", "42x2.sock", "-1.sock",
                           "0.sock", " 42.sock", "99999999999999999999.sock", "4242.sock.tmp"}) {
    EXPECT_EQ(cleanup_socket_pid(name), std::nullopt) << name;
  }
}

}  // namespace
}  // namespace memopt::sys
