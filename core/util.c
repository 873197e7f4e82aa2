/* util.c -- small helpers of the public API: UTF-8 validation, JSON
 * string escaping and base64, shared by the modules that speak text (on
 * x86-64 with AVX2, checked at run time, the scans and the encoder take 32
 * bytes a step); and the check that a file could be created at start. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "netcore/netcore.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX2 1
#include <immintrin.h>

static int have_avx2(void)
{
    static int known = -1;
    if (known < 0)
        known = __builtin_cpu_supports("avx2") ? 1 : 0;
    return known;
}

/* AVX-512 VBMI (Ice Lake, Zen 4 and later): the cpu check covers the
 * operating system's saving of the 512-bit registers too. */
static int have_vbmi(void)
{
    static int known = -1;
    if (known < 0)
        known = __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bw") ? 1 : 0;
    return known;
}

/* Length of the all-ASCII prefix of s[0..n), in whole 32-byte blocks. */
__attribute__((target("avx2"))) static size_t ascii_blocks_avx2(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i + 32 <= n && !_mm256_movemask_epi8(_mm256_loadu_si256((const __m256i *)(const void *)(s + i))))
        i += 32;
    return i;
}

/* Length of the prefix of s[0..n) that needs no JSON escape, looked at in
 * whole 32-byte blocks: it stops at the first byte that does, or before the
 * last partial block.  Controls are the bytes that min(c, 0x1f) leaves
 * unchanged (unsigned, so UTF-8 bytes never match). */
__attribute__((target("avx2"))) static size_t clean_blocks_avx2(const unsigned char *s, size_t n)
{
    const __m256i ctl = _mm256_set1_epi8(0x1f), quote = _mm256_set1_epi8('"'), bsl = _mm256_set1_epi8('\\'),
                  del = _mm256_set1_epi8(0x7f);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(s + i));
        __m256i m = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(_mm256_min_epu8(v, ctl), v), _mm256_cmpeq_epi8(v, quote)),
            _mm256_or_si256(_mm256_cmpeq_epi8(v, bsl), _mm256_cmpeq_epi8(v, del)));
        unsigned bits = (unsigned)_mm256_movemask_epi8(m);
        if (bits)
            return i + (size_t)__builtin_ctz(bits);
    }
    return i;
}
#endif

int nc_utf8_valid(const void *sv, size_t n)
{
    const unsigned char *s = sv, *e = s + n;
#ifdef HAVE_AVX2
    int wide = n >= 32 && have_avx2();
#endif
    while (s < e) {
        /* ASCII runs are the common case: skip them 32 or 8 bytes at a time. */
#ifdef HAVE_AVX2
        if (wide)
            s += ascii_blocks_avx2(s, (size_t)(e - s));
#endif
        while (e - s >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            if (w & 0x8080808080808080ull)
                break;
            s += 8;
        }
        if (s >= e)
            break;
        unsigned c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t len;
        unsigned min, cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2, min = 0x80, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3, min = 0x800, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4, min = 0x10000, cp = c & 0x07;
        } else {
            return 0; /* continuation byte, overlong lead (c0, c1) or > f4 */
        }
        if ((size_t)(e - s) < len)
            return 0;
        for (size_t i = 1; i < len; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        s += len;
    }
    return 1;
}

/* Bytes that need an escape in a JSON string: controls, '"', '\\', DEL. */
static int needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\' || c == 0x7f;
}

/* SWAR test: does any byte of w need escaping?  (x - 0x01..) & ~x & 0x80..
 * is non-zero exactly when some byte of x is zero; bytes >= 0x80 (UTF-8)
 * never match, so they are masked out of the "below 0x20" test. */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
static int word_needs_escape(uint64_t w)
{
    uint64_t lt20 = (w - ONES * 0x20) & ~w;
    uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\'), d = w ^ (ONES * 0x7f);
    uint64_t eq = ((q - ONES) & ~q) | ((b - ONES) & ~b) | ((d - ONES) & ~d);
    return ((lt20 | eq) & HIGHS) != 0;
}

