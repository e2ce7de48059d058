#pragma once

#include <optional>
#include <string>
#include <utility>

// Run-time loading of shared libraries (dlopen), so optional dependencies such as NVML need
// nothing at build time and their absence is an ordinary, reportable condition.
namespace memopt::sys {

/// An open shared library. Move-only; the destructor calls dlclose, so a library is never
/// left loaded by accident.
class DynamicLibrary {
 public:
  /// Loads `path` with dlopen(RTLD_LAZY | RTLD_LOCAL). A name without '/' is searched for as
  /// dlopen(3) describes (LD_LIBRARY_PATH, ld.so.cache, default directories). On failure
  /// returns std::nullopt and sets `error` to dlerror()'s text.
  [[nodiscard]] static std::optional<DynamicLibrary> open(const std::string& path,
                                                          std::string& error);

  /// Opens `path` only if it is already loaded in this process (dlopen with RTLD_NOLOAD |
  /// RTLD_LAZY): never loads anything. std::nullopt when it is not loaded.
  [[nodiscard]] static std::optional<DynamicLibrary> open_loaded(const std::string& path);

  DynamicLibrary(const DynamicLibrary&) = delete;
  DynamicLibrary& operator=(const DynamicLibrary&) = delete;
  DynamicLibrary(DynamicLibrary&& other) noexcept;
  DynamicLibrary& operator=(DynamicLibrary&& other) noexcept;
  ~DynamicLibrary();

  /// The address of symbol `name`, or nullptr when the library does not export it.
  [[nodiscard]] void* raw_symbol(const char* name) const noexcept;

  /// Symbol `name` as a function pointer type `Function` (e.g. `int (*)(unsigned*)`), or
  /// nullptr when absent. The caller vouches that the signature matches the library's.
  template <typename Function>
  [[nodiscard]] Function symbol(const char* name) const noexcept {
    return reinterpret_cast<Function>(raw_symbol(name));
  }

  /// The path this library was opened with.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  DynamicLibrary(void* handle, std::string path) noexcept
      : handle_(handle), path_(std::move(path)) {}

  void* handle_ = nullptr;
  std::string path_;
};

}  // namespace memopt::sys
