#include <nlohmann/json.hpp>

#include "memopt/record/postmortem.hpp"
#include "memopt/render/html.hpp"

namespace memopt::record {

std::string render_postmortem_html(const std::string& json) {
  const auto doc = nlohmann::json::parse(json);
  return render::fill_page(
      "postmortem.html",
      {{"title", render::escape_html(doc.value("summary", std::string("post-mortem")))},
       {"text", render::escape_html(render_postmortem_text(json))},
       {"what", doc["kind"] == "oom_kill" ? "OOM kill" : "end of the episode"},
       {"data", render::script_json(json)}});
}

}  // namespace memopt::record
