#include "memopt/actions/actuator.hpp"

#include "memopt/sys/fs.hpp"

namespace memopt::actions {

int SystemActuator::write(const std::string& path, std::string_view value) {
  return sys::write_file(path, value);
}

int RecordingActuator::write(const std::string& path, std::string_view value) {
  writes_.push_back({path, std::string(value)});
  const auto it = errors_.find(path);
  return it == errors_.end() ? 0 : it->second;
}

}  // namespace memopt::actions
