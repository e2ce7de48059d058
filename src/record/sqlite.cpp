#include "memopt/record/sqlite.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include "memopt/error.hpp"
#include "memopt/sys/dynamic_library.hpp"
#include "memopt/sys/fs.hpp"

namespace memopt::record {

namespace {

// The part of SQLite's C API that memopt calls, resolved in the library at run time. The
// declarations in <sqlite3.h> give each pointer its type; nothing links against libsqlite3.
struct Api {
  sys::DynamicLibrary library;
  decltype(&sqlite3_open_v2) open_v2 = nullptr;
  decltype(&sqlite3_close) close = nullptr;
  decltype(&sqlite3_close_v2) close_v2 = nullptr;
  decltype(&sqlite3_extended_result_codes) extended_result_codes = nullptr;
  decltype(&sqlite3_busy_timeout) busy_timeout = nullptr;
  decltype(&sqlite3_errmsg) errmsg = nullptr;
  decltype(&sqlite3_errstr) errstr = nullptr;
  decltype(&sqlite3_exec) exec = nullptr;
  decltype(&sqlite3_free) free = nullptr;
  decltype(&sqlite3_changes64) changes64 = nullptr;
  decltype(&sqlite3_last_insert_rowid) last_insert_rowid = nullptr;
  decltype(&sqlite3_prepare_v2) prepare_v2 = nullptr;
  decltype(&sqlite3_finalize) finalize = nullptr;
  decltype(&sqlite3_bind_int64) bind_int64 = nullptr;
  decltype(&sqlite3_bind_double) bind_double = nullptr;
  decltype(&sqlite3_bind_text) bind_text = nullptr;
  decltype(&sqlite3_bind_null) bind_null = nullptr;
  decltype(&sqlite3_step) step = nullptr;
  decltype(&sqlite3_reset) reset = nullptr;
  decltype(&sqlite3_clear_bindings) clear_bindings = nullptr;
  decltype(&sqlite3_column_type) column_type = nullptr;
  decltype(&sqlite3_column_int64) column_int64 = nullptr;
  decltype(&sqlite3_column_double) column_double = nullptr;
  decltype(&sqlite3_column_text) column_text = nullptr;
  decltype(&sqlite3_column_bytes) column_bytes = nullptr;
};

template <typename Function>
void resolve(const sys::DynamicLibrary& library, const char* name, Function& out,
             std::string& missing) {
  out = library.symbol<Function>(name);
  if (out == nullptr) missing += fmt::format("{}{}", missing.empty() ? "" : ", ", name);
}

Api load_api() {
  std::string name = sys::environment("MEMOPT_SQLITE_LIBRARY").value_or("");
  if (name.empty()) name = "libsqlite3.so.0";
  std::string error;
  auto library = sys::DynamicLibrary::open(name, error);
  if (!library) {
    throw Error(
        fmt::format("the history database needs SQLite, which cannot be loaded: {} "
                    "(Debian: apt-get install libsqlite3-0)",
                    error));
  }
  Api api{std::move(*library)};
  std::string missing;
  const auto& lib = api.library;
  resolve(lib, "sqlite3_open_v2", api.open_v2, missing);
  resolve(lib, "sqlite3_close", api.close, missing);
  resolve(lib, "sqlite3_close_v2", api.close_v2, missing);
  resolve(lib, "sqlite3_extended_result_codes", api.extended_result_codes, missing);
  resolve(lib, "sqlite3_busy_timeout", api.busy_timeout, missing);
  resolve(lib, "sqlite3_errmsg", api.errmsg, missing);
  resolve(lib, "sqlite3_errstr", api.errstr, missing);
  resolve(lib, "sqlite3_exec", api.exec, missing);
  resolve(lib, "sqlite3_free", api.free, missing);
  resolve(lib, "sqlite3_changes64", api.changes64, missing);
  resolve(lib, "sqlite3_last_insert_rowid", api.last_insert_rowid, missing);
  resolve(lib, "sqlite3_prepare_v2", api.prepare_v2, missing);
  resolve(lib, "sqlite3_finalize", api.finalize, missing);
  resolve(lib, "sqlite3_bind_int64", api.bind_int64, missing);
  resolve(lib, "sqlite3_bind_double", api.bind_double, missing);
  resolve(lib, "sqlite3_bind_text", api.bind_text, missing);
  resolve(lib, "sqlite3_bind_null", api.bind_null, missing);
  resolve(lib, "sqlite3_step", api.step, missing);
  resolve(lib, "sqlite3_reset", api.reset, missing);
  resolve(lib, "sqlite3_clear_bindings", api.clear_bindings, missing);
  resolve(lib, "sqlite3_column_type", api.column_type, missing);
  resolve(lib, "sqlite3_column_int64", api.column_int64, missing);
  resolve(lib, "sqlite3_column_double", api.column_double, missing);
  resolve(lib, "sqlite3_column_text", api.column_text, missing);
  resolve(lib, "sqlite3_column_bytes", api.column_bytes, missing);
  if (!missing.empty()) {
    throw Error(
        fmt::format("the history database needs SQLite 3.37 or later: {} lacks {}", name, missing));
  }
  return api;
}

// Loaded on first use and kept for the life of the process; a failed load is tried again by the
// next caller.
const Api& api() {
  static const Api loaded = load_api();
  return loaded;
}

}  // namespace

std::string sqlite_problem(const std::string& path, sqlite3* db, int code) {
  const char* detail = db != nullptr ? api().errmsg(db) : api().errstr(code);
  std::string hint;
  switch (code & 0xff) {
    case SQLITE_NOTADB:
      hint = " (the file is not a SQLite database: a foreign file?)";
      break;
    case SQLITE_CORRUPT:
      hint = " (the database is corrupt: move it away to start a new history)";
      break;
    case SQLITE_FULL:
      hint = " (the state directory's file system is full)";
      break;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_IOERR:
      hint = " (is the state directory writable?)";
      break;
    default:
      break;
  }
  return fmt::format("history database {}: {}{}", path, detail, hint);
}

Statement::Statement(sqlite3* db, std::string_view sql, const std::string& path)
    : db_(db), path_(&path) {
  const int rc = api().prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
  if (rc != SQLITE_OK) throw Error(sqlite_problem(path, db, rc));
}

Statement::~Statement() { api().finalize(stmt_); }

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), path_(other.path_) {
  other.stmt_ = nullptr;
}

