#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// SQLite's C API types; <sqlite3.h> stays in sqlite.cpp.
struct sqlite3;
struct sqlite3_stmt;

// A small RAII wrapper over SQLite's C API: a connection and its prepared statements. Every
// failure throws memopt::Error naming the database file.
//
// libsqlite3.so.0 is loaded at run time, on the first Database opened ($MEMOPT_SQLITE_LIBRARY
// overrides the name): every command that keeps no history (report, a monitor without --record)
// maps none of it (0.3 MiB of a monitor's resident set). Its headers (Debian libsqlite3-dev)
// are needed at build time only.
namespace memopt::record {

/// One prepared statement; reset and rebound for each use.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql, const std::string& path);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;

  /// Binds parameter `index` (1-based); an absent value binds NULL.
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, std::optional<std::int64_t> value);
  Statement& bind(int index, std::optional<double> value);
  /// Steps once: true while a row is ready (read it with the column accessors).
  bool step();
  /// Steps to the end and resets, for INSERT/UPDATE/DELETE.
  void run();
  /// Resets the statement so that it can be bound and stepped again.
  void reset();

  [[nodiscard]] bool is_null(int column) const;
  /// Whether the column's value is stored as an integer (not text, real, blob or NULL).
  [[nodiscard]] bool is_integer(int column) const;
  [[nodiscard]] std::int64_t integer(int column) const;
  [[nodiscard]] double real(int column) const;
  [[nodiscard]] std::string text(int column) const;
  [[nodiscard]] std::optional<std::int64_t> optional_integer(int column) const;
  [[nodiscard]] std::optional<double> optional_real(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  const std::string* path_;
};

/// An open connection.
class Database {
 public:
  /// Opens (creating when `create`) the database at `path`; throws Error naming it.
  /// `immutable` opens it read-only as a file that nothing changes (SQLite's immutable=1): no
  /// lock, no -shm, so a WAL database in a read-only directory can be read (what its -wal
  /// holds is not seen).
  Database(std::string path, bool create, bool immutable = false);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  /// Runs one or more statements without results.
  void exec(std::string_view sql);
  /// Prepares `sql`.
  [[nodiscard]] Statement prepare(std::string_view sql);
  /// The first column of the first row of `sql`, an integer (0 when there is no row).
  [[nodiscard]] std::int64_t scalar(std::string_view sql);
  /// The first column of the first row of `sql`, as text (empty when there is no row).
  [[nodiscard]] std::string scalar_text(std::string_view sql);
  /// Rows changed by the last statement.
  [[nodiscard]] std::int64_t changes() const;
  /// The rowid of the last row inserted.
  [[nodiscard]] std::int64_t last_insert_rowid() const;
  /// Runs `sql` ignoring any failure: for the COMMIT or ROLLBACK of a path that is already
  /// failing, or of a destructor with no one to tell.
  void exec_quietly(const char* sql) noexcept;

  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

/// "history database PATH: MESSAGE (SQLite's words) (a hint)": the message every failure
/// carries.
[[nodiscard]] std::string sqlite_problem(const std::string& path, sqlite3* db, int code);

}  // namespace memopt::record
