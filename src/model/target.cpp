#include "memopt/model/target.hpp"

#include <fmt/format.h>

#include "memopt/error.hpp"

namespace memopt::model {

std::string Target::describe() const {
  switch (kind) {
    case Kind::kSelf:
      return "memopt's own cgroup";
    case Kind::kPid:
      return fmt::format("the cgroup of pid {}", pid);
    case Kind::kCgroup:
      return "cgroup " + cgroup;
    case Kind::kHost:
      return "the host";
  }
  return {};
}

std::string_view Target::kind_name() const {
  switch (kind) {
    case Kind::kSelf:
      return "self";
    case Kind::kPid:
      return "pid";
    case Kind::kCgroup:
      return "cgroup";
    case Kind::kHost:
      return "host";
  }
  return {};
}

Target make_target(const std::optional<std::string>& cgroup, const std::optional<int>& pid) {
  if (cgroup && pid) {
    throw Error("--cgroup and --pid name two targets: give one", Error::Kind::kUsage);
  }
  Target target;
  if (pid) {
    if (*pid <= 0) {
      throw Error(fmt::format("--pid: expected a process id above 0, got {}", *pid),
                  Error::Kind::kUsage);
    }
    target.kind = Target::Kind::kPid;
    target.pid = *pid;
  } else if (cgroup) {
    if (cgroup->empty() || cgroup->front() != '/') {
      throw Error(fmt::format("--cgroup: expected an absolute path such as /kubepods/pod1/ctr "
                              "or /sys/fs/cgroup/memory/ctr, got '{}'",
                              *cgroup),
                  Error::Kind::kUsage);
    }
    std::string path = *cgroup;
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    if (path == "/") {
      target.kind = Target::Kind::kHost;
    } else {
      target.kind = Target::Kind::kCgroup;
      target.cgroup = std::move(path);
    }
  }
  return target;
}

}  // namespace memopt::model
