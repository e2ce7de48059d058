#include "memopt/sys/statm.hpp"

#include "memopt/error.hpp"
#include "memopt/sys/fs.hpp"

namespace memopt::sys {

SelfStatm::SelfStatm(const std::string& procfs) : path_(procfs + "/self/statm") {
  if (const int err = file_.open(path_); err != 0) {
    throw Error("cannot open " + path_ + ": " + error_text(err));
  }
}

std::string_view SelfStatm::read() {
  if (const int err = file_.read(text_); err != 0) {
    throw Error("cannot read " + path_ + ": " + error_text(err));
  }
  return text_;
}

}  // namespace memopt::sys
