// How long a library's calls take, as nifshim:workers() reports it (median
// and p99 over the last 10-20 s). Cheap enough to leave on: one call in 16
// per VM thread is timed (a thread-local count decides; nothing shared is
// written for the others), into log-linear buckets (4 per power of two, so
// a figure is within 12.5 % of the true value).
#pragma once

#include <atomic>
#include <cstdint>

namespace nifshim {

class CallLatency {
 public:
  struct Summary {
    std::uint64_t samples = 0, p50_ns = 0, p99_ns = 0;
  };
  // Whether the calling thread times this call.
  static bool sample();
  void record(std::uint64_t ns, std::uint64_t now_ns);
  Summary summary(std::uint64_t now_ns) const;

  // Bucket arithmetic (public for the unit tests).
  static constexpr int kBuckets = 160;  // up to 2^40 ns (18 min); longer calls land in the last
  static int bucket(std::uint64_t ns);
  static std::uint64_t bucket_mid(int b);

 private:
  static constexpr std::uint64_t kHalfNs = 10'000'000'000;  // the window is two halves of 10 s
  struct Half {
    std::atomic<std::uint64_t> epoch{~std::uint64_t{0}};  // now_ns / kHalfNs it counts for
    std::atomic<std::uint32_t> n[kBuckets]{};
  };
  Half half_[2];
};

// Times the call it lives through, if the thread samples it.
class CallTimer {
 public:
  explicit CallTimer(CallLatency* l);
  ~CallTimer();
  CallTimer(const CallTimer&) = delete;
  CallTimer& operator=(const CallTimer&) = delete;

 private:
  CallLatency* l_;  // not owned; nullptr when this call is not timed
  std::uint64_t t0_ = 0;
};

}  // namespace nifshim
