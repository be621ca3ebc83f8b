/* What a NIF can observe of its process through libc and the kernel: the
 * locale, signal dispositions and mask, process group and session, umask,
 * resource limits, current directory, environment, time zone, standard
 * descriptors, open descriptors (tests/erlang/procstate.erl compares a
 * native run with isolated ones). */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

#include "erl_nif.h"

static ERL_NIF_TERM atom(ErlNifEnv* env, const char* s) { return enif_make_atom(env, s); }

static ERL_NIF_TERM str(ErlNifEnv* env, const char* s) {
  return s ? enif_make_string(env, s, ERL_NIF_LATIN1) : atom(env, "undefined");
}

static void put(ErlNifEnv* env, ERL_NIF_TERM* map, const char* key, ERL_NIF_TERM v) {
  enif_make_map_put(env, *map, atom(env, key), v, map);
}

static ERL_NIF_TERM locale_of(ErlNifEnv* env) {
  static const struct { int cat; const char* name; } cats[] = {
      {LC_CTYPE, "LC_CTYPE"}, {LC_NUMERIC, "LC_NUMERIC"}, {LC_TIME, "LC_TIME"}, {LC_COLLATE, "LC_COLLATE"},
      {LC_MONETARY, "LC_MONETARY"}, {LC_MESSAGES, "LC_MESSAGES"}, {LC_ALL, "LC_ALL"}};
  ERL_NIF_TERM m = enif_make_new_map(env);
  for (size_t i = 0; i < sizeof cats / sizeof cats[0]; ++i) put(env, &m, cats[i].name, str(env, setlocale(cats[i].cat, NULL)));
  wchar_t w[4] = {0};
  size_t n = mbstowcs(w, "\xc3\xa9", 4); /* U+00E9 in UTF-8 */
  put(env, &m, "mbstowcs", n == (size_t)-1 ? atom(env, "eilseq") : enif_make_tuple2(env, enif_make_uint64(env, n), enif_make_uint(env, (unsigned)w[0])));
  put(env, &m, "towupper_e9", enif_make_uint(env, (unsigned)towupper(0xE9)));
  char num[32];
  snprintf(num, sizeof num, "%.1f", 1.5);
  put(env, &m, "printf_1_5", str(env, num));
  return m;
}

/* [{Signal, dfl | ign | handler}] for 1..64, and the calling thread's mask. */
static ERL_NIF_TERM signals_of(ErlNifEnv* env) {
  ERL_NIF_TERM list = enif_make_list(env, 0), blocked = enif_make_list(env, 0);
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, NULL, &mask);
  for (int s = 64; s >= 1; --s) {
    struct sigaction sa;
    const char* d = "invalid";
    if (sigaction(s, NULL, &sa) == 0)
      d = sa.sa_handler == SIG_DFL ? "dfl" : sa.sa_handler == SIG_IGN ? "ign" : "handler";
    list = enif_make_list_cell(env, enif_make_tuple2(env, enif_make_int(env, s), atom(env, d)), list);
    if (sigismember(&mask, s) == 1) blocked = enif_make_list_cell(env, enif_make_int(env, s), blocked);
  }
  return enif_make_tuple2(env, list, blocked);
}

static ERL_NIF_TERM fd_kind(ErlNifEnv* env, int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return atom(env, "closed");
  const char* k = S_ISCHR(st.st_mode) ? "chr" : S_ISFIFO(st.st_mode) ? "fifo" : S_ISREG(st.st_mode) ? "reg"
                  : S_ISSOCK(st.st_mode) ? "sock" : "other";
  return enif_make_tuple3(env, atom(env, k), enif_make_uint64(env, st.st_dev), enif_make_uint64(env, st.st_ino));
}

