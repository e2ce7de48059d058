#include "memopt/record/sqlite.hpp"

#include <fmt/format.h>

#include "memopt/error.hpp"

namespace memopt::record {

std::string sqlite_problem(const std::string& path, sqlite3* db, int code) {
  const char* detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
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
  const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
  if (rc != SQLITE_OK) throw Error(sqlite_problem(path, db, rc));
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), path_(other.path_) {
  other.stmt_ = nullptr;
}

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind(int index, std::optional<std::int64_t> value) {
  if (value) return bind(index, *value);
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Statement& Statement::bind(int index, std::optional<double> value) {
  if (value) return bind(index, *value);
  sqlite3_bind_null(stmt_, index);
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const std::string problem = sqlite_problem(*path_, db_, rc);
  sqlite3_reset(stmt_);
  throw Error(problem);
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::real(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::text(int column) const {
  const auto* p = sqlite3_column_text(stmt_, column);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

std::optional<std::int64_t> Statement::optional_integer(int column) const {
  if (is_null(column)) return std::nullopt;
  return integer(column);
}

std::optional<double> Statement::optional_real(int column) const {
  if (is_null(column)) return std::nullopt;
  return real(column);
}

Database::Database(std::string path, bool create) : path_(std::move(path)) {
  const int flags = create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
  const int rc = sqlite3_open_v2(path_.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string problem = sqlite_problem(path_, db_, rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(problem);
  }
  sqlite3_extended_result_codes(db_, 1);
  // The monitor and a `memopt history` may meet on the WAL's locks for a moment.
  sqlite3_busy_timeout(db_, 2000);
}

Database::~Database() { sqlite3_close_v2(db_); }

void Database::exec(std::string_view sql) {
  const std::string text(sql);
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  sqlite3_free(message);
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

std::int64_t Database::changes() const { return sqlite3_changes64(db_); }

}  // namespace memopt::record
