#include "memopt/units.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "memopt/error.hpp"

namespace memopt {
namespace {

using ::testing::HasSubstr;

TEST(ParseSize, AcceptsTheDesignExamples) {
  EXPECT_EQ(parse_size("512M", "--limit"), 512 * kMiB);
  EXPECT_EQ(parse_size("1.5G", "--limit"), 3 * kGiB / 2);
  EXPECT_EQ(parse_size("2g", "--limit"), 2 * kGiB);
  EXPECT_EQ(parse_size("1048576", "--limit"), 1048576u);
  EXPECT_EQ(parse_size("256MiB", "--limit"), 256 * kMiB);
  EXPECT_EQ(parse_size("64kb", "--limit"), 64 * kKiB);
  EXPECT_EQ(parse_size("1T", "--limit"), 1024 * kGiB);
  EXPECT_EQ(parse_size("0", "--limit"), 0u);
}

TEST(ParseSize, RejectsMalformedSizesAsUsageErrorsNamingTheFlag) {
  for (const char* bad : {"", "abc", "-1G", "1X", "1.2.3G", "G", "1 G", "1GG",
                          "99999999999999999999", "20000000000G", ".", "1e9"}) {
    SCOPED_TRACE(bad);
    try {
      (void)parse_size(bad, "--limit");
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kUsage);
      EXPECT_THAT(e.what(), HasSubstr("--limit"));
    }
  }
}

TEST(FormatBytes, UsesBinaryUnitsWithThreeSignificantDigits) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(870 * kMiB), "870 MiB");
  EXPECT_EQ(format_bytes(kGiB), "1.00 GiB");
  EXPECT_EQ(format_bytes(23 * kGiB + kGiB / 2), "23.5 GiB");
  EXPECT_EQ(format_bytes(UINT64_MAX), "16.0 EiB");
}

}  // namespace
}  // namespace memopt
