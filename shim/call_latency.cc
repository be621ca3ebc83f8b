// Sampled call latency per library; see call_latency.h.
#include "call_latency.h"

#include <ctime>

namespace nifshim {
namespace {

constexpr unsigned kSampleMask = 15;  // one call in 16
thread_local unsigned t_calls = 0;

std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

}  // namespace

bool CallLatency::sample() { return (++t_calls & kSampleMask) == 0; }

int CallLatency::bucket(std::uint64_t ns) {
  if (ns < 4) return int(ns);
  const int e = 63 - __builtin_clzll(ns);  // ns in [2^e, 2^(e+1)), e >= 2
  const int b = 4 * (e - 1) + int((ns >> (e - 2)) & 3);
  return b < kBuckets ? b : kBuckets - 1;
}

std::uint64_t CallLatency::bucket_mid(int b) {
  if (b < 4) return std::uint64_t(b);
  const int e = b / 4 + 1, m = b % 4;
  const std::uint64_t lo = std::uint64_t(4 + m) << (e - 2), width = std::uint64_t{1} << (e - 2);
  return lo + width / 2;
}

void CallLatency::record(std::uint64_t ns, std::uint64_t now) {
  const std::uint64_t epoch = now / kHalfNs;
  Half& h = half_[epoch & 1];
  std::uint64_t seen = h.epoch.load(std::memory_order_acquire);
  if (seen != epoch && h.epoch.compare_exchange_strong(seen, epoch)) {
    // This half counted for two periods ago: start it afresh. A sample that
    // another thread adds meanwhile may be lost or kept: these are statistics.
    for (auto& n : h.n) n.store(0, std::memory_order_relaxed);
  }
  h.n[bucket(ns)].fetch_add(1, std::memory_order_relaxed);
}

CallLatency::Summary CallLatency::summary(std::uint64_t now) const {
  const std::uint64_t epoch = now / kHalfNs;
  std::uint64_t n[kBuckets] = {};
  Summary s;
  for (const Half& h : half_) {
    const std::uint64_t e = h.epoch.load(std::memory_order_acquire);
    if (e != epoch && e + 1 != epoch) continue;  // older than the window
    for (int b = 0; b < kBuckets; ++b) {
      n[b] += h.n[b].load(std::memory_order_relaxed);
      s.samples += h.n[b].load(std::memory_order_relaxed);
    }
  }
  if (s.samples == 0) return s;
  const std::uint64_t want50 = (s.samples + 1) / 2, want99 = s.samples - s.samples / 100;
  std::uint64_t acc = 0;
  for (int b = 0; b < kBuckets; ++b) {
    acc += n[b];
    if (s.p50_ns == 0 && acc >= want50) s.p50_ns = bucket_mid(b);
    if (acc >= want99) {
      s.p99_ns = bucket_mid(b);
      break;
    }
  }
  return s;
}

CallTimer::CallTimer(CallLatency* l) : l_(CallLatency::sample() ? l : nullptr) {
  if (l_) t0_ = now_ns();
}

CallTimer::~CallTimer() {
  if (!l_) return;
  const std::uint64_t t = now_ns();
  l_->record(t - t0_, t);
}

}  // namespace nifshim
