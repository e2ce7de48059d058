#include "memopt/error.hpp"

#include <fmt/format.h>

#include <cerrno>

#include "memopt/exit_status.hpp"

namespace memopt {

Error parse_error(std::string_view source, int line, std::string_view what) {
  if (line > 0) return Error(fmt::format("while reading {}: line {}: {}", source, line, what));
  return Error(fmt::format("while reading {}: {}", source, what));
}

int SpawnError::shell_exit_code() const noexcept {
  return errno_ == ENOENT || errno_ == ENOTDIR ? exit_status::kNotFound
                                               : exit_status::kNotExecutable;
}

}  // namespace memopt
