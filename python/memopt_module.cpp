// The compiled half of the Python package: `memopt._memopt`, a thin pybind11 layer over the
// in-process library and the report. The pure-Python half (python/memopt/__init__.py) adds what
// belongs to Python: gc, torch, context managers, the seed's names.
//
// The GIL: every call that may block or run a cleanup releases it, because a cleanup runs the
// registered hooks, and a hook written in Python takes the GIL back, possibly on the cleanup
// server's thread. Python objects held by C++ (hooks, loaders, models) are owned through
// `Held`, which takes the GIL to let go of them.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "memopt/analysis/report.hpp"
#include "memopt/config.hpp"
#include "memopt/engine.hpp"
#include "memopt/error.hpp"
#include "memopt/forecast.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/protect.hpp"
#include "memopt/protocol/wire.hpp"
#include "memopt/readers/collect.hpp"
#include "memopt/render/monitor.hpp"
#include "memopt/render/report.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/process.hpp"
#include "memopt/sys/self.hpp"
#include "memopt/units.hpp"
#include "memopt/version.hpp"

namespace py = pybind11;

namespace {

// A Python object that C++ keeps alive; released with the GIL held, from any thread.
struct GilDeleter {
  void operator()(py::object* object) const {
    if (!Py_IsInitialized()) {  // the interpreter is gone: nothing can be released any more
      (void)object->release();
      delete object;
      return;
    }
    const py::gil_scoped_acquire gil;
    delete object;
  }
};
using Held = std::shared_ptr<py::object>;

Held hold(py::object object) { return {new py::object(std::move(object)), GilDeleter{}}; }

// Calls a held Python callable with the GIL. A Python exception travels through C++ as
// py::error_already_set (a std::exception that takes the GIL to let go of the error): a hook's
// becomes its failed step's reason, a loader's reaches the caller of get() as raised.
py::object call_held(const Held& function) {
  const py::gil_scoped_acquire gil;
  return (*function)();
}

memopt::Roots roots_of(const std::optional<std::string>& procfs,
                       const std::optional<std::string>& sysfs) {
  const auto live = memopt::sys::default_roots();
  // A tree captured from another kernel carries its page size (sys::page_size_of).
  return procfs ? memopt::sys::roots_at(*procfs, sysfs.value_or(live.sysfs))
                : memopt::Roots{live.procfs, sysfs.value_or(live.sysfs), live.page_size_bytes};
}

std::string report_json(const std::optional<std::string>& procfs,
                        const std::optional<std::string>& sysfs,
                        const std::optional<std::string>& model, std::size_t top,
                        const std::optional<std::string>& cgroup, const std::optional<int>& pid,
                        const std::optional<std::string>& config) {
  memopt::analysis::AnalysisOptions options;
  // The file `memopt report` reads: config=, else $MEMOPT_CONFIG.
  options.thresholds =
      memopt::config::load_config(memopt::config::find_config(config, "config=")).watch.thresholds;
  if (model) {
    try {
      options.model = memopt::analysis::find_model(*model);
    } catch (const memopt::Error& e) {
      // The core words it for the CLI ("--model: unknown model ..."); this is report(model=).
      // Runs without the GIL: no Python object may be made here. Raised as memopt.Error.
      std::string message = e.what();
      constexpr std::string_view kFlag = "--model: ";
      if (message.starts_with(kFlag)) message.erase(0, kFlag.size());
      throw memopt::Error("report(model=...): " + message, memopt::Error::Kind::kUsage);
    }
  }
  memopt::readers::CollectOptions collect;
  collect.target = memopt::model::make_target(cgroup, pid);
  memopt::render::RenderOptions render_options;
  render_options.top = top;
  render_options.pretty = false;
  return memopt::render::render_json(
      memopt::analysis::analyze(memopt::readers::collect(roots_of(procfs, sysfs), collect),
                                options),
      render_options);
}

// memopt.Monitor: the monitor engine on a thread of its own, calling back into Python with
// each event and sample (as JSON text; the Python layer parses it).
class PyMonitor final : public memopt::EngineSink {
 public:
  PyMonitor(memopt::EngineOptions options, py::object on_event, py::object on_sample)
      : on_event_(hold(std::move(on_event))),
        on_sample_(hold(std::move(on_sample))),
        engine_(std::move(options), *this) {}
  PyMonitor(const PyMonitor&) = delete;
  PyMonitor& operator=(const PyMonitor&) = delete;
  ~PyMonitor() override {
    // The engine's thread may be waiting for the GIL in a callback: let it go while joining.
    if (Py_IsInitialized() && PyGILState_Check() != 0) {
      const py::gil_scoped_release unlocked;
      stop_and_join();
    } else {
      stop_and_join();
    }
  }

