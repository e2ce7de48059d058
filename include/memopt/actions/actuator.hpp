#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/sys/shm_dir.hpp"

// The one door through which memopt changes the system: every write of a kernel control file
// (drop_caches, memory.reclaim, compact_memory) goes through an Actuator, so `--dry-run` and
// tests can put the recording twin in its place.
namespace memopt::actions {

class Actuator {
 public:
  virtual ~Actuator() = default;
  /// Writes `value` to the existing control file `path`. Returns 0 or the errno.
  virtual int write(const std::string& path, std::string_view value) = 0;
  /// Removes the /dev/shm file `name` of `dir` when it is still the regular file `id` on that
  /// file system (sys::remove_shm_file: no link followed); `bytes` gets what it held.
  /// Returns 0, an errno or a sys::remove_shm_file code.
  virtual int remove_shm_file(const std::string& dir, const std::string& name,
                              const sys::ShmFileId& id, std::uint64_t& bytes) = 0;
};

/// Writes for real (sys::write_file).
class SystemActuator final : public Actuator {
 public:
  int write(const std::string& path, std::string_view value) override;
  int remove_shm_file(const std::string& dir, const std::string& name, const sys::ShmFileId& id,
                      std::uint64_t& bytes) override;
};

/// Records each write and changes nothing; a write returns the errno scripted for its path
/// (0 when none was). Serves `--dry-run` (nothing scripted) and tests (EACCES, EROFS, ...).
class RecordingActuator final : public Actuator {
 public:
  struct Write {
    std::string path;
    std::string value;
  };

  /// Makes every later write to `path` return `err`.
  void script(const std::string& path, int err) { errors_[path] = err; }

  int write(const std::string& path, std::string_view value) override;
  /// Records `dir`/`name` among the writes (value "unlink") and removes nothing; `bytes` is 0.
  int remove_shm_file(const std::string& dir, const std::string& name, const sys::ShmFileId& id,
                      std::uint64_t& bytes) override;

  /// The writes asked for, in order.
  [[nodiscard]] const std::vector<Write>& writes() const { return writes_; }

 private:
  std::map<std::string, int> errors_;
  std::vector<Write> writes_;
};

}  // namespace memopt::actions
