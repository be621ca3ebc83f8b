// Building and raising nifshim's error terms; see error_terms.h.
#include "error_terms.h"

#include <cstdio>

#include "log.h"
#include "real_enif.h"

namespace nifshim {

ERL_NIF_TERM make_error_term(ErlNifEnv* env, const char* kind, std::initializer_list<ErrField> f) {
  const RealEnif& e = real();
  ERL_NIF_TERM t[3] = {e.make_atom(env, "nifshim"), e.make_atom(env, kind), make_info_map(env, f)};
  return e.make_tuple_from_array(env, t, 3);
}

void send_logger_report(ErlNifEnv* caller, ErlNifEnv* env, const char* level, ERL_NIF_TERM report) {
  const RealEnif& e = real();
  ErlNifPid proxy;
  if (!e.whereis_pid(caller, e.make_atom(env, "logger_proxy"), &proxy)) return;
  ERL_NIF_TERM nifshim = e.make_atom(env, "nifshim");
  ERL_NIF_TERM domain = e.make_list_from_array(env, &nifshim, 1);
  ERL_NIF_TERM meta = e.make_new_map(env);
  e.make_map_put(env, meta, e.make_atom(env, "domain"), domain, &meta);
  ERL_NIF_TERM msg[4] = {e.make_atom(env, "log"), e.make_atom(env, level), report, meta};
  e.send(caller, &proxy, caller ? nullptr : env, e.make_tuple_from_array(env, msg, 4));
}

ERL_NIF_TERM make_info_map(ErlNifEnv* env, std::initializer_list<ErrField> f) {
  const RealEnif& e = real();
  ERL_NIF_TERM map = e.make_new_map(env);
  for (const ErrField& x : f) {
    ERL_NIF_TERM v;
    switch (x.type) {
      case ErrField::kAtom: v = e.make_atom(env, x.text ? x.text : "undefined"); break;
      case ErrField::kString: v = e.make_string(env, x.text ? x.text : "", ERL_NIF_LATIN1); break;
      case ErrField::kStrings: {
        ERL_NIF_TERM items[64];
        long n = x.number < 64 ? x.number : 64;
        for (long i = 0; i < n; ++i)
          items[i] = e.make_string(env, x.text + i * x.stride, ERL_NIF_LATIN1);
        v = e.make_list_from_array(env, items, static_cast<unsigned>(n));
        break;
      }
      default: v = e.make_long(env, x.number); break;
    }
    e.make_map_put(env, map, e.make_atom(env, x.key), v, &map);
  }
  return map;
}

ERL_NIF_TERM raise_error(ErlNifEnv* env, const char* kind, std::initializer_list<ErrField> f) {
  char line[768];
  int n = std::snprintf(line, sizeof line, "error %s:", kind);
  for (const ErrField& x : f) {
    if (n < 0 || static_cast<std::size_t>(n) >= sizeof line) break;
    if (x.type == ErrField::kStrings) continue;  // the frames are logged on their own lines
    if (x.type == ErrField::kInt)
      n += std::snprintf(line + n, sizeof line - n, " %s=%ld", x.key, x.number);
    else
      n += std::snprintf(line + n, sizeof line - n, " %s=%s", x.key, x.text ? x.text : "");
  }
  log_error("%s", line);
  return real().raise_exception(env, make_error_term(env, kind, f));
}

}  // namespace nifshim