Statement& Statement::bind(int index, std::int64_t value) {
  api().bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::bind(int index, double value) {
  api().bind_double(stmt_, index, value);
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  api().bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind(int index, std::optional<std::int64_t> value) {
  if (value) return bind(index, *value);
  api().bind_null(stmt_, index);
  return *this;
}

Statement& Statement::bind(int index, std::optional<double> value) {
  if (value) return bind(index, *value);
  api().bind_null(stmt_, index);
  return *this;
}

bool Statement::step() {
  const int rc = api().step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const std::string problem = sqlite_problem(*path_, db_, rc);
  api().reset(stmt_);
  throw Error(problem);
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

void Statement::reset() {
  api().reset(stmt_);
  api().clear_bindings(stmt_);
}

bool Statement::is_null(int column) const {
  return api().column_type(stmt_, column) == SQLITE_NULL;
}

bool Statement::is_integer(int column) const {
  return api().column_type(stmt_, column) == SQLITE_INTEGER;
}

std::int64_t Statement::integer(int column) const { return api().column_int64(stmt_, column); }

double Statement::real(int column) const { return api().column_double(stmt_, column); }

std::string Statement::text(int column) const {
  const auto* p = api().column_text(stmt_, column);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p),
          static_cast<std::size_t>(api().column_bytes(stmt_, column))};
}

std::optional<std::int64_t> Statement::optional_integer(int column) const {
  if (is_null(column)) return std::nullopt;
  return integer(column);
}

std::optional<double> Statement::optional_real(int column) const {
  if (is_null(column)) return std::nullopt;
  return real(column);
}

namespace {

/// `path` as a file: URI (RFC 3986 percent-escapes for what would end or change the path).
std::string file_uri(std::string_view path) {
  std::string out = "file:";
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '%' || c == '?' || c == '#' || u < 0x20 || u >= 0x7f) {
      out += fmt::format("%{:02X}", u);
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Database::Database(std::string path, bool create, bool immutable) : path_(std::move(path)) {
  static_cast<void>(api());  // throws Error naming the library that cannot be loaded
  // A writer never opens the database through a link (SQLite 3.31 and later; older ones ignore
  // the flag and the recorder's lstat check stands alone).
  const std::string name = immutable ? file_uri(path_) + "?immutable=1" : path_;
  const int flags = immutable ? SQLITE_OPEN_READONLY | SQLITE_OPEN_URI
                    : create  ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW
                              : SQLITE_OPEN_READONLY;
  const int rc = api().open_v2(name.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string problem = sqlite_problem(path_, db_, rc);
    api().close(db_);
    db_ = nullptr;
    throw Error(problem);
  }
  api().extended_result_codes(db_, 1);
  if (immutable) return;
  // The monitor and a `memopt history` may meet on the WAL's locks for a moment.
  api().busy_timeout(db_, 2000);
}

Database::~Database() { api().close_v2(db_); }

void Database::exec(std::string_view sql) {
  const std::string text(sql);
  char* message = nullptr;
  const int rc = api().exec(db_, text.c_str(), nullptr, nullptr, &message);
  api().free(message);
  if (rc != SQLITE_OK) throw Error(sqlite_problem(path_, db_, rc));
}

Statement Database::prepare(std::string_view sql) { return {db_, sql, path_}; }

std::int64_t Database::scalar(std::string_view sql) {
  auto s = prepare(sql);
  return s.step() ? s.integer(0) : 0;
}

std::string Database::scalar_text(std::string_view sql) {
  auto s = prepare(sql);
  return s.step() ? s.text(0) : std::string();
}

std::int64_t Database::changes() const { return api().changes64(db_); }

std::int64_t Database::last_insert_rowid() const { return api().last_insert_rowid(db_); }

void Database::exec_quietly(const char* sql) noexcept {
  api().exec(db_, sql, nullptr, nullptr, nullptr);
}

}  // namespace memopt::record
