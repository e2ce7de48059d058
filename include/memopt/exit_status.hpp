#pragma once

// The exit statuses of the `memopt` command, in one place (the man page's EXIT STATUS and the
// README's table say the same). Each command returns one of these; `run` alone passes on its
// command's own status.
namespace memopt::exit_status {

inline constexpr int kSuccess = 0;
/// A source could not be read or did not parse (the message names it), the target's memory
/// is unknown, a cleanup step failed.
inline constexpr int kFailure = 1;
/// A bad flag, size, level or model name, a config file that cannot be read or parsed, an
/// unknown command, a refused request (`run --limit` over the room left, `--protect` without
/// a limit or --allow-host).
inline constexpr int kUsage = 2;
/// `run`: the command is not executable / not found (as a shell says).
inline constexpr int kNotExecutable = 126;
inline constexpr int kNotFound = 127;

/// `report --check` exits like a monitoring plugin (Nagios, Icinga, Sensu).
inline constexpr int kCheckOk = 0;        ///< normal or acceptable
inline constexpr int kCheckWarning = 1;   ///< warning, or a problem in the configuration
inline constexpr int kCheckCritical = 2;  ///< severe or danger
inline constexpr int kCheckUnknown = 3;   ///< something could not be read

}  // namespace memopt::exit_status
