/* The proxy stub: what beam.smp dlopen's in place of an isolated NIF library.
 * The shim loads one copy per library from a memfd (a distinct path, so a
 * distinct link map), so dlsym(handle, "nif_init") and dlclose(handle) are
 * the dynamic linker's own, exact down to dlerror(). The copy's nif_init asks
 * the shim for the proxy entry of the library it stands for; its destructor
 * tells the shim the VM has closed it. */
struct enif_entry_t;
extern struct enif_entry_t* nifshim_proxy_entry(void* stub_nif_init);
extern void nifshim_proxy_closed(void* stub_nif_init);

__attribute__((visibility("default"))) struct enif_entry_t* nif_init(void) {
  return nifshim_proxy_entry((void*)&nif_init);
}

__attribute__((destructor)) static void proxy_stub_closed(void) {
  nifshim_proxy_closed((void*)&nif_init);
}
