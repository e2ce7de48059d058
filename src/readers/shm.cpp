#include "memopt/readers/shm.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <unordered_map>

#include "memopt/error.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/shm_dir.hpp"
#include "readers/text.hpp"

namespace memopt::readers {

namespace {

std::optional<int> leading_pid(std::string_view text, char terminator) {
  const auto end = text.find(terminator);
  if (end == std::string_view::npos || end == 0) return std::nullopt;
  int pid = 0;
  const auto digits = text.substr(0, end);
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || pid <= 0) return std::nullopt;
  return pid;
}

std::optional<unsigned> hex_number(std::string_view text) {
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::string_view type_name(sys::DirEntry::Type type) {
  switch (type) {
    case sys::DirEntry::Type::kRegular:
      return "regular";
    case sys::DirEntry::Type::kSymlink:
      return "symlink";
    case sys::DirEntry::Type::kDirectory:
      return "directory";
    case sys::DirEntry::Type::kOther:
      break;
  }
  return "other";
}

}  // namespace

std::optional<int> parse_shm_owner(std::string_view name) {
  if (name.starts_with("torch_")) return leading_pid(name.substr(6), '_');
  if (name.starts_with("pym-")) return leading_pid(name.substr(4), '-');
  return std::nullopt;
}

std::vector<std::uint64_t> parse_maps_inodes(std::string_view maps,
                                             const sys::DeviceNumber& device) {
  std::vector<std::uint64_t> inodes;
  detail::Lines lines(maps);
  while (const auto line = lines.next()) {
    // "start-end perms offset major:minor inode   path"
    std::string_view rest = *line;
    detail::next_field(rest);
    detail::next_field(rest);
    detail::next_field(rest);
    const auto dev = detail::next_field(rest);
    const auto inode_text = detail::next_field(rest);
    const auto colon = dev.find(':');
    if (colon == std::string_view::npos) continue;
    const auto major = hex_number(dev.substr(0, colon));
    const auto minor = hex_number(dev.substr(colon + 1));
    if (!major || !minor || *major != device.major || *minor != device.minor) continue;
    std::uint64_t inode = 0;
    const auto [ptr, ec] =
        std::from_chars(inode_text.data(), inode_text.data() + inode_text.size(), inode);
    if (ec != std::errc() || inode == 0) continue;
    inodes.push_back(inode);
  }
  return inodes;
}

ShmLocation shm_location(const Roots& roots, const model::Sample& sample) {
  std::optional<int> via;
  if (sample.target.kind == model::Target::Kind::kPid) {
    via = sample.target.pid;
  } else if (sample.target.kind == model::Target::Kind::kCgroup && !sample.processes_host_wide &&
             !sample.processes.empty()) {
    via = sample.processes.front().pid;
  }
  if (via) return {fmt::format("{}/{}/root/dev/shm", roots.procfs, *via), via};
  return {roots.procfs + "/self/root/dev/shm", std::nullopt};
}

model::ShmLedger build_shm_ledger(const ShmLocation& where, const sys::DirListing& listing,
                                  const std::vector<ShmHolders>& holders, bool owners_judged,
                                  const std::function<bool(int)>& alive, std::size_t max_files) {
  model::ShmLedger ledger;
  ledger.path = where.dir;
  ledger.via_pid = where.via_pid;
  ledger.tmpfs = listing.tmpfs;
  ledger.device_major = listing.device.major;
  ledger.device_minor = listing.device.minor;
  ledger.size_bytes = listing.size_bytes;
  ledger.used_bytes = listing.used_bytes;
  ledger.file_count = listing.entry_count;
  ledger.owners_judged = owners_judged;
  std::unordered_map<std::uint64_t, std::vector<int>> held;
  for (const auto& h : holders) {
    for (const auto inode : h.inodes) {
      auto& pids = held[inode];
      if (pids.empty() || pids.back() != h.pid) pids.push_back(h.pid);
    }
  }
  std::unordered_map<int, bool> alive_cache;
  for (const auto& entry : listing.entries) {
    model::ShmFile file;
    file.name = entry.name;
    file.type = std::string(type_name(entry.type));
    file.size_bytes = entry.size_bytes;
    file.allocated_bytes = entry.allocated_bytes;
    file.inode = entry.id.inode;
    file.other_filesystem = entry.id.device != listing.device;
    file.owner_pid = parse_shm_owner(entry.name);
    if (!file.other_filesystem) {
      if (const auto it = held.find(entry.id.inode); it != held.end()) {
        file.holders = it->second;
        std::sort(file.holders.begin(), file.holders.end());
        file.holders.erase(std::unique(file.holders.begin(), file.holders.end()),
                           file.holders.end());
      }
    }
    if (file.owner_pid && owners_judged) {
      auto [it, added] = alive_cache.try_emplace(*file.owner_pid, false);
      if (added) it->second = alive(*file.owner_pid);
      file.owner_alive = it->second;
    }
    file.orphan = listing.tmpfs && entry.type == sys::DirEntry::Type::kRegular &&
                  !file.other_filesystem && file.owner_alive == false && file.holders.empty();
    if (!file.other_filesystem) ledger.files_allocated_bytes += file.allocated_bytes;
    if (file.orphan) {
      ledger.orphan_bytes += file.allocated_bytes;
      ++ledger.orphan_files;
    }
    ledger.files.push_back(std::move(file));
  }
  std::sort(ledger.files.begin(), ledger.files.end(), [](const auto& a, const auto& b) {
    return a.allocated_bytes != b.allocated_bytes ? a.allocated_bytes > b.allocated_bytes
                                                  : a.name < b.name;
  });
  ledger.files_truncated =
      listing.entry_count > ledger.files.size() || ledger.files.size() > max_files;
  if (ledger.files.size() > max_files) ledger.files.resize(max_files);
  return ledger;
}

bool shm_owner_alive(const Roots& roots, int pid) {
  const auto path = fmt::format("{}/{}/stat", roots.procfs, pid);
  try {
    const auto stat = sys::read_optional(path);
    if (!stat) return false;
    return !parse_proc_stat(*stat, path).dead();
  } catch (const Error&) {
    return true;  // unreadable or unparsable: kept, as the declaration says
  }
}

std::optional<model::ShmLedger> read_shm_ledger(const Roots& roots, const ShmLocation& where,
                                                std::vector<model::Note>& notes,
                                                std::size_t max_files) {
  sys::DirListing listing;
  if (const int err = sys::list_shm_directory(where.dir, kMaxShmEntries, listing); err != 0) {
    // No /dev/shm at all (a captured tree, a container without one) is not worth advice.
    if (sys::is_absent_errno(err)) return std::nullopt;
    notes.push_back({"no_dev_shm", fmt::format("/dev/shm ledger unknown: {} cannot be read ({})",
                                               where.dir, sys::error_text(err))});
    return std::nullopt;
  }
  std::vector<ShmHolders> holders;
  std::string maps;
  std::vector<int> pids;
  // Holders are only ever matched against the listed files of the directory's own filesystem:
  // without one (an empty /dev/shm, the common case) every process's fds and maps would be
  // read for nothing, each sample.
  const bool any_held = std::any_of(listing.entries.begin(), listing.entries.end(),
                                    [&](const auto& e) { return e.id.device == listing.device; });
  try {
    if (any_held) pids = sys::list_pids(roots.procfs);
  } catch (const Error& e) {
    notes.push_back({"shm_holders_unknown", e.what()});
  }
  for (const int pid : pids) {
    ShmHolders h;
    h.pid = pid;
    for (const auto& id : sys::open_file_ids(roots.procfs, pid)) {
      if (id.device == listing.device) h.inodes.push_back(id.inode);
    }
    if (sys::read_into(fmt::format("{}/{}/maps", roots.procfs, pid), maps) == 0) {
      auto mapped = parse_maps_inodes(maps, listing.device);
      h.inodes.insert(h.inodes.end(), mapped.begin(), mapped.end());
    }
    if (!h.inodes.empty()) holders.push_back(std::move(h));
  }
  // The pids in names belong to the namespace of the processes that made them: judged only
  // where memopt's procfs shows that same namespace, else a live owner could look dead.
  const auto mine = sys::pid_namespace(roots.procfs, "self");
  const auto theirs =
      where.via_pid ? sys::pid_namespace(roots.procfs, std::to_string(*where.via_pid)) : mine;
  const bool judged = mine && theirs && *mine == *theirs;
  if (!judged) {
    notes.push_back({"shm_owners_unjudged",
                     fmt::format("owners of {} not judged alive or dead: memopt's {} is not in "
                                 "the pid namespace of the processes that named them",
                                 where.dir, roots.procfs)});
  }
  return build_shm_ledger(
      where, listing, holders, judged, [&](int pid) { return shm_owner_alive(roots, pid); },
      max_files);
}

}  // namespace memopt::readers
