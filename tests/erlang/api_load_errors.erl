%% erlang:load_nif/2 failures, each from a module generated at run time
%% (tests/nifs/bad_*): the exact {error, {Reason, Text}} terms are recorded,
%% so a native and an isolated run can be compared byte for byte. Texts may
%% name paths; both runs use the same ones.
-module(api_load_errors).
-export([run/1, results/0]).

run(OutFile) ->
    Results = results(),
    ok = file:write_file(OutFile, term_to_binary(Results)),
    io:format("cases=~p~n", [length(Results)]),
    halt(0).

results() ->
    Dir = os:getenv("NIFSHIM_TEST_NIFS", "."),
    Lib = fun(Name) -> filename:join(Dir, Name) end,
    [{bad_version, load(bad_version, Lib("bad_version_nif"))},
     {bad_noinit, load(bad_noinit, Lib("bad_noinit"))},
     {bad_notelf, load(bad_notelf, Lib("bad_notelf"))},
     {bad_name, load(bad_name, Lib("bad_name_nif"))},
     {bad_load, load(bad_load, Lib("bad_load_nif"))},
     {bad_funcs, load(bad_funcs, Lib("bad_funcs_nif"))},
     {bad_flags, load(bad_flags, Lib("bad_flags_nif"))},
     {bad_variant, load(bad_variant, Lib("bad_variant_nif"))},
     {missing_file, load(bad_missing, Lib("api_no_such_library_nif"))},
     {missing_dir, load(bad_missing2, "/nonexistent_dir_for_nifshim/x_nif")},
     %% the right module: loads, then a second load and an upgrade are refused
     {good_then_reload, good_then_reload(Lib("bad_name_nif"))},
     {upgrade_unsupported, upgrade_unsupported(Lib("bad_name_nif"))},
     {not_loaded_call, not_loaded_call(Lib("bad_funcs_nif"))}].

good_then_reload(Path) ->
    First = load(bad_name_other, Path),
    Call = t(fun() -> bad_name_other:f() end),
    Again = t(fun() -> bad_name_other:load(Path) end),
    {First, Call, Again}.

%% new code for a module whose old code has the library loaded: the library
%% has no upgrade callback
upgrade_unsupported(Path) ->
    Upgrade = load(bad_name_other, Path),
    Call = t(fun() -> bad_name_other:f() end),
    {Upgrade, Call}.

not_loaded_call(Path) ->
    _ = load(bad_funcs, Path),
    t(fun() -> bad_funcs:f() end).

t(F) -> try F() catch Class:Reason -> {error, Class, Reason} end.

%% Makes (or remakes, as new code) module Mod with load/1 and f/0, and
%% calls erlang:load_nif(Path, 0) from it.
load(Mod, Path) ->
    Src = io_lib:format(
        "-module(~s).~n-export([load/1, f/0]).~n"
        "load(P) -> erlang:load_nif(P, 0).~n"
        "f() -> erlang:nif_error(not_loaded).~n", [Mod]),
    {ok, Mod, Bin} = compile:forms(forms(lists:flatten(Src)), [binary, return_errors]),
    _ = code:purge(Mod),
    {module, Mod} = code:load_binary(Mod, atom_to_list(Mod) ++ ".erl", Bin),
    t(fun() -> Mod:load(Path) end).

forms(Src) -> forms(Src, 1, []).
forms(Src, Line, Acc) ->
    case erl_scan:tokens([], Src, Line) of
        {done, {ok, Toks, End}, Rest} ->
            {ok, Form} = erl_parse:parse_form(Toks),
            forms(Rest, End, [Form | Acc]);
        {more, _} -> lists:reverse(Acc);
        {done, {eof, _}, _} -> lists:reverse(Acc)
    end.
