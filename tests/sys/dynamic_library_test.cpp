#include "memopt/sys/dynamic_library.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "test_paths.hpp"

namespace memopt::sys {
namespace {

using ::testing::HasSubstr;

const std::string kFake = std::string(MEMOPT_FAKE_NVML_DIR) + "/full/libnvidia-ml.so.1";

TEST(DynamicLibraryTest, MissingFileGivesDlerrorText) {
  std::string error;
  const auto library = DynamicLibrary::open("/nonexistent/libnothing.so", error);
  EXPECT_FALSE(library.has_value());
  EXPECT_THAT(error, HasSubstr("/nonexistent/libnothing.so"));
}

TEST(DynamicLibraryTest, PresentAndAbsentSymbols) {
  std::string error;
  const auto library = DynamicLibrary::open(kFake, error);
  ASSERT_TRUE(library.has_value()) << error;
  EXPECT_EQ(library->path(), kFake);
  using Init = int (*)();
  EXPECT_NE(library->symbol<Init>("nvmlInit_v2"), nullptr);
  EXPECT_EQ(library->symbol<Init>("nvmlNoSuchFunction"), nullptr);
}

TEST(DynamicLibraryTest, MovedFromObjectOwnsNothing) {
  std::string error;
  auto first = DynamicLibrary::open(kFake, error);
  ASSERT_TRUE(first.has_value()) << error;
  DynamicLibrary second = std::move(*first);
  EXPECT_NE(second.raw_symbol("nvmlShutdown"), nullptr);
  // NOLINTNEXTLINE(bugprone-use-after-move): the moved-from state is what is tested.
  EXPECT_EQ(first->raw_symbol("nvmlShutdown"), nullptr);
  auto third = DynamicLibrary::open(kFake, error);
  ASSERT_TRUE(third.has_value()) << error;
  second = std::move(*third);
  EXPECT_NE(second.raw_symbol("nvmlShutdown"), nullptr);
}

}  // namespace
}  // namespace memopt::sys
