#pragma once

#include <memory>
#include <vector>

#include "memopt/model/sample.hpp"
#include "memopt/sys/fs.hpp"

// NVML kept loaded and initialised across samples, for the loops (monitor, run) where a
// dlopen + nvmlInit per sample would cost far more than the read itself.
namespace memopt::readers {

/// One NVML session: the constructor loads the library (`$MEMOPT_NVML_LIBRARY`, else
/// libnvidia-ml.so.1, then libnvidia-ml.so) and calls nvmlInit; the destructor calls
/// nvmlShutdown once (when init succeeded) and unloads the library. Never throws for NVML's
/// sake. Move-only. Not thread-safe: one reader at a time.
class NvmlSession {
 public:
  NvmlSession();
  ~NvmlSession();
  NvmlSession(NvmlSession&&) noexcept;
  NvmlSession& operator=(NvmlSession&&) noexcept;
  NvmlSession(const NvmlSession&) = delete;
  NvmlSession& operator=(const NvmlSession&) = delete;

  /// True when NVML loaded and initialised; read() then asks the driver.
  [[nodiscard]] bool ready() const noexcept;

  /// Every GPU's memory and its processes, as read_gpus describes. When the session is not
  /// ready, returns nothing and repeats the note that says why (no library, init failure)
  /// on every call, so each sample carries it.
  [[nodiscard]] std::vector<model::GpuDevice> read(const Roots& roots,
                                                   std::vector<model::Note>& notes);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace memopt::readers
