# A small mix release that uses a real NIF library (Debian's jiffy), started
# under nifshim by tests/release/run.sh: rel/env.sh.eex holds the one line.
defmodule Relapp.MixProject do
  use Mix.Project

  def project do
    [
      app: :relapp,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: true,
      deps: [],
      releases: [relapp: [include_erts: false, applications: [jiffy: :permanent, nifshim: :permanent]]]
    ]
  end

  def application do
    [extra_applications: [:logger, :jiffy, :nifshim], mod: {Relapp.Application, []}]
  end
end
