#include <fmt/format.h>

#include <charconv>
#include <chrono>

#include "memopt/error.hpp"
#include "memopt/record/recorder.hpp"
#include "memopt/sys/clock.hpp"

namespace memopt::record {

TimePoint parse_time_spec(std::string_view text, TimePoint now, std::string_view what) {
  const auto bad = [&] {
    return Error(fmt::format("{}: expected a duration such as 90s, 30m, 1h, 2d, 1w or a UTC time "
                             "such as 2026-11-30T02:00:00Z, got '{}'",
                             what, text),
                 Error::Kind::kUsage);
  };
  if (text.empty()) throw bad();
  // A duration: a number and one unit.
  std::int64_t amount = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), amount);
  if (ec == std::errc() && end == text.data() + text.size() - 1 && amount >= 0) {
    std::int64_t unit = 0;
    switch (text.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      default:
        throw bad();
    }
    if (amount > 100LL * 366 * 86400 / unit) throw bad();
    return now - std::chrono::seconds(amount * unit);
  }
  // RFC 3339 in UTC: YYYY-MM-DDTHH:MM:SSZ (a space for the T is accepted).
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != ' ') || text[13] != ':' || text[16] != ':' || text[19] != 'Z')
    throw bad();
  const auto field = [&](std::size_t at, std::size_t n, int min, int max) {
    int v = 0;
    const auto [e, c] = std::from_chars(text.data() + at, text.data() + at + n, v);
    if (c != std::errc() || e != text.data() + at + n || v < min || v > max) throw bad();
    return v;
  };
  using namespace std::chrono;
  const year_month_day date{year(field(0, 4, 1970, 9999)),
                            month(static_cast<unsigned>(field(5, 2, 1, 12))),
                            day(static_cast<unsigned>(field(8, 2, 1, 31)))};
  // 2026-02-31 is no day (timegm would make it 3 March).
  if (!date.ok()) throw bad();
  const auto at = sys_days(date) + hours(field(11, 2, 0, 23)) + minutes(field(14, 2, 0, 59)) +
                  seconds(field(17, 2, 0, 60));
  // A TimePoint counts nanoseconds and ends in 2262: a later time stands for "the end of time",
  // which is what --until 3000-01-01T00:00:00Z means.
  if (at.time_since_epoch() >= duration_cast<seconds>(TimePoint::max().time_since_epoch())) {
    return TimePoint::max();
  }
  return TimePoint(at.time_since_epoch());
}

TimeRange time_range(const std::optional<std::string>& since,
                     const std::optional<std::string>& until) {
  const auto now = sys::wall_now();
  TimeRange range{since ? parse_time_spec(*since, now, "--since") : TimePoint{},
                  until ? parse_time_spec(*until, now, "--until") : now};
  if (range.to < range.from) {
    throw Error(until ? "--until is before --since" : "--since is in the future",
                Error::Kind::kUsage);
  }
  return range;
}

}  // namespace memopt::record
