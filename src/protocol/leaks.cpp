#include "memopt/protocol/leaks.hpp"

#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <utility>

#include "memopt/error.hpp"
#include "memopt/protocol/wire.hpp"

namespace memopt::protocol {

namespace {

// A whole number of type T: a JSON integer, or a float that is whole and fits (Python may send
// 1e6 for a count); absent otherwise (1e300 for a line is not one, and converting it would be
// undefined).
template <typename T>
std::optional<T> count_at(const nlohmann::json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end()) return std::nullopt;
  if (it->is_number_unsigned()) {
    const auto value = it->get<std::uint64_t>();
    return std::in_range<T>(value) ? std::optional<T>(static_cast<T>(value)) : std::nullopt;
  }
  if (it->is_number_integer()) {
    const auto value = it->get<std::int64_t>();
    return std::in_range<T>(value) ? std::optional<T>(static_cast<T>(value)) : std::nullopt;
  }
  if (it->is_number_float()) {
    const auto value = it->get<double>();
    const bool fits = value >= static_cast<double>(std::numeric_limits<T>::min()) &&
                      value < 2.0 * static_cast<double>(std::numeric_limits<T>::max() / 2 + 1);
    if (!fits || value != static_cast<double>(static_cast<T>(value))) return std::nullopt;
    return static_cast<T>(value);
  }
  return std::nullopt;
}

template <typename T>
void put(nlohmann::json& json, const char* name, const std::optional<T>& value) {
  if (value) json[name] = *value;
}

LeakSiteAnswer site_of(const nlohmann::json& site) {
  if (!site.is_object()) throw Error("a leak site is not a JSON object");
  LeakSiteAnswer s;
  s.file = text_at(site, key::kFile);
  s.line = count_at<int>(site, key::kLine);
  s.kind = text_at(site, key::kKind);
  s.size_bytes = count_at<std::uint64_t>(site, key::kSizeBytes);
  s.count = count_at<std::uint64_t>(site, key::kCount);
  s.growth_bytes_per_hour = real_at(site, key::kGrowthBytesPerHour);
  s.r2 = real_at(site, key::kR2);
  return s;
}

}  // namespace

std::string encode_leaks_answer(const LeaksAnswer& answer) {
  nlohmann::json json = nlohmann::json::object();
  put(json, key::kPid, answer.pid);
  put(json, key::kError, answer.error);
  put(json, key::kCheckpoints, answer.checkpoints);
  put(json, key::kDurationSeconds, answer.duration_s);
  put(json, key::kDurationSecondsOld, answer.duration_s);
  put(json, key::kRssGrowthBytes, answer.rss_growth_bytes);
  put(json, key::kPythonGrowthBytes, answer.python_growth_bytes);
  put(json, key::kTorchCpuGrowthBytes, answer.torch_cpu_growth_bytes);
  put(json, key::kUnexplainedNativeGrowthBytes, answer.unexplained_native_growth_bytes);
  if (!answer.error) {
    nlohmann::json sites = nlohmann::json::array();
    for (const auto& site : answer.sites) {
      nlohmann::json item = nlohmann::json::object();
      put(item, key::kFile, site.file);
      put(item, key::kLine, site.line);
      put(item, key::kKind, site.kind);
      put(item, key::kSizeBytes, site.size_bytes);
      put(item, key::kCount, site.count);
      put(item, key::kGrowthBytesPerHour, site.growth_bytes_per_hour);
      put(item, key::kR2, site.r2);
      sites.push_back(std::move(item));
    }
    json[key::kSites] = std::move(sites);
  }
  return dump_line(json);
}

std::string encode_leak_report(std::string_view report, int pid) {
  // Read as the clients will read it: nested at most kMaxAnswerDepth deep, strings printable.
  auto parsed = parse_answer(report);
  if (!parsed.error.empty()) {
    throw Error("the leak report is not a JSON object of at most " +
                std::to_string(kMaxAnswerDepth) + " levels");
  }
  parsed.json[key::kPid] = pid;
  return dump_line(parsed.json);
}

LeaksAnswer decode_leaks_answer(std::string_view answer) {
  const auto parsed = parse_answer(answer);
  if (!parsed.error.empty()) throw Error(parsed.error);
  const auto& json = parsed.json;
  LeaksAnswer out;
  if (const auto pid = count_at<int>(json, key::kPid); pid && *pid > 0) out.pid = pid;
  if ((out.error = error_of(json))) return out;
  out.checkpoints = count_at<int>(json, key::kCheckpoints);
  out.duration_s = real_at(json, key::kDurationSeconds);
  // A process running an older memopt sends only the old key.
  if (!out.duration_s) out.duration_s = real_at(json, key::kDurationSecondsOld);
  out.rss_growth_bytes = count_at<std::int64_t>(json, key::kRssGrowthBytes);
  out.python_growth_bytes = count_at<std::int64_t>(json, key::kPythonGrowthBytes);
  out.torch_cpu_growth_bytes = count_at<std::int64_t>(json, key::kTorchCpuGrowthBytes);
  out.unexplained_native_growth_bytes =
      count_at<std::int64_t>(json, key::kUnexplainedNativeGrowthBytes);
  if (const auto sites = json.find(key::kSites); sites != json.end()) {
    if (!sites->is_array()) throw Error("its \"sites\" is not a list");
    for (const auto& site : *sites) out.sites.push_back(site_of(site));
  }
  return out;
}

}  // namespace memopt::protocol
