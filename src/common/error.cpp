#include "memopt/error.hpp"

#include <fmt/format.h>

namespace memopt {

Error parse_error(std::string_view source, int line, std::string_view what) {
  if (line > 0) return Error(fmt::format("while reading {}: line {}: {}", source, line, what));
  return Error(fmt::format("while reading {}: {}", source, what));
}

}  // namespace memopt
