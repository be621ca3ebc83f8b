// The Erlang side of failures: {nifshim, Kind, #{Key => Value}} terms, raised
// as exceptions in the calling process (erlang:error-style), always with a
// log line. Every Kind is documented in README.md ("Errors").
#pragma once

#include <erl_nif.h>

#include <initializer_list>

namespace nifshim {

struct ErrField {
  enum Type { kAtom, kString, kInt, kStrings };
  const char* key;
  Type type;
  const char* text;  // kAtom, kString; kStrings: `number` strings of `stride` bytes
  long number;       // kInt; kStrings: how many
  long stride = 0;
};

inline ErrField err_atom(const char* k, const char* v) { return {k, ErrField::kAtom, v, 0}; }
inline ErrField err_string(const char* k, const char* v) { return {k, ErrField::kString, v, 0}; }
inline ErrField err_int(const char* k, long v) { return {k, ErrField::kInt, nullptr, v}; }
inline ErrField err_strings(const char* k, const char* first, long n, long stride) {
  return {k, ErrField::kStrings, first, n, stride};
}

ERL_NIF_TERM make_info_map(ErlNifEnv* env, std::initializer_list<ErrField> f);
ERL_NIF_TERM make_error_term(ErlNifEnv* env, const char* kind, std::initializer_list<ErrField> f);

// A logger report (logger:log(Level, Report, #{domain => [nifshim]})) sent
// through the VM's logger_proxy process: `caller` is a process env, or null
// on an ERTS thread, where the terms live in `msg_env`.
void send_logger_report(ErlNifEnv* caller, ErlNifEnv* msg_env, const char* level, ERL_NIF_TERM report);

// Logs and raises {nifshim, Kind, #{...}}; returns what the NIF must return.
ERL_NIF_TERM raise_error(ErlNifEnv* env, const char* kind, std::initializer_list<ErrField> f);

}  // namespace nifshim
