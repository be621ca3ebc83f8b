#!/usr/bin/env bash
# Runs one Erlang-level test case against a real erl, started through the
# product's own launcher (scripts/nifshim run). Exit 0 = pass.
# Environment (set by meson): NIFSHIM_LAUNCHER, NIFSHIM_TEST_EBIN,
# NIFSHIM_TEST_NIFS, NIFSHIM_PEER.
set -uo pipefail
case_name=$1
ebin=$NIFSHIM_TEST_EBIN
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ERL_CRASH_DUMP_BYTES=0   # a VM that dies on purpose leaves no dump

# In the sanitizer build the shim is instrumented: its runtimes are preloaded
# after it (the shim must come first to see beam.smp's own mmap calls).
if [ -n "${NIFSHIM_SANITIZER_PRELOAD:-}" ]; then
  export ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

# shim_erl OUT ERR ARGS...: erl with the shim; stdout/stderr to files.
shim_erl() { local out=$1 err=$2; shift 2
  LD_PRELOAD="${NIFSHIM_SANITIZER_PRELOAD:-}" \
    "$NIFSHIM_LAUNCHER" run -- erl -noshell -pa "$ebin" "$@" >"$out" 2>"$err"; }
# Native runs load the same (possibly instrumented) test NIFs: same runtimes.
plain_erl() { local out=$1 err=$2; shift 2
  LD_PRELOAD="${NIFSHIM_SANITIZER_PRELOAD:-}" erl -noshell -pa "$ebin" "$@" >"$out" 2>"$err"; }

