// The forwarded enif functions (ENIF_FWD in abi/enif_api.def): each is
// defined here, exported from the worker, and sends its call to the VM, which
// runs the real function on the thread that owns the env (shim/enif_serve.cc).
#include <erl_nif.h>

#include <utility>

#include "enif_direct.h"
#include "enif_kinds.h"
#include "export.h"
#include "log.h"
#include "raise.h"

namespace nifshim::worker {
namespace {

using namespace kinds;

template <typename... K>
struct Kinds {};

template <typename R, typename... K, typename... A, std::size_t... Ix>
R forward_impl(abi::ApiId id, Kinds<K...>, std::index_sequence<Ix...>, A... a) {
  static_assert(sizeof...(K) == sizeof...(A), "one kind per parameter");
  VmRequest rq(id);
  const std::tuple<A...> args{a...};
  ((rq.msg().slot[Ix] = K::in(rq, std::get<Ix>(args), args)), ...);
  if (rq.failed()) return refuse<R>(rq, id, args);
  std::uint64_t r = rq.send();
  rq.finish_copies();
  (K::out(rq, std::get<Ix>(args), args), ...);
  if constexpr (std::is_void_v<R>) {
    (void)r;
  } else if constexpr (std::is_pointer_v<R>) {
    return static_cast<R>(rq.original_of(decode<void*>(r)));  // enif_self returns its argument
  } else {
    return decode<R>(r);
  }
}

template <typename R, typename KindList, typename... A>
R forward(abi::ApiId id, A... a) {
  return forward_impl<R>(id, KindList{}, std::index_sequence_for<A...>{}, a...);
}

}  // namespace
}  // namespace nifshim::worker

#define ENIF_STRIP(...) __VA_ARGS__
#define ENIF_TAIL(...) __VA_OPT__(, ) __VA_ARGS__
#define ENIF_FWD(ret, name, params, args, kind_list)                                           \
  extern "C" NIFSHIM_EXPORT ret name params {                                                  \
    using namespace nifshim::worker::kinds;                                                    \
    return nifshim::worker::forward<ret, nifshim::worker::Kinds<ENIF_STRIP kind_list>>(       \
        nifshim::abi::ApiId::name ENIF_TAIL args);                                             \
  }
// Functions with a direct path (enif_direct.cc): the forwarding half only,
// which the direct path falls back to.
#define ENIF_FWD_DIRECT(ret, name, params, args, kind_list)                                    \
  ret nifshim::worker::fwd::name params {                                                      \
    using namespace nifshim::worker::kinds;                                                    \
    return nifshim::worker::forward<ret, nifshim::worker::Kinds<ENIF_STRIP kind_list>>(       \
        nifshim::abi::ApiId::name ENIF_TAIL args);                                             \
  }
#define ENIF_LOCAL(name)
#define ENIF_CUSTOM(name)
#include "enif_api.def"
