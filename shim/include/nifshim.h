/* nifshim's public C interface. A NIF library needs none of it to be
 * isolated: linking with `pkg-config --libs nifshim` is enough. These are
 * for tools and tests that want to know where they run. */
#ifndef NIFSHIM_H
#define NIFSHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct enif_entry_t;

/* The shared window of this process (beam.smp with the shim active): 0 and
 * its base, size and memfd; -1 when the shim is inert here. */
int nifshim_window_info(uintptr_t* base, size_t* size, int* fd);

/* Called by the constructor a rebuilt library carries (libnifshim_link.a):
 * isolates the library when a plain beam.smp loads it. 1 if it did. */
int nifshim_rebuilt_attach(struct enif_entry_t* (*init)(void), void* self);

#ifdef __cplusplus
}
#endif

#endif
