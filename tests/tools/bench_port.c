/* bench_port: the benchmark NIFs' work done by an Erlang port program
 * (scripts/bench, the "port" column). Spoken with open_port({spawn_executable,
 * ...}, [{packet, 4}, binary]): each request on stdin is a 4-byte big-endian
 * length and a payload, its first byte the operation; each answer on stdout
 * likewise.
 *
 *   'e' DATA             -> DATA                echo (noop: the caller sends
 *                                               term_to_binary(X), decodes the answer)
 *   'a' A:64 B:64        -> A+B:64              add (signed, big-endian)
 *   'b' N:32             -> ETF                 [{I, I*I} || I <- 1..N], external format
 *   's' ETF              -> SUM:64              sum of a list of integers in external
 *                                               format (term_to_binary(List))
 *   'u' DATA             -> SUM:64              the sum of DATA's bytes
 *   'h' DATA             -> 32 bytes            SHA-256 of DATA (libcrypto), or an empty
 *                                               answer when built without it
 * A request it cannot parse gets an empty answer. It exits at end of input. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef BENCH_PORT_SHA256
#include <openssl/sha.h>
#endif

static int read_all(unsigned char* p, size_t n) {
    while (n > 0) {
        ssize_t r = read(0, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

static int write_all(const struct iovec* iov, int n) {
    struct iovec v[2];
    memcpy(v, iov, sizeof(struct iovec) * (size_t)n);
    while (n > 0) {
        ssize_t w = writev(1, v, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 0;
        while (n > 0 && (size_t)w >= v[0].iov_len) {
            w -= (ssize_t)v[0].iov_len;
            v[0] = v[1];
            --n;
        }
        if (n > 0) {
            v[0].iov_base = (char*)v[0].iov_base + w;
            v[0].iov_len -= (size_t)w;
        }
    }
    return 1;
}

static int answer(const void* p, size_t n) {
    unsigned char h[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                          (unsigned char)n};
    struct iovec v[2] = {{h, 4}, {(void*)p, n}};
    return write_all(v, 2);
}

static void put64(unsigned char* p, uint64_t v) {
    for (int i = 7; i >= 0; --i, v >>= 8) p[i] = (unsigned char)v;
}

static uint64_t get64(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
}

static uint32_t get32(const unsigned char* p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The external format of an integer (SMALL_INTEGER_EXT, INTEGER_EXT or
 * SMALL_BIG_EXT, as term_to_binary writes it). Returns the bytes written. */
static size_t put_int(unsigned char* p, int64_t v) {
    if (v >= 0 && v < 256) {
        p[0] = 97;
        p[1] = (unsigned char)v;
        return 2;
    }
    if (v >= INT32_MIN && v <= INT32_MAX) {
        uint32_t u = (uint32_t)(int32_t)v;
        p[0] = 98;
        p[1] = (unsigned char)(u >> 24);
        p[2] = (unsigned char)(u >> 16);
        p[3] = (unsigned char)(u >> 8);
        p[4] = (unsigned char)u;
        return 5;
    }
    uint64_t m = v < 0 ? -(uint64_t)v : (uint64_t)v;
    size_t n = 0;
    p[0] = 110;
    p[2] = v < 0;
    for (; m; m >>= 8) p[3 + n++] = (unsigned char)m;
    p[1] = (unsigned char)n;
    return 3 + n;
}

/* 'b': [{I, I*I} || I <- 1..N]. */
static int build_list(const unsigned char* in, size_t len) {
    if (len != 4) return answer("", 0);
    uint32_t n = get32(in);
    unsigned char* out = malloc(6 + (size_t)n * (2 + 5 + 11) + 1);
    if (!out) return 0;
    size_t k = 0;
    out[k++] = 131;
    if (n > 0) {
        out[k++] = 108;
        out[k++] = (unsigned char)(n >> 24);
        out[k++] = (unsigned char)(n >> 16);
        out[k++] = (unsigned char)(n >> 8);
        out[k++] = (unsigned char)n;
        for (uint32_t i = 1; i <= n; ++i) {
            out[k++] = 104; /* SMALL_TUPLE_EXT */
            out[k++] = 2;
            k += put_int(out + k, i);
            k += put_int(out + k, (int64_t)i * i);
        }
    }
    out[k++] = 106; /* NIL_EXT */
    int ok = answer(out, k);
    free(out);
    return ok;
}

