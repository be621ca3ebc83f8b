// Unit tests of the kept-pages set: merging, bounds, partial takes, expiry.
#include <doctest/doctest.h>

#include <random>
#include <utility>
#include <vector>

#include "kept_pages.h"

using nifshim::KeptPages;
using nifshim::KeptRange;

namespace {
constexpr std::uintptr_t kBase = 0x100000;
constexpr std::size_t kPage = 4096;
std::uintptr_t at(std::size_t page) { return kBase + page * kPage; }

// Collects what the set gives back.
struct Sink {
  std::vector<std::pair<std::uintptr_t, std::size_t>> got;
  std::size_t bytes = 0;
  static void fn(void* ctx, std::uintptr_t s, std::size_t l) {
    auto* k = static_cast<Sink*>(ctx);
    k->got.emplace_back(s, l);
    k->bytes += l;
  }
};

struct Fixture {
  std::vector<KeptRange> storage;
  KeptPages kp;
  Sink dropped, hit;
  Fixture(std::size_t max_pages, std::size_t cap = 64)
      : storage(cap), kp(storage.data(), cap, max_pages * kPage) {}
  void add(std::size_t page, std::size_t pages, std::uint64_t now) {
    kp.add(at(page), pages * kPage, now, Sink::fn, &dropped);
  }
  void take(std::size_t page, std::size_t pages) {
    kp.take(at(page), pages * kPage, Sink::fn, Sink::fn, &hit);  // one sink: both lists
  }
};
}  // namespace

TEST_CASE("adjacent and overlapping ranges merge, keeping the oldest time") {
  Fixture f(100);
  f.add(0, 4, 10);
  f.add(4, 4, 20);   // touching
  f.add(6, 4, 5);    // overlapping, older
  REQUIRE(f.kp.count() == 1);
  CHECK(f.kp.at(0).start == at(0));
  CHECK(f.kp.at(0).len == 10 * kPage);
  CHECK(f.kp.at(0).since_ns == 5);
  CHECK(f.kp.bytes() == 10 * kPage);
  f.add(20, 2, 30);
  CHECK(f.kp.count() == 2);
  CHECK(f.dropped.got.empty());
  CHECK(f.kp.is_valid());
}

TEST_CASE("the byte bound drops the oldest ranges first; a range over it is dropped at once") {
  Fixture f(10);
  f.add(0, 4, 1);
  f.add(10, 4, 2);
  f.add(20, 4, 3);  // 12 pages > 10: the oldest (page 0) goes
  REQUIRE(f.dropped.got.size() == 1);
  CHECK(f.dropped.got[0] == std::make_pair(at(0), 4 * kPage));
  CHECK(f.kp.bytes() == 8 * kPage);
  f.add(40, 11, 4);  // alone over the bound
  CHECK(f.dropped.got.back() == std::make_pair(at(40), 11 * kPage));
  CHECK(f.kp.bytes() == 8 * kPage);
  CHECK(f.kp.bytes() <= f.kp.max_bytes());
  CHECK(f.kp.is_valid());
}

TEST_CASE("a full set drops its oldest range to make room") {
  Fixture f(1000, 3);
  f.add(0, 1, 1);
  f.add(10, 1, 2);
  f.add(20, 1, 3);
  f.add(30, 1, 4);
  REQUIRE(f.dropped.got.size() == 1);
  CHECK(f.dropped.got[0].first == at(0));
  CHECK(f.kp.count() == 3);
  CHECK(f.kp.is_valid());
}

TEST_CASE("take hands out the kept parts of a range and keeps the rest") {
  Fixture f(100);
  f.add(0, 10, 1);
  f.add(20, 10, 2);
  f.take(5, 20);  // pages 5..25: the tail of the first, the head of the second
  REQUIRE(f.hit.got.size() == 2);
  CHECK(f.hit.got[0] == std::make_pair(at(5), 5 * kPage));
  CHECK(f.hit.got[1] == std::make_pair(at(20), 5 * kPage));
  REQUIRE(f.kp.count() == 2);
  CHECK(f.kp.at(0).start == at(0));
  CHECK(f.kp.at(0).len == 5 * kPage);
  CHECK(f.kp.at(1).start == at(25));
  CHECK(f.kp.at(1).len == 5 * kPage);
  CHECK(f.kp.bytes() == 10 * kPage);
  f.take(40, 5);  // nothing kept there
  CHECK(f.hit.got.size() == 2);
  CHECK(f.kp.is_valid());
}

TEST_CASE("take from the middle splits a range; a full set drops the upper part") {
  Fixture f(100, 1);
  f.add(0, 10, 1);
  f.take(4, 2);
  CHECK(f.hit.got[0] == std::make_pair(at(4), 2 * kPage));
  REQUIRE(f.kp.count() == 1);  // no room for two
  CHECK(f.kp.at(0).len == 4 * kPage);
  CHECK(f.hit.got.back() == std::make_pair(at(6), 4 * kPage));  // given up
  CHECK(f.kp.bytes() == 4 * kPage);

  Fixture g(100);
  g.add(0, 10, 1);
  g.take(4, 2);
  REQUIRE(g.kp.count() == 2);
  CHECK(g.kp.bytes() == 8 * kPage);
  CHECK(g.kp.is_valid());
}

TEST_CASE("expire gives back exactly the ranges kept at or before the cutoff") {
  Fixture f(100);
  f.add(0, 1, 10);
  f.add(10, 2, 20);
  f.add(20, 3, 30);
  CHECK(f.kp.expire(20, Sink::fn, &f.dropped) == 3 * kPage);
  CHECK(f.kp.count() == 1);
  CHECK(f.kp.at(0).since_ns == 30);
  CHECK(f.kp.expire(~std::uint64_t{0}, Sink::fn, &f.dropped) == 3 * kPage);
  CHECK(f.kp.count() == 0);
  CHECK(f.kp.bytes() == 0);
}

TEST_CASE("random adds, takes and expiries keep the set sorted, bounded and exact") {
  Fixture f(64, 16);
  std::mt19937 rng(7);
  std::vector<int> kept(256, 0);  // page -> kept?
  auto drop_all = [&](const Sink& s) {
    for (auto& [a, l] : s.got)
      for (std::size_t p = (a - kBase) / kPage; p < (a - kBase + l) / kPage; ++p) kept[p] = 0;
  };
  for (int step = 0; step < 5000; ++step) {
    std::size_t page = rng() % 240, pages = 1 + rng() % 16;
    f.dropped.got.clear();
    f.hit.got.clear();
    switch (rng() % 3) {
      case 0:
        f.add(page, pages, step);
        for (std::size_t p = page; p < page + pages; ++p) kept[p] = 1;
        drop_all(f.dropped);
        break;
      case 1:
        f.take(page, pages);
        // Parts handed out lie in the range; a part given up (a full set)
        // lies above it.
        for (auto& [a, l] : f.hit.got) CHECK((a >= at(page + pages) || (a >= at(page) && a + l <= at(page + pages))));
        drop_all(f.hit);
        for (std::size_t p = page; p < page + pages; ++p) kept[p] = 0;
        break;
      default:
        if (rng() % 10 == 0) {
          f.kp.expire(step - 50, Sink::fn, &f.dropped);
          drop_all(f.dropped);
        }
    }
    REQUIRE(f.kp.is_valid());
    REQUIRE(f.kp.bytes() <= f.kp.max_bytes());
    std::size_t n = 0;
    for (int k : kept) n += k;
    REQUIRE(n * kPage == f.kp.bytes());  // the model agrees page for page
  }
}
