// Names of the API ids (for log lines and error terms), from the table.
#include "enif_api.h"

namespace nifshim::abi {

const char* api_name(ApiId id) {
  switch (id) {
#define ENIF_FWD(ret, name, params, args, kinds) case ApiId::name: return #name;
#define ENIF_LOCAL(name)
#define ENIF_CUSTOM(name) case ApiId::name: return #name;
#include "enif_api.def"
#undef ENIF_FWD
#undef ENIF_LOCAL
#undef ENIF_CUSTOM
    case ApiId::priv_format_term: return "enif_snprintf(%T)";
    case ApiId::priv_priv_data: return "enif_priv_data";
    case ApiId::priv_raise: return "nifshim raise";
    case ApiId::priv_probe_terms: return "nifshim term probe";
    case ApiId::priv_heap_reserve: return "nifshim heap reserve";
    case ApiId::count: break;
  }
  return "?";
}

}  // namespace nifshim::abi
