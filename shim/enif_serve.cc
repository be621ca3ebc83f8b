// Running forwarded enif requests: one generated case per ENIF_FWD entry of
// abi/enif_api.def calls the real function with the slots decoded to its
// parameter types (taken from erl_nif.h's own declaration).
#include "enif_serve.h"

#include <erl_nif.h>

#include <tuple>
#include <utility>

#include "copy_mode.h"
#include "log.h"
#include "real_enif.h"
#include "slot_codec.h"
#include "worker_process.h"

// erl_nif.h marks some functions malloc/warn_unused_result; the attributes
// do not belong to the type and do not matter for calling through a pointer.
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace nifshim {
namespace {

template <typename Sig>
struct Invoker;

template <typename R, typename... A>
struct Invoker<R(A...)> {
  template <std::size_t... I>
  static std::uint64_t run(void* fn, const std::uint64_t* slot, std::index_sequence<I...>) {
    auto f = reinterpret_cast<R (*)(A...)>(fn);
    // Decode every argument before the call: nested traffic reuses the message.
    std::tuple<A...> args{abi::decode<A>(slot[I])...};
    if constexpr (std::is_void_v<R>) {
      std::apply(f, args);
      return 0;
    } else {
      return abi::encode(std::apply(f, args));
    }
  }
  static std::uint64_t run(void* fn, const std::uint64_t* slot) {
    return run(fn, slot, std::index_sequence_for<A...>{});
  }
};

// The worker builds on the call's heap: [hp, hp_end) as it is, if that has
// room for `words`; else ERTS allocates the room (a heap fragment when the
// process heap is full, as alloc_heap does) by making a tuple of that size,
// which is then given back: hp returns to where the tuple began. 1 if done.
constexpr std::size_t kMaxReserveWords = 8192;
std::uint64_t reserve_heap(ErlNifEnv* env, std::uint64_t words) {
  static const ERL_NIF_TERM zeros[kMaxReserveWords] = {};
  if (words < 2 || words > kMaxReserveWords) return 0;
  EnvHead* head = env_head(env);
  if (head->hp != nullptr && head->hp <= head->hp_end && words <= std::uint64_t(head->hp_end - head->hp))
    return 1;
  ERL_NIF_TERM t = real().make_tuple_from_array(env, zeros, static_cast<unsigned>(words - 1));
  env_head(env)->hp = reinterpret_cast<std::uint64_t*>(t & ~std::uint64_t{3});
  return 1;
}

}  // namespace

void serve_enif(Worker* w, abi::Channel* c, std::uint64_t* top, ErlNifEnv* direct_env) {
  abi::Message& m = c->msg;
  const auto id = static_cast<abi::ApiId>(m.api);
  // The worker built terms on the call's heap up to m.hp: ERTS goes on from there.
  const bool sync = direct_env != nullptr && m.hp != 0;
  if (sync) env_head(direct_env)->hp = reinterpret_cast<std::uint64_t*>(m.hp);
  bool lent = false;
  const std::uint64_t saved = *top;
  *top = m.top;
  std::uint64_t r = 0, extra = 0;
  const bool copying = copy_mode();
  if (copying) copy_before(id, m.slot);
  switch (id) {
#define ENIF_FWD(ret, name, params, args, kinds) \
  case abi::ApiId::name: r = Invoker<decltype(::name)>::run(real_enif_fn(id), m.slot); break;
#define ENIF_LOCAL(name)
#define ENIF_CUSTOM(name) \
  case abi::ApiId::name: r = serve_custom(w, id, m.slot, &extra); break;
#include "enif_api.def"
#undef ENIF_FWD
#undef ENIF_LOCAL
#undef ENIF_CUSTOM
    case abi::ApiId::priv_format_term:
    case abi::ApiId::priv_priv_data:
    case abi::ApiId::priv_raise:
    case abi::ApiId::priv_probe_terms:
      r = serve_custom(w, id, m.slot, &extra);
      break;
    case abi::ApiId::priv_heap_reserve:
      r = direct_env ? reserve_heap(direct_env, m.slot[0]) : 0;
      lent = r != 0;
      if (lent) extra = reinterpret_cast<std::uint64_t>(env_head(direct_env)->proc);
      break;
    default:
      log_error("worker for %s sent an unknown request %u", w->name(), m.api);
      break;
  }
  if (copying) copy_after(id, m.slot, &r);
  *top = saved;
  m.kind = abi::Msg::kReply;
  m.slot[0] = r;
  m.slot[1] = extra;
  const bool heap = sync || lent;
  m.hp = heap ? reinterpret_cast<std::uint64_t>(env_head(direct_env)->hp) : 0;
  m.hp_end = heap ? reinterpret_cast<std::uint64_t>(env_head(direct_env)->hp_end) : 0;
}

}  // namespace nifshim
