defmodule Relapp.Application do
  # The check stands in for a top supervisor: it stops the node when done.
  use Application

  @impl true
  def start(_type, _args) do
    {:ok, spawn_link(&Relapp.check/0)}
  end
end

defmodule Relapp do
  @moduledoc "What a release under nifshim checks on itself (tests/release/run.sh)."
  require Logger

  def check do
    result =
      try do
        {:ok, erlang_side} = :relapp_check.check()
        {:ok, erlang_side ++ elixir_errors()}
      catch
        kind, reason -> {:failed, kind, reason, __STACKTRACE__}
      end

    File.write!(System.fetch_env!("RELAPP_RESULT"), :io_lib.format(~c"~p.~n", [result]))
    System.stop()
  end

  # nifshim's errors as an Elixir program meets them: an ErlangError whose
  # original is {:nifshim, kind, info}, and the same term caught as :error.
  defp elixir_errors do
    rescued =
      try do
        :crash_nif.crash(:segv)
      rescue
        e in ErlangError -> e
      end

    %ErlangError{original: {:nifshim, :worker_crashed, %{reason: reason, signal: :SIGSEGV}}} = rescued
    message = Exception.message(rescued)
    true = String.contains?(message, "worker_crashed")
    :alive = :crash_nif.crash(:none)

    caught =
      try do
        :crash_nif.crash(:abort)
      catch
        :error, {:nifshim, kind, info} -> {kind, info.signal}
      end

    {:worker_crashed, :SIGABRT} = caught
    Logger.info("nifshim error in Elixir: #{message}")
    [elixir_rescue: List.to_string(reason), elixir_catch: caught]
  end
end
