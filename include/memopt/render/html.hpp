#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The pages memopt writes or serves (web/pages/*.html) filled in one way.
namespace memopt::render {

/// `text` with <, >, & and " escaped: safe in HTML text and in a quoted attribute.
[[nodiscard]] std::string escape_html(std::string_view text);

/// A JSON document made safe inside <script type="application/json">: every `<`, `>`, `&`,
/// U+2028 and U+2029 becomes its `\uXXXX` escape (the same JSON), so no value can close the
/// script element or open a comment in it (`<!--<script>` in a process name).
[[nodiscard]] std::string script_json(std::string_view json);

/// The embedded page `page` with each @@slot@@ replaced: page_css, uplot_css and uplot_js
/// always, the rest from `slots`, inserted as given (escape them for where they go). Inserted
/// text is not searched for slots again. Throws std::logic_error for a slot without a value.
[[nodiscard]] std::string fill_page(
    std::string_view page, const std::vector<std::pair<std::string_view, std::string>>& slots);

}  // namespace memopt::render