/* Length of the prefix of s[0..n) that needs no escaping.  Text payloads
 * are mostly one such run, so this scan is where the time goes. */
static size_t clean_run(const unsigned char *s, size_t n)
{
    size_t i = 0;
#ifdef HAVE_AVX2
    if (n >= 32 && have_avx2()) {
        i = clean_blocks_avx2(s, n);
        if (i + 32 <= n)
            return i; /* stopped at a byte to escape */
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (word_needs_escape(w))
            break;
    }
    while (i < n && !needs_escape(s[i]))
        i++;
    return i;
}

size_t nc_json_escape(char *out, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0;
    while (i < n) {
        size_t run = clean_run((const unsigned char *)s + i, n - i);
        if (run) {
            if (o + run <= cap)
                memcpy(out + o, s + i, run);
            o += run;
            i += run;
            if (i == n)
                break;
        }
        unsigned char c = (unsigned char)s[i++];
        char esc = c == '"' ? '"' : c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't'
                 : c == '\b' ? 'b' : c == '\f' ? 'f' : 0;
        if (esc) {
            if (o + 2 <= cap) {
                out[o] = '\\';
                out[o + 1] = esc;
            }
            o += 2;
        } else {
            if (o + 6 <= cap) {
                memcpy(out + o, "\\u00", 4);
                out[o + 4] = hex[c >> 4];
                out[o + 5] = hex[c & 15];
            }
            o += 6;
        }
    }
    return o;
}

static const char b64tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Scalar base64 of the whole groups of three in s[0..n); the tail is the
 * caller's.  Returns the bytes consumed. */
static size_t b64_scalar(char *out, const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (; i + 3 <= n; i += 3, out += 4) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        out[0] = b64tab[v >> 18];
        out[1] = b64tab[(v >> 12) & 63];
        out[2] = b64tab[(v >> 6) & 63];
        out[3] = b64tab[v & 63];
    }
    return i;
}

#ifdef HAVE_AVX2
/* AVX2: 24 input bytes become 32 characters per step.  Each 128-bit lane
 * takes 12 bytes; a shuffle spreads every 3 bytes (b0 b1 b2) over a 32-bit
 * word as b1 b0 b2 b1, two multiplies move the four 6-bit fields to the
 * four bytes, and a 16-entry table of offsets, indexed by the field's range
 * (A-Z, a-z, 0-9, '+', '/'), turns fields into characters.  Reads 28 bytes
 * per step (two overlapping 16-byte loads), so it stops 28 short of n. */
__attribute__((target("avx2"))) static size_t b64_avx2(char *out, const unsigned char *s, size_t n)
{
    const __m256i spread = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
                                            1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    const __m256i offsets = _mm256_setr_epi8(71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0,
                                             71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0);
    size_t i = 0;
    for (; i + 28 <= n; i += 24, out += 32) {
        __m256i v = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(s + i))),
            _mm_loadu_si128((const __m128i *)(const void *)(s + i + 12)), 1);
        v = _mm256_shuffle_epi8(v, spread);
        __m256i ac = _mm256_mulhi_epu16(_mm256_and_si256(v, _mm256_set1_epi32(0x0fc0fc00)),
                                        _mm256_set1_epi32(0x04000040));
        __m256i bd = _mm256_mullo_epi16(_mm256_and_si256(v, _mm256_set1_epi32(0x003f03f0)),
                                        _mm256_set1_epi32(0x01000010));
        __m256i idx = _mm256_or_si256(ac, bd);
        /* 0 for 0..51, 1..12 for 52..63; then 13 marks 0..25. */
        __m256i range = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
        range = _mm256_or_si256(range, _mm256_and_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(26), idx),
                                                        _mm256_set1_epi8(13)));
        idx = _mm256_add_epi8(idx, _mm256_shuffle_epi8(offsets, range));
        _mm256_storeu_si256((__m256i *)(void *)out, idx);
    }
    return i;
}
#endif