  void start() {
    if (thread_.joinable()) throw memopt::Error("this Monitor is already running");
    const memopt::sys::AsyncSignalsBlocked blocked;  // Python's main thread takes the signals
    thread_ = std::thread([this] {
      try {
        engine_.run();
      } catch (const std::exception& e) {
        const std::lock_guard lock(mutex_);
        error_ = e.what();
      }
      running_.store(false);
    });
    running_.store(true);
  }

  // Stops the engine and waits for its thread; raises what stopped it, if anything did.
  void stop() {
    {
      const py::gil_scoped_release unlocked;  // callbacks on the engine's thread need the GIL
      stop_and_join();
    }
    const std::lock_guard lock(mutex_);
    if (error_) throw memopt::Error(*error_);
  }

  [[nodiscard]] std::string level() const {
    return std::string(
        memopt::analysis::to_string(static_cast<memopt::analysis::Level>(level_.load())));
  }
  [[nodiscard]] bool running() const { return running_.load(); }

  void on_sample(const memopt::analysis::Report& report) override {
    level_.store(static_cast<int>(report.status.level));
    memopt::render::RenderOptions options;
    options.pretty = false;
    call(on_sample_, memopt::render::render_json(report, options));
  }
  void on_event(const memopt::analysis::Event& event) override {
    level_.store(static_cast<int>(engine_.level()));
    call(on_event_, memopt::render::render_event(event, true));
  }

 private:
  void stop_and_join() {
    engine_.request_stop();
    if (thread_.joinable()) thread_.join();
  }

  static void call(const Held& callback, const std::string& json) {
    const py::gil_scoped_acquire gil;
    if (callback->is_none()) return;
    try {
      (*callback)(json);
    } catch (py::error_already_set& e) {
      // A callback's exception must not end the watch; Python prints it as unraisable.
      e.discard_as_unraisable("memopt.Monitor callback");
    }
  }

