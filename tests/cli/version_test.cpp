// `memopt --version`: the version from CMake's project(VERSION) and the git revision, the same
// strings the JSON report and the Prometheus build_info gauge carry.
#include "memopt/version.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <string>

#include "support/run.hpp"
#include "test_paths.hpp"

namespace memopt::cli {
namespace {

using ::testing::IsEmpty;

TEST(Version, FlagPrintsVersionAndRevision) {
  const auto result = testing::run_memopt({"--version"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.err, IsEmpty());
  EXPECT_EQ(result.out,
            "memopt " + std::string(version()) + " (revision " + std::string(revision()) + ")\n");
}

TEST(Version, IsProjectVersionFromCMakeLists) {
  std::ifstream in(std::string(MEMOPT_SOURCE_DIR) + "/CMakeLists.txt");
  ASSERT_TRUE(in) << "cannot read CMakeLists.txt";
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::smatch match;
  ASSERT_TRUE(std::regex_search(text, match, std::regex(R"(project\(memopt VERSION (\S+))")));
  EXPECT_EQ(version(), match[1].str());
}

TEST(Version, KubernetesManifestsRunThisVersionsImage) {
  for (const std::string name : {"sidecar.yaml", "daemonset.yaml"}) {
    std::ifstream in(std::string(MEMOPT_SOURCE_DIR) + "/deploy/kubernetes/" + name);
    ASSERT_TRUE(in) << "cannot read deploy/kubernetes/" << name;
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("image: registry.example.com/memopt:" + std::string(version()) + "\n"),
              std::string::npos)
        << name << " does not run memopt:" << version();
  }
}

TEST(Version, RevisionIsAHashOrUnknown) {
  if (*MEMOPT_GIVEN_REVISION != '\0') {
    EXPECT_EQ(revision(), MEMOPT_GIVEN_REVISION) << "-DMEMOPT_REVISION=... wins";
    return;
  }
  // A checkout gives the abbreviated commit (maybe "-dirty"); a tarball "unknown".
  EXPECT_TRUE(
      std::regex_match(std::string(revision()), std::regex(R"(([0-9a-f]{7,40}(-dirty)?)|unknown)")))
      << revision();
}

}  // namespace
}  // namespace memopt::cli
