#pragma once

#include <string>
#include <vector>

// The runtime directories of the cooperative cleanup protocol: where a process that embeds
// memopt puts its socket (<pid>.sock, sys/socket.hpp) and where clients look for them.
namespace memopt::sys {

/// Where cooperating processes put their sockets: $MEMOPT_RUNTIME_DIR when set, else
/// /run/memopt (root: only it; made 0755), else /tmp/memopt-<euid> (made 0700). A directory is
/// used only when it is a real directory owned by this user and writable by nobody else: one
/// that another user made first (/tmp/memopt-0 by nobody) is never used. Throws Error naming
/// the directories and why when none qualifies.
[[nodiscard]] std::string runtime_directory();

/// The directories a cleanup client looks in: $MEMOPT_RUNTIME_DIR alone when set (Error when
/// it is not this user's own, see runtime_directory()), else those of /run/memopt and (not
/// for root) /tmp/memopt-<euid> that are this user's own.
[[nodiscard]] std::vector<std::string> runtime_directories_to_scan();

}  // namespace memopt::sys
