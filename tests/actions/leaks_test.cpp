// The leak sites a leak_suspected event carries: read from a process's `leaks` answer, or a
// note saying why there are none and how to get them.
#include "memopt/actions/leaks.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/tree.hpp"

namespace memopt::actions {
namespace {

using ::testing::HasSubstr;

TEST(LeakSites, TakesTheTopSitesOfALeakReport) {
  const auto answer = parse_leak_sites(
      R"({"pid":7,"checkpoints":9,"sites":[)"
      R"({"file":"server.py","line":12,"kind":"python","size_bytes":3145728,"count":40,)"
      R"("growth_bytes_per_hour":125829120.4,"r2":0.99},)"
      R"({"file":"model.py","line":40,"kind":"native","size_bytes":1048576,"count":2,)"
      R"("growth_bytes_per_hour":1048576,"r2":0.9},)"
      R"({"file":"third.py","line":1,"kind":"python","size_bytes":1,"count":1,)"
      R"("growth_bytes_per_hour":1,"r2":0.8}]})",
      2);
  ASSERT_EQ(answer.sites.size(), 2u);
  EXPECT_FALSE(answer.note.has_value());
  EXPECT_EQ(answer.sites[0].file, "server.py");
  EXPECT_EQ(answer.sites[0].line, 12);
  EXPECT_EQ(answer.sites[0].kind, "python");
  EXPECT_EQ(answer.sites[0].size_bytes, 3145728u);
  EXPECT_EQ(answer.sites[0].count, 40u);
  EXPECT_DOUBLE_EQ(answer.sites[0].r2, 0.99);
  EXPECT_EQ(answer.sites[1].kind, "native");
  EXPECT_EQ(leak_sites_text(answer),
            "server.py:12 python 3.00 MiB in 40, +120 MiB/h; model.py:40 native 1.00 MiB in 2, "
            "+1.00 MiB/h");
}

TEST(LeakSites, NoSitesIsANoteThatSaysWhy) {
  const auto error = parse_leak_sites(
      R"js({"pid":7,"error":"no leak check is running in pid 7: start one in it with memopt.leak_check()"})js",
      5);
  EXPECT_TRUE(error.sites.empty());
  EXPECT_THAT(error.note.value_or(""), HasSubstr("memopt.leak_check()"));
  EXPECT_EQ(leak_sites_text(error), *error.note);
  EXPECT_THAT(parse_leak_sites(R"({"checkpoints":2,"sites":[]})", 5).note.value_or(""),
              HasSubstr("2 checkpoint(s)"));
  EXPECT_THAT(parse_leak_sites(R"({"checkpoints":8,"sites":[]})", 5).note.value_or(""),
              HasSubstr("no allocation site growing steadily"));
  EXPECT_THAT(parse_leak_sites("Traceback (most recent", 5).note.value_or(""),
              HasSubstr("not a leak report"));
  // Wrong types are no figures, and a site without its figures is not named with made-up ones.
  const auto odd = parse_leak_sites(R"({"checkpoints":8,"sites":[{"file":3,"line":"x"}]})", 5);
  EXPECT_TRUE(odd.sites.empty());
  EXPECT_THAT(odd.note.value_or(""), HasSubstr("1 site(s) without a whole file, line"));
  EXPECT_THAT(parse_leak_sites(R"({"sites":[7]})", 5).note.value_or(""),
              HasSubstr("not a leak report (a leak site is not a JSON object)"));
}

TEST(LeakSites, AProcessWithoutASocketIsANoteNamingServeCleanup) {
  testing::TempTree tree;
  tree.copy_fixture("v2-max-everywhere");
  const auto dir = tree.mkdir("run");
  const auto answer = ask_leak_sites({tree.path("proc"), tree.path("sys")}, 23, {dir},
                                     std::chrono::milliseconds(500), 5);
  EXPECT_TRUE(answer.sites.empty());
  EXPECT_THAT(answer.note.value_or(""), HasSubstr("pid 23 has no cleanup socket"));
  EXPECT_THAT(answer.note.value_or(""), HasSubstr("memopt.serve_cleanup()"));
  EXPECT_THAT(answer.note.value_or(""), HasSubstr("memopt.leak_check()"));
}

}  // namespace
}  // namespace memopt::actions
