// report.cpp - progress lines on stderr, Markdown tables on stdout.
#include "report.hpp"

#include <algorithm>
#include <cstdio>

namespace procslink::bench {

std::string format_number(double v) {
  if (std::isnan(v)) return "n/a";
  char text[64];
  if (v >= 100) std::snprintf(text, sizeof text, "%.0f", v);
  else if (v >= 10) std::snprintf(text, sizeof text, "%.1f", v);
  else std::snprintf(text, sizeof text, "%.2f", v);
  return text;
}

std::string format_ratio(double r) {
  if (std::isnan(r) || std::isinf(r)) return "n/a";
  char text[32];
  std::snprintf(text, sizeof text, "%.2fx", r);
  return text;
}

void Report::add(Row row) {
  std::fprintf(stderr, "  %-28s %-11s procslink %10s  raw %10s %-7s ratio %s\n", row.what.c_str(),
               row.placement.c_str(), format_number(row.procslink).c_str(),
               format_number(row.raw).c_str(), row.unit.c_str(), format_ratio(row.ratio()).c_str());
  if (std::isnan(row.ratio())) failed_ = true;
  rows_.push_back(std::move(row));
}

void Report::add(PeerRow row) {
  std::fprintf(stderr, "  %-28s %-11s median %8s us  p99 %8s us  raw median %8s us  ratio %s\n",
               row.peer.c_str(), row.placement.c_str(), format_number(row.median).c_str(),
               format_number(row.p99).c_str(), format_number(row.raw_median).c_str(),
               format_ratio(row.median / row.raw_median).c_str());
  if (std::isnan(row.median / row.raw_median)) failed_ = true;
  peer_rows_.push_back(std::move(row));
}

void Report::add(OverheadRow row) {
  std::fprintf(stderr, "  %-28s %-11s overhead %8s us  %s overhead %8s us  fraction %s\n",
               row.ours.c_str(), row.placement.c_str(), format_number(row.ours_overhead).c_str(),
               row.theirs.c_str(), format_number(row.theirs_overhead).c_str(),
               format_ratio(row.fraction()).c_str());
  if (std::isnan(row.fraction())) failed_ = true;
  overhead_rows_.push_back(std::move(row));
}

void Report::describe(const std::string& peer, const std::string& description) {
  const auto known = [&](const auto& entry) { return entry.first == peer; };
  if (std::none_of(descriptions_.begin(), descriptions_.end(), known)) {
    descriptions_.emplace_back(peer, description);
  }
}

void Report::skipped(const std::string& line) {
  if (std::find(skipped_.begin(), skipped_.end(), line) == skipped_.end()) skipped_.push_back(line);
}

void Report::print_rows() const {
  if (rows_.empty()) return;
  std::printf("\n| Benchmark | Placement | procslink | raw netlink | unit | procslink / raw | target | met |\n");
  std::printf("|---|---|---:|---:|---|---:|---|---|\n");
  for (const auto& row : rows_) {
    std::string target = "-", met = "-";
    if (row.target) {
      char text[32];
      std::snprintf(text, sizeof text, "%s %.2fx", row.lower_is_better ? "<=" : ">=", *row.target);
      target = text;
      const double r = row.ratio();
      met = std::isnan(r) ? "n/a"
            : (row.lower_is_better ? r <= *row.target : r >= *row.target) ? "yes" : "**no**";
    }
    std::string what = row.section + ": " + row.what;
    if (!row.note.empty()) what += " (" + row.note + ")";
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", what.c_str(), row.placement.c_str(),
                format_number(row.procslink).c_str(), format_number(row.raw).c_str(),
                row.unit.c_str(), format_ratio(row.ratio()).c_str(), target.c_str(), met.c_str());
  }
}

void Report::print_peer_rows() const {
  if (peer_rows_.empty() && skipped_.empty()) return;
  std::printf("\nEcho of a short string, blocking, each contender in the same runs as raw netlink:\n");
  std::printf("\n| Echo through | Placement | median us | p99 us | median / raw netlink | "
              "p99 / raw netlink | procslink / this (median) |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|\n");
  for (const auto& row : peer_rows_) {
    std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", row.peer.c_str(), row.placement.c_str(),
                format_number(row.median).c_str(), format_number(row.p99).c_str(),
                format_ratio(row.median / row.raw_median).c_str(),
                format_ratio(row.p99 / row.raw_p99).c_str(),
                format_ratio(row.procslink_median / row.median).c_str());
  }
  std::printf("\n");
  for (const auto& [peer, description] : descriptions_) {
    std::printf("- %s: %s.\n", peer.c_str(), description.c_str());
  }
  for (const auto& line : skipped_) std::printf("- %s\n", line.c_str());
}

void Report::print_overhead_rows() const {
  if (overhead_rows_.empty()) return;
  std::printf("\nOverhead over the kernel: the median over the reps of a pair's median round "
              "trip minus raw netlink's median in the same rep, same placement:\n");
  std::printf("\n| Pair | Placement | median us | raw netlink us | overhead us | against | "
              "its median us | its raw netlink us | its overhead us | overhead fraction | "
              "target | met |\n");
  std::printf("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|---|\n");
  for (const auto& row : overhead_rows_) {
    const double f = row.fraction();
    const char* met = std::isnan(f) ? "n/a" : f <= row.target ? "yes" : "**no**";
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | <= %.2fx | %s |\n",
                row.ours.c_str(), row.placement.c_str(), format_number(row.ours_median).c_str(),
                format_number(row.ours_raw_median).c_str(),
                format_number(row.ours_overhead).c_str(), row.theirs.c_str(),
                format_number(row.theirs_median).c_str(),
                format_number(row.theirs_raw_median).c_str(),
                format_number(row.theirs_overhead).c_str(), format_ratio(f).c_str(), row.target,
                met);
  }
}

void Report::print() const {
  print_rows();
  print_peer_rows();
  print_overhead_rows();
}

}  // namespace procslink::bench
