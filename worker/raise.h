// Failing an enif call loudly from the worker: a log line, and for calls
// that return a term, an exception {nifshim, Kind, #{function, reason}}
// raised in the calling Erlang process.
#pragma once

#include <erl_nif.h>

#include <tuple>
#include <type_traits>

#include "enif_api.h"
#include "log.h"
#include "vm_request.h"

namespace nifshim::worker {

ERL_NIF_TERM raise_error(ErlNifEnv* env, const char* kind, const char* function,
                         const char* reason);

template <typename R, typename Tup>
R refuse(VmRequest& rq, abi::ApiId id, const Tup& args) {
  log_error("%s refused: %s", abi::api_name(id), rq.failed());
  if constexpr (std::is_same_v<R, ERL_NIF_TERM> && std::tuple_size_v<Tup> > 0) {
    if constexpr (std::is_same_v<std::tuple_element_t<0, Tup>, ErlNifEnv*>)
      return raise_error(std::get<0>(args), "bad_argument", abi::api_name(id), rq.failed());
  }
  if constexpr (!std::is_void_v<R>) return R{};
}

}  // namespace nifshim::worker
