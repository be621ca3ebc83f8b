/* Linked into every NIF library rebuilt against nifshim: `pkg-config --libs
 * nifshim` names this archive and forces this member in (-u). Its constructor
 * runs when the library is loaded, before ERTS looks up nif_init, and hands
 * the library to libnifshim.so (a dependency the same flags add), which
 * isolates it in a worker when a plain beam.smp loads it (shim/rebuilt.cc).
 * In the worker, in a VM with the preload, and in any other program it does
 * nothing and the library is what it always was.
 *
 * Priority 101: before the library's own constructors, which the shim
 * switches off in the VM (they run in the worker). */
struct enif_entry_t;

/* The library's own nif_init (ERL_NIF_INIT); weak: a library without one is
 * not a NIF and stays as it is. */
extern struct enif_entry_t* nif_init(void) __attribute__((weak));

extern int nifshim_rebuilt_attach(struct enif_entry_t* (*init)(void), void* self);

/* What -u names to pull this member out of the archive. */
__attribute__((visibility("hidden"))) const char nifshim_rebuilt_link[] = "nifshim rebuilt";

__attribute__((constructor(101), visibility("hidden"))) void nifshim_rebuilt_constructor(void) {
  (void)nifshim_rebuilt_link;
  nifshim_rebuilt_attach(nif_init, (void*)&nifshim_rebuilt_constructor);
}
