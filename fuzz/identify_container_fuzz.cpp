// libFuzzer target: memopt::analysis::identify_container on arbitrary cgroup paths (a node's
// every container name comes through it, from paths any tenant may choose).

#include "fuzz/fuzz.hpp"
#include "memopt/analysis/container_identity.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto identity = memopt::analysis::identify_container(memopt::fuzz::as_text(data, size));
  // The promises a renderer relies on: a name always, an id of 64 or none, a pod with a class.
  if (identity.display.empty()) std::abort();
  if (!identity.container_id.empty() && identity.container_id.size() != 64) std::abort();
  if (identity.pod_uid.empty() != identity.qos_class.empty()) std::abort();
  return 0;
}
