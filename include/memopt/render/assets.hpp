#pragma once

#include <string_view>

// Files from web/ compiled into the binary (cmake/embed.cmake): the pages' templates and
// stylesheet (web/pages/) and the chart library from the npm package uplot.
namespace memopt::render {

/// The embedded file `name`: "uplot.js" (uPlot's minified IIFE build, defining the global
/// `uPlot`), "uplot.css", "page.css", "live.html", "run.html", "postmortem.html". Throws
/// std::logic_error for a name that was not embedded (a build mistake).
[[nodiscard]] std::string_view asset(std::string_view name);

}  // namespace memopt::render
