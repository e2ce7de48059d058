#include "memopt/actions/sandbox.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include "memopt/error.hpp"
#include "memopt/sys/process.hpp"

namespace memopt::actions {

namespace {

void write_control(const std::string& path, std::string_view value) {
  if (const int err = sys::write_file(path, value); err != 0) {
    throw Error(fmt::format("cannot write '{}' to {}: {}", value, path, sys::error_text(err)));
  }
}

/// On v2 a child gets the memory controller only if the parent delegates it.
void require_v2_delegation(const std::string& parent) {
  const std::string control = parent + "/cgroup.subtree_control";
  const auto enabled = sys::read_optional(control).value_or("");
  if (enabled.find("memory") != std::string::npos) return;
  // Enabling it fails with EBUSY while the parent holds processes (this one, at least), the
  // cgroup v2 "no internal processes" rule; only a delegated or empty parent works.
  if (sys::write_file(control, "+memory") == 0) return;
  throw Error(
      fmt::format("cgroup v2: the memory controller is not delegated to children of {} "
                  "(cgroup.subtree_control); run memopt from a delegated cgroup, e.g. "
                  "systemd-run --scope -p Delegate=yes",
                  parent));
}

}  // namespace

std::unique_ptr<Sandbox> Sandbox::create(const sys::Roots& roots,
                                         std::optional<std::uint64_t> limit,
                                         std::optional<std::uint64_t> swap) {
  std::vector<model::Note> notes;
  const auto own = readers::locate_cgroup(roots, notes);
  if (!own) {
    throw Error(notes.empty() ? std::string("no cgroup memory controller found")
                              : notes.back().message);
  }
  if (own->version == 2) require_v2_delegation(own->dir);

  readers::CgroupLocation location = *own;
  const std::string name = fmt::format("memopt-run-{}", ::getpid());
  location.dir += "/" + name;
  location.path = (own->path == "/" ? "" : own->path) + "/" + name;
  location.pressure_dir = own->version == 2 ? std::optional(location.dir) : std::nullopt;
  if (const int err = sys::make_directory(location.dir); err != 0) {
    throw Error(fmt::format("cannot create cgroup {}: {}", location.dir, sys::error_text(err)));
  }
  std::unique_ptr<Sandbox> sandbox(new Sandbox(location));
  const std::string& dir = sandbox->location_.dir;
  if (own->version == 1) {
    if (limit) write_control(dir + "/memory.limit_in_bytes", std::to_string(*limit));
    if (swap) {
      if (!limit) throw Error("--swap needs --limit", Error::Kind::kUsage);
      if (!sys::exists(dir + "/memory.memsw.limit_in_bytes")) {
        throw Error(
            "--swap: swap accounting is off on this host (memory.memsw.* absent; boot with "
            "swapaccount=1)");
      }
      write_control(dir + "/memory.memsw.limit_in_bytes", std::to_string(*limit + *swap));
    }
  } else {
    if (limit) write_control(dir + "/memory.max", std::to_string(*limit));
    if (swap) write_control(dir + "/memory.swap.max", std::to_string(*swap));
  }
  return sandbox;
}

Sandbox::~Sandbox() { remove(); }

std::vector<int> Sandbox::pids() const {
  std::vector<int> pids;
  const auto text = sys::read_optional(procs_file()).value_or("");
  int pid = 0;
  bool digits = false;
  for (const char c : text) {
    if (c >= '0' && c <= '9') {
      pid = pid * 10 + (c - '0');
      digits = true;
    } else if (digits) {
      pids.push_back(pid);
      pid = 0;
      digits = false;
    }
  }
  if (digits) pids.push_back(pid);
  return pids;
}

bool Sandbox::remove() {
  if (removed_) return true;
  // Orphans the command left behind die with the sandbox, as they would with a container.
  for (int attempt = 0; attempt < 200; ++attempt) {
    const auto left = pids();
    if (left.empty() && sys::remove_directory(location_.dir) == 0) {
      removed_ = true;
      return true;
    }
    if (sys::write_file(location_.dir + "/cgroup.kill", "1") != 0) {
      for (const int pid : left) sys::send_signal(pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace memopt::actions