  Held on_event_;
  Held on_sample_;
  memopt::Engine engine_;
  std::thread thread_;
  std::atomic<int> level_{static_cast<int>(memopt::analysis::Level::kNormal)};
  std::atomic<bool> running_{false};
  std::mutex mutex_;
  std::optional<std::string> error_;
};

py::dict usage_dict(const memopt::MemoryUsage& usage) {
  py::dict out;
  out["tag"] = usage.tag;
  out["rss_bytes"] = usage.rss_bytes;
  out["delta_rss_bytes"] = usage.delta_rss_bytes;
  out["pss_bytes"] = usage.pss_bytes;
  out["uss_bytes"] = usage.uss_bytes;
  out["heap_in_use_bytes"] = usage.heap_in_use_bytes;
  out["heap_free_bytes"] = usage.heap_free_bytes;
  out["heap_free_resident_bytes"] = usage.heap_free_resident_bytes;
  out["gpu_used_bytes"] = usage.gpu_used_bytes;
  out["line"] = memopt::format_memory_usage(usage);
  return out;
}

py::dict cleanup_dict(const memopt::CleanupResult& result) {
  py::list steps;
  for (const auto& step : result.steps) {
    py::dict item;
    item["name"] = step.name;
    item["status"] = step.status;
    item["reason"] = step.reason.empty() ? py::object(py::none()) : py::str(step.reason);
    item["rss_released_bytes"] = step.rss_released_bytes;
    item["gpu_released_bytes"] = step.gpu_released_bytes;
    steps.append(std::move(item));
  }
  py::dict out;
  out["rss_before_bytes"] = result.rss_before_bytes;
  out["rss_after_bytes"] = result.rss_after_bytes;
  out["heap_free_resident_before_bytes"] = result.heap_free_resident_before_bytes;
  out["heap_free_resident_after_bytes"] = result.heap_free_resident_after_bytes;
  out["steps"] = std::move(steps);
  return out;
}

py::dict track_dict(const memopt::TrackResult& result) {
  py::dict out;
  out["start_rss_bytes"] = result.start_rss_bytes;
  out["end_rss_bytes"] = result.end_rss_bytes;
  out["peak_rss_bytes"] = result.peak_rss_bytes;
  out["start_heap_in_use_bytes"] = result.start_heap_in_use_bytes;
  out["end_heap_in_use_bytes"] = result.end_heap_in_use_bytes;
  return out;
}

// The C++ ModelCache holding Python models. A model counts as in use while a ModelHandle
// (ModelCache.use() in Python) holds it; a plain get() hands the object over without a handle.
class PyModelCache {
 public:
  explicit PyModelCache(std::uint64_t budget_bytes) : cache_(budget_bytes) {}

  void add(const std::string& name, py::object loader) {
    cache_.add<py::object>(name, [loader = hold(std::move(loader))] {
      return Held(new py::object(call_held(loader)), GilDeleter{});
    });
  }

  Held acquire(const std::string& name) {
    const py::gil_scoped_release unlocked;  // the loader takes the GIL back to run
    return cache_.get<py::object>(name);
  }

  memopt::ModelCache& cache() { return cache_; }

 private:
  memopt::ModelCache cache_;
};

struct ModelHandle {
  Held model;
};

// serve_cleanup()'s server; stopping joins a thread that may be running a Python hook.
class PyCleanupServer {
 public:
  explicit PyCleanupServer(std::unique_ptr<memopt::CleanupServer> server)
      : server_(std::move(server)) {}
  PyCleanupServer(const PyCleanupServer&) = delete;
  PyCleanupServer& operator=(const PyCleanupServer&) = delete;
  ~PyCleanupServer() {
    try {
      stop();
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor has nobody to tell
    }
  }

  void stop() {
    const py::gil_scoped_release unlocked;
    server_->stop();
  }
  [[nodiscard]] const std::string& socket_path() const { return server_->socket_path(); }

 private:
  std::unique_ptr<memopt::CleanupServer> server_;
};

/// The cleanup socket's request names (REQUEST_LEAKS = "leaks") and the keys the Python modules
/// write into its answers (KEY_ALLOCATED_BYTES = "allocated_bytes": _torch.py's stats entries,
/// leaks.py's report): protocol/wire.hpp spells each once, for the C++ decoders and for Python.
void add_protocol_names(py::module_& m) {
  namespace protocol = memopt::protocol;
  const auto constant = [](std::string_view prefix, std::string_view name) {
    std::string out(prefix);
    for (const char c : name) out += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    return out;
  };
  for (const auto request :
       {protocol::Request::kCleanup, protocol::Request::kShed, protocol::Request::kPing,
        protocol::Request::kLeaks, protocol::Request::kStats}) {
    const auto name = protocol::request_name(request);
    m.attr(constant("REQUEST_", name).c_str()) = std::string(name);
  }
  namespace key = protocol::key;
  for (const char* name : {key::kError,
                           key::kDevice,
                           key::kUuid,
                           key::kAllocatedBytes,
                           key::kReservedBytes,
                           key::kPeakAllocatedBytes,
                           key::kCheckpoints,
                           key::kDurationSeconds,
                           key::kDurationSecondsOld,
                           key::kRssGrowthBytes,
                           key::kPythonGrowthBytes,
                           key::kTorchCpuGrowthBytes,
                           key::kUnexplainedNativeGrowthBytes,
                           key::kSites,
                           key::kFile,
                           key::kLine,
                           key::kKind,
                           key::kSizeBytes,
                           key::kCount,
                           key::kGrowthBytesPerHour,
                           key::kR2}) {
    m.attr(constant("KEY_", name).c_str()) = std::string(name);
  }
}

}  // namespace

