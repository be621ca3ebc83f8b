// erl_errno_id(), which beam.smp exports (erl_driver.h) and some NIFs call:
// the lowercase errno name ("enoent", "eacces", ...), "unknown" otherwise.
// The table is OTP 25's erts/emulator/beam/erl_posix_str.c as it compiles on
// Linux: the same names, including its gaps -- errno values it has no case
// for (ERESTART, ESTRPIPE, ENOMEDIUM, ECANCELED, EOWNERDEAD, ...) and EISNAM,
// whose case OTP guards with a misspelt "#ifdef EISNAME" -- answer
// "unknown"; where two names share a value it keeps ERTS's choice (eagain,
// edeadlk, enotsup).
#include <cerrno>

#include "export.h"

namespace {
char* s(const char* name) { return const_cast<char*>(name); }
}  // namespace

extern "C" NIFSHIM_EXPORT char* erl_errno_id(int error) {
  switch (error) {
    case E2BIG: return s("e2big");
    case EACCES: return s("eacces");
    case EADDRINUSE: return s("eaddrinuse");
    case EADDRNOTAVAIL: return s("eaddrnotavail");
    case EADV: return s("eadv");
    case EAFNOSUPPORT: return s("eafnosupport");
    case EAGAIN: return s("eagain");
    case EALREADY: return s("ealready");
    case EBADE: return s("ebade");
    case EBADF: return s("ebadf");
    case EBADFD: return s("ebadfd");
    case EBADMSG: return s("ebadmsg");
    case EBADR: return s("ebadr");
    case EBADRQC: return s("ebadrqc");
    case EBADSLT: return s("ebadslt");
    case EBFONT: return s("ebfont");
    case EBUSY: return s("ebusy");
    case ECHILD: return s("echild");
    case ECHRNG: return s("echrng");
    case ECOMM: return s("ecomm");
    case ECONNABORTED: return s("econnaborted");
    case ECONNREFUSED: return s("econnrefused");
    case ECONNRESET: return s("econnreset");
    case EDEADLK: return s("edeadlk");
#if EDEADLOCK != EDEADLK
    case EDEADLOCK: return s("edeadlock");
#endif
    case EDESTADDRREQ: return s("edestaddrreq");
    case EDOM: return s("edom");
    case EDOTDOT: return s("edotdot");
    case EDQUOT: return s("edquot");
    case EEXIST: return s("eexist");
    case EFAULT: return s("efault");
    case EFBIG: return s("efbig");
    case EHOSTDOWN: return s("ehostdown");
    case EHOSTUNREACH: return s("ehostunreach");
    case EIDRM: return s("eidrm");
    case EILSEQ: return s("eilseq");
    case EINPROGRESS: return s("einprogress");
    case EINTR: return s("eintr");
    case EINVAL: return s("einval");
    case EIO: return s("eio");
    case EISCONN: return s("eisconn");
    case EISDIR: return s("eisdir");
    case EL2HLT: return s("el2hlt");
    case EL2NSYNC: return s("el2nsync");
    case EL3HLT: return s("el3hlt");
    case EL3RST: return s("el3rst");
    case ELIBACC: return s("elibacc");
    case ELIBBAD: return s("elibbad");
    case ELIBEXEC: return s("elibexec");
    case ELIBMAX: return s("elibmax");
    case ELIBSCN: return s("elibscn");
    case ELNRNG: return s("elnrng");
    case ELOOP: return s("eloop");
    case EMFILE: return s("emfile");
    case EMLINK: return s("emlink");
    case EMSGSIZE: return s("emsgsize");
    case EMULTIHOP: return s("emultihop");
    case ENAMETOOLONG: return s("enametoolong");
    case ENAVAIL: return s("enavail");
    case ENETDOWN: return s("enetdown");
    case ENETRESET: return s("enetreset");
    case ENETUNREACH: return s("enetunreach");
    case ENFILE: return s("enfile");
    case ENOANO: return s("enoano");
    case ENOBUFS: return s("enobufs");
    case ENOCSI: return s("enocsi");
    case ENODATA: return s("enodata");
    case ENODEV: return s("enodev");
    case ENOENT: return s("enoent");
    case ENOEXEC: return s("enoexec");
    case ENOLCK: return s("enolck");
    case ENOLINK: return s("enolink");
    case ENOMEM: return s("enomem");
    case ENOMSG: return s("enomsg");
    case ENONET: return s("enonet");
    case ENOPKG: return s("enopkg");
    case ENOPROTOOPT: return s("enoprotoopt");
    case ENOSPC: return s("enospc");
    case ENOSR: return s("enosr");
    case ENOSTR: return s("enostr");
    case ENOSYS: return s("enosys");
    case ENOTBLK: return s("enotblk");
    case ENOTCONN: return s("enotconn");
    case ENOTDIR: return s("enotdir");
    case ENOTEMPTY: return s("enotempty");
    case ENOTNAM: return s("enotnam");
    case ENOTSOCK: return s("enotsock");
    case ENOTSUP: return s("enotsup");
    case ENOTTY: return s("enotty");
    case ENOTUNIQ: return s("enotuniq");
    case ENXIO: return s("enxio");
#if EOPNOTSUPP != ENOTSUP
    case EOPNOTSUPP: return s("eopnotsupp");
#endif
    case EOVERFLOW: return s("eoverflow");
    case EPERM: return s("eperm");
    case EPFNOSUPPORT: return s("epfnosupport");
    case EPIPE: return s("epipe");
    case EPROTO: return s("eproto");
    case EPROTONOSUPPORT: return s("eprotonosupport");
    case EPROTOTYPE: return s("eprototype");
    case ERANGE: return s("erange");
    case EREMCHG: return s("eremchg");
    case EREMOTE: return s("eremote");
    case EREMOTEIO: return s("eremoteio");
    case EROFS: return s("erofs");
    case ESHUTDOWN: return s("eshutdown");
    case ESOCKTNOSUPPORT: return s("esocktnosupport");
    case ESPIPE: return s("espipe");
    case ESRCH: return s("esrch");
    case ESRMNT: return s("esrmnt");
    case ESTALE: return s("estale");
    case ETIME: return s("etime");
    case ETIMEDOUT: return s("etimedout");
    case ETOOMANYREFS: return s("etoomanyrefs");
    case ETXTBSY: return s("etxtbsy");
    case EUCLEAN: return s("euclean");
    case EUNATCH: return s("eunatch");
    case EUSERS: return s("eusers");
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK: return s("ewouldblock");
#endif
    case EXDEV: return s("exdev");
    case EXFULL: return s("exfull");
  }
  return s("unknown");
}