/* AVX-512 VBMI: 48 input bytes become 64 characters per step, in three
 * instructions.  A byte permutation spreads every 3 bytes (b0 b1 b2) over
 * a 32-bit word as b1 b0 b2 b1 (as in the AVX2 encoder); a multishift
 * picks each 6-bit field out of its word into a byte (bit offsets 10, 4,
 * 22, 16 in the word); a second permutation, which looks only at the low 6
 * bits of each index, maps fields to characters.  Reads 64 bytes per step,
 * so it stops 64 short of n. */
#ifdef HAVE_AVX2
static const char b64_spread[64] = {
    1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
    13, 12, 14, 13, 16, 15, 17, 16, 19, 18, 20, 19, 22, 21, 23, 22,
    25, 24, 26, 25, 28, 27, 29, 28, 31, 30, 32, 31, 34, 33, 35, 34,
    37, 36, 38, 37, 40, 39, 41, 40, 43, 42, 44, 43, 46, 45, 47, 46,
};

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static size_t b64_vbmi(char *out, const unsigned char *s,
                                                                                size_t n)
{
    const __m512i spread = _mm512_loadu_si512(b64_spread);
    const __m512i fields = _mm512_set1_epi64(0x3036242a1016040aLL);
    const __m512i tab = _mm512_loadu_si512(b64tab);
    size_t i = 0;
    for (; i + 64 <= n; i += 48, out += 64) {
        __m512i v = _mm512_permutexvar_epi8(spread, _mm512_loadu_si512(s + i));
        v = _mm512_multishift_epi64_epi8(fields, v);
        _mm512_storeu_si512(out, _mm512_permutexvar_epi8(v, tab));
    }
    return i;
}
#endif

size_t nc_base64_encode(char *out, size_t cap, const void *sv, size_t n)
{
    const unsigned char *s = sv;
    size_t need = (n + 2) / 3 * 4;
    if (need > cap)
        return need;
    size_t i = 0;
#ifdef HAVE_AVX2
    if (n >= 64 && have_vbmi())
        i = b64_vbmi(out, s, n);
    if (n - i >= 28 && have_avx2())
        i += b64_avx2(out + i / 3 * 4, s + i, n - i);
#endif
    i += b64_scalar(out + i / 3 * 4, s + i, n - i);
    size_t o = i / 3 * 4;
    if (i < n) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0);
        out[o++] = b64tab[v >> 18];
        out[o++] = b64tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

int nc_path_writable(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return -EISDIR;
        return access(path, W_OK) < 0 ? -errno : 0;
    }
    if (errno != ENOENT)
        return -errno;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (stat(dir, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    return access(dir, W_OK | X_OK) < 0 ? -errno : 0;
}

/* Edit distance of a and b, a swap of two neighbours counting as one edit
 * ("tpc" for "tcp"; optimal string alignment), or limit + 1 when larger. */
static size_t distance(const char *a, const char *b, size_t limit)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return limit + 1;
    unsigned char d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            unsigned v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1u < v)
                v = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < v)
                v = d[i][j - 1] + 1u;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1u < v)
                v = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned char)v;
        }
    return d[la][lb] > limit ? limit + 1 : d[la][lb];
}

const char *nc__nearest(const char *word, const char *const *cands, size_t n)
{
    size_t len = strlen(word), limit = len < 4 ? 1 : len < 9 ? 2 : 3;
    const char *best = NULL;
    size_t bd = limit + 1;
    for (size_t i = 0; i < n; i++) {
        if (!cands[i])
            continue;
        size_t d = distance(word, cands[i], limit);
        if (d < bd) {
            bd = d;
            best = cands[i];
        }
    }
    return best;
}
