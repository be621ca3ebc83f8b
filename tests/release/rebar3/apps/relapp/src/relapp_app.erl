-module(relapp_app).
-behaviour(application).
-export([start/2, stop/1]).

%% The check process stands in for a top supervisor: when it has stopped the
%% node, the application goes with it.
start(_Type, _Args) -> relapp_check:start_link().

stop(_State) -> ok.
