// The client side of `cleanup`, `shed` and `ping`: what a cooperating process answered, read by
// the protocol's decoders and judged against what procfs says it held.
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "memopt/actions/cleanup.hpp"
#include "memopt/error.hpp"
#include "memopt/protocol/cleanup.hpp"
#include "memopt/protocol/wire.hpp"

namespace memopt::actions {

namespace {

constexpr auto kMaxBytes = std::numeric_limits<std::int64_t>::max();

void refuse(CooperatingProcess& process, std::string reason) {
  process.status = "failed";
  process.reason = std::move(reason);
  process.released_bytes.reset();
  process.gpu_released_bytes.reset();
}

}  // namespace

void apply_cleanup_answer(std::string_view answer, std::string_view request,
                          CooperatingProcess& process) {
  try {
    if (request == protocol::request_name(protocol::Request::kPing)) {
      const auto ping = protocol::decode_ping_answer(answer);
      if (ping.error) return refuse(process, *ping.error);
      process.status = "planned";
      return;
    }
    const auto decoded = protocol::decode_cleanup_answer(answer);
    if (decoded.error) return refuse(process, *decoded.error);
    process.status = "done";
    process.released_bytes = decoded.released_bytes;
    process.gpu_released_bytes = protocol::gpu_released_total(decoded);
  } catch (const Error& e) {
    return refuse(process, e.what());
  }
  // A process cannot give back more memory than it held when asked.
  if (process.released_bytes && process.rss_before_bytes &&
      *process.released_bytes > static_cast<std::int64_t>(std::min<std::uint64_t>(
                                    *process.rss_before_bytes, kMaxBytes))) {
    const auto released = *process.released_bytes;
    return refuse(process, fmt::format("implausible answer: released {} bytes, more than the {} "
                                       "bytes of RSS it held",
                                       released, *process.rss_before_bytes));
  }
}

}  // namespace memopt::actions
