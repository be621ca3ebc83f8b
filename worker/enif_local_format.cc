// enif_fprintf, enif_vfprintf, enif_snprintf and enif_vsnprintf in the
// worker: ERTS's own printf (not libc's), reimplemented to give the same
// output, return values and side effects as OTP 25's
// erts/lib_src/common/erl_printf_format.c (erts_printf_format) and
// erl_printf.c (erts_vsnprintf, erts_vfprintf), which erl_nif.c:2199-2227
// calls. Terms (%T) are printed by the VM (term_format.h).
//
// Format: '%' flag* [width] ['.' precision] [length] conversion
//   flags      # 0 - <space> + ' I    (' and I are accepted and ignored)
//   width      digits or *   (a negative * width pads nothing; it does not
//                             left-adjust as in C)
//   precision  digits or *
//   length     hh h l ll L j t, and ERTS's b8 b16 b32 b64 bp (pointer
//              sized) be (term sized). j, t and L read an int (L with a
//              floating conversion fails with -EINVAL); b16 reads a long
//              (ERTS's parser lets b16 fall into b8, giving hh|h == l); any
//              other bN fails with -EINVAL.
//   conversion d i o u x X e E f g G c s p n %, and T (an ERL_NIF_TERM).
// Anything else ends the directive without consuming an argument and is
// printed as text: "%zu" prints "zu", "%F" prints "F", "%a" prints "a"
// (z, F, a, A are not ERTS conversions); a lone '%' at the end prints
// nothing.
// ERTS quirks kept: %g/%G never strip trailing zeros (1.5 -> "1.500000");
// the 0 flag does not zero-pad floating conversions; %#x of 0 is "0x0";
// %p is "0x" + 16 zero-padded hex digits whatever the flags; %c with
// precision 0 prints nothing; %n counts the characters so far; "%d" of
// INT_MIN prints "-18446744071562067968" (ERTS negates it as an int);
// "%10T" prints 10 blanks and then the term, whatever its length ("%-10T"
// pads correctly).
// Output to stdout or stderr goes straight to the file descriptor with
// write(2), bypassing the FILE buffer, with "\r" added before each "\n" (the
// VM's terminal is in raw mode); the count returned excludes the added "\r".
// Every call holds the FILE's lock (flockfile) while it writes. All four
// set errno to 0 first, as ERTS does.
// Where the worker differs: "%s" with NULL prints "(null)" (ERTS crashes).
// %T with a precision ("%.5T", "%.*T": ERTS's budget of elements and atom
// characters after which it prints "...") is passed to the VM's formatter.
#include <erl_nif.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "export.h"
#include "term_format.h"

namespace nifshim::worker {
namespace {

// The directive, packed as ERTS packs it: conversion | length | flags.
constexpr int kConvD = 0x0, kConvO = 0x2, kConvU = 0x3, kConvX = 0x4, kConvXX = 0x5, kConvE = 0x6,
              kConvEE = 0x7, kConvF = 0x8, kConvT = 0x9, kConvG = 0xa, kConvGG = 0xb, kConvC = 0xc,
              kConvS = 0xd, kConvP = 0xe, kConvN = 0xf, kConvMask = 0xf;
constexpr int kLenHH = 0x10, kLenH = 0x20, kLenL = 0x30, kLenLL = 0x40, kLenLD = 0x50, kLenJ = 0x60,
              kLenT = 0x70, kLenMask = 0xf0;
constexpr int kFlagAlt = 0x100, kFlagZero = 0x200, kFlagLeft = 0x400, kFlagBlank = 0x800,
              kFlagSign = 0x1000, kFlagGrouping = 0x2000, kFlagAltDigits = 0x4000;

// Where the text goes: returns len, or a negative errno value.
using Sink = int (*)(void* arg, const char* buf, size_t len);

constexpr char kZeros[] = "00000000000000000000000000000000";
constexpr char kBlanks[] = "                                ";

struct Out {
  Sink sink;
  void* arg;
  int count = 0;

