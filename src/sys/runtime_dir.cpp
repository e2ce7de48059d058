#include "memopt/sys/runtime_dir.hpp"

#include <sys/stat.h>

#include <cerrno>

#include "memopt/error.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/self.hpp"

namespace memopt::sys {

namespace {

constexpr const char* kSystemRuntimeDir = "/run/memopt";

std::string user_runtime_dir() { return "/tmp/memopt-" + std::to_string(effective_uid()); }

// Why `dir` may not hold cleanup sockets, or "" when it may: a real directory (not a link)
// owned by this user and writable by nobody else. Anyone who can write there could put in a
// socket that never answers, or one that answers lies.
std::string untrusted_reason(const std::string& dir) {
  uid_t owner = 0;
  mode_t mode = 0;
  if (!file_owner(dir, owner, mode)) return "it does not exist";
  if (!S_ISDIR(mode)) return "it is not a directory";
  if (owner != effective_uid()) {
    return "it belongs to uid " + std::to_string(owner) + ", not to uid " +
           std::to_string(effective_uid());
  }
  if ((mode & 0022) != 0) return "others may write to it";
  return "";
}

// The default directories for this user: root uses /run/memopt only; other users
// /run/memopt when it is theirs (an image may hand it to the service user), else
// /tmp/memopt-<euid>.
std::vector<std::string> default_runtime_dirs() {
  if (effective_uid() == 0) return {kSystemRuntimeDir};
  return {kSystemRuntimeDir, user_runtime_dir()};
}

}  // namespace

std::string runtime_directory() {
  if (auto dir = environment("MEMOPT_RUNTIME_DIR"); dir && !dir->empty()) {
    if (!is_directory(*dir)) {
      if (const int err = make_directory_mode(*dir, 0700); err != 0 && err != EEXIST) {
        throw Error("cannot create runtime directory " + *dir + ": " + error_text(err));
      }
    }
    if (const auto why = untrusted_reason(*dir); !why.empty())
      throw Error("MEMOPT_RUNTIME_DIR " + *dir + " is not used: " + why);
    return *dir;
  }
  std::string refusals;
  for (const auto& dir : default_runtime_dirs()) {
    if (!is_directory(dir)) {
      // /run/memopt: only root can make it. /tmp/memopt-<euid>: private from the start.
      [[maybe_unused]] const int err =
          make_directory_mode(dir, dir == kSystemRuntimeDir ? 0755 : 0700);
    }
    const auto why = untrusted_reason(dir);
    if (why.empty()) return dir;
    refusals += (refusals.empty() ? "" : "; ") + dir + ": " + why;
  }
  throw Error("no runtime directory for the cleanup socket (" + refusals +
              "); set MEMOPT_RUNTIME_DIR to a directory of your own");
}

std::vector<std::string> runtime_directories_to_scan() {
  if (auto dir = environment("MEMOPT_RUNTIME_DIR"); dir && !dir->empty()) {
    if (!is_directory(*dir)) return {};
    if (const auto why = untrusted_reason(*dir); !why.empty())
      throw Error("MEMOPT_RUNTIME_DIR " + *dir + " is not used: " + why);
    return {*dir};
  }
  std::vector<std::string> dirs;
  for (const auto& dir : default_runtime_dirs()) {
    // Another user's /tmp/memopt-0 (made before root ever ran) is never read.
    if (untrusted_reason(dir).empty()) dirs.push_back(dir);
  }
  return dirs;
}

}  // namespace memopt::sys
