// record.cpp - CSV files for the charts.
#include "record.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "harness.hpp"

namespace procslink::bench {
namespace {

// Denser towards the tail, where the contenders differ: 1% steps to 99%, then 0.1% to 99.9%,
// then 0.01% to 99.99%, then the slowest call.
std::vector<double> percentile_grid() {
  std::vector<double> grid;
  for (int i = 0; i <= 99; ++i) grid.push_back(i / 100.0);
  for (int i = 1; i <= 9; ++i) grid.push_back(0.99 + i / 1000.0);
  for (int i = 1; i <= 9; ++i) grid.push_back(0.999 + i / 10000.0);
  grid.push_back(1.0);
  return grid;
}

// Quotes a field if it holds a comma or a quote (names like "spin 50 us" do not, but a peer's
// name might).
std::string field(const std::string& text) {
  if (text.find_first_of(",\"") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

void open_csv(std::ofstream& file, const std::string& path, const char* header) {
  file.open(path, std::ios::trunc);
  if (!file) throw std::runtime_error("cannot write " + path);
  file << header << '\n';
}

}  // namespace

Recorder::Recorder(const std::string& dir) {
  if (dir.empty()) return;
  if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) {
    throw std::runtime_error("cannot create " + dir);
  }
  open_csv(latency_, dir + "/latency.csv", "series,placement,mode,percentile,us");
  open_csv(throughput_, dir + "/throughput.csv", "scenario,series,placement,x,unit,value");
  on_ = true;
}

void Recorder::latency(const std::string& series, const std::string& placement,
                       const std::string& mode, std::vector<double> samples_us) {
  if (!on_ || samples_us.empty()) return;
  std::sort(samples_us.begin(), samples_us.end());
  for (const double p : percentile_grid()) {
    const double us = samples_us[nearest_rank_index(samples_us.size(), p)];
    latency_ << field(series) << ',' << field(placement) << ',' << field(mode) << ',' << p * 100
             << ',' << us << '\n';
  }
  latency_.flush();
}

void Recorder::throughput(const std::string& scenario, const std::string& series,
                          const std::string& placement, double x, const std::string& unit,
                          double value) {
  if (!on_) return;
  throughput_ << field(scenario) << ',' << field(series) << ',' << field(placement) << ',' << x
              << ',' << field(unit) << ',' << value << '\n';
  throughput_.flush();
}

}  // namespace procslink::bench
