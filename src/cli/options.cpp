#include "cli/options.hpp"

namespace memopt::cli {

analysis::AnalysisOptions GlobalOptions::analysis_options() const {
  analysis::AnalysisOptions options;
  if (model) options.model = analysis::find_model(*model);
  return options;
}

}  // namespace memopt::cli
