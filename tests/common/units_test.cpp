#include "memopt/units.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "memopt/error.hpp"

namespace memopt {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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

TEST(ParseSize, AcceptsKubernetesBinaryQuantities) {
  // What `recommend` prints for Kubernetes must paste back into --limit.
  EXPECT_EQ(parse_size("512Mi", "--limit"), 512 * kMiB);
  EXPECT_EQ(parse_size("1536Mi", "--limit"), 1536 * kMiB);
  EXPECT_EQ(parse_size("1Gi", "--limit"), kGiB);
  EXPECT_EQ(parse_size("1Ki", "--limit"), kKiB);
  EXPECT_EQ(parse_size("2Ti", "--limit"), 2048 * kGiB);
  EXPECT_EQ(parse_size("1Pi", "--limit"), 1024 * 1024 * kGiB);
  EXPECT_EQ(parse_size("1Ei", "--limit"), 1024ull * 1024 * 1024 * kGiB);
  EXPECT_EQ(parse_size("1.5Gi", "--limit"), 3 * kGiB / 2);
  EXPECT_EQ(parse_size("3mi", "--limit"), 3 * kMiB);
  for (const char* bad : {"1Mii", "1iM", "1Bi", "1Zi", "Mi", "1i"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW((void)parse_size(bad, "--limit"), Error);
  }
  EXPECT_THROW((void)parse_size("16Ei", "--limit"), Error);  // 2^64: one past the largest
}

TEST(ParseLimit, RejectsZeroAndLikelyMissingUnits) {
  EXPECT_EQ(parse_limit("6M", "--limit"), 6 * kMiB);
  EXPECT_EQ(parse_limit("512Mi", "--limit"), 512 * kMiB);
  const auto message = [](const char* text) {
    try {
      (void)parse_limit(text, "--limit");
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kUsage);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_THAT(message("10"), HasSubstr("'10' is 10 bytes, below the 6 MiB minimum"));
  EXPECT_THAT(message("10"), HasSubstr("10M or 10Gi"));
  EXPECT_THAT(message("0"), HasSubstr("--limit: a limit of 0 bytes"));
  EXPECT_THAT(message("5M"), HasSubstr("below the 6 MiB minimum"));
  EXPECT_THAT(message("6291455"), HasSubstr("below the 6 MiB minimum"));
  EXPECT_EQ(parse_limit("6291456", "--limit"), 6 * kMiB);
}

TEST(ParseLimit, ASizeWithAUnitIsNotToldItsUnitIsMissing) {
  // `--limit 5M` once answered "a unit missing? e.g. 5MM or 5MGi": advice that cannot parse.
  try {
    (void)parse_limit("5M", "--limit");
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), Not(HasSubstr("unit missing")));
    EXPECT_THAT(e.what(), Not(HasSubstr("5MM")));
    EXPECT_THAT(e.what(), HasSubstr("give at least 6M"));
    EXPECT_EQ(parse_limit("6M", "--limit"), 6 * kMiB);  // the advice works
  }
}

TEST(ParseSize, AnEmptySizeSaysItIsEmpty) {
  try {
    (void)parse_size("", "--limit");
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUsage);
    EXPECT_THAT(e.what(), HasSubstr("--limit: invalid size '': empty"));
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

TEST(FormatReleased, NeverNegativeAndNothingWithinOneMebibyte) {
  const auto mib = static_cast<std::int64_t>(kMiB);
  EXPECT_EQ(format_released(0, "usage"), "nothing");
  EXPECT_EQ(format_released(-4096, "usage"), "nothing");
  EXPECT_EQ(format_released(mib - 1, "usage"), "nothing");
  EXPECT_EQ(format_released(-(mib - 1), "usage"), "nothing");
  EXPECT_EQ(format_released(mib, "usage"), "1.00 MiB");
  EXPECT_EQ(format_released(17 * mib + mib / 10, "usage"), "17.1 MiB");
  EXPECT_EQ(format_released(-(17 * mib + mib / 10), "usage"),
            "nothing (usage grew by 17.1 MiB meanwhile)");
  EXPECT_EQ(format_released(INT64_MIN, "its RSS"), "nothing (its RSS grew by 8.00 EiB meanwhile)");
}

}  // namespace
}  // namespace memopt
