// The text of an Erlang term as the VM prints it for enif_fprintf's %T
// (ERTS's erts_printf_term with its default precision). The VM does the
// formatting; this is the worker's entry point to it.
#pragma once

#include <erl_nif.h>

#include <cstddef>

namespace nifshim::worker {

// Writes the text's first size-1 characters and a NUL into buf (size > 0)
// and returns the length of the whole text, like snprintf; a negative value
// (-errno) when the term cannot be printed.
int format_term(char* buf, std::size_t size, ERL_NIF_TERM term);

}  // namespace nifshim::worker
