#include "support/tree.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "test_paths.hpp"

namespace fs = std::filesystem;

namespace memopt::testing {

TempTree::TempTree() {
  std::string pattern = (fs::temp_directory_path() / "memopt-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  root_ = pattern;
}

TempTree::~TempTree() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

std::string TempTree::path(std::string_view relative) const {
  return (fs::path(root_) / relative).string();
}

std::string TempTree::write(std::string_view relative, std::string_view content) const {
  const fs::path p = path(relative);
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
  return p.string();
}

std::string TempTree::mkdir(std::string_view relative) const {
  const fs::path p = path(relative);
  fs::create_directories(p);
  return p.string();
}

void TempTree::copy_fixture(std::string_view scenario) const {
  fs::copy(fixture(scenario), root_,
           fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

void TempTree::remove(std::string_view relative) const { fs::remove_all(path(relative)); }

std::string fixture(std::string_view scenario) {
  return (fs::path(MEMOPT_FIXTURES) / scenario).string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace memopt::testing