static ERL_NIF_TERM state(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  char var[256];
  if (enif_get_string(env, argv[0], var, sizeof var, ERL_NIF_LATIN1) <= 0) return enif_make_badarg(env);
  ERL_NIF_TERM m = enif_make_new_map(env);
  put(env, &m, "locale", locale_of(env));
  put(env, &m, "signals", signals_of(env));
  put(env, &m, "pid", enif_make_int(env, getpid()));
  put(env, &m, "pgid", enif_make_int(env, getpgrp()));
  put(env, &m, "sid", enif_make_int(env, getsid(0)));
  mode_t um = umask(0);
  umask(um);
  put(env, &m, "umask", enif_make_uint(env, um));
  ERL_NIF_TERM lims = enif_make_list(env, 0);
  for (int r = RLIM_NLIMITS - 1; r >= 0; --r) {
    struct rlimit rl;
    if (getrlimit(r, &rl) != 0) continue;
    lims = enif_make_list_cell(env, enif_make_tuple3(env, enif_make_int(env, r), enif_make_uint64(env, rl.rlim_cur),
                                                     enif_make_uint64(env, rl.rlim_max)), lims);
  }
  put(env, &m, "rlimits", lims);
  char cwd[4096];
  put(env, &m, "cwd", str(env, getcwd(cwd, sizeof cwd)));
  put(env, &m, "getenv", str(env, getenv(var)));
  char ev[256];
  size_t evn = sizeof ev;
  put(env, &m, "enif_getenv", enif_getenv(var, ev, &evn) == 0 ? str(env, ev) : atom(env, "undefined"));
  put(env, &m, "TZ", str(env, getenv("TZ")));
  tzset();
  time_t t = 1700000000;
  struct tm tm;
  localtime_r(&t, &tm);
  char when[64];
  strftime(when, sizeof when, "%F %T %Z %z", &tm);
  put(env, &m, "localtime", str(env, when));
  put(env, &m, "fd0", fd_kind(env, 0));
  put(env, &m, "fd1", fd_kind(env, 1));
  put(env, &m, "fd2", fd_kind(env, 2));
  return m;
}

/* A write to a pipe whose reader is gone: EPIPE (natively SIGPIPE is ignored). */
static ERL_NIF_TERM write_closed_pipe(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  int p[2];
  if (pipe(p) != 0) return atom(env, "no_pipe");
  close(p[0]);
  ssize_t n = write(p[1], "x", 1);
  int e = errno;
  close(p[1]);
  return n >= 0 ? atom(env, "written") : e == EPIPE ? atom(env, "epipe") : enif_make_int(env, e);
}

/* [{Fd, Target, CloseOnExec}] of this process. */
static ERL_NIF_TERM open_fds(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  ERL_NIF_TERM list = enif_make_list(env, 0);
  for (int fd = 1023; fd >= 0; --fd) {
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0) continue;
    char path[64], target[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    list = enif_make_list_cell(env, enif_make_tuple3(env, enif_make_int(env, fd), str(env, target),
                                                     atom(env, (fl & FD_CLOEXEC) ? "cloexec" : "inherited")), list);
  }
  return list;
}

/* Sets signal N to its default action (a NIF may). */
static ERL_NIF_TERM default_signal(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  int s;
  if (!enif_get_int(env, argv[0], &s)) return enif_make_badarg(env);
  return signal(s, SIG_DFL) == SIG_ERR ? atom(env, "error") : atom(env, "ok");
}

/* Creates the file Marker, then sleeps Ms milliseconds (a dirty I/O job: a
 * call in flight, known to be once the marker exists). */
static ERL_NIF_TERM sleep_ms(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  int ms;
  char marker[1024];
  if (!enif_get_int(env, argv[0], &ms) || enif_get_string(env, argv[1], marker, sizeof marker, ERL_NIF_LATIN1) <= 0)
    return enif_make_badarg(env);
  int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  return atom(env, "ok");
}

static ErlNifFunc funcs[] = {
    {"state", 1, state, 0},
    {"write_closed_pipe", 0, write_closed_pipe, 0},
    {"open_fds", 0, open_fds, 0},
    {"default_signal", 1, default_signal, 0},
    {"sleep_ms", 2, sleep_ms, ERL_NIF_DIRTY_JOB_IO_BOUND},
};

ERL_NIF_INIT(procstate, funcs, NULL, NULL, NULL, NULL)
