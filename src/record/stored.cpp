#include "memopt/record/stored.hpp"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

namespace memopt::record {

namespace {

using Json = nlohmann::ordered_json;

/// Bytes as the views print them: null, or a finite number a uint64 can hold (negative ones
/// are shown as 0).
bool bytes(const Json& v) {
  return v.is_null() ||
         (v.is_number() && std::fabs(v.get<double>()) <= 1.8e19 && std::isfinite(v.get<double>()));
}
bool number(const Json& v) { return v.is_number() && std::isfinite(v.get<double>()); }
bool number_or_null(const Json& v) { return v.is_null() || number(v); }
bool pid(const Json& v) { return v.is_number_integer(); }

/// The member `key` of object `o`, or a "discarded" value that no check accepts, not even as
/// null: the views read members with a const json's operator[], which must not be asked for
/// one that is missing.
const Json& member(const Json& o, const char* key) {
  static const Json kMissing(Json::value_t::discarded);
  if (!o.is_object()) return kMissing;
  const auto it = o.find(key);
  return it == o.end() ? kMissing : *it;
}

bool has(const Json& o, const char* key) { return o.is_object() && o.contains(key); }

std::optional<std::string> check(const Json& doc) {
  if (!doc.is_object()) return "not a JSON object";
  for (const char* key : {"kind", "at", "target"}) {
    if (!member(doc, key).is_string()) return fmt::format("\"{}\" is not a string", key);
  }
  if (has(doc, "summary") && !member(doc, "summary").is_string()) {
    return "\"summary\" is not a string";
  }
  if (member(doc, "kind") == "oom_kill") {
    const auto& victims = member(doc, "victims");
    if (!victims.is_array()) return "\"victims\" is not a list";
    for (const auto& v : victims) {
      if (!member(v, "name").is_string() || !pid(member(v, "pid")) ||
          !bytes(member(v, "anon_rss_bytes")) || !member(v, "sampled").is_boolean()) {
        return "a victim lacks its name, pid, anon_rss_bytes or sampled";
      }
      if (member(v, "sampled").get<bool>() &&
          (!bytes(member(v, "first_bytes")) || !bytes(member(v, "last_bytes")) ||
           !number_or_null(member(v, "bytes_per_second")))) {
        return "a sampled victim lacks its growth";
      }
    }
  } else if (!member(doc, "started").is_string()) {
    return "\"started\" is not a string";
  }
  if (!has(doc, "growth") || !bytes(member(doc, "limit_bytes"))) {
    return "\"growth\" or \"limit_bytes\" is missing";
  }
  if (const auto& g = member(doc, "growth"); !g.is_null()) {
    if (!bytes(member(g, "from_bytes")) || !bytes(member(g, "to_bytes")) ||
        !number(member(g, "seconds")) || !number(member(g, "bytes_per_second"))) {
      return "\"growth\" is not a growth";
    }
  }
  const auto& processes = member(doc, "processes");
  if (!processes.is_array()) return "\"processes\" is not a list";
  for (const auto& p : processes) {
    const auto& at_peak = member(p, "at_peak");
    if (!member(p, "name").is_string() || !pid(member(p, "pid")) ||
        !bytes(member(p, "growth_bytes")) || member(p, "growth_bytes").is_null() ||
        !number(member(p, "first_t")) || !number(member(p, "last_t")) ||
        !number_or_null(member(p, "bytes_per_second")) || !bytes(member(p, "last_bytes")) ||
        !(at_peak.is_null() ||
          (bytes(member(at_peak, "pss_bytes")) && bytes(member(at_peak, "rss_bytes"))))) {
      return "a process lacks its name, pid or figures";
    }
  }
  if (!has(doc, "prevention")) return "\"prevention\" is missing";
  if (const auto& p = member(doc, "prevention"); !p.is_null()) {
    if (!bytes(member(p, "limit_bytes")) || !member(p, "reason").is_string()) {
      return "\"prevention\" lacks its limit or reason";
    }
    if (has(p, "grower")) {
      const auto& g = member(p, "grower");
      if (!member(g, "name").is_string() || !pid(member(g, "pid")) ||
          !number(member(g, "bytes_per_second"))) {
        return "\"prevention.grower\" lacks its name, pid or rate";
      }
    }
  }
  if (!member(doc, "cgroup_files").is_object()) return "\"cgroup_files\" is not an object";
  // What the page's script reads besides.
  if (!member(doc, "observations").is_array()) return "\"observations\" is not a list";
  for (const auto& p : processes) {
    if (!member(p, "series").is_array()) return "a process lacks its series";
  }
  return std::nullopt;
}

/// Deeper than any document memopt writes (a post-mortem nests 5 levels): writing it out again
/// (dump) recurses once per level, and 100,000 levels overflow the stack.
constexpr int kMaxDepth = 64;

/// Whether `json` nests arrays and objects deeper than kMaxDepth (brackets in strings aside).
bool too_deep(std::string_view json) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace

std::optional<std::string> postmortem_problem(std::string_view json) {
  if (too_deep(json)) return fmt::format("nested deeper than {} levels", kMaxDepth);
  const auto doc = Json::parse(json, nullptr, false);
  if (doc.is_discarded()) return "not JSON (or not UTF-8)";
  return check(doc);
}

std::optional<StoredEvent> decode_event_line(std::string_view json) {
  if (too_deep(json)) return std::nullopt;
  auto doc = Json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  StoredEvent e;
  for (auto [key, out] : {std::pair{"timestamp", &e.timestamp}, std::pair{"event", &e.name},
                          std::pair{"message", &e.message}}) {
    const auto& v = member(doc, key);
    if (!v.is_string()) return std::nullopt;
    *out = v.get<std::string>();
  }
  return e;
}

}  // namespace memopt::record
