#include "memopt/render/html.hpp"

#include <stdexcept>

#include "memopt/render/assets.hpp"

namespace memopt::render {

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string script_json(std::string_view json) {
  // JSON puts these only inside strings, where \uXXXX stands for the same character: no `</`,
  // `<!--` or `]]>` can end or change the script, and U+2028/2029 end no line for old parsers.
  std::string out;
  out.reserve(json.size() + json.size() / 8);
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xe2' && i + 2 < json.size() && json[i + 1] == '\x80' &&
               (json[i + 2] == '\xa8' || json[i + 2] == '\xa9')) {
      out += json[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string fill_page(std::string_view page,
                      const std::vector<std::pair<std::string_view, std::string>>& slots) {
  const auto value = [&](std::string_view slot) -> std::string_view {
    if (slot == "page_css") return asset("page.css");
    if (slot == "uplot_css") return asset("uplot.css");
    if (slot == "uplot_js") return asset("uplot.js");
    for (const auto& [name, text] : slots) {
      if (name == slot) return text;
    }
    throw std::logic_error("page " + std::string(page) + ": no value for @@" + std::string(slot) +
                           "@@");
  };
  const std::string_view text = asset(page);
  std::string out;
  out.reserve(text.size() + 64 * 1024);
  std::size_t from = 0;
  for (;;) {
    const auto open = text.find("@@", from);
    const auto close = open == std::string_view::npos ? open : text.find("@@", open + 2);
    if (close == std::string_view::npos) break;
    out += text.substr(from, open - from);
    out += value(text.substr(open + 2, close - open - 2));
    from = close + 2;
  }
  out += text.substr(from);
  return out;
}

}  // namespace memopt::render