PYBIND11_MODULE(_memopt, m) {
  m.doc() = "memopt's C++ core; use the memopt package, not this module.";
  // memopt.Error for every failure; a bad value given by the caller (Error::Kind::kUsage: a
  // size that does not parse, an unknown model) is memopt.UsageError, which is also a
  // ValueError, as the Python convention and the documentation say.
  static py::exception<memopt::Error> error(m, "Error");
  static py::handle usage_error = PyErr_NewExceptionWithDoc(
      "memopt._memopt.UsageError",
      "A bad value given by the caller: both memopt.Error and ValueError.",
      py::make_tuple(error, py::handle(PyExc_ValueError)).release().ptr(), nullptr);
  m.attr("UsageError") = usage_error;
  py::register_exception_translator([](std::exception_ptr thrown) {
    if (!thrown) return;
    try {
      std::rethrow_exception(thrown);
    } catch (const memopt::Error& e) {
      PyErr_SetString(e.kind() == memopt::Error::Kind::kUsage ? usage_error.ptr() : error.ptr(),
                      e.what());
    }
  });
  m.attr("__version__") = std::string(memopt::version());
  m.attr("__revision__") = std::string(memopt::revision());
  add_protocol_names(m);

  m.def("report_json", &report_json, py::arg("procfs") = py::none(), py::arg("sysfs") = py::none(),
        py::arg("model") = py::none(), py::arg("top") = 5, py::arg("cgroup") = py::none(),
        py::arg("pid") = py::none(), py::arg("config") = py::none(),
        py::call_guard<py::gil_scoped_release>());

  py::class_<PyMonitor>(m, "Monitor")
      .def(py::init([](const std::optional<std::string>& cgroup, const std::optional<int>& pid,
                       const std::optional<unsigned>& interval_s,
                       const std::optional<std::string>& config_path,
                       const std::optional<std::string>& procfs,
                       const std::optional<std::string>& sysfs, py::object on_event,
                       py::object on_sample) {
             memopt::EngineOptions options;
             options.roots = roots_of(procfs, sysfs);
             options.target = memopt::model::make_target(cgroup, pid);
             // As `memopt monitor`: config=, else $MEMOPT_CONFIG; interval_s over the file's.
             const auto source = memopt::config::find_config(config_path, "config=");
             memopt::config::MonitorOverrides overrides;
             overrides.interval_s = interval_s;
             options.config = memopt::config::monitor_config(source, overrides);
             if (source) {
               options.config_path = source->path;
               options.config_origin = source->origin;
             }
             options.config_overrides = [overrides](memopt::config::MonitorConfig& config) {
               memopt::config::apply_overrides(overrides, config);
             };
             // Its callbacks are samples and events, and stop() wakes the engine at once: it
             // may sleep while calm, inside the model's process.
             options.quiet_when_calm = true;
             return std::make_unique<PyMonitor>(std::move(options), std::move(on_event),
                                                std::move(on_sample));
           }),
           py::arg("cgroup") = py::none(), py::arg("pid") = py::none(),
           py::arg("interval_s") = py::none(), py::arg("config") = py::none(),
           py::arg("procfs") = py::none(), py::arg("sysfs") = py::none(),
           py::arg("on_event") = py::none(), py::arg("on_sample") = py::none())
      .def("start", &PyMonitor::start)
      .def("stop", &PyMonitor::stop)
      .def_property_readonly("level", &PyMonitor::level)
      .def_property_readonly("running", &PyMonitor::running);

  m.def(
      "monitor_memory_usage",
      [](const std::string& tag, bool gpu, bool detail) {
        memopt::MemoryUsage usage;
        {
          const py::gil_scoped_release unlocked;
          usage = memopt::monitor_memory_usage(tag, {.gpu = gpu, .log = false, .detail = detail});
        }
        return usage_dict(usage);
      },
      py::arg("tag"), py::arg("gpu") = true, py::arg("detail") = false);

  m.def("rss_bytes_of_this_process", &memopt::rss_bytes_of_this_process);
  m.def("reset_gpu_session", &memopt::reset_gpu_session, py::call_guard<py::gil_scoped_release>());
  m.def("gpu_bytes_of_this_process", &memopt::gpu_bytes_of_this_process,
        py::call_guard<py::gil_scoped_release>());

  m.def("cleanup", [] {
    memopt::CleanupResult result;
    {
      const py::gil_scoped_release unlocked;
      result = memopt::cleanup();
    }
    return cleanup_dict(result);
  });

  m.def(
      "register_cleanup_hook",
      [](std::string name, py::object hook) {
        // A Python exception becomes the failed step's reason as one line, "Type: message"
        // (the Python layer logs the traceback): error_already_set's own text carries it.
        memopt::register_cleanup_hook(std::move(name), [held = hold(std::move(hook))] {
          const py::gil_scoped_acquire gil;
          try {
            (*held)();
          } catch (py::error_already_set& e) {
            const std::string type = py::str(e.type().attr("__name__"));
            const std::string message = py::str(e.value());
            throw std::runtime_error(message.empty() ? type : type + ": " + message);
          }
        });
      },
      py::arg("name"), py::arg("hook"));
  // Releasing the GIL: a cleanup running on the server thread may hold the hooks' lock while
  // it waits for the GIL in a Python hook.
  m.def("unregister_cleanup_hook", &memopt::unregister_cleanup_hook, py::arg("name"),
        py::call_guard<py::gil_scoped_release>());

  // What gives a `stats` request torch's figures (a JSON array); None removes it.
  m.def(
      "set_torch_stats_provider",
      [](py::object provider) {
        if (provider.is_none()) {
          const py::gil_scoped_release unlocked;  // a request may be waiting for the GIL
          memopt::set_torch_stats_provider({});
          return;
        }
        memopt::set_torch_stats_provider([held = hold(std::move(provider))] {
          const py::gil_scoped_acquire gil;
          try {
            return (*held)().cast<std::string>();
          } catch (py::error_already_set& e) {
            throw std::runtime_error(py::str(e.value()).cast<std::string>());
          }
        });
      },
      py::arg("provider"));
  m.def("set_torch_version", &memopt::set_torch_version, py::arg("version"),
        py::call_guard<py::gil_scoped_release>());
  m.def("stats_json", &memopt::stats_json);

  // What answers a `leaks` request on the cleanup socket; None removes it.
  m.def(
      "set_leak_reporter",
      [](py::object reporter) {
        if (reporter.is_none()) {
          const py::gil_scoped_release unlocked;  // a request may be waiting for the GIL
          memopt::set_leak_reporter({});
          return;
        }
        memopt::set_leak_reporter([held = hold(std::move(reporter))] {
          const py::gil_scoped_acquire gil;
          try {
            return (*held)().cast<std::string>();
          } catch (py::error_already_set& e) {
            throw std::runtime_error(py::str(e.value()).cast<std::string>());
          }
        });
      },
      py::arg("reporter"));

  m.def(
      "set_malloc_trim_threshold",
      [](std::size_t bytes) { return memopt::sys::set_malloc_trim_threshold(bytes); },
      py::arg("bytes"));
  m.def(
      "set_malloc_arena_max", [](int count) { return memopt::sys::set_malloc_arena_max(count); },
      py::arg("count"));
  m.def(
      "malloc_trim", [] { return memopt::sys::malloc_trim(); },
      py::call_guard<py::gil_scoped_release>());

  m.def("parse_size", [](const std::string& text) { return memopt::parse_size(text, "size"); });

  // The loop forecast memopt.forecast() wraps: step() after each item returns None, or once the
  // prediction as a dict with its sentence.
  const auto prediction_dict = [](const std::optional<memopt::LoopPrediction>& p,
                                  const std::string& what) -> py::object {
    if (!p) return py::none();
    py::dict d;
    d["message"] = memopt::format_loop_prediction(*p, what);
    d["bytes_per_item"] = p->bytes_per_item;
    d["item"] = p->item;
    d["limit_item"] = p->limit_item;
    d["total"] = p->total ? py::object(py::int_(*p->total)) : py::none();
    d["seconds_left"] = p->seconds_left ? py::object(py::float_(*p->seconds_left)) : py::none();
    d["bytes_now"] = p->bytes_now;
    d["limit_bytes"] = p->limit_bytes;
    return d;
  };
  py::class_<memopt::LoopForecast>(m, "LoopForecast")
      .def(py::init([](std::optional<std::uint64_t> total, std::optional<std::uint64_t> limit,
                       std::size_t warmup_items) {
             memopt::LoopForecastOptions options;
             options.total = total;
             options.limit_bytes = limit;
             options.warmup_items = warmup_items;
             return memopt::LoopForecast(options);
           }),
           py::arg("total") = py::none(), py::arg("limit") = py::none(),
           py::arg("warmup_items") = 5)
      .def(py::init([](std::optional<std::uint64_t> total, std::uint64_t limit,
                       std::string limit_source, std::size_t warmup_items) {
             memopt::LoopForecastOptions options;
             options.total = total;
             options.warmup_items = warmup_items;
             return memopt::LoopForecast(options, limit, std::move(limit_source));
           }),
           py::arg("total"), py::arg("limit"), py::arg("limit_source"), py::arg("warmup_items") = 5)
      .def("step",
           [prediction_dict](memopt::LoopForecast& f) { return prediction_dict(f.step(), ""); })
      .def(
          "step_bytes",
          [prediction_dict](memopt::LoopForecast& f, std::uint64_t bytes, const std::string& what) {
            f.set_what(what);  // the sentence the stats answer carries names it too
            return prediction_dict(f.step(bytes, std::chrono::steady_clock::now()), what);
          },
          py::arg("bytes"), py::arg("what"))
      .def_property_readonly("limit_bytes", &memopt::LoopForecast::limit_bytes)
      .def_property_readonly("limit_source", &memopt::LoopForecast::limit_source)
      .def_property_readonly("said", &memopt::LoopForecast::said);

  py::class_<memopt::Tracker>(m, "Tracker")
      .def(py::init<>())
      .def("result", [](const memopt::Tracker& tracker) { return track_dict(tracker.result()); });

  py::class_<PyCleanupServer>(m, "CleanupServer")
      .def_property_readonly("socket_path", &PyCleanupServer::socket_path)
      .def("stop", &PyCleanupServer::stop);
  m.def("serve_cleanup", [] {
    std::unique_ptr<memopt::CleanupServer> server;
    {
      const py::gil_scoped_release unlocked;
      server = memopt::serve_cleanup();
    }
    return std::make_unique<PyCleanupServer>(std::move(server));
  });

  m.def("shed", [] {
    memopt::CleanupResult result;
    {
      const py::gil_scoped_release unlocked;
      result = memopt::shed();
    }
    return cleanup_dict(result);
  });
  m.def(
      "register_shed_hook",
      [](std::string name, py::object hook) {
        memopt::register_shed_hook(std::move(name),
                                   [held = hold(std::move(hook))] { call_held(held); });
      },
      py::arg("name"), py::arg("hook"));
  m.def("unregister_shed_hook", &memopt::unregister_shed_hook, py::arg("name"),
        py::call_guard<py::gil_scoped_release>());

  // on_pressure: the callback gets the level_changed event as JSON text, with the GIL.
  py::class_<memopt::PressureSubscription>(m, "PressureSubscription")
      .def("cancel", &memopt::PressureSubscription::cancel,
           py::call_guard<py::gil_scoped_release>());
  m.def(
      "on_pressure",
      [](const std::string& level, py::object callback) {
        const auto parsed = memopt::analysis::parse_level(level, "level");
        auto held = hold(std::move(callback));
        const py::gil_scoped_release unlocked;
        return memopt::on_pressure(parsed, [held](const memopt::analysis::Event& e) {
          auto text = memopt::render::render_event(e, true);
          const py::gil_scoped_acquire gil;
          try {
            (*held)(py::str(text));
          } catch (py::error_already_set& raised) {
            raised.discard_as_unraisable("memopt.on_pressure callback");
          }
        });
      },
      py::arg("level"), py::arg("callback"));

  py::class_<memopt::AdmissionGate::Ticket>(m, "AdmissionTicket")
      .def("release", &memopt::AdmissionGate::Ticket::release,
           py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("estimate_bytes", &memopt::AdmissionGate::Ticket::estimate_bytes);
  py::class_<memopt::AdmissionGate>(m, "AdmissionGate")
      .def(py::init<>())
      .def(
          "admit",
          [](memopt::AdmissionGate& gate, std::optional<std::uint64_t> estimate, double timeout_s,
             const std::string& key) -> std::unique_ptr<memopt::AdmissionGate::Ticket> {
            const py::gil_scoped_release unlocked;
            auto ticket = gate.admit(
                estimate, std::chrono::milliseconds(std::llround(timeout_s * 1000.0)), key);
            if (!ticket) return nullptr;
            return std::make_unique<memopt::AdmissionGate::Ticket>(std::move(*ticket));
          },
          py::arg("estimate_bytes"), py::arg("timeout_s"), py::arg("key") = "")
      .def_property_readonly("admitted_bytes", &memopt::AdmissionGate::admitted_bytes)
      .def("learned_bytes", &memopt::AdmissionGate::learned_bytes, py::arg("key"));

  py::class_<ModelHandle>(m, "ModelHandle")
      .def_property_readonly("model", [](const ModelHandle& handle) { return *handle.model; })
      .def("release", [](ModelHandle& handle) { handle.model.reset(); });

  py::class_<PyModelCache>(m, "ModelCache")
      .def(py::init<std::uint64_t>(), py::arg("budget_bytes"))
      .def("add", &PyModelCache::add, py::arg("name"), py::arg("loader"))
      .def(
          "get", [](PyModelCache& self, const std::string& name) { return *self.acquire(name); },
          py::arg("name"))
      .def(
          "use",
          [](PyModelCache& self, const std::string& name) {
            return ModelHandle{self.acquire(name)};
          },
          py::arg("name"))
      .def(
          "evict",
          [](PyModelCache& self, const std::string& name) {
            const py::gil_scoped_release unlocked;  // the model is released with the GIL
            return self.cache().evict(name);
          },
          py::arg("name"))
      .def_property_readonly("used_bytes",
                             [](PyModelCache& self) { return self.cache().used_bytes(); })
      .def_property_readonly("budget_bytes",
                             [](PyModelCache& self) { return self.cache().budget_bytes(); })
      .def(
          "cost_bytes",
          [](PyModelCache& self, const std::string& name) { return self.cache().cost_bytes(name); },
          py::arg("name"))
      .def("loaded", [](PyModelCache& self) { return self.cache().loaded(); })
      .def("evictions", [](PyModelCache& self) { return self.cache().evictions(); });
}
