#include "memopt/analysis/container_identity.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

// The shapes, as public sources show them:
//  - kubelet (kubernetes/kubernetes pkg/kubelet/cm): pod<uid> below kubepods (guaranteed) or
//    kubepods/<qos>; the systemd driver turns '-' into '_' inside each name and joins the
//    levels with '-', giving kubepods-burstable-pod<uid_>.slice.
//  - cAdvisor (google/cadvisor container/crio/factory_test.go):
//    /kubepods/pod068e8fa0-9213-11e7-a01f-507b9d4141fa/crio-<id>[.scope], with
//    crio-conmon-<id> beside it and crio-<id>.mount not a container.
//  - neuvector/neuvector share/system/cgroup_test.go: /system.slice/docker-<id>.scope and
//    /docker/<id> from /proc/self/cgroup on CentOS and Debian hosts.
//  - podman's libpod: its monitor's unit is libpod-conmon-<id>.scope; rootless containers sit
//    at user@1000.service/user.slice/libpod-<id>.scope, some with a /container child.
namespace memopt::analysis {
namespace {

constexpr std::size_t kIdLength = 64;
constexpr std::size_t kUidLength = 36;
constexpr std::size_t kStaticUidLength = 32;
constexpr std::size_t kDisplayIdLength = 12;
constexpr std::size_t kDisplayUidLength = 8;
constexpr std::string_view kPodPrefix = "pod";
constexpr std::string_view kSliceSuffix = ".slice";
constexpr std::string_view kScopeSuffix = ".scope";

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool is_container_id(std::string_view text) {
  return text.size() == kIdLength && std::all_of(text.begin(), text.end(), is_lower_hex);
}

/// An 8-4-4-4-12 UUID whose groups are joined by `separator`, or a static pod's UID (kubelet
/// hashes its manifest: 32 hex characters, pkg/kubelet/config/common.go).
bool is_pod_uid(std::string_view text, char separator) {
  if (text.size() == kStaticUidLength) return std::all_of(text.begin(), text.end(), is_lower_hex);
  if (text.size() != kUidLength) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool at_separator = i == 8 || i == 13 || i == 18 || i == 23;
    if (at_separator ? text[i] != separator : !is_lower_hex(text[i])) return false;
  }
  return true;
}

/// Removes and returns the part of `rest` after its last `separator` (all of it when none).
std::string_view pop_last(std::string_view& rest, char separator) {
  const auto at = rest.rfind(separator);
  const auto last = at == std::string_view::npos ? rest : rest.substr(at + 1);
  rest = at == std::string_view::npos ? std::string_view{} : rest.substr(0, at);
  return last;
}

struct Pod {
  std::string_view uid;  ///< still with the driver's separator
  std::string_view qos;
};

/// `leaf` is pod<uid> below `parent` and `grandparent`: the path's components for the
/// cgroupfs driver, the '-'-joined levels of one slice name for the systemd driver.
std::optional<Pod> as_pod(std::string_view leaf, std::string_view parent,
                          std::string_view grandparent, char uid_separator) {
  if (!leaf.starts_with(kPodPrefix)) return std::nullopt;
  const auto uid = leaf.substr(kPodPrefix.size());
  if (!is_pod_uid(uid, uid_separator)) return std::nullopt;
  if (parent == "kubepods") return Pod{uid, "guaranteed"};
  if ((parent == "burstable" || parent == "besteffort") && grandparent == "kubepods") {
    return Pod{uid, parent};
  }
  return std::nullopt;
}

std::optional<Pod> pod_at(const std::vector<std::string_view>& parts, std::size_t i) {
  std::string_view name = parts[i];
  if (name.ends_with(kSliceSuffix)) {
    name.remove_suffix(kSliceSuffix.size());
    const auto leaf = pop_last(name, '-');
    const auto parent = pop_last(name, '-');
    return as_pod(leaf, parent, pop_last(name, '-'), '_');
  }
  return as_pod(name, i >= 1 ? parts[i - 1] : "", i >= 2 ? parts[i - 2] : "", '-');
}

struct Container {
  std::string_view runtime;
  std::string_view id;
  bool conmon = false;
};

struct Prefix {
  std::string_view text;
  std::string_view runtime;
  bool conmon;
};

// The conmon prefixes come before the ones they extend.
constexpr std::array kPrefixes = {
    Prefix{"crio-conmon-", "cri-o", true},
    Prefix{"crio-", "cri-o", false},
    Prefix{"cri-containerd-", "containerd", false},
    Prefix{"nerdctl-", "containerd", false},
    Prefix{"docker-", "docker", false},
    Prefix{"libpod-conmon-", "podman", true},
    Prefix{"libpod-", "podman", false},
};

std::optional<Container> container_at(const std::vector<std::string_view>& parts, std::size_t i) {
  std::string_view name = parts[i];
  if (is_container_id(name)) {
    // A bare id is too generic on its own (nerdctl's /default/<id>); only these parents vouch.
    if (i >= 1 && parts[i - 1] == "docker") return Container{"docker", name};
    if (i >= 1 && pod_at(parts, i - 1)) return Container{"", name};
    return std::nullopt;
  }
  if (name.ends_with(kScopeSuffix)) name.remove_suffix(kScopeSuffix.size());
  for (const auto& prefix : kPrefixes) {
    if (!name.starts_with(prefix.text)) continue;
    const auto id = name.substr(prefix.text.size());
    if (!is_container_id(id)) return std::nullopt;
    return Container{prefix.runtime, id, prefix.conmon};
  }
  return std::nullopt;
}

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    const auto part = pop_last(path, '/');
    if (!part.empty()) parts.push_back(part);
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::string systemd_unescaped(std::string_view uid) {
  std::string out(uid);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

ContainerIdentity pod_identity(const Pod& pod) {
  ContainerIdentity identity;
  identity.pod_uid = systemd_unescaped(pod.uid);
  identity.qos_class = pod.qos;
  identity.display = "pod " + identity.pod_uid.substr(0, kDisplayUidLength);
  return identity;
}

ContainerIdentity container_identity(const Container& container, const std::optional<Pod>& pod) {
  auto identity = pod ? pod_identity(*pod) : ContainerIdentity{};
  identity.runtime = container.runtime;
  identity.container_id = container.id;
  const auto short_id = identity.container_id.substr(0, kDisplayIdLength);
  identity.display = pod ? identity.display + "/" + short_id : identity.runtime + " " + short_id;
  if (container.conmon) identity.display += " (conmon)";
  return identity;
}

}  // namespace

ContainerIdentity identify_container(std::string_view cgroup_path) {
  const auto parts = components(cgroup_path);
  for (std::size_t i = parts.size(); i-- > 0;) {
    // Runtimes put a container directly below its pod, so only the parent can be its pod.
    if (const auto container = container_at(parts, i)) {
      return container_identity(*container, i >= 1 ? pod_at(parts, i - 1) : std::nullopt);
    }
    if (const auto pod = pod_at(parts, i)) return pod_identity(*pod);
  }
  ContainerIdentity unknown;
  unknown.display = parts.empty() ? "/" : std::string(parts.back());
  return unknown;
}

}  // namespace memopt::analysis
