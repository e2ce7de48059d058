#include "memopt/actions/actuator.hpp"

#include "memopt/sys/fs.hpp"

namespace memopt::actions {

int SystemActuator::write(const std::string& path, std::string_view value) {
  return sys::write_file(path, value);
}

int SystemActuator::remove_shm_file(const std::string& dir, const std::string& name,
                                    const sys::ShmFileId& id, std::uint64_t& bytes) {
  return sys::remove_shm_file(dir, name, id, bytes);
}

int RecordingActuator::remove_shm_file(const std::string& dir, const std::string& name,
                                       const sys::ShmFileId& /*id*/, std::uint64_t& bytes) {
  bytes = 0;
  writes_.push_back({dir + "/" + name, "unlink"});
  const auto it = errors_.find(dir + "/" + name);
  return it == errors_.end() ? 0 : it->second;
}

int RecordingActuator::write(const std::string& path, std::string_view value) {
  writes_.push_back({path, std::string(value)});
  const auto it = errors_.find(path);
  return it == errors_.end() ? 0 : it->second;
}

}  // namespace memopt::actions
