#include "memopt/sys/open_files.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "memopt/sys/fs.hpp"

namespace memopt::sys {

std::optional<std::vector<OpenFile>> open_files(const std::string& procfs, int pid) {
  std::vector<OpenFile> files;
  const auto dir = procfs + "/" + std::to_string(pid) + "/fd";
  int error = 0;
  const auto names = list_directory(dir, &error);
  if (error == EACCES || error == EPERM) return std::nullopt;
  for (const auto& name : names) {
    const auto path = dir + "/" + name;
    std::array<char, 4096> target{};
    const auto length = ::readlink(path.c_str(), target.data(), target.size());
    if (length <= 0) continue;  // closed meanwhile
    OpenFile file;
    file.target.assign(target.data(), static_cast<std::size_t>(length));
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode)) {
      file.char_major = major(st.st_rdev);
      file.char_minor = minor(st.st_rdev);
    }
    files.push_back(std::move(file));
  }
  return files;
}

}  // namespace memopt::sys