/* One integer of the external format at *p; 0 if it is not one. */
static int get_int(const unsigned char** p, const unsigned char* end, int64_t* v) {
    const unsigned char* q = *p;
    if (q >= end) return 0;
    switch (q[0]) {
        case 97:
            if (end - q < 2) return 0;
            *v = q[1];
            *p = q + 2;
            return 1;
        case 98:
            if (end - q < 5) return 0;
            *v = (int32_t)get32(q + 1);
            *p = q + 5;
            return 1;
        case 110: {
            if (end - q < 3 || q[1] > 8 || end - q < 3 + q[1]) return 0;
            uint64_t m = 0;
            for (int i = q[1] - 1; i >= 0; --i) m = (m << 8) | q[3 + i];
            *v = q[2] ? -(int64_t)m : (int64_t)m;
            *p = q + 3 + q[1];
            return 1;
        }
        default:
            return 0;
    }
}

/* 's': the sum of term_to_binary(List) (LIST_EXT, STRING_EXT or NIL_EXT). */
static int sum_list(const unsigned char* in, size_t len) {
    const unsigned char* p = in;
    const unsigned char* end = in + len;
    int64_t sum = 0, v;
    if (len < 2 || p[0] != 131) return answer("", 0);
    ++p;
    if (p[0] == 107) { /* STRING_EXT: small integers as bytes */
        if (end - p < 3) return answer("", 0);
        size_t n = (size_t)p[1] << 8 | p[2];
        if ((size_t)(end - p - 3) < n) return answer("", 0);
        for (size_t i = 0; i < n; ++i) sum += p[3 + i];
    } else if (p[0] == 108) {
        if (end - p < 5) return answer("", 0);
        uint32_t n = get32(p + 1);
        p += 5;
        for (uint32_t i = 0; i < n; ++i) {
            if (!get_int(&p, end, &v)) return answer("", 0);
            sum += v;
        }
        if (p >= end || p[0] != 106) return answer("", 0);
    } else if (p[0] != 106) {
        return answer("", 0);
    }
    unsigned char out[8];
    put64(out, (uint64_t)sum);
    return answer(out, 8);
}

static int serve(const unsigned char* req, size_t len) {
    if (len == 0) return answer("", 0);
    const unsigned char* in = req + 1;
    size_t n = len - 1;
    switch (req[0]) {
        case 'e':
            return answer(in, n);
        case 'a': {
            if (n != 16) return answer("", 0);
            unsigned char out[8];
            put64(out, get64(in) + get64(in + 8));
            return answer(out, 8);
        }
        case 'b':
            return build_list(in, n);
        case 's':
            return sum_list(in, n);
        case 'u': {
            uint64_t sum = 0;
            unsigned char out[8];
            for (size_t i = 0; i < n; ++i) sum += in[i];
            put64(out, sum);
            return answer(out, 8);
        }
        case 'h': {
#ifdef BENCH_PORT_SHA256
            unsigned char md[SHA256_DIGEST_LENGTH];
            SHA256(in, n, md);
            return answer(md, sizeof md);
#else
            return answer("", 0);
#endif
        }
        default:
            return answer("", 0);
    }
}

int main(void) {
    unsigned char* buf = NULL;
    size_t cap = 0;
    for (;;) {
        unsigned char h[4];
        if (!read_all(h, 4)) return 0;
        size_t len = get32(h);
        if (len > cap) {
            free(buf);
            cap = len;
            buf = malloc(cap);
            if (!buf) return 1;
        }
        if (!read_all(buf, len) || !serve(buf, len)) return 0;
    }
}
