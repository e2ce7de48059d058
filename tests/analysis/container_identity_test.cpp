#include "memopt/analysis/container_identity.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace memopt::analysis {
namespace {

const std::string kId = "8346784b4ec690b19da6abacc1f0e422c52fbbb1bf38ba2b478f1971ca3e95cd";
const std::string kOtherId = "f1995f09b61a968796d5e2f56442a3209e9d9a666c5d6431897f100e0beac40c";
const std::string kUid = "48b54914-fb86-4e62-ae9e-a4b97f5242ee";
const std::string kSystemdUid = "48b54914_fb86_4e62_ae9e_a4b97f5242ee";

/// Every field on one line, so a failure shows them all side by side.
std::string fields(const ContainerIdentity& identity) {
  return "runtime=" + identity.runtime + " id=" + identity.container_id +
         " pod=" + identity.pod_uid + " qos=" + identity.qos_class + " display=" + identity.display;
}

std::string identified(std::string_view path) { return fields(identify_container(path)); }

std::string expected(std::string runtime, std::string id, std::string pod, std::string qos,
                     std::string display) {
  return fields(
      {std::move(runtime), std::move(id), std::move(pod), std::move(qos), std::move(display)});
}

std::string unrecognised(std::string display) {
  return expected("", "", "", "", std::move(display));
}

TEST(ContainerIdentity, DockerWithTheCgroupfsDriverIsDockerSlashId) {
  EXPECT_EQ(identified("/docker/" + kId), expected("docker", kId, "", "", "docker 8346784b4ec6"));
}

TEST(ContainerIdentity, DockerWithTheSystemdDriverIsADockerScope) {
  EXPECT_EQ(identified("/system.slice/docker-" + kId + ".scope"),
            expected("docker", kId, "", "", "docker 8346784b4ec6"));
}

TEST(ContainerIdentity, AGuaranteedPodSitsDirectlyUnderKubepods) {
  EXPECT_EQ(identified("/kubepods/pod" + kUid + "/" + kId),
            expected("", kId, kUid, "guaranteed", "pod 48b54914/8346784b4ec6"));
}

TEST(ContainerIdentity, BurstableAndBestEffortPodsSitUnderTheirQosClass) {
  EXPECT_EQ(identified("/kubepods/burstable/pod" + kUid + "/" + kId),
            expected("", kId, kUid, "burstable", "pod 48b54914/8346784b4ec6"));
  EXPECT_EQ(identified("/kubepods/besteffort/pod" + kUid + "/" + kId),
            expected("", kId, kUid, "besteffort", "pod 48b54914/8346784b4ec6"));
}

TEST(ContainerIdentity, ARuntimePrefixUnderACgroupfsPodNamesTheRuntime) {
  const auto pod = "/kubepods/burstable/pod" + kUid + "/";
  const auto display = "pod 48b54914/8346784b4ec6";
  EXPECT_EQ(identified(pod + "crio-" + kId), expected("cri-o", kId, kUid, "burstable", display));
  EXPECT_EQ(identified(pod + "cri-containerd-" + kId),
            expected("containerd", kId, kUid, "burstable", display));
  EXPECT_EQ(identified(pod + "docker-" + kId), expected("docker", kId, kUid, "burstable", display));
}

TEST(ContainerIdentity, TheSystemdDriverWritesThePodUidWithUnderscores) {
  const auto pod =
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kSystemdUid + ".slice/";
  const auto display = "pod 48b54914/8346784b4ec6";
  EXPECT_EQ(identified(pod + "cri-containerd-" + kId + ".scope"),
            expected("containerd", kId, kUid, "burstable", display));
  EXPECT_EQ(identified(pod + "crio-" + kId + ".scope"),
            expected("cri-o", kId, kUid, "burstable", display));
  EXPECT_EQ(identified(pod + "docker-" + kId + ".scope"),
            expected("docker", kId, kUid, "burstable", display));
}

TEST(ContainerIdentity, SystemdGuaranteedAndBestEffortPodSlices) {
  EXPECT_EQ(identified("/kubepods.slice/kubepods-pod" + kSystemdUid + ".slice/cri-containerd-" +
                       kId + ".scope"),
            expected("containerd", kId, kUid, "guaranteed", "pod 48b54914/8346784b4ec6"));
  EXPECT_EQ(identified("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                       kSystemdUid + ".slice/crio-" + kId + ".scope"),
            expected("cri-o", kId, kUid, "besteffort", "pod 48b54914/8346784b4ec6"));
}

TEST(ContainerIdentity, CriOsConmonIsNamedAsTheMonitorOfItsContainer) {
  EXPECT_EQ(identified("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                       kSystemdUid + ".slice/crio-conmon-" + kId + ".scope"),
            expected("cri-o", kId, kUid, "burstable", "pod 48b54914/8346784b4ec6 (conmon)"));
  EXPECT_EQ(identified("/kubepods/pod" + kUid + "/crio-conmon-" + kId),
            expected("cri-o", kId, kUid, "guaranteed", "pod 48b54914/8346784b4ec6 (conmon)"));
}

TEST(ContainerIdentity, PodmanScopesRootfulAndRootless) {
  EXPECT_EQ(identified("/machine.slice/libpod-" + kId + ".scope"),
            expected("podman", kId, "", "", "podman 8346784b4ec6"));
  EXPECT_EQ(identified("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId +
                       ".scope"),
            expected("podman", kId, "", "", "podman 8346784b4ec6"));
}

TEST(ContainerIdentity, PodmansConmonIsNamedAsTheMonitor) {
  EXPECT_EQ(identified("/machine.slice/libpod-conmon-" + kId + ".scope"),
            expected("podman", kId, "", "", "podman 8346784b4ec6 (conmon)"));
}

TEST(ContainerIdentity, NerdctlScopesAreContainerdButItsBareDefaultNamespaceIsNot) {
  EXPECT_EQ(identified("/system.slice/nerdctl-" + kId + ".scope"),
            expected("containerd", kId, "", "", "containerd 8346784b4ec6"));
  EXPECT_EQ(identified("/default/" + kId), unrecognised(kId));
}

TEST(ContainerIdentity, APodLevelCgroupHasAPodButNoContainer) {
  EXPECT_EQ(identified("/kubepods/burstable/pod" + kUid),
            expected("", "", kUid, "burstable", "pod 48b54914"));
  EXPECT_EQ(identified("/kubepods.slice/kubepods-pod" + kSystemdUid + ".slice"),
            expected("", "", kUid, "guaranteed", "pod 48b54914"));
}

TEST(ContainerIdentity, ATrailingSlashOrNestingBelowTheContainerKeepsTheContainer) {
  const auto docker = expected("docker", kId, "", "", "docker 8346784b4ec6");
  EXPECT_EQ(identified("/docker/" + kId + "/"), docker);
  EXPECT_EQ(identified("/docker/" + kId + "/init"), docker);
  EXPECT_EQ(identified("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId +
                       ".scope/container"),
            expected("podman", kId, "", "", "podman 8346784b4ec6"));
  EXPECT_EQ(identified("/kubepods/burstable/pod" + kUid + "/" + kId + "/init"),
            expected("", kId, kUid, "burstable", "pod 48b54914/8346784b4ec6"));
}

TEST(ContainerIdentity, TheDeepestRecognisedComponentWins) {
  // A kind node is a Docker container holding the pods.
  EXPECT_EQ(identified("/system.slice/docker-" + kOtherId +
                       ".scope/kubelet.slice/kubelet-kubepods.slice/"
                       "kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod" +
                       kSystemdUid + ".slice/cri-containerd-" + kId + ".scope"),
            expected("containerd", kId, kUid, "burstable", "pod 48b54914/8346784b4ec6"));
  EXPECT_EQ(identified("/docker/" + kOtherId + "/kubepods/besteffort/pod" + kUid),
            expected("", "", kUid, "besteffort", "pod 48b54914"));
}

TEST(ContainerIdentity, AnythingElseIsNamedByItsLastComponent) {
  EXPECT_EQ(identified("/"), unrecognised("/"));
  EXPECT_EQ(identified(""), unrecognised("/"));
  EXPECT_EQ(identified("/user.slice"), unrecognised("user.slice"));
  EXPECT_EQ(identified("/my-app"), unrecognised("my-app"));
  EXPECT_EQ(identified("/system.slice/docker.service"), unrecognised("docker.service"));
  EXPECT_EQ(identified("/kubepods/burstable"), unrecognised("burstable"));
  EXPECT_EQ(identified("/srv/\xff\xfe-app"), unrecognised("\xff\xfe-app"));
}

TEST(ContainerIdentity, NearMissIdsAreNotIds) {
  const auto short_id = kId.substr(1);
  const auto long_id = kId + "0";
  std::string upper_id = kId;
  upper_id[0] = 'A';
  upper_id[1] = 'B';
  EXPECT_EQ(identified("/docker/" + short_id), unrecognised(short_id));
  EXPECT_EQ(identified("/docker/" + long_id), unrecognised(long_id));
  EXPECT_EQ(identified("/docker/" + upper_id), unrecognised(upper_id));
  EXPECT_EQ(identified("/system.slice/docker-" + short_id + ".scope"),
            unrecognised("docker-" + short_id + ".scope"));
  EXPECT_EQ(identified("/machine.slice/libpod-" + upper_id + ".scope"),
            unrecognised("libpod-" + upper_id + ".scope"));
  // cAdvisor's example of a systemd mount unit that borrows the container's name.
  EXPECT_EQ(identified("/kubepods/pod" + kUid + "/crio-" + kId + ".mount"),
            expected("", "", kUid, "guaranteed", "pod 48b54914"));
}

TEST(ContainerIdentity, AStaticPodsHashIsItsUid) {
  // kube-apiserver and etcd on a control-plane node: kubelet names them by their manifest's hash.
  const std::string hash = "5b0e9a8c0f5c8c9a8a0a1e0c5e3c4f1a";
  EXPECT_EQ(identified("/kubepods/burstable/pod" + hash + "/" + kId),
            expected("", kId, hash, "burstable", "pod 5b0e9a8c/8346784b4ec6"));
  EXPECT_EQ(identified("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + hash +
                       ".slice/cri-containerd-" + kId + ".scope"),
            expected("containerd", kId, hash, "burstable", "pod 5b0e9a8c/8346784b4ec6"));
}

TEST(ContainerIdentity, NearMissPodUidsAreNotPods) {
  const std::string upper_uid = "48B54914-FB86-4E62-AE9E-A4B97F5242EE";
  const std::string static_pod_hash = "5b0e9a8c0f5c8c9a8a0a1e0c5e3c4f1a";
  EXPECT_EQ(identified("/kubepods/burstable/pod" + upper_uid), unrecognised("pod" + upper_uid));
  EXPECT_EQ(identified("/kubepods/burstable/pod" + kUid.substr(1)),
            unrecognised("pod" + kUid.substr(1)));
  // The cgroupfs driver never writes underscores, nor the systemd driver dashes.
  EXPECT_EQ(identified("/kubepods/pod" + kSystemdUid), unrecognised("pod" + kSystemdUid));
  EXPECT_EQ(identified("/kubepods/burstable/pod" + static_pod_hash.substr(1) + "/" + kId),
            unrecognised(kId));
  // A pod<uid> outside kubepods is somebody else's name.
  EXPECT_EQ(identified("/apps/pod" + kUid), unrecognised("pod" + kUid));
}

}  // namespace
}  // namespace memopt::analysis
