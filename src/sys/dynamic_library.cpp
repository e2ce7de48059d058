#include "memopt/sys/dynamic_library.hpp"

#include <dlfcn.h>

#include <utility>

namespace memopt::sys {

std::optional<DynamicLibrary> DynamicLibrary::open(const std::string& path, std::string& error) {
  // Clear any stale error so the text below belongs to this call.
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* text = dlerror();
    error = text != nullptr ? text : path + ": cannot be loaded";
    return std::nullopt;
  }
  return DynamicLibrary(handle, path);
}

std::optional<DynamicLibrary> DynamicLibrary::open_loaded(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (handle == nullptr) {
    dlerror();  // consume the error so a later caller does not read it as its own
    return std::nullopt;
  }
  return DynamicLibrary(handle, path);
}

DynamicLibrary::DynamicLibrary(DynamicLibrary&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)), path_(std::move(other.path_)) {}

DynamicLibrary& DynamicLibrary::operator=(DynamicLibrary&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) dlclose(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

DynamicLibrary::~DynamicLibrary() {
  if (handle_ != nullptr) dlclose(handle_);
}

void* DynamicLibrary::raw_symbol(const char* name) const noexcept {
  if (handle_ == nullptr) return nullptr;
  return dlsym(handle_, name);
}

}  // namespace memopt::sys
