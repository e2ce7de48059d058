// The torch version diagnose advises by: where the maps show torch, its version.py, and the
// order of the sources (a `stats` answer first, then the maps of the largest processes).
#include "memopt/readers/facts.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/tree.hpp"

namespace memopt::readers {
namespace {

using ::testing::HasSubstr;

// Debian's python3-torch 1.13 as /proc/PID/maps shows it: versioned libraries in the system
// library directory, the extension module in dist-packages.
constexpr std::string_view kDebianMaps =
    "7f502d600000-7f502de0a000 r--p 00000000 fe:00 14885460     "
    "/usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13.0\n"
    "7f5040000000-7f5040100000 r--p 00000000 fe:00 14885461     "
    "/usr/lib/python3/dist-packages/torch/_C.cpython-311-x86_64-linux-gnu.so\n"
    "7ffd1c3e0000-7ffd1c401000 rw-p 00000000 00:00 0            [stack]\n";

// A pip wheel in a virtual environment.
constexpr std::string_view kWheelMaps =
    "55d4c0000000-55d4c0001000 r--p 00000000 fe:00 1            /usr/bin/python3.11\n"
    "7f1000000000-7f1000100000 r-xp 00000000 fe:00 2            "
    "/opt/venv/lib/python3.11/site-packages/torch/lib/libtorch_cuda.so\n";

TEST(TorchInMaps, AWheelsLibraryNamesItsPackageDirectory) {
  const auto found = torch_in_maps(kWheelMaps);
  ASSERT_TRUE(found.package_dir);
  EXPECT_EQ(*found.package_dir, "/opt/venv/lib/python3.11/site-packages/torch");
}

TEST(TorchInMaps, ADistributionsTorchGivesItsPackageAndItsLibraryVersion) {
  const auto found = torch_in_maps(kDebianMaps);
  ASSERT_TRUE(found.package_dir);
  EXPECT_EQ(*found.package_dir, "/usr/lib/python3/dist-packages/torch");
  ASSERT_TRUE(found.versioned_library);
  EXPECT_EQ(*found.versioned_library, "libtorch_cpu.so.1.13.0");
}

TEST(TorchInMaps, NoTorchAndDeletedFilesAreNothing) {
  const auto none = torch_in_maps(
      "55d4c0000000-55d4c0001000 r--p 00000000 fe:00 1  /usr/bin/python3.11\n"
      "7f1000000000-7f1000100000 r-xp 00000000 fe:00 2  /old/torch/lib/libtorch.so (deleted)\n"
      "7f1000000000-7f1000100000 r-xp 00000000 fe:00 2  /usr/lib/libtorchvision.so\n");
  EXPECT_FALSE(none.package_dir);
  EXPECT_FALSE(none.versioned_library);
  EXPECT_FALSE(torch_in_maps("").package_dir);
}

TEST(TorchVersionPy, ReadsTheVersionLineInEitherQuotes) {
  EXPECT_EQ(parse_torch_version_py("__version__ = '1.13.0a0'\ndebug = False\n"), "1.13.0a0");
  EXPECT_EQ(parse_torch_version_py("from typing import Optional\n__all__ = ['__version__']\n"
                                   "__version__ = \"2.3.0+cu121\"\n"),
            "2.3.0+cu121");
  EXPECT_EQ(parse_torch_version_py("__version__: str = '2.5.1'"), "2.5.1");
}

TEST(TorchVersionPy, AnythingElseIsNoVersion) {
  EXPECT_FALSE(parse_torch_version_py(""));
  EXPECT_FALSE(parse_torch_version_py("version = '2.3.0'\n"));
  EXPECT_FALSE(parse_torch_version_py("__version__ = '2.3.0\n"));                  // unclosed
  EXPECT_FALSE(parse_torch_version_py("__version__ = ''\n"));                      // empty
  EXPECT_FALSE(parse_torch_version_py("__version__ = 'v2; rm -rf /'\n"));          // not a version
  EXPECT_FALSE(parse_torch_version_py("__version__ = get_version()  # '2.3'\n"));  // code
  EXPECT_FALSE(parse_torch_version_py("__version__ = '" + std::string(100, '1') + "'\n"));
}

TEST(TorchVersion, MajorAndMinor) {
  EXPECT_EQ(parse_major_minor("1.13.0a0"), (std::pair{1u, 13u}));
  EXPECT_EQ(parse_major_minor("2.3.0+cu121"), (std::pair{2u, 3u}));
  EXPECT_EQ(parse_major_minor("2.1"), (std::pair{2u, 1u}));
  EXPECT_FALSE(parse_major_minor("2"));
  EXPECT_FALSE(parse_major_minor("2."));
  EXPECT_FALSE(parse_major_minor(".1"));
  EXPECT_FALSE(parse_major_minor("99999999.1"));
  EXPECT_EQ(version_of_library("libtorch_cpu.so.1.13.0"), "1.13.0");
  EXPECT_FALSE(version_of_library("libtorch_cpu.so"));
  EXPECT_FALSE(version_of_library("libtorch_cpu.so.1"));
}

class TorchFactsTest : public ::testing::Test {
 protected:
  // A procfs with pid 42 whose maps are `maps` and whose root holds the files written under
  // "proc/42/root".
  model::Sample sample_with(std::string_view maps) {
    tree_.write("proc/42/maps", maps);
    tree_.write("proc/42/environ", std::string("PATH=/usr/bin\0", 14));
    model::Sample sample;
    model::ProcessMemory p;
    p.pid = 42;
    p.name = "python3";
    sample.processes.push_back(p);
    return sample;
  }
  model::Facts facts(const model::Sample& sample,
                     const std::vector<model::TorchVersion>& answered = {}) {
    std::vector<model::Note> notes;
    return read_facts({tree_.path("proc"), tree_.path("sys")}, sample, notes, answered);
  }
  testing::TempTree tree_;
};

TEST_F(TorchFactsTest, TheVersionPyOfTheMappedInstallThroughTheProcessRoot) {
  const auto sample = sample_with(kWheelMaps);
  tree_.write("proc/42/root/opt/venv/lib/python3.11/site-packages/torch/version.py",
              "__version__ = '2.3.0+cu121'\n");
  const auto f = facts(sample);
  ASSERT_TRUE(f.torch) << f.torch_unknown;
  EXPECT_EQ(f.torch->version, "2.3.0+cu121");
  EXPECT_EQ(f.torch->major, 2u);
  EXPECT_EQ(f.torch->minor, 3u);
  EXPECT_EQ(f.torch->pid, 42);
  EXPECT_EQ(f.torch->source, "/opt/venv/lib/python3.11/site-packages/torch/version.py");
}

TEST_F(TorchFactsTest, AnUnreadableVersionPyIsUnknownWithTheReason) {
  const auto f = facts(sample_with(kWheelMaps));
  EXPECT_FALSE(f.torch);
  EXPECT_THAT(f.torch_unknown, HasSubstr("/opt/venv/lib/python3.11/site-packages/torch"));
  EXPECT_THAT(f.torch_unknown, HasSubstr("version.py cannot be read"));
}

TEST_F(TorchFactsTest, ADistributionsLibraryVersionStandsInForItsVersionPy) {
  const auto f = facts(sample_with(kDebianMaps));
  ASSERT_TRUE(f.torch) << f.torch_unknown;
  EXPECT_EQ(f.torch->version, "1.13.0");
  EXPECT_EQ(f.torch->source, "libtorch_cpu.so.1.13.0");
}

TEST_F(TorchFactsTest, NoTorchIsUnknown) {
  const auto f = facts(sample_with("55d4c0000000-55d4c0001000 r--p 0 fe:00 1  /usr/bin/python3\n"));
  EXPECT_FALSE(f.torch);
  EXPECT_THAT(f.torch_unknown, HasSubstr("maps a torch library"));
}

TEST_F(TorchFactsTest, AStatsAnswerComesFirst) {
  const auto sample = sample_with(kDebianMaps);
  const auto f = facts(sample, {{42, "python3", "2.4.1", 2, 4, "its stats answer"}});
  ASSERT_TRUE(f.torch);
  EXPECT_EQ(f.torch->version, "2.4.1");
  EXPECT_EQ(f.torch->source, "its stats answer");
}

}  // namespace
}  // namespace memopt::readers
