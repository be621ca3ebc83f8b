// Unit tests of the sampled call latency (shim/call_latency.h): bucket
// arithmetic, quantiles, and the 10-20 s window.
#include <doctest/doctest.h>

#include <cstdint>

#include "call_latency.h"

using nifshim::CallLatency;

TEST_CASE("latency buckets are monotonic and within 12.5 % of the value") {
  int last = -1;
  for (std::uint64_t v = 1; v < (std::uint64_t{1} << 40); v = v + v / 7 + 1) {
    const int b = CallLatency::bucket(v);
    CHECK(b >= last);
    last = b;
    const double mid = double(CallLatency::bucket_mid(b));
    CHECK(mid >= double(v) * 0.875);
    CHECK(mid <= double(v) * 1.125 + 1);
  }
  CHECK(CallLatency::bucket(~std::uint64_t{0}) == CallLatency::kBuckets - 1);
}

TEST_CASE("median and p99 of recorded calls") {
  CallLatency l;
  const std::uint64_t now = 100'000'000'000;
  for (int i = 0; i < 980; ++i) l.record(1000, now);
  for (int i = 0; i < 20; ++i) l.record(1'000'000, now);
  CallLatency::Summary s = l.summary(now);
  CHECK(s.samples == 1000);
  CHECK(s.p50_ns >= 875);
  CHECK(s.p50_ns <= 1125);
  CHECK(s.p99_ns >= 875'000);
  CHECK(s.p99_ns <= 1'125'000);
}

TEST_CASE("the window keeps the last 10-20 s") {
  CallLatency l;
  const std::uint64_t t0 = 100'000'000'000;  // the start of a 10 s half
  l.record(500, t0);
  CHECK(l.summary(t0).samples == 1);
  l.record(500, t0 + 10'000'000'000);          // the next half
  CHECK(l.summary(t0 + 10'000'000'000).samples == 2);
  CHECK(l.summary(t0 + 20'000'000'000).samples == 1);  // the first half is out
  CHECK(l.summary(t0 + 30'000'000'000).samples == 0);
  l.record(700, t0 + 20'000'000'000);          // reuses the first half, emptied
  CHECK(l.summary(t0 + 20'000'000'000).samples == 2);
  CHECK(CallLatency::Summary{}.samples == 0);
}

TEST_CASE("one call in 16 is sampled per thread") {
  int n = 0;
  for (int i = 0; i < 1600; ++i) n += CallLatency::sample() ? 1 : 0;
  CHECK(n == 100);
}
