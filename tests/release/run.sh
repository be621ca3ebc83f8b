#!/usr/bin/env bash
# Builds a small release of a real app (tests/release/rebar3 or mix) that
# uses Debian's jiffy, starts it with the release's own start script under
# nifshim, and reads what the app checked on itself (tests/release/common/
# relapp_check.erl): jiffy isolated, the nifshim module in the release, a
# worker crash survived, reported and raised as an Erlang (and, in the mix
# release, an Elixir) error.
#   run.sh rebar3|mix OUTDIR
# Environment: NIFSHIM_LAUNCHER, NIFSHIM_SOURCE_ROOT, NIFSHIM_TEST_NIFS (set by meson);
# LD_PRELOAD may hold the sanitizer runtimes (they follow the shim).
set -uo pipefail
kind=$1 tmp=$2
src=$NIFSHIM_SOURCE_ROOT/tests/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
app=$work/$kind
cp -r "$src/$kind" "$app" || exit 1
# The check is the same Erlang module in both apps, with the test corpus's
# crash_nif (a NIF that crashes on demand, found in $NIFSHIM_TEST_NIFS).
case $kind in
  rebar3) d=$app/apps/relapp/src ;;
  mix) d=$app/src; mkdir -p "$d" ;;
esac
cp "$src/common/relapp_check.erl" "$NIFSHIM_SOURCE_ROOT/tests/erlang/crash_nif.erl" "$d/" || exit 1
cd "$app" || exit 1
export HOME=$work/home   # rebar3's and mix's caches: nothing of the user's
mkdir -p "$HOME"
libs=$("$NIFSHIM_LAUNCHER" erl-libs) || exit 1
result=$tmp/$kind.result
rm -f "$result"
case $kind in
  rebar3)
    # Build time: the nifshim application is found on ERL_LIBS, as jiffy in the system.
    ERL_LIBS=$libs rebar3 release >"$tmp/$kind.build" 2>&1 || { echo "rebar3 release failed"; cat "$tmp/$kind.build"; exit 1; }
    [ -d _build/default/rel/relapp/lib/nifshim-0.1.0 ] || { echo "nifshim is not in the release"; exit 1; }
    # Run time: the one line, then the release's own start script.
    eval "$("$NIFSHIM_LAUNCHER" env)"
    unset ERL_LIBS   # the release has its own copy of the nifshim application
    RELAPP_RESULT=$result timeout 180 _build/default/rel/relapp/bin/relapp foreground >"$tmp/$kind.out" 2>&1
    rc=$?
    ;;
  mix)
    export MIX_ENV=prod
    ERL_LIBS=$libs mix release --quiet >"$tmp/$kind.build" 2>&1 || { echo "mix release failed"; cat "$tmp/$kind.build"; exit 1; }
    [ -d _build/prod/rel/relapp/lib/nifshim-0.1.0 ] || { echo "nifshim is not in the release"; exit 1; }
    grep -q 'nifshim' _build/prod/rel/relapp/releases/0.1.0/env.sh || { echo "env.sh lacks the line"; exit 1; }
    # Run time: the release's env.sh holds the one line (rel/env.sh.eex).
    RELAPP_RESULT=$result timeout 180 _build/prod/rel/relapp/bin/relapp start >"$tmp/$kind.out" 2>&1
    rc=$?
    ;;
esac
if [ ! -f "$result" ]; then echo "the release wrote no result (exit $rc)"; cat "$tmp/$kind.out"; exit 1; fi
if ! grep -q '^{ok,' "$result"; then echo "the release's check failed:"; cat "$result" "$tmp/$kind.out"; exit 1; fi
[ $rc -eq 0 ] || { echo "the release exited $rc"; cat "$tmp/$kind.out"; exit 1; }
tr -d '\n' <"$result" | tr -s ' '
echo