  int put(const char* buf, size_t len) {
    int r = sink(arg, buf, len);
    if (r < 0) return r;
    count += static_cast<int>(len);
    return 0;
  }
  int fill(const char* chars, int n) {
    constexpr int kChunk = sizeof kZeros - 1;
    while (n > 0) {
      int now = n < kChunk ? n : kChunk;
      if (int r = put(chars, static_cast<size_t>(now)); r < 0) return r;
      n -= now;
    }
    return 0;
  }
  int blanks(int n) { return fill(kBlanks, n); }
  int zeros(int n) { return fill(kZeros, n); }
};

#define TRY(expr)                              \
  do {                                         \
    if (int r__ = (expr); r__ < 0) return r__; \
  } while (0)

// erl_printf_format.c: fmt_fld. Lays out w chars of digits/text with the
// sign/radix prefix, precision zeros and width padding.
int field(Out& o, const char* wbuf, int w, int sign, int width, int precision, int fmt) {
  char prefix[8];
  int pw = 0;
  if ((sign || (fmt & (kFlagSign | kFlagBlank))) && (fmt & kConvMask) == kConvD) {
    if (sign < 0)
      prefix[pw++] = '-';
    else if (fmt & kFlagSign)
      prefix[pw++] = '+';
    else if (fmt & kFlagBlank)
      prefix[pw++] = ' ';
  }
  if (fmt & kFlagAlt) {
    switch (fmt & kConvMask) {
      case kConvXX:
        prefix[pw++] = '0';
        prefix[pw++] = 'X';
        break;
      case kConvX:
        prefix[pw++] = '0';
        prefix[pw++] = 'x';
        break;
      case kConvO:
        prefix[pw++] = '0';
        if (precision > 1) precision--;
        break;
    }
  }
  int len = (w < precision ? precision : w) + pw;
  if (fmt & kFlagLeft) {
    if (pw) TRY(o.put(prefix, static_cast<size_t>(pw)));
    if (w < precision) TRY(o.zeros(precision - w));
    TRY(o.put(wbuf, static_cast<size_t>(w)));
    if (len < width) TRY(o.blanks(width - len));
  } else if ((fmt & kFlagZero) && precision < 0) {
    if (pw) TRY(o.put(prefix, static_cast<size_t>(pw)));
    if (len < width) TRY(o.zeros(width - len));
    TRY(o.put(wbuf, static_cast<size_t>(w)));
  } else {
    if (len < width) TRY(o.blanks(width - len));
    if (pw) TRY(o.put(prefix, static_cast<size_t>(pw)));
    if (w < precision) TRY(o.zeros(precision - w));
    TRY(o.put(wbuf, static_cast<size_t>(w)));
  }
  return 0;
}

// fmt_uword / fmt_long_long (the same on LP64). sign: -1, 0 or 1; a zero
// sign with a non-zero precision prints one "0".
int integer(Out& o, int sign, unsigned long long uval, int width, int precision, int fmt) {
  char buf[32];
  const char* digits = "0123456789abcdef";
  unsigned base = 10;
  switch (fmt & kConvMask) {
    case kConvD:
    case kConvU: break;
    case kConvO: base = 8; break;
    case kConvXX:
      digits = "0123456789ABCDEF";
      base = 16;
      break;
    case kConvX: base = 16; break;
    default: return -EINVAL;
  }
  char* p = buf + sizeof buf;
  int w = 0;
  if (!sign && precision) {
    *--p = '0';
    w++;
  } else {
    while (uval) {
      *--p = digits[uval % base];
      uval /= base;
      w++;
    }
  }
  return field(o, p, w, sign, width, precision, fmt);
}

int sign_of(long long v) { return v > 0 ? 1 : (v < 0 ? -1 : 0); }
unsigned long long magnitude(long long v) {
  return v < 0 ? 0ULL - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
}

// (int) of a double as x86-64's cvttsd2si gives it: INT_MIN when it does
// not fit (ERTS converts log10(inf) and log10(nan) this way).
int to_int_like_erts(double d) {
  if (!(d > static_cast<double>(INT_MIN) - 1.0 && d < static_cast<double>(INT_MAX) + 1.0))
    return INT_MIN;
  return static_cast<int>(d);
}

// fmt_double: libc's %e/%f for the digits, ERTS's own %g choice, and the
// field laid out by field() with precision 0 (so the 0 flag pads blanks).
int floating(Out& o, double val, int width, int precision, int fmt) {
  double dexp = val < 0.0 ? std::log10(-val) : (val == 0.0 ? 0.0 : std::log10(val));
  int exp = to_int_like_erts(dexp);
  int new_fmt = fmt & ~(kFlagSign | kFlagBlank);
  char spec[8];
  int fi = 0;
  spec[fi++] = '%';
  if (fmt & kFlagAlt) spec[fi++] = '#';
  if (fmt & kFlagSign)
    spec[fi++] = '+';
  else if (fmt & kFlagBlank)
    spec[fi++] = ' ';
  spec[fi++] = '0';
  spec[fi++] = '.';
  spec[fi++] = '*';
  switch (fmt & kConvMask) {
    case kConvG:
    case kConvGG:
      if (dexp < -4.0 || exp >= precision) {
        spec[fi++] = (fmt & kConvMask) == kConvG ? 'e' : 'E';
        precision--;
        if (precision < 1) precision = 1;
      } else {
        spec[fi++] = 'f';
      }
      break;
    case kConvF: spec[fi++] = 'f'; break;
    case kConvE: spec[fi++] = 'e'; break;
    case kConvEE: spec[fi++] = 'E'; break;
    default: return -EINVAL;
  }
  spec[fi] = '\0';
  char sbuf[64];
  int size = std::snprintf(sbuf, sizeof sbuf, spec, precision, val);
  if (size < 0) return errno > 0 ? -errno : -EIO;
  if (static_cast<size_t>(size) < sizeof sbuf) return field(o, sbuf, size, 0, width, 0, new_fmt);
  char* big = static_cast<char*>(std::malloc(static_cast<size_t>(size) + 1));
  if (!big) return -ENOMEM;
  std::snprintf(big, static_cast<size_t>(size) + 1, spec, precision, val);
  int res = field(o, big, size, 0, width, 0, new_fmt);
  std::free(big);
  return res;
}

struct StringSink {
  char* buf;
  size_t room;  // bytes still writable, excluding the final NUL
};

int to_string(void* arg, const char* buf, size_t len) {
  auto* s = static_cast<StringSink*>(arg);
  size_t n = len < s->room ? len : s->room;
  std::memcpy(s->buf, buf, n);
  s->buf += n;
  s->room -= n;
  return static_cast<int>(len);
}

int term(Out& o, ERL_NIF_TERM t, int width, int precision, int fmt) {
  char sbuf[256];
  char* text = sbuf;
  if (o.sink == to_string && width <= 0) {
    // Into a bounded buffer ERTS's term printer stops early, and what it
    // counts depends on the room left: let the VM print with exactly that room.
    auto* dst = static_cast<StringSink*>(o.arg);
    std::size_t room = dst->room + 1;
    char* tmp = room <= sizeof sbuf ? sbuf : static_cast<char*>(std::malloc(room));
    if (!tmp) return -ENOMEM;
    int n = format_term(tmp, room, t, precision);
    if (n >= 0) {
      std::size_t len = std::strlen(tmp);
      to_string(dst, tmp, len);
      o.count += n;
    }
    if (tmp != sbuf) std::free(tmp);
    return n < 0 ? n : 0;
  }
  int n = format_term(sbuf, sizeof sbuf, t, precision);
  if (n < 0) return n;
  if (static_cast<size_t>(n) >= sizeof sbuf) {
    text = static_cast<char*>(std::malloc(static_cast<size_t>(n) + 1));
    if (!text) return -ENOMEM;
    int again = format_term(text, static_cast<size_t>(n) + 1, t, precision);
    if (again < 0) {
      std::free(text);
      return again;
    }
    if (again < n) n = again;
  }
  // ERTS measures the term for right adjustment with a sink that counts
  // nothing, so "%10T" is always 10 blanks and then the term.
  int res = 0;
  if (width > 0 && !(fmt & kFlagLeft)) res = o.blanks(width);
  if (res >= 0) res = o.put(text, static_cast<size_t>(n));
  if (res >= 0 && width > n && (fmt & kFlagLeft)) res = o.blanks(width - n);
  if (text != sbuf) std::free(text);
  return res < 0 ? res : 0;
}

int read_number(const char*& p) {
  long long v = 0;
  while (*p >= '0' && *p <= '9') {
    v = 10 * v + (*p++ - '0');
    if (v > INT_MAX) v = INT_MAX;
  }
  return static_cast<int>(v);
}

// erts_printf_format: the count of characters produced, or a negative errno
// value. As in ERTS, an error from a conversion surfaces at the next
// directive or text (one in the very last conversion is not reported).
int format(Sink sink, void* arg, const char* fmt_str, va_list* ap) {
  Out o{sink, arg};
  const char* ptr = fmt_str;
  const char* ptr0 = ptr;
  int res = 0;
  while (*ptr) {
    if (res < 0) return res;
    if (*ptr != '%') {
      ptr++;
      continue;
    }
    if (ptr > ptr0) TRY(o.put(ptr0, static_cast<size_t>(ptr - ptr0)));
    ptr++;
    int fmt = 0, width = -1, precision = -1;
    for (bool more = true; more;) {
      switch (*ptr) {
        case '#': fmt |= kFlagAlt; break;
        case '0': fmt |= kFlagZero; break;
        case '-': fmt |= kFlagLeft; break;
        case ' ': fmt |= kFlagBlank; break;
        case '+': fmt |= kFlagSign; break;
        case '\'': fmt |= kFlagGrouping; break;
        case 'I': fmt |= kFlagAltDigits; break;
        default: more = false; continue;
      }
      ptr++;
    }
    if (*ptr == '*') {
      width = va_arg(*ap, int);
      ptr++;
    } else if (*ptr >= '0' && *ptr <= '9') {
      width = read_number(ptr);
    }
    if (*ptr == '.') {
      ptr++;
      if (*ptr == '*') {
        precision = va_arg(*ap, int);
        ptr++;
      } else if (*ptr >= '0' && *ptr <= '9') {
        precision = read_number(ptr);
      }
    }
    switch (*ptr) {
      case 'b':
        ptr++;
        if (*ptr == 'p' || *ptr == 'e') {  // pointer / term sized: long on LP64
          ptr++;
          fmt |= kLenL;
        } else {
          int bits = read_number(ptr);
          switch (bits) {
            case 64: fmt |= kLenL; break;
            case 32: break;
            case 16: fmt |= kLenH | kLenHH; break;  // == kLenL, as ERTS's fallthrough
            case 8: fmt |= kLenHH; break;
            default: return -EINVAL;
          }
        }
        break;
      case 'h':
        ptr++;
        if (*ptr == 'h') {
          ptr++;
          fmt |= kLenHH;
        } else {
          fmt |= kLenH;
        }
        break;
      case 'l':
        ptr++;
        if (*ptr == 'l') {
          ptr++;
          fmt |= kLenLL;
        } else {
          fmt |= kLenL;
        }
        break;
      case 'L':
        ptr++;
        fmt |= kLenLD;
        break;
      case 'j':
        ptr++;
        fmt |= kLenJ;
        break;
      case 't':
        ptr++;
        fmt |= kLenT;
        break;
    }
    switch (*ptr) {
      case 'd':
      case 'i': fmt |= kConvD; break;
      case 'o': fmt |= kConvO; break;
      case 'u': fmt |= kConvU; break;
      case 'x': fmt |= kConvX; break;
      case 'X': fmt |= kConvXX; break;
      case 'e': fmt |= kConvE; break;
      case 'E': fmt |= kConvEE; break;
      case 'f': fmt |= kConvF; break;
      case 'g': fmt |= kConvG; break;
      case 'G': fmt |= kConvGG; break;
      case 'c': fmt |= kConvC; break;
      case 's': fmt |= kConvS; break;
      case 'p': fmt |= kConvP; break;
      case 'n': fmt |= kConvN; break;
      case 'T': fmt |= kConvT; break;
      case '%':
        TRY(o.put(ptr, 1));
        ptr0 = ++ptr;
        continue;
      default:  // not a conversion: printed as text from here on
        ptr0 = ptr;
        continue;
    }
    ptr++;

    switch (fmt & kConvMask) {
      case kConvD: {
        long long v;
        unsigned long long mag;
        switch (fmt & kLenMask) {
          case kLenHH:
            v = static_cast<signed char>(va_arg(*ap, int));
            mag = magnitude(v);
            break;
          case kLenH:
            v = static_cast<short>(va_arg(*ap, int));
            mag = magnitude(v);
            break;
          case kLenL:
            v = va_arg(*ap, long);
            mag = magnitude(v);
            break;
          case kLenLL:
            v = va_arg(*ap, long long);
            mag = magnitude(v);
            break;
          default: {
            // ERTS negates the int as an int and widens it: INT_MIN stays
            // negative and sign-extends, printing "-18446744071562067968".
            int i = va_arg(*ap, int);
            v = i;
            int neg = static_cast<int>(0u - static_cast<unsigned>(i));
            mag =
                i < 0 ? static_cast<unsigned long long>(static_cast<long long>(neg)) : magnitude(v);
            break;
          }
        }
        res = integer(o, sign_of(v), mag, width, precision, fmt);
        break;
      }
      case kConvO:
      case kConvU:
      case kConvX:
      case kConvXX: {
        unsigned long long v;
        switch (fmt & kLenMask) {
          case kLenHH: v = static_cast<unsigned char>(va_arg(*ap, int)); break;
          case kLenH: v = static_cast<unsigned short>(va_arg(*ap, int)); break;
          case kLenL: v = va_arg(*ap, unsigned long); break;
          case kLenLL: v = va_arg(*ap, unsigned long long); break;
          default: v = va_arg(*ap, unsigned int); break;
        }
        res = integer(o, v ? 1 : 0, v, width, precision, fmt);
        break;
      }
      case kConvE:
      case kConvEE:
      case kConvF:
      case kConvG:
      case kConvGG:
        if (precision < 0) precision = 6;
        if ((fmt & kLenMask) == kLenLD) return -EINVAL;
        res = floating(o, va_arg(*ap, double), width, precision, fmt);
        break;
      case kConvC: {
        char c = static_cast<char>(va_arg(*ap, int));
        int len = precision == 0 ? 0 : 1;
        if (width > len && !(fmt & kFlagLeft)) TRY(o.blanks(width - len));
        if (len) TRY(o.put(&c, 1));
        if (width > len && (fmt & kFlagLeft)) TRY(o.blanks(width - len));
        break;
      }
      case kConvS: {
        const char* s = va_arg(*ap, const char*);
        if (!s) s = "(null)";
        int len = static_cast<int>(precision >= 0 ? strnlen(s, static_cast<size_t>(precision))
                                                  : std::strlen(s));
        if (width > len && !(fmt & kFlagLeft)) TRY(o.blanks(width - len));
        if (len) TRY(o.put(s, static_cast<size_t>(len)));
        if (width > len && (fmt & kFlagLeft)) TRY(o.blanks(width - len));
        break;
      }
      case kConvP: {
        auto addr = reinterpret_cast<std::uintptr_t>(va_arg(*ap, void*));
        constexpr int kDigits = 2 * sizeof(void*);
        res = integer(o, addr ? 1 : 0, addr, width < 0 ? kDigits : width,
                      precision < 0 ? kDigits : precision, kConvX | kFlagZero | kFlagAlt);
        break;
      }
      case kConvN:
        switch (fmt & kLenMask) {
          case kLenHH: *va_arg(*ap, signed char*) = static_cast<signed char>(o.count); break;
          case kLenH: *va_arg(*ap, short*) = static_cast<short>(o.count); break;
          case kLenL: *va_arg(*ap, long*) = o.count; break;
          case kLenLL: *va_arg(*ap, long long*) = o.count; break;
          default: *va_arg(*ap, int*) = o.count; break;
        }
        break;
      case kConvT: TRY(term(o, va_arg(*ap, ERL_NIF_TERM), width, precision, fmt)); break;
    }
    ptr0 = ptr;
  }
  if (ptr > ptr0) TRY(o.put(ptr0, static_cast<size_t>(ptr - ptr0)));
  return o.count;
}

// ---- sinks --------------------------------------------------------------


int error_result() { return errno > 0 ? -errno : -EIO; }

// stdout/stderr: bytes for write(2), "\r" before each "\n", buffered per
// call (ERTS writes byte by byte; the bytes are the same).
struct FdSink {
  int fd = -1;
  size_t used = 0;
  char buf[1024];

