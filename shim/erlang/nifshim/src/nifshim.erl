%% nifshim: the Erlang face of the shim in a VM started with
%% `scripts/nifshim run -- erl`. Lists the workers that host the isolated NIF
%% libraries, restarts one, shows the configuration in force and what the
%% shared window's memory is doing.
%%
%% Every function raises erlang:error({nifshim, not_active, #{reason => Text}})
%% when the VM runs without the shim.
-module(nifshim).
-export([workers/0, restart/1, policy/0, memory/0, active/0]).
-on_load(init/0).

-type worker() :: #{library := string(), name := string(), pid := integer(),
                    state := running | dead | backoff | gave_up, calls := non_neg_integer(),
                    crashes := non_neg_integer(), restarts := non_neg_integer(),
                    uptime_ms := non_neg_integer(), retry_in_ms := non_neg_integer(),
                    backoff_ms := non_neg_integer()}.

init() ->
    erlang:load_nif(filename:join(code:priv_dir(nifshim), "nifshim_control"), 0).

%% @doc The isolated NIF libraries and their workers.
-spec workers() -> [worker()].
workers() -> check(control_workers()).

%% @doc Kills the worker of a library (by name, e.g. "crypto", or path) so the
%% next call starts a fresh one; also lifts a restart_limit and its backoff.
-spec restart(string() | atom() | binary()) -> ok | {error, not_found}.
restart(Name) when is_atom(Name) -> restart(atom_to_list(Name));
restart(Name) when is_binary(Name) -> restart(binary_to_list(Name));
restart(Name) when is_list(Name) -> check(control_restart(Name)).

%% @doc The configuration in force (isolation, restarts, deadlines, limits, window).
-spec policy() -> map().
policy() -> check(control_policy()).

%% @doc The shared window's memory, in bytes: `resident' (pages in the
%% window's memfd), `kept' (pages the VM freed, kept for reuse; at most
%% `keep_max', for at most `keep_ms' (+25%)), `free_resident' (pages inside
%% free ranges, counted from the memfd: never more than `kept'), totals
%% since the VM started: `freed', `reused', `punched', and `window_free' (the
%% window's address space not mapped: what the VM can still allocate).
-spec memory() -> #{atom() => non_neg_integer()}.
memory() -> check(control_memory()).

%% @doc Whether this VM runs with the shim.
-spec active() -> boolean().
active() -> control_active().

check({nifshim_error, Text}) ->
    erlang:error({nifshim, not_active, #{reason => Text}});
check(Result) ->
    Result.

control_workers() -> erlang:nif_error(not_loaded).
control_restart(_) -> erlang:nif_error(not_loaded).
control_policy() -> erlang:nif_error(not_loaded).
control_memory() -> erlang:nif_error(not_loaded).
control_active() -> erlang:nif_error(not_loaded).