descendants() { local p; for p in $(pgrep -P "$1"); do echo "$p"; descendants "$p"; done; }
show() { for f in "$@"; do case "$f" in *.bin) continue ;; esac; echo "--- $(basename "$f")"; cat "$f"; done; }
pass() { echo "PASS $case_name: $*"; exit 0; }
fail() { echo "FAIL $case_name: $*"; show "$tmp"/*; exit 1; }
# The shim prints only errors by default: a clean run has none.
clean_stderr() { ! grep -q 'nifshim\[' "$1" || fail "unexpected shim messages on stderr"; }

# Rebuilt mode: a plain erl (no launcher, no preload) loading the corpus
# rebuilt against the shim (tests/nifs/rebuilt).
rebuilt_erl() { local out=$1 err=$2; shift 2
  NIFSHIM_TEST_NIFS="$NIFSHIM_TEST_NIFS/rebuilt" plain_erl "$out" "$err" "$@"; }

# run_mode MODE MODULE: MODULE:run(File) in a VM of that mode, the results
# in $tmp/MODE.bin: native, isolated (with the worker's direct term path),
# forwarded (isolated, NIFSHIM_DIRECT=0), rebuilt (the rebuilt corpus in a
# plain erl).
run_mode() { local mode=$1 mod=$2 rc
  local eval="$mod:run(\"$tmp/$mode.bin\")."
  case $mode in
    native) plain_erl "$tmp/$mode.out" "$tmp/$mode.err" -eval "$eval" ;;
    isolated) shim_erl "$tmp/$mode.out" "$tmp/$mode.err" -eval "$eval" ;;
    forwarded) NIFSHIM_DIRECT=0 shim_erl "$tmp/$mode.out" "$tmp/$mode.err" -eval "$eval" ;;
    rebuilt) rebuilt_erl "$tmp/$mode.out" "$tmp/$mode.err" -eval "$eval" ;;
  esac
  rc=$?
  [ $rc -eq 0 ] || fail "$mode run exited $rc"
  [ "$mod" = api_load_errors ] || [ "$mode" = native ] || clean_stderr "$tmp/$mode.err"
}

# compare_modes MODULE MODE...: MODULE:run natively and in each MODE, each
# compared case by case with the native results (the rebuilt corpus's
# paths have "/rebuilt" in addition). Prints the last comparison's verdict.
compare_modes() { local mod=$1 m; shift
  run_mode native "$mod"
  for m in "$@"; do
    run_mode "$m" "$mod"
    plain_erl "$tmp/cmp.out" "$tmp/cmp.err" -eval \
      "isolation_tests:compare(\"$tmp/native.bin\", \"$tmp/$m.bin\", \"$( [ "$m" = rebuilt ] && echo /rebuilt )\")." \
      || fail "results differ ($m)"
  done
  echo "$(tail -n 1 "$tmp/native.out"); native vs $*: $(tail -n 1 "$tmp/cmp.out")"
}

# The NIF version of the erl under test ("2.16": OTP 25).
nif_version() { erl -noshell -eval 'io:format("~s", [erlang:system_info(nif_version)]), halt().'; }

# skip_without_direct_path: a case about the direct path itself is skipped on
# a runtime whose term layout it does not know (it knows OTP 25's, NIF 2.16):
# there every term function is forwarded, which the other cases test.
skip_without_direct_path() { local v; v=$(nif_version)
  [ "$v" = 2.16 ] && return 0
  echo "SKIP $case_name: the direct path knows OTP 25's term layout (NIF 2.16) only; on NIF $v every term function is forwarded"
  exit 77
}

# corpus_direct_and_mismatch KIND: the API corpus natively, isolated with the
# debug log ($tmp/iso.err), and isolated in a runtime laid out otherwise
# (NIFSHIM_TEST_LAYOUT_MISMATCH=KIND, simulated; $tmp/mis.err): both give the
# native results ($tmp/cmp.out, $tmp/cmp2.out). The caller reads the logs.
corpus_direct_and_mismatch() { local kind=$1
  plain_erl "$tmp/native.out" "$tmp/native.err" -eval "api_cases:run(\"$tmp/native.bin\")." \
    || fail "native run exited $?"
  NIFSHIM_DEBUG=1 shim_erl "$tmp/iso.out" "$tmp/iso.err" -eval "api_cases:run(\"$tmp/iso.bin\")." \
    || fail "isolated run exited $?"
  plain_erl "$tmp/cmp.out" "$tmp/cmp.err" \
    -eval "isolation_tests:compare(\"$tmp/native.bin\", \"$tmp/iso.bin\")." || fail "results differ (direct)"
  NIFSHIM_DEBUG=1 NIFSHIM_TEST_LAYOUT_MISMATCH=$kind shim_erl "$tmp/mis.out" "$tmp/mis.err" \
    -eval "api_cases:run(\"$tmp/mis.bin\")." || fail "mismatch run exited $?"
  plain_erl "$tmp/cmp2.out" "$tmp/cmp2.err" \
    -eval "isolation_tests:compare(\"$tmp/native.bin\", \"$tmp/mis.bin\")." || fail "results differ (mismatch)"
}

# isolation_tests:FUN() in a VM with the shim; optional VAR=VALUE first.
isolation_case() { local fun=$1; shift
  ( [ $# -eq 0 ] || export "$@"; shim_erl "$tmp/out" "$tmp/err" -eval "isolation_tests:$fun()." ) \
    || fail "exit $?"
}

case "$case_name" in
  boot_halt)
    shim_erl "$tmp/out" "$tmp/err" -eval 'halt().' || fail "halt() exited $?"
    clean_stderr "$tmp/err"
    shim_erl "$tmp/out2" "$tmp/err2" -eval 'init:stop().' || fail "init:stop() exited $?"
    shim_erl "$tmp/out3" "$tmp/err3" -eval 'halt(3).'; [ $? -eq 3 ] || fail "halt(3) did not exit 3"
    pass "erl starts and halts cleanly with the shim (halt/0, init:stop/0, halt/1)" ;;

  boot_helpers)
    epmd_before=$(pgrep -x epmd || true)
    shim_erl "$tmp/out" "$tmp/err" -sname "nifshim_test_$$" -eval 'window_tests:boot_helpers().'
    rc=$?
    [ -z "$epmd_before" ] && epmd -kill >/dev/null 2>&1
    [ $rc -eq 0 ] || fail "exit $rc"
    clean_stderr "$tmp/err"
    pass "$(tail -n 1 "$tmp/out")" ;;

  memory_kinds)
    shim_erl "$tmp/out" "$tmp/err" -eval 'window_tests:memory_kinds().' || fail "exit $?"
    clean_stderr "$tmp/err"
    pass "$(tail -n 1 "$tmp/out")" ;;

  memory_returned)
    # Freed memory goes back within the bounds: as configured, by default, and
    # at once with keeping off.
    for keep in "NIFSHIM_KEEP=64M NIFSHIM_KEEP_MS=500" "NIFSHIM_KEEP= NIFSHIM_KEEP_MS=" "NIFSHIM_KEEP=0"; do
      ( export $keep; shim_erl "$tmp/out" "$tmp/err" +MMmcs 0 -eval 'window_tests:memory_returned().' ) \
        || fail "$keep: exit $?"
      clean_stderr "$tmp/err"
      verdicts+="${keep:-defaults}: $(tail -n 1 "$tmp/out") | "
    done
    pass "$verdicts" ;;

  peer)
    shim_erl "$tmp/out" "$tmp/err" -eval 'window_tests:peer().' || fail "exit $?"
    clean_stderr "$tmp/err"
    pass "$(tail -n 1 "$tmp/out")" ;;

  workload_checksum)
    plain_erl "$tmp/native.out" "$tmp/native.err" -eval 'nifshim_workload:main().' || fail "native run exited $?"
    shim_erl "$tmp/shim.out" "$tmp/shim.err" -eval 'nifshim_workload:main().' || fail "shim run exited $?"
    clean_stderr "$tmp/shim.err"
    a=$(grep '^checksum=' "$tmp/native.out"); b=$(grep '^checksum=' "$tmp/shim.out")
    [ -n "$a" ] || fail "no checksum from the native run"
    [ "$a" = "$b" ] || fail "checksums differ: native $a, shim $b"
    pass "native and shim agree: $a" ;;

  fallback_base)
    # 0x800000000000 is beyond x86-64 user space: the preferred base cannot be had.
    NIFSHIM_WINDOW_BASE=0x800000000000 shim_erl "$tmp/out" "$tmp/err" -eval 'window_tests:memory_kinds().' \
      || fail "exit $?"
    grep -q 'window base 0x800000000000 is not available; using 0x' "$tmp/err" || fail "no fallback message"
    pass "window moved to a free hole; $(tail -n 1 "$tmp/out")" ;;

  exhaustion)
    # A 3 GiB window (1 GiB of it ERTS's literal area) cannot hold a 4 GiB binary.
    NIFSHIM_WINDOW_SIZE=3G shim_erl "$tmp/out" "$tmp/err" \
      -eval 'B = binary:copy(<<0>>, 4 bsl 30), io:format("~p~n", [byte_size(B)]), halt(0).'
    rc=$?
    [ $rc -ne 0 ] || fail "a 4 GiB binary fit in a 3 GiB window"
    grep -q 'window exhausted: no free range of' "$tmp/err" || fail "no exhaustion message"
    grep -q 'Cannot allocate' "$tmp/err" "$tmp/out" || fail "ERTS did not report the failed allocation"
    pass "ENOMEM with a clear message; ERTS reports it as it does natively (exit $rc)" ;;

  disabled)
    NIFSHIM_DISABLE=1 shim_erl "$tmp/out" "$tmp/err" -eval 'window_tests:no_window().' || fail "exit $?"
    clean_stderr "$tmp/err"
    pass "$(tail -n 1 "$tmp/out")" ;;

  api_native_vs_isolated)
    # The enif API corpus (tests/nifs/api_*_nif.c): every case natively, then
    # isolated (with the direct term path, then fully forwarded), compared
    # term by term.
    r=$(compare_modes api_cases isolated forwarded) || { echo "$r"; exit 1; }
    pass "$r" ;;

  direct_mismatch)
    skip_without_direct_path
    # A runtime whose term layout differs from what the worker knows (here
    # simulated): the library runs fully forwarded, with a log line, and
    # still gives the native results.
    plain_erl "$tmp/native.out" "$tmp/native.err" -eval "api_cases:run(\"$tmp/native.bin\")." \
      || fail "native run exited $?"
    NIFSHIM_TEST_LAYOUT_MISMATCH=1 shim_erl "$tmp/iso.out" "$tmp/iso.err" \
      -eval "api_cases:run(\"$tmp/iso.bin\")." || fail "isolated run exited $?"
    grep -q 'the term layout differs from this runtime.s (check 1): every term function is forwarded' \
      "$tmp/iso.err" || fail "no log line"
    plain_erl "$tmp/cmp.out" "$tmp/cmp.err" \
      -eval "isolation_tests:compare(\"$tmp/native.bin\", \"$tmp/iso.bin\")." || fail "results differ"
    pass "layout mismatch: logged, fully forwarded, $(tail -n 1 "$tmp/cmp.out")" ;;

  direct_resources)
    skip_without_direct_path
    # Resource objects read and counted in place (worker/enif_direct_resource.cc):
    # the worker learns the layout from the VM's answers and goes direct (the
    # debug log says so); the API corpus still gives the native results. A
    # runtime whose resource layout differs (simulated): the first answer
    # disagrees, a log line, forwarded, the same results.
    corpus_direct_and_mismatch resource
    grep -q 'api_resources.*: resource objects read in place' "$tmp/iso.err" \
      || fail "the resource library's worker never went direct"
    ! grep -q 'laid out other than expected' "$tmp/iso.err" || fail "unexpected disagreement"
    grep -q 'api_resources.*: resource objects are laid out other than expected' "$tmp/mis.err" \
      || fail "no log line for the simulated layout"
    grep -q 'read in place' "$tmp/mis.err" && fail "went direct despite the disagreement"
    pass "direct: $(tail -n 1 "$tmp/cmp.out"); simulated other layout: logged, forwarded, $(tail -n 1 "$tmp/cmp2.out")" ;;

  direct_offheap)
    skip_without_direct_path
    # ProcBins and magic references built, and reductions counted, in place
    # (worker/enif_direct_offheap.cc, enif_direct_reductions.cc): the probe
    # finds the process's off-heap list, the first forwarded calls agree and
    # the worker goes direct (the debug log says so); the API corpus
    # still gives the native results. A runtime that builds them otherwise
    # (simulated): the first comparison disagrees, a log line, forwarded, the
    # same results.
    corpus_direct_and_mismatch offheap
    grep -q 'api_binmap.*: the process.s off-heap list lies at offset' "$tmp/iso.err" \
      || fail "the probe did not find the off-heap list"
    grep -q 'api_binmap.*: enif_make_binary builds in place' "$tmp/iso.err" \
      || fail "enif_make_binary never went direct"
    grep -q 'api_resources.*: enif_make_resource builds in place' "$tmp/iso.err" \
      || fail "enif_make_resource never went direct"
    grep -q 'api_misc.*: enif_consume_timeslice counts in place' "$tmp/iso.err" \
      || fail "enif_consume_timeslice never went direct"
    ! grep -q 'builds its term other than expected' "$tmp/iso.err" || fail "unexpected disagreement"
    grep -q 'api_binmap.*: enif_make_binary builds its term other than expected' "$tmp/mis.err" \
      || fail "no log line for the simulated ProcBin"
    grep -q 'api_resources.*: enif_make_resource builds its term other than expected' "$tmp/mis.err" \
      || fail "no log line for the simulated magic reference"
    grep -q 'api_misc.*: no word of the process counts reductions as expected' "$tmp/mis.err" \
      || fail "no log line for the simulated reduction count"
    grep -qE 'builds in place|counts in place' "$tmp/mis.err" && fail "went direct despite the disagreement"
    pass "direct: $(tail -n 1 "$tmp/cmp.out"); simulated other layout: logged, forwarded, $(tail -n 1 "$tmp/cmp2.out")" ;;

  direct_property)
    # Random terms of every type copied through enif_get_*/enif_make_*
    # (tests/erlang/term_prop.erl) equal their originals in all three modes.
    r=$(compare_modes term_prop isolated forwarded) || { echo "$r"; exit 1; }
    pass "$r" ;;

  api_load_errors)
    # Libraries that are not NIFs, lack nif_init, claim NIF 2.99, fail load...:
    # the same {error, {Reason, Text}} natively and isolated.
    r=$(compare_modes api_load_errors isolated) || { echo "$r"; exit 1; }
    pass "$r" ;;

  follows_cwd)
    isolation_case follows_cwd
    clean_stderr "$tmp/err"
    pass "$(tail -n 1 "$tmp/out")" ;;

  only_in_worker)
    isolation_case only_in_worker
    clean_stderr "$tmp/err"
    pass "$(tail -n 1 "$tmp/out")" ;;

  worker_cannot_start)
    NIFSHIM_WORKER=/nonexistent/nifshim-worker shim_erl "$tmp/out" "$tmp/err" \
      -eval 'isolation_tests:worker_cannot_start().' || fail "exit $?"
    grep -q 'cannot isolate .*api_terms_nif.so: nifshim: worker program' "$tmp/err" || fail "no log line"
    pass "$(tail -n 1 "$tmp/out")" ;;

  killed_worker)
    shim_erl "$tmp/out" "$tmp/err" -eval 'isolation_tests:killed_worker().' || fail "exit $?"
    grep -q 'worker for api_terms_nif (pid [0-9]*) died' "$tmp/err" || fail "no log line for the death"
    grep -q 'worker for api_terms_nif restarted' "$tmp/err" || fail "no log line for the restart"
    pass "$(tail -n 1 "$tmp/out")" ;;

  global_scope)
    isolation_case global_scope
    pass "$(tail -n 1 "$tmp/out")" ;;

  dead_upgrade)
    isolation_case dead_upgrade
    pass "$(tail -n 1 "$tmp/out")" ;;

  cpu_limit)
    isolation_case cpu_limit NIFSHIM_WORKER_CPU=1
    pass "$(tail -n 1 "$tmp/out")" ;;

  dies_with_vm)
    # kill -9 the VM: its workers follow (PR_SET_PDEATHSIG), none is left behind.
    "$NIFSHIM_LAUNCHER" run -- erl -noshell -pa "$ebin" \
      -eval 'alive = crash_nif:crash(none), io:format("~s~n", [isolation_tests:worker_pid("nif:crash_nif")]), timer:sleep(60000).' \
      >"$tmp/out" 2>"$tmp/err" &
    # Up to 60 s for the worker to start (a loaded machine), then checked.
    for _ in $(seq 600); do [ -s "$tmp/out" ] && break; sleep 0.1; done
    worker=$(head -n 1 "$tmp/out")
    [ -n "$worker" ] && kill -0 "$worker" 2>/dev/null || fail "no worker started"
    beam=$(awk '{print $4}' "/proc/$worker/stat")
    kill -9 "$beam"
    for _ in $(seq 50); do kill -0 "$worker" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$worker" 2>/dev/null && fail "worker $worker outlived its VM $beam"
    wait 2>/dev/null
    pass "worker $worker died with its VM $beam" ;;

  idle_workers)
    isolation_case idle_workers
    clean_stderr "$tmp/err"
    pass "$(tail -n 1 "$tmp/out")" ;;

  affinity_kept)
    isolation_case affinity_kept
    clean_stderr "$tmp/err"
    pass "$(tail -n 1 "$tmp/out")" ;;

  nifshim_module)
    isolation_case nifshim_module
    pass "$(tail -n 1 "$tmp/out")" ;;

  nifshim_without_shim)
    ERL_LIBS=$NIFSHIM_ERL_LIBS plain_erl "$tmp/out" "$tmp/err" -eval 'isolation_tests:nifshim_without_shim().' \
      || fail "exit $?"
    pass "$(tail -n 1 "$tmp/out")" ;;

  crash_outside)
    isolation_case crash_outside
    pass "$(tail -n 1 "$tmp/out")" ;;

  deadline)
    isolation_case deadline NIFSHIM_DEADLINE=crash_nif=300
    grep -q 'died: killed: a call ran past its deadline of 300 ms' "$tmp/err" || fail "no log line"
    pass "$(tail -n 1 "$tmp/out")" ;;

  oom)
    # ASan's shadow memory is private memory: it cannot live under RLIMIT_DATA.
    if [ -n "${NIFSHIM_SANITIZER_PRELOAD:-}" ]; then echo "SKIP oom: not under ASan"; exit 77; fi
    isolation_case oom NIFSHIM_WORKER_MEMORY=64M
    pass "$(tail -n 1 "$tmp/out")" ;;

  logger_report)
    isolation_case logger_report
    pass "$(tail -n 1 "$tmp/out")" ;;

  storm)
    isolation_case storm NIFSHIM_RESTARTS=1000000/1
    pass "$(tail -n 1 "$tmp/out")" ;;

  crypto_storm)
    # crypto's worker killed from outside 30 times while 8 callers keep state
    # across calls (isolation_tests:crypto_storm/1); NIFSHIM_DIRECT as set.
    NIFSHIM_RESTARTS=1000000/1 shim_erl "$tmp/out" "$tmp/err" -eval 'isolation_tests:crypto_storm(30).' \
      || fail "exit $? (the VM died?)"
    pass "$(tail -n 1 "$tmp/out")" ;;

  faults)
    # crypto's worker stopped (then killed from outside) or crashed at each
    # point of the channel protocol (worker/test_hooks.h).
    # A stopped worker is found among the VM's descendants and SIGKILLed.
    # offheap is a point of the direct path, which knows NIF 2.16's layout only.
    n=0 points="call enif callback return offheap load"
    [ "$(nif_version)" = 2.16 ] || points="call enif callback return load"
    for point in $points; do
      for how in stop crash; do
        NIFSHIM_TEST_DIE_AT=crypto:$point:$how NIFSHIM_RESTARTS=1000000/1 shim_erl "$tmp/out" "$tmp/err" \
          -eval "isolation_tests:fault($point, $how)." &
        vm=$! killed=
        while [ "$how" = stop ] && [ -z "$killed" ] && kill -0 "$vm" 2>/dev/null; do
          for p in $(descendants "$vm"); do
            if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = nif:crypto ] && \
               [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = T ]; then kill -9 "$p"; killed=$p; fi
          done
          sleep 0.05
        done
        wait "$vm" || fail "$point/$how: exit $?"
        [ "$how" = crash ] || [ -n "$killed" ] || fail "$point/$how: the worker never stopped"
        grep -q 'worker for crypto (pid [0-9]*) died' "$tmp/err" || fail "$point/$how: no death logged"
        tail -n 1 "$tmp/out"; n=$((n + 1))
      done
    done
    pass "$n fault cases ($points): the VM lived, callers got documented errors, the next worker served" ;;

  core_fits)
    # A core of beam.smp (gcore honours MADV_DONTDUMP) holds the memory the
    # VM uses, not the window's reservation: at most 2 x VmRSS + 256 MiB
    # beyond beam.smp's own mappings, where the 8 GiB window would be dumped
    # whole without the marks. Not under ASan: gcore would write out its
    # terabytes of shadow and allocator reservations.
    if [ -n "${NIFSHIM_SANITIZER_PRELOAD:-}" ]; then echo "SKIP $case_name: gcore of an ASan process"; exit 77; fi
    NIFSHIM_WINDOW_SIZE=8G NIFSHIM_WORKER_ARENA=256M shim_erl "$tmp/out" "$tmp/err" -eval \
      '_ = crypto:hash(sha256, <<"x">>), B = [binary:copy(<<I>>, 1000000) || I <- lists:seq(1, 64)], io:format("ready~n"), receive after 100000 -> B end.' &
    vm=$!
    for _ in $(seq 300); do grep -q ready "$tmp/out" 2>/dev/null && break; sleep 0.1; done
    beam=
    for p in $(descendants "$vm") "$vm"; do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = beam.smp ] && beam=$p; done
    [ -n "$beam" ] || { kill "$vm"; fail "no beam.smp"; }
    rss_kib=$(awk '/^VmRSS/ {print $2}' "/proc/$beam/status")
    # What gcore dumps of beam.smp's own mappings (glibc's arena
    # reservations...) is as natively: only the window's part is bounded.
    other_kib=$(awk '/^[0-9a-f]+-[0-9a-f]+ / {name = $6} /^Size:/ {size = $2}
                     /^VmFlags:/ { if ($0 !~ / dd/ && name !~ /nifshim-window/) t += size } END {print t + 0}' "/proc/$beam/smaps")
    gcore -o "$tmp/core" "$beam" >"$tmp/gcore.log" 2>&1; rc=$?
    kill -9 "$beam"; wait "$vm" 2>/dev/null
    [ $rc -eq 0 ] && [ -f "$tmp/core.$beam" ] || fail "gcore failed ($rc)"
    core=$(stat -c %s "$tmp/core.$beam"); rm -f "$tmp/core.$beam"
    limit=$(( (2 * rss_kib + 256 * 1024 + other_kib) * 1024 ))
    [ "$core" -le "$limit" ] || fail "core $((core >> 20)) MiB for VmRSS $((rss_kib >> 10)) MiB, $((other_kib >> 10)) MiB outside the window (bound $((limit >> 20)) MiB)"
    pass "core of beam.smp $((core >> 20)) MiB for VmRSS $((rss_kib >> 10)) MiB, $((other_kib >> 10)) MiB outside the window (bound $((limit >> 20)) MiB; window 8 GiB)" ;;

  cycles)
    # ASan keeps freed memory in quarantine: RSS is looser there.
    rss_limit_kib=$((16 * 1024)); [ -n "${NIFSHIM_SANITIZER_PRELOAD:-}" ] && rss_limit_kib=$((128 * 1024))
    NIFSHIM_RESTARTS=1000000/1 shim_erl "$tmp/out" "$tmp/err" -eval "isolation_tests:cycles(1000, $rss_limit_kib)." \
      || fail "exit $?"
    pass "$(tail -n 1 "$tmp/out")" ;;

  restart_resources)
    isolation_case restart_resources
    pass "$(tail -n 1 "$tmp/out")" ;;

  restart_select)
    isolation_case restart_select
    pass "$(tail -n 1 "$tmp/out")" ;;

  select_race)
    # Worker threads passing descriptors to the VM at once, their numbers
    # reused as soon as stopped: natively and isolated alike, no error.
    # A scheduler that hangs (waiting for a descriptor another took) shows
    # as a run killed after 60 s.
    plain_erl "$tmp/native.out" "$tmp/native.err" -eval 'isolation_tests:select_race().' \
      || fail "native run exited $?"
    LD_PRELOAD="${NIFSHIM_SANITIZER_PRELOAD:-}" timeout -s KILL 60 \
      "$NIFSHIM_LAUNCHER" run -- erl -noshell -pa "$ebin" -eval 'isolation_tests:select_race().' \
      >"$tmp/out" 2>"$tmp/err" || fail "isolated run exited $? (137: hung, killed after 60 s)"
    clean_stderr "$tmp/err"
    pass "$(tail -n 1 "$tmp/out")" ;;

  select_halt)
    # halt() while processes select and stop: each VM exits 0, at once.
    for i in 1 2 3 4 5; do
      LD_PRELOAD="${NIFSHIM_SANITIZER_PRELOAD:-}" timeout -s KILL 60 \
        "$NIFSHIM_LAUNCHER" run -- erl -noshell -pa "$ebin" -eval 'isolation_tests:select_halt().' \
        >"$tmp/out" 2>"$tmp/err" || fail "run $i exited $? (137: hung, killed after 60 s)"
      clean_stderr "$tmp/err"
    done
    pass "5 VMs halted while selecting and stopping descriptors: each exited 0" ;;

  restart_limit)
    isolation_case restart_limit NIFSHIM_RESTARTS=2/60 NIFSHIM_BACKOFF=off
    grep -q 'crash_nif.so: 2 restarts within 60 s: giving up' "$tmp/err" || fail "no log line"
    pass "$(tail -n 1 "$tmp/out")" ;;

  worker_usage)
    shim_erl "$tmp/out" "$tmp/err" -eval 'usage_tests:run().' || fail "exit $?"
    clean_stderr "$tmp/err"
    ERL_LIBS=$NIFSHIM_ERL_LIBS rebuilt_erl "$tmp/out2" "$tmp/err2" -eval 'usage_tests:rebuilt().' \
      || fail "rebuilt: exit $?"
    pass "$(tail -n 1 "$tmp/out"); $(tail -n 1 "$tmp/out2")" ;;

  release_rebar3|release_mix)
    # A rebar3 / mix release started by its own start script under nifshim.
    # Debian's rebar3, elixir and jiffy are built for its own runtime.
    root=$(erl -noshell -eval 'io:format("~s", [code:root_dir()]), halt().')
    [ "$root" = /usr/lib/erlang ] || { echo "SKIP $case_name: Debian's rebar3, elixir and jiffy are for the system's OTP (/usr/lib/erlang), not $root"; exit 77; }
    [ -n "${NIFSHIM_SANITIZER_PRELOAD:-}" ] && export LD_PRELOAD=$NIFSHIM_SANITIZER_PRELOAD
    r=$("$NIFSHIM_SOURCE_ROOT/tests/release/run.sh" "${case_name#release_}" "$tmp") || fail "$r"
    pass "${case_name#release_} release: $r" ;;

  worker_core)
    # A crashing worker's core: its own, named, bounded, and gdb opens it.
    mkdir -p "$tmp/cores"
    ( export NIFSHIM_CORE_DIR=$tmp/cores NIFSHIM_CORE_KEEP=2
      shim_erl "$tmp/out" "$tmp/err" -eval 'recovery_tests:cores().' ) || fail "exit $?"
    core=$(tail -n 1 "$tmp/out")
    [ -f "$core" ] || fail "no core at $core"
    worker=$(dirname "$NIFSHIM_LIB")/../worker/nifshim-worker
    gdb -batch -ex bt "$worker" "$core" >"$tmp/gdb.out" 2>&1
    grep -q 'crash (env=' "$tmp/gdb.out" || fail "gdb's backtrace of $core does not name the NIF's function"
    size=$(stat -c %s "$core")
    [ "$size" -lt $((512 << 20)) ] || fail "the core is $size bytes: the window is in it"
    pass "core $(basename "$core"), $((size >> 20)) MiB, gdb: $(grep -m1 'crash (env=' "$tmp/gdb.out" | cut -c1-60)" ;;

  restart_backoff)
    ( export NIFSHIM_RESTARTS=2/60 NIFSHIM_BACKOFF=300/1200
      shim_erl "$tmp/out" "$tmp/err" -eval 'recovery_tests:backoff().' ) || fail "backoff: exit $?"
    grep -q 'crash_nif.so: 2 restarts within 60 s: next try in 300 ms' "$tmp/err" || fail "no backoff log line"
    grep -q 'next try in 1200 ms' "$tmp/err" || fail "no capped backoff log line"
    ( export NIFSHIM_RESTARTS=2/2 NIFSHIM_BACKOFF=300/1200
      shim_erl "$tmp/out2" "$tmp/err2" -eval 'recovery_tests:backoff_quiet().' ) || fail "backoff_quiet: exit $?"
    ( export NIFSHIM_RESTARTS=2/60 NIFSHIM_BACKOFF=off
      shim_erl "$tmp/out3" "$tmp/err3" -eval 'recovery_tests:backoff_off().' ) || fail "backoff_off: exit $?"
    pass "$(tail -n 1 "$tmp/out"); $(tail -n 1 "$tmp/out2"); $(tail -n 1 "$tmp/out3")" ;;

  crashes)
    # Every way a NIF can die, on normal and dirty schedulers; one VM each.
    for how in segv abort fpe ill bus stack exit _exit "{dirty,segv}" "{dirty,abort}"; do
      shim_erl "$tmp/out" "$tmp/err" -eval "isolation_tests:crash($( [ "$how" = _exit ] && echo "'_exit'" || echo "$how"))." \
        || fail "crash $how: exit $?"
      grep -q 'worker for crash_nif (pid [0-9]*) died' "$tmp/err" || fail "crash $how: no log line"
      tail -n 1 "$tmp/out" >>"$tmp/summary"
    done
    cat "$tmp/summary"
    pass "10 crash kinds: each raised worker_crashed with its signal or exit status" ;;

  rebuilt_native_vs_isolated)
    # The corpus rebuilt against the shim, in a plain erl: the API cases and
    # the load errors give what the native libraries give.
    a=$(compare_modes api_cases rebuilt) || { echo "$a"; exit 1; }
    b=$(compare_modes api_load_errors rebuilt) || { echo "$b"; exit 1; }
    pass "api_cases: $a; api_load_errors: $b" ;;

  rebuilt_only_in_worker)
    # Plain erl: each rebuilt library runs in its own worker.
    rebuilt_erl "$tmp/out" "$tmp/err" -eval 'isolation_tests:rebuilt_only_in_worker().' || fail "exit $?"
    clean_stderr "$tmp/err"
    pass "$(tail -n 1 "$tmp/out")" ;;

  rebuilt_with_preload)
    # Rebuilt libraries in a VM with the preload: isolated once, zero-copy.
    NIFSHIM_TEST_NIFS="$NIFSHIM_TEST_NIFS/rebuilt" shim_erl "$tmp/out" "$tmp/err" \
      -eval 'isolation_tests:rebuilt_with_preload().' || fail "exit $?"
    clean_stderr "$tmp/err"
    pass "$(tail -n 1 "$tmp/out")" ;;

  rebuilt_cannot_isolate)
    # No worker program: the rebuilt library's load fails (it never runs in
    # the VM instead), with the reason in the log; the VM lives.
    NIFSHIM_WORKER=/nonexistent/nifshim-worker rebuilt_erl "$tmp/out" "$tmp/err" -eval '
      {error, on_load_failure} = code:ensure_loaded(bench_nif),
      timer:sleep(100), io:format("the VM lives~n"), halt().' || fail "exit $?"
    grep -q 'cannot isolate rebuilt library .*bench_nif.so: nifshim: worker program /nonexistent/nifshim-worker not found.*its load fails' "$tmp/err" \
      || fail "no log line"
    grep -q 'Library load-call unsuccessful (-1)' "$tmp/out" "$tmp/err" || fail "no load error"
    grep -q 'the VM lives' "$tmp/out" || fail "the VM did not go on"
    pass "a rebuilt library that cannot be isolated fails to load: {error, {load, \"Library load-call unsuccessful (-1).\"}} and a log line" ;;

  rebuilt_crashes)
    # A rebuilt library's crashes, in a plain erl: the VM lives.
    for how in segv abort exit "{dirty,segv}"; do
      rebuilt_erl "$tmp/out" "$tmp/err" -eval "isolation_tests:crash($how)." || fail "crash $how: exit $?"
      grep -q 'worker for crash_nif (pid [0-9]*) died' "$tmp/err" || fail "crash $how: no log line"
      tail -n 1 "$tmp/out" >>"$tmp/summary"
    done
    cat "$tmp/summary"
    pass "4 crash kinds in rebuilt mode: each raised worker_crashed, a new worker served the next call" ;;

  rebuilt_install)
    # What a NIF author does: meson install (here into a DESTDIR), then a
    # plain Makefile whose only change is the pkg-config line. The library
    # it builds is isolated by a plain erl.
    dest=$tmp/dest
    meson install -C "$NIFSHIM_BUILD_ROOT" --destdir "$dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1 \
      || fail "meson install failed"
    pc=$(find "$dest" -name nifshim.pc | head -n 1)
    [ -n "$pc" ] || fail "no nifshim.pc installed"
    for f in libnifshim.so libnifshim_link.a nifshim-worker nifshim.h; do
      [ -n "$(find "$dest" -name "$f")" ] || fail "$f not installed"
    done
    mkdir -p "$tmp/nif"
    cp "$NIFSHIM_SOURCE_ROOT/tests/nifs/bench_nif.c" "$tmp/nif/"
    cat >"$tmp/nif/Makefile" <<'MK'
