// The text of an Erlang term as the VM prints it for enif_fprintf's %T
// (ERTS's erts_printf_term, with %T's precision or the default). The VM does the
// formatting; this is the worker's entry point to it.
#pragma once

#include <erl_nif.h>

#include <cstddef>

namespace nifshim::worker {

// Writes the text's first size-1 characters and a NUL into buf (size > 0)
// and returns the length of the whole text, like snprintf; a negative value
// (-errno) when the term cannot be printed. precision: "%.NT"'s N, or -1.
int format_term(char* buf, std::size_t size, ERL_NIF_TERM term, int precision);

}  // namespace nifshim::worker
