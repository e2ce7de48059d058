#pragma once

#include <string_view>

// Front-end assets compiled into the binary (from the npm package uplot, see web/).
namespace memopt::render {

/// uPlot's minified IIFE build (defines the global `uPlot`).
[[nodiscard]] std::string_view uplot_js();

/// uPlot's stylesheet.
[[nodiscard]] std::string_view uplot_css();

}  // namespace memopt::render
