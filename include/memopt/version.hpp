#pragma once

#include <string_view>

namespace memopt {

/// memopt's release version, "MAJOR.MINOR.PATCH": CMake's project(VERSION), the one source of
/// truth (the Python package, the .deb and the image take theirs from it too).
[[nodiscard]] std::string_view version() noexcept;

/// The git commit memopt was built from: the abbreviated hash, with "-dirty" when the tree had
/// uncommitted changes; "unknown" when built outside a git checkout (a tarball, an sdist) and
/// no -DMEMOPT_REVISION=... was given.
[[nodiscard]] std::string_view revision() noexcept;

}  // namespace memopt