ERL_ROOT := $(shell erl -noshell -eval 'io:format("~s", [code:root_dir()]), halt().')
CFLAGS += -O2 -fPIC -I$(ERL_ROOT)/usr/include
LDFLAGS += -shared
LDLIBS += $(shell pkg-config --libs nifshim)
bench_nif.so: bench_nif.c
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)
MK
    PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dest make -s -C "$tmp/nif" >"$tmp/make.log" 2>&1 \
      || fail "make failed"
    libdir=$(dirname "$(find "$dest" -name libnifshim.so | head -n 1)")
    LD_LIBRARY_PATH=$libdir NIFSHIM_TEST_NIFS=$tmp/nif plain_erl "$tmp/out" "$tmp/err" -eval '
      7 = bench_nif:add(3, 4), 42 = bench_nif:noop(42),
      Me = os:getpid(), Lib = os:getenv("NIFSHIM_TEST_NIFS") ++ "/bench_nif.so",
      [W] = [P || {P, "nif:" ++ _} <- test_util:children(Me)],
      nomatch = string:find(test_util:read(Me, "maps"), Lib),
      true = string:find(test_util:read(W, "maps"), Lib) =/= nomatch,
      io:format("installed: built with pkg-config, isolated in worker ~s~n", [W]), halt().' \
      || fail "the installed build did not isolate: exit $?"
    clean_stderr "$tmp/err"
    pass "$(tail -n 1 "$tmp/out")" ;;

  procstate)
    # What a NIF sees of its process (README "What a NIF sees"): natively,
    # isolated and rebuilt, at boot and after file:set_cwd/os:putenv, under a
    # UTF-8 locale, a time zone, a umask and a variable the VM changes.
    export LANG=C.UTF-8 TZ=XYZ-3 PROCSTATE_VAR=boot
    unset LC_ALL LC_CTYPE
    umask 027
    for m in native isolated rebuilt; do
      case $m in
        native) plain_erl "$tmp/$m.out" "$tmp/$m.err" -eval "procstate:run(\"$tmp/$m.bin\")." ;;
        isolated) shim_erl "$tmp/$m.out" "$tmp/$m.err" -eval "procstate:run(\"$tmp/$m.bin\")." ;;
        rebuilt) rebuilt_erl "$tmp/$m.out" "$tmp/$m.err" -eval "procstate:run(\"$tmp/$m.bin\")." ;;
      esac || fail "$m run exited $?"
      [ $m = native ] && continue
      clean_stderr "$tmp/$m.err"
      plain_erl "$tmp/cmp.out" "$tmp/cmp.err" -eval \
        "procstate:compare(\"$tmp/native.bin\", \"$tmp/$m.bin\", \"$m\")." || fail "results differ ($m)"
      verdict="${verdict:-}$(tail -n 1 "$tmp/cmp.out"); "
    done
    pass "$verdict" ;;

  fds_closed)
    shim_erl "$tmp/out" "$tmp/err" -eval 'procstate_fds:fds_closed().' || fail "exit $?"
    pass "$(tail -n 1 "$tmp/out")" ;;

  death_signals)
    shim_erl "$tmp/out" "$tmp/err" -eval 'procstate:deaths().' || fail "exit $?"
    for s in 'signal 9 (SIGKILL), sender unknown' 'signal 15 (SIGTERM)' 'signal 2 (SIGINT)' 'signal 13 (SIGPIPE)'; do
      grep -q "died: $s" "$tmp/err" || fail "no log line naming $s"
    done
    ! grep -q 'killed from outside' "$tmp/err" || fail "a death not named"
    pass "$(tail -n 1 "$tmp/out")" ;;

  terminal_break)
    python3 "$NIFSHIM_SOURCE_ROOT/tests/tools/terminal_break.py" \
      "$NIFSHIM_LAUNCHER" "$ebin" "$tmp/terminal" >"$tmp/out" 2>&1 || { cat "$tmp/out"; exit 1; }
    pass "$(tail -n 1 "$tmp/out")" ;;

  api_options)
    # enif_set_option's callbacks (NIF 2.17): unloading runs the unload-thread
    # callback on each scheduler thread, then unload; halt runs on_halt and
    # waits for a dirty call of the library (delay halt). The events a native
    # run records are the isolated run's.
    minor=$(nif_version)
    case $minor in 2.1[0-6]) echo "SKIP api_options: NIF $minor has no enif_set_option (2.17+)"; exit 77 ;; esac
    NIFSHIM_TEST_EVENTS=$tmp/native.events plain_erl "$tmp/native.out" "$tmp/native.err" \
      -eval "api_cases:newer_unload_then_halt(\"$tmp/native.events\")." || fail "native run exited $?"
    NIFSHIM_TEST_EVENTS=$tmp/iso.events shim_erl "$tmp/iso.out" "$tmp/iso.err" \
      -eval "api_cases:newer_unload_then_halt(\"$tmp/iso.events\")." || fail "isolated run exited $?"
    clean_stderr "$tmp/iso.err"
    grep -q '^on_halt$' "$tmp/native.events" && grep -q '^slow finished$' "$tmp/native.events" \
      && grep -q '^unload_thread normal$' "$tmp/native.events" || fail "native run: events missing"
    cmp -s "$tmp/native.events" "$tmp/iso.events" || fail "events differ (native vs isolated)"
    pass "$(grep -c . "$tmp/iso.events") events as native: $(sort -u "$tmp/iso.events" | paste -sd, -)" ;;

  *) echo "unknown case $case_name"; exit 2 ;;
esac
