%% Erlang side of the api_newer test NIF (tests/nifs/api_newer_nif.c): the
%% enif functions newer than NIF 2.16; cases in api_cases.erl (newer_cases/0)
%% and run_case.sh (api_options). Functions the runtime's NIF version lacks
%% are not in the library: their stubs stay.
-module(api_newer).
-export([nif_minor/0, load_options/0, string_length/2, new_atom/2, utf8/2, slow/1,
         sizes/1, cache_index/1, unload_then_halt/1]).
-on_load(init/0).

init() ->
    Dir = os:getenv("NIFSHIM_TEST_NIFS", "."),
    erlang:load_nif(filename:join(Dir, "api_newer_nif"), 0).

nif_minor() -> erlang:nif_error(not_loaded).
load_options() -> erlang:nif_error(not_loaded).
string_length(_, _) -> erlang:nif_error(not_loaded).
new_atom(_, _) -> erlang:nif_error(not_loaded).
utf8(_, _) -> erlang:nif_error(not_loaded).
slow(_) -> erlang:nif_error(not_loaded).
sizes(_) -> erlang:nif_error(not_loaded).
cache_index(_) -> erlang:nif_error(not_loaded).

%% The option callbacks (run_case.sh api_options): unload the library (its
%% unload-thread callback runs on each scheduler thread, then unload), load
%% it again, start a dirty call that the halt must wait for (delay halt),
%% and halt while it runs (on_halt runs first). The events file says what ran.
unload_then_halt(Events) ->
    true = code:delete(?MODULE),
    true = code:soft_purge(?MODULE),
    wait_for_line(Events, "unload", 500),
    {module, ?MODULE} = code:load_file(?MODULE),
    spawn(fun() -> ?MODULE:slow(1500) end),
    wait_for_line(Events, "slow started", 500),
    halt().

wait_for_line(_, Line, 0) -> error({no_event, Line});
wait_for_line(File, Line, N) ->
    Lines = case file:read_file(File) of
                {ok, B} -> string:split(binary_to_list(B), "\n", all);
                _ -> []
            end,
    case lists:member(Line, Lines) of
        true -> ok;
        false -> receive after 10 -> ok end, wait_for_line(File, Line, N - 1)
    end.
