#include "memopt/protocol/wire.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "memopt/error.hpp"
#include "memopt/printable.hpp"

namespace memopt::protocol {

namespace {

constexpr std::array<std::pair<Request, std::string_view>, 5> kRequestNames = {{
    {Request::kCleanup, "cleanup"},
    {Request::kShed, "shed"},
    {Request::kPing, "ping"},
    {Request::kLeaks, "leaks"},
    {Request::kStats, "stats"},
}};

// The deepest nesting of arrays and objects in `text`, counted without parsing (brackets in
// strings skipped), stopping as soon as it passes `limit`.
std::size_t nesting_depth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

void make_printable(nlohmann::json& value) {
  if (value.is_string()) {
    auto& text = value.get_ref<std::string&>();
    if (!is_printable(text)) text = printable(text);
  } else if (value.is_array()) {
    for (auto& item : value) make_printable(item);
  } else if (value.is_object()) {
    bool keys_printable = true;
    for (auto it = value.begin(); it != value.end(); ++it) {
      keys_printable = keys_printable && is_printable(it.key());
      make_printable(it.value());
    }
    if (keys_printable) return;
    nlohmann::json copy = nlohmann::json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      copy[printable(it.key())] = std::move(it.value());
    }
    value = std::move(copy);
  }
}

}  // namespace

std::string_view request_name(Request request) {
  for (const auto& [known, name] : kRequestNames) {
    if (known == request) return name;
  }
  return "?";  // unreachable: every enumerator is in the table
}

std::optional<Request> parse_request(std::string_view line) {
  for (const auto& [request, name] : kRequestNames) {
    if (name == line) return request;
  }
  return std::nullopt;
}

ParsedAnswer parse_answer(std::string_view answer) {
  ParsedAnswer parsed;
  if (nesting_depth(answer, kMaxAnswerDepth) > kMaxAnswerDepth) {
    parsed.error = "the answer nests deeper than " + std::to_string(kMaxAnswerDepth) + " levels";
    return parsed;
  }
  parsed.json = nlohmann::json::parse(answer, nullptr, false);
  if (parsed.json.is_discarded() || !parsed.json.is_object()) {
    parsed.json = nullptr;
    parsed.error = "the answer is not JSON";
    return parsed;
  }
  make_printable(parsed.json);
  return parsed;
}

std::string dump_line(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string encode_error_answer(std::string_view message, std::optional<int> pid) {
  nlohmann::json answer = {{key::kError, std::string(message)}};
  if (pid) answer[key::kPid] = *pid;
  return dump_line(answer);
}

std::optional<std::string> error_of(const nlohmann::json& answer) {
  const auto error = answer.find(key::kError);
  if (error == answer.end()) return std::nullopt;
  // A server that says "error" without words still refused: the key is what counts.
  return error->is_string() ? error->get<std::string>() : std::string(key::kError);
}

std::string encode_ping_answer(const PingAnswer& answer) {
  nlohmann::json json = nlohmann::json::object();
  if (answer.pid) json[key::kPid] = *answer.pid;
  if (answer.rss_bytes) json[key::kRssBytes] = *answer.rss_bytes;
  if (answer.error) json[key::kError] = *answer.error;
  return dump_line(json);
}

PingAnswer decode_ping_answer(std::string_view answer) {
  const auto parsed = parse_answer(answer);
  if (!parsed.error.empty()) throw Error(parsed.error);
  PingAnswer out;
  out.error = error_of(parsed.json);
  if (const auto pid = signed_at(parsed.json, key::kPid);
      pid && *pid > 0 && *pid <= std::numeric_limits<int>::max()) {
    out.pid = static_cast<int>(*pid);
  }
  out.rss_bytes = whole_at(parsed.json, key::kRssBytes);
  return out;
}

}  // namespace memopt::protocol
