%% Erlang side of the window_probe test NIF (tests/nifs/window_probe_nif.c).
-module(window_probe).
-export([addr/1, tuple_words/1, resource/0, alloc_binary/1, make_new_binary/1,
         alloc/1, alloc_env_terms/0, iolist_as_binary/1, cwd/0]).
-on_load(init/0).

init() ->
    Dir = os:getenv("NIFSHIM_TEST_NIFS", "."),
    erlang:load_nif(filename:join(Dir, "window_probe_nif"), 0).

addr(_) -> erlang:nif_error(not_loaded).
tuple_words(_) -> erlang:nif_error(not_loaded).
resource() -> erlang:nif_error(not_loaded).
alloc_binary(_) -> erlang:nif_error(not_loaded).
make_new_binary(_) -> erlang:nif_error(not_loaded).
alloc(_) -> erlang:nif_error(not_loaded).
alloc_env_terms() -> erlang:nif_error(not_loaded).
iolist_as_binary(_) -> erlang:nif_error(not_loaded).
cwd() -> erlang:nif_error(not_loaded).
