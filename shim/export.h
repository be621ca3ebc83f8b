// The shim is built with -fvisibility=hidden; only symbols marked here are
// part of its ABI (the interposed libc functions and the nifshim_* API).
#pragma once
#define NIFSHIM_EXPORT __attribute__((visibility("default")))
