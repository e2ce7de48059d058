#include "memopt/readers/procfs.hpp"
#include "memopt/record/history_render.hpp"

namespace memopt::record {

HistoryRecommendation recommend_from_history(const Roots& roots, const std::string& database,
                                             TimeRange range,
                                             const std::optional<analysis::ModelSize>& model) {
  HistoryRecommendation out;
  auto& context = out.context;
  context.database = database;
  context.from = range.from;
  context.to = range.to;
  context.model = model;

  History history(database);
  analysis::HistorySizingOptions options;
  options.ceiling_bytes = readers::read_host_memory(roots).total_bytes;
  options.ceiling_source = "this host's MemTotal";
  context.ceiling_bytes = options.ceiling_bytes;
  context.ceiling_source = options.ceiling_source;
  analysis::HistorySizer sizer(options);
  read_sizing_input(history, range.from, range.to, sizer);
  context.host_limit = sizer.limits_are_host_total(options.ceiling_bytes);
  out.sizing = sizer.finish();
  return out;
}

}  // namespace memopt::record
