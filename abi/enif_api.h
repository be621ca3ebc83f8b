// Identifiers of the enif functions that travel between the worker and the
// VM, generated from enif_api.def (the one description of the API), plus the
// shim's own private requests.
#pragma once

#include <cstdint>

namespace nifshim::abi {

enum class ApiId : std::uint32_t {
#define ENIF_FWD(ret, name, params, args, kinds) name,
#define ENIF_LOCAL(name)
#define ENIF_CUSTOM(name) name,
#include "enif_api.def"
#undef ENIF_FWD
#undef ENIF_LOCAL
#undef ENIF_CUSTOM
  // Private requests of the worker (not enif functions).
  priv_format_term,    // enif_snprintf's %T: the VM formats a term
  priv_priv_data,      // enif_priv_data of an env that is not the current call's
  priv_raise,          // raise {nifshim, Kind, #{...}} in the calling process
  priv_probe_terms,    // terms the VM built with its enif functions (term layout check)
  priv_heap_reserve,   // the direct heap is full: room for slot[0] words on the call's heap
  count
};
static_assert(static_cast<unsigned>(ApiId::count) <= 0xffff, "an ApiId travels in Message::api (16 bits)");

// How many enif functions the table lists, by how they are implemented.
struct ApiCounts {
  int forwarded = 0, local = 0, custom = 0;
  constexpr int total() const { return forwarded + local + custom; }
};
constexpr ApiCounts api_counts() {
  ApiCounts c;
#define ENIF_FWD(ret, name, params, args, kinds) ++c.forwarded;
#define ENIF_LOCAL(name) ++c.local;
#define ENIF_CUSTOM(name) ++c.custom;
#include "enif_api.def"
#undef ENIF_FWD
#undef ENIF_LOCAL
#undef ENIF_CUSTOM
  return c;
}
// beam.smp exports 169 enif functions in NIF 2.16, 173 in 2.17, 176 in 2.18.
constexpr int kApiFunctions = NIFSHIM_NIF_MINOR >= 18 ? 176 : NIFSHIM_NIF_MINOR >= 17 ? 173 : 169;
static_assert(api_counts().total() == kApiFunctions, "the table lists every enif function of the runtime");

const char* api_name(ApiId id);

}  // namespace nifshim::abi
