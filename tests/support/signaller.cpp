#include "support/signaller.hpp"

#include <algorithm>
#include <cerrno>

#include "memopt/sys/fs.hpp"

namespace memopt::testing {

int RecordingSignaller::hold(int pid) {
  if (on_hold) on_hold(pid);
  return std::find(gone.begin(), gone.end(), pid) != gone.end() ? ESRCH : 0;
}

int RecordingSignaller::inspect(int pid, sys::LiveProcess& out) {
  if (procfs_.empty() || std::find(gone.begin(), gone.end(), pid) != gone.end()) return ESRCH;
  const std::string dir = procfs_ + "/" + std::to_string(pid);
  int err = sys::read_into(dir + "/stat", out.stat);
  if (err == 0) err = sys::read_into(dir + "/cgroup", out.cgroup);
  if (err != 0) return sys::is_absent_errno(err) ? ESRCH : err;
  out.exe = sys::file_id(dir + "/exe");
  return 0;
}

int RecordingSignaller::send(int pid, int signal) {
  sent_.push_back({pid, signal});
  if (exit_on_ != 0 && signal == exit_on_) ended_[pid] = true;
  return 0;
}

bool RecordingSignaller::exited(int pid) { return ended_[pid]; }

}  // namespace memopt::testing
