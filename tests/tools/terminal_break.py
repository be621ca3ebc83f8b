#!/usr/bin/env python3
"""An interactive erl under a pseudo-terminal (no real terminal needed, so it
runs in CI): Ctrl-C opens ERTS's BREAK menu, `c` continues, and the workers
(same pids), their resources and a NIF call in flight survive, because the
terminal's signals reach the VM only (shim/worker_spawn.h).
Usage: terminal_break.py LAUNCHER EBIN LOG. Exit 0 = pass."""
import os
import pty
import re
import select
import sys
import time

launcher, ebin, log_path = sys.argv[1:4]
log = open(log_path, "wb")
buf = b""


def fail(why):
    log.flush()
    print("FAIL: " + why + "\n--- the terminal:\n" + open(log_path, "rb").read().decode(errors="replace"))
    sys.exit(1)


def expect(pattern, timeout=60):  # a hang guard, not a timing check
    global buf
    end = time.monotonic() + timeout
    while True:
        m = re.search(pattern, buf)
        if m:
            buf = buf[m.end():]
            return m
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            fail("no %r on the terminal" % pattern)
        try:
            data = os.read(fd, 4096)
        except OSError:
            fail("the terminal closed while waiting for %r" % pattern)
        log.write(data)
        buf += data


pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "dumb"
    # The sanitizer build's runtimes, as run_case.sh's shim_erl preloads them.
    os.environ["LD_PRELOAD"] = os.environ.get("NIFSHIM_SANITIZER_PRELOAD", "")
    os.execvp(launcher, [launcher, "run", "--", "erl", "-pa", ebin])
expect(rb"1> ")
os.write(fd, b"procstate:tty_before().\r")
before = expect(rb"TTY-BEFORE (\S+)").group(1)
expect(rb"2> ")
os.write(fd, b"\x03")  # Ctrl-C: SIGINT to the terminal's foreground process group
expect(rb"BREAK:")
os.write(fd, b"c\r")
expect(rb"c\r?\n")  # the shell goes on reading (no new prompt)
os.write(fd, b"procstate:tty_after(\"" + before + b"\").\r")
m = expect(rb"TTY-(OK|FAIL)([^\r\n]*)")
os.write(fd, b"halt().\r")
try:
    os.waitpid(pid, 0)
except ChildProcessError:
    pass
if m.group(1) != b"OK":
    fail(m.group(2).decode(errors="replace"))
print("workers, resources and the call in flight survived Ctrl-C + c:" + m.group(2).decode(errors="replace"))
