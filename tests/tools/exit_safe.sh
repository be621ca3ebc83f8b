#!/bin/sh
# exit_safe.sh LIB...
# beam.smp halts with exit(), which runs the static destructors of every
# library while the VM's other threads (schedulers, the poll thread, the
# shim's service threads) keep running and may still use them: a destroyed
# std::map there is a segfault at halt. So the shim's libraries must register
# no destructor with exit(): they import neither __cxa_atexit nor atexit
# (globals that need one are allocated once and never freed).
# Prints the offending libraries; exits 1 if there is any.
set -eu
bad=0
for lib in "$@"; do
  if nm -D --undefined-only "$lib" | grep -Eq ' (__cxa_atexit|atexit)(@|$)'; then
    echo "$lib registers destructors run by exit():"
    objdump -d --no-show-raw-insn -C "$lib" |
      awk '/^[0-9a-f]+ <.*>:$/ { fn = $2 } /(call|jmp).*<(__cxa_atexit|atexit)@plt>/ { print "  from " fn }' | sort -u
    bad=1
  fi
done
[ $bad -eq 0 ] && echo "no destructors run by exit() in: $*"
exit $bad
