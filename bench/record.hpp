// record.hpp - what procslink_bench keeps for charts (--record=DIR), as CSV files in DIR.
//
//   latency.csv     series,placement,mode,percentile,us: each round-trip distribution (every
//                   timed call of every run merged) at fixed percentiles, up to 99.99 and the max
//   throughput.csv  scenario,series,placement,x,unit,value: the median run's rate per point of
//                   a sweep (messages in flight, message size, clients)
//
// bench/plot.py draws them; scripts/bench --plot DIR runs both.
#pragma once

#include <fstream>
#include <string>
#include <vector>

namespace procslink::bench {

class Recorder {
 public:
  // Records nothing when `dir` is empty. Creates DIR if needed; throws std::runtime_error if
  // the files cannot be written.
  explicit Recorder(const std::string& dir);

  void latency(const std::string& series, const std::string& placement, const std::string& mode,
               std::vector<double> samples_us);
  void throughput(const std::string& scenario, const std::string& series,
                  const std::string& placement, double x, const std::string& unit, double value);

 private:
  bool on_ = false;
  std::ofstream latency_;
  std::ofstream throughput_;
};

}  // namespace procslink::bench
