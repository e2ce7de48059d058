#pragma once

#include <string>
#include <string_view>

namespace memopt::testing {

/// A temporary directory tree for edge-case tests: files are written with `write`, the whole
/// tree is removed when the object goes out of scope.
class TempTree {
 public:
  TempTree();
  ~TempTree();
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  /// Writes `content` to `relative` (parent directories created). Returns the full path.
  std::string write(std::string_view relative, std::string_view content) const;
  /// Creates directory `relative` (and parents). Returns the full path.
  std::string mkdir(std::string_view relative) const;
  /// Copies the fixture tree `tests/fixtures/<scenario>` into this tree.
  void copy_fixture(std::string_view scenario) const;
  /// Removes `relative` (file or tree).
  void remove(std::string_view relative) const;

  [[nodiscard]] const std::string& root() const { return root_; }
  [[nodiscard]] std::string path(std::string_view relative) const;

 private:
  std::string root_;
};

/// The full path of fixture scenario `scenario` under tests/fixtures.
[[nodiscard]] std::string fixture(std::string_view scenario);

/// Reads a whole file (test helper; throws std::runtime_error when it cannot).
[[nodiscard]] std::string slurp(const std::string& path);

}  // namespace memopt::testing
