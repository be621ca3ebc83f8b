-module(compat_dyntrace).
-export([cases/0]).
-import(compat_util, [t/1, par/3]).

%% The VM is built without dtrace/systemtap: dyntrace:available() is false and
%% the probe functions are no-ops returning error/false; we check exactly that.
cases() ->
    [{available, fun() -> dyntrace:available() end},
     {p, fun() -> [dyntrace:p(), dyntrace:p(1), dyntrace:p(1, 2), dyntrace:p("a"), dyntrace:p(1, "a"),
                   dyntrace:p(1, 2, 3, 4, "a", "b", "c", "d")] end},
     {pn, fun() -> [t(fun() -> dyntrace:pn(1) end), t(fun() -> dyntrace:pn(1, 2) end), t(fun() -> dyntrace:pn(1, "x") end)] end},
     {user_trace, fun() -> [t(fun() -> dyntrace:user_trace_s1("hello") end),
                            t(fun() -> dyntrace:user_trace_i4s4(<<"tag">>, 1, 2, 3, 4, "a", "b", "c", "d") end)] end},
     {tags, fun() ->
         R1 = dyntrace:put_tag(<<"mytag">>),
         G = dyntrace:get_tag(),
         D = dyntrace:get_tag_data(),
         S = dyntrace:spread_tag(true),
         dyntrace:restore_tag(S),
         {R1, G, D, dyntrace:get_tag()}
     end},
     {enabled, fun() -> [t(fun() -> dyntrace:enabled(trace_status, a, b) end),
                         t(fun() -> dyntrace:enabled_procs(x, y, z) end),
                         t(fun() -> dyntrace:enabled_call(x, y, z) end)] end},
     {trace_cb, fun() -> [t(fun() -> dyntrace:trace(seq_trace, self(), a, b, [])  =/= foo end)] end},
     {badarg, fun() -> [t(fun() -> dyntrace:user_trace_s1(42) end), t(fun() -> dyntrace:p(self()) end)] end},
     {bulk_50k, fun() -> lists:usort([dyntrace:p(I, "x") || I <- lists:seq(1, 50000)]) end},
     {concurrent_16x200, fun() -> par(16, 200, fun(P, I) -> {dyntrace:p(P, I, "s"), dyntrace:available()} end) end}].
