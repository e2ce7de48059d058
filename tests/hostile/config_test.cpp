// Configs that Debian's toml++ 3.3 cannot read safely: at U+FEFE, U+032A (marzer/tomlplusplus
// #295), U+3001 and their neighbours where the parser asks whether a character is whitespace,
// its generated table reaches __builtin_unreachable (undefined behaviour; under UBSan an abort,
// in a release build anything). check_toml_input() refuses them before toml++ runs. Under
// scripts/test.sh --asan (-fno-sanitize-recover) these tests abort if the guard lets one by.
#include "memopt/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "memopt/error.hpp"

namespace memopt::config {
namespace {

using ::testing::HasSubstr;
using namespace std::string_literals;

std::string refusal(const std::string& text) {
  try {
    (void)parse_monitor_config(text, "memopt.toml");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUsage);
    return e.what();
  }
  return "";
}

TEST(HostileConfig, CharactersWhereTomlppChecksWhitespaceAreRefused) {
  // U+FEFE, U+032A (#295's "cc aa"), U+3001, U+00E9: the whitespace lookup is UB for them, and
  // the parser makes it while scanning ahead, inside quotes too (found by the fuzz target).
  EXPECT_THAT(refusal("a = 1\n\xef\xbb\xbe = 2\n"), HasSubstr("memopt.toml:2: U+FEFE"));
  EXPECT_THAT(refusal("\xcc\xaa"), HasSubstr("memopt.toml:1: U+032A"));
  EXPECT_THAT(refusal("[thresholds]\nwarning_percent = 80\xe3\x80\x81\n"),
              HasSubstr("memopt.toml:2: U+3001"));
  EXPECT_THAT(refusal("[hooks]\non_alert = \"caf\xc3\xa9\"\n"), HasSubstr("write it as \\u00E9"));
  EXPECT_THAT(refusal("a= 1=N\x01\x00`\"oe@\x00w\xef\xbb\x9fZZ"s), HasSubstr("U+FEDF"));
  // ... and right after a backslash in a basic string, which the guard stepped over unchecked
  // (found by the fuzz target: toml++ looks it up as whitespace when the escape is invalid).
  EXPECT_THAT(refusal("c= 1=N\x01\x00`\"oe@\x00w\x00\\\xef\xbb\x9fZZZZZZZ\x02\x00ZZ"s),
              HasSubstr("U+FEDF"));
  EXPECT_THAT(refusal("[hooks]\non_alert = \"a\\\xcc\xaa\"\n"), HasSubstr("memopt.toml:2: U+032A"));
  EXPECT_THAT(refusal("[hooks]\non_alert = \"a\\\xff\"\n"), HasSubstr("bytes that are not UTF-8"));
  // Other non-ASCII characters outside strings (invalid TOML anyway), and after a backslash in
  // a multi-line string (upstream #190's shape), where toml++ makes the same lookup.
  EXPECT_THAT(refusal("a = 1\n\xe6\xa8\xa1 = 2\n"), HasSubstr("U+6A21 outside a string"));
  EXPECT_THAT(refusal("[hooks]\non_alert = \"\"\"logger \\\n\xe6\xa8\xa1\"\"\"\n"),
              HasSubstr("right after a backslash in a multi-line string"));
  EXPECT_THAT(refusal("[hooks]\non_alert = \"\"\"logger \\\xe6\xa8\xa1\"\"\"\n"),
              HasSubstr("memopt.toml:2:"));
}

// Found by fuzz/parse_monitor_config_fuzz.cpp: toml++ 3.3 asserts (assumes, in release builds)
// that a table header starts with a key character.
TEST(HostileConfig, TableHeadersThatDoNotStartWithAKeyAreRefused) {
  for (const std::string text : {"[=x]\n", "a = 1 # c\n[ =x]\n", "[[=x]]\n", "\t[\t.x]\n"}) {
    EXPECT_THAT(refusal(text), HasSubstr("a table header must start with a key")) << text;
  }
  EXPECT_EQ(parse_monitor_config("[ thresholds ]\nwarning_percent = 81 # [=x]\n"
                                 "[\"hooks\"]\ntimeout_s = 3\n",
                                 "memopt.toml")
                .alert_timeout.count(),
            3);
}

TEST(HostileConfig, BytesThatAreNotUtf8AreRefusedWithoutEchoingThem) {
  const auto message = refusal("[hooks]\non_alert = \"\xff\xfe\"\n");
  EXPECT_THAT(message, HasSubstr("memopt.toml:2: bytes that are not UTF-8 (\\xff)"));
}

TEST(HostileConfig, NonAsciiInCommentsAndStringsStillWorks) {
  const auto config = parse_monitor_config(
      "\xef\xbb\xbf# 监控配置、注释。\xef\xbb\xbe\n[hooks]  # 钩子\non_alert = \"echo 模型 "
      "\\u00e9 \xf0\x9f\x98\x80\"\n"
      "timeout_s = 5\n[cleanup]\nauto_level = 'severe' # ﻾\n"
      "[thresholds]\nwarning_percent = 81 # \"\"\"\\\n",
      "memopt.toml");
  ASSERT_TRUE(config.on_alert);
  EXPECT_EQ(*config.on_alert, "echo 模型 \xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(config.watch.thresholds.warning_percent, 81);
  const auto multi = parse_monitor_config(
      "[hooks]\non_alert = \"\"\"logger \\\n   memopt 模型 \\\"\"\" done\"\"\"\n", "memopt.toml");
  EXPECT_EQ(*multi.on_alert, "logger memopt 模型 \"\"\" done");
}

}  // namespace
}  // namespace memopt::config