  int flush() {
    size_t done = 0;
    while (done < used) {
      ssize_t w = ::write(fd, buf + done, used - done);
      if (w < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        used = 0;
        return error_result();
      }
      done += static_cast<size_t>(w);
    }
    used = 0;
    return 0;
  }
};

int to_fd(void* arg, const char* buf, size_t len) {
  auto* s = static_cast<FdSink*>(arg);
  for (size_t i = 0; i < len; i++) {
    if (s->used + 2 > sizeof s->buf) TRY(s->flush());
    if (buf[i] == '\n') s->buf[s->used++] = '\r';
    s->buf[s->used++] = buf[i];
  }
  return static_cast<int>(len);
}

int to_file(void* arg, const char* buf, size_t len) {
  if (fwrite_unlocked(buf, 1, len, static_cast<FILE*>(arg)) != len) return error_result();
  return static_cast<int>(len);
}

int do_vfprintf(FILE* filep, const char* format_str, va_list ap) {
  va_list cp;
  va_copy(cp, ap);
  errno = 0;
  int res;
  flockfile(filep);
  if (filep == stdout || filep == stderr) {
    FdSink s;
    s.fd = fileno(filep);
    res = format(to_fd, &s, format_str, &cp);
    int fres = s.flush();
    if (res >= 0 && fres < 0) res = fres;
  } else {
    res = format(to_file, filep, format_str, &cp);
  }
  funlockfile(filep);
  va_end(cp);
  return res;
}

int do_vsnprintf(char* buffer, size_t size, const char* format_str, va_list ap) {
  if (size < 1) return -EINVAL;
  StringSink s{buffer, size - 1};
  va_list cp;
  va_copy(cp, ap);
  errno = 0;
  int res = format(to_string, &s, format_str, &cp);
  va_end(cp);
  if (res < 0)
    buffer[0] = '\0';
  else if (static_cast<size_t>(res) < size)
    buffer[res] = '\0';
  else
    buffer[size - 1] = '\0';
  return res;
}

}  // namespace
}  // namespace nifshim::worker

using namespace nifshim::worker;

extern "C" {

NIFSHIM_EXPORT int enif_fprintf(FILE* filep, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  int res = do_vfprintf(filep, format, ap);
  va_end(ap);
  return res;
}

NIFSHIM_EXPORT int enif_vfprintf(FILE* filep, const char* format, va_list ap) {
  return do_vfprintf(filep, format, ap);
}

NIFSHIM_EXPORT int enif_snprintf(char* buffer, size_t size, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  int res = do_vsnprintf(buffer, size, format, ap);
  va_end(ap);
  return res;
}

NIFSHIM_EXPORT int enif_vsnprintf(char* buffer, size_t size, const char* format, va_list ap) {
  return do_vsnprintf(buffer, size, format, ap);
}

}  // extern "C"
