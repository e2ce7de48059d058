#pragma once

#include <string>
#include <string_view>

// Which container a cgroup is, in the words `docker stats` and `kubectl top` use, read from the
// cgroup path alone (no runtime socket, no I/O).
namespace memopt::analysis {

/// A cgroup path resolved to the container runtime's own names. Every field is "" when the
/// path does not say it.
struct ContainerIdentity {
  std::string runtime;       ///< "docker", "containerd", "cri-o", "podman", or "" when unknown
  std::string container_id;  ///< the full id (64 lowercase hex), "" when none
  std::string pod_uid;       ///< Kubernetes pod UID with dashes (systemd's underscores undone)
  std::string qos_class;     ///< "guaranteed", "burstable" or "besteffort" for a pod, else ""
  /// A short name for a terminal: "docker 3f4a5b6c7d8e", "pod 1b2c3d4e/3f4a5b6c7d8e" (first 8
  /// of the pod uid, first 12 of the id), "pod 1b2c3d4e" for a pod-level cgroup, with
  /// " (conmon)" after the id for a CRI-O or Podman monitor; the path's last component when
  /// nothing is recognised ("/" for the root). Never empty.
  std::string display;
};

/// Resolves a cgroup path as the third field of /proc/PID/cgroup writes it (cgroup v1 and v2
/// write the same paths), e.g. "/kubepods/burstable/pod<uid>/<id>" or
/// "/system.slice/docker-<id>.scope". The deepest recognised component decides: a container
/// below a pod slice is that pod's container; "/docker/<id>/init" is still that container.
/// Recognised shapes:
///  - Docker: /docker/<id>, /system.slice/docker-<id>.scope
///  - Kubernetes, cgroupfs driver: /kubepods[/burstable|/besteffort]/pod<uid>/<ctr>, where
///    <ctr> is <id> (runtime unknown) or crio-<id>, cri-containerd-<id>, docker-<id>
///  - Kubernetes, systemd driver: /kubepods.slice[/kubepods-<qos>.slice]/
///    kubepods[-<qos>]-pod<uid_with_underscores>.slice/<prefix>-<id>.scope
///  - CRI-O's monitor crio-conmon-<id>[.scope], Podman's libpod-conmon-<id>.scope
///  - Podman: .../libpod-<id>.scope (machine.slice or a rootless user slice)
///  - nerdctl (containerd without Kubernetes): .../nerdctl-<id>.scope
/// An <id> is exactly 64 lowercase hex characters and a <uid> a lowercase 8-4-4-4-12 UUID, or
/// a static pod's 32 lowercase hex characters (the hash kubelet gives it); anything near (63
/// characters, uppercase) is unrecognised.
[[nodiscard]] ContainerIdentity identify_container(std::string_view cgroup_path);

}  // namespace memopt::analysis
