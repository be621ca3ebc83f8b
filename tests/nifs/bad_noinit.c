/* bad_noinit: a valid shared library without nif_init. erlang:load_nif/2
 * must refuse it; api_misc loads it with enif_dlopen and calls
 * api_helper_twice through enif_dlsym. */
double api_helper_twice(double x);
double api_helper_twice(double x) { return 2.0 * x; }
