// report.hpp - what procslink_bench prints: a progress line per figure while it runs, then the
// tables, every figure beside raw netlink from the same run and the ratio of the two.
//
// Three tables: procslink against raw netlink scenario by scenario (with the target each ratio is
// held to), and the echo of a short string through procslink and the IPC a user might pick
// instead, each against raw netlink and against procslink; and one pair's overhead over raw
// netlink against another's (the Python binding against the Python reference).
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace procslink::bench {

std::string format_number(double v);
std::string format_ratio(double r);

// One scenario: procslink's figure and raw netlink's.
struct Row {
  std::string section;
  std::string what;
  std::string placement;
  std::string unit;
  double procslink = NAN;
  double raw = NAN;
  bool lower_is_better = true;
  std::optional<double> target;  // ratio bound: at most (lower is better) or at least
  std::string note;

  double ratio() const { return procslink / raw; }
};

// One contender's echo round trip, in microseconds, with raw netlink's and procslink's from the
// same runs.
struct PeerRow {
  std::string peer;
  std::string placement;
  double median = NAN;
  double p99 = NAN;
  double raw_median = NAN;
  double raw_p99 = NAN;
  double procslink_median = NAN;
};

// Two pairs' overhead over the kernel and the first's as a fraction of the second's. A pair's
// overhead is the median, over the reps, of its median round trip minus raw netlink's median in
// the same rep (run next to it, same placement): the difference is taken before the machine's
// load can drift, which cross-core moves raw netlink itself by tens of microseconds.
struct OverheadRow {
  std::string ours;
  std::string theirs;
  std::string placement;
  double ours_median = NAN;  // medians over the reps, as the peer table shows them
  double ours_raw_median = NAN;
  double ours_overhead = NAN;
  double theirs_median = NAN;
  double theirs_raw_median = NAN;
  double theirs_overhead = NAN;
  double target = NAN;  // the fraction ours' overhead is held to, at most

  double fraction() const { return ours_overhead / theirs_overhead; }
};

class Report {
 public:
  void add(Row row);
  void add(PeerRow row);
  void add(OverheadRow row);
  // A line under the peer table saying what a contender does (once per name).
  void describe(const std::string& peer, const std::string& description);
  // A line under the peer table saying why a contender has no row.
  void skipped(const std::string& line);
  void fail() { failed_ = true; }
  bool failed() const { return failed_; }
  // Prints both tables to stdout.
  void print() const;

 private:
  void print_rows() const;
  void print_peer_rows() const;
  void print_overhead_rows() const;

  std::vector<Row> rows_;
  std::vector<PeerRow> peer_rows_;
  std::vector<OverheadRow> overhead_rows_;
  std::vector<std::pair<std::string, std::string>> descriptions_;
  std::vector<std::string> skipped_;
  bool failed_ = false;
};

}  // namespace procslink::bench
