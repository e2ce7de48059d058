#include "actions/answer.hpp"

#include <cstddef>
#include <utility>

#include "memopt/actions/socket_client.hpp"
#include "memopt/printable.hpp"

namespace memopt::actions {

namespace {

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

}  // namespace memopt::actions
