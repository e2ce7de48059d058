#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

// Reading one answer line of the cooperative socket protocol: every parser of an answer
// (cleanup, stats, leaks) starts here, so every one gets the same limits and escaping.
namespace memopt::actions {

/// An answer read as JSON.
struct ParsedAnswer {
  nlohmann::json json;  ///< an object, every string in it (keys too) made printable()
  std::string error;    ///< why there is none ("the answer is not JSON", ...); empty when ok
};

/// Parses `answer` as one JSON object. Refuses, without building it, JSON nested deeper than
/// kMaxAnswerDepth. Every string (values and keys) is passed through printable(): escape
/// sequences, CR/LF and bidi controls a server sends never reach a terminal or a page.
[[nodiscard]] ParsedAnswer parse_answer(std::string_view answer);

}  // namespace memopt::actions
