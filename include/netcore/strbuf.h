/* strbuf.h -- a bounded text builder for the core and for modules: text is
 * appended into a buffer that can never be overrun, and a text that did not
 * fit is reported, never silently cut or written past its end.  Header-only
 * (static inline functions): it exports nothing and adds nothing to the
 * module ABI.  It replaces `x += snprintf(p + x, cap - x, ...)`, which
 * writes past the buffer once x passes cap (cap - x wraps). */
#ifndef NETCORE_STRBUF_H
#define NETCORE_STRBUF_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netcore.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Text builder ------------------------------------------------------ */

/* A text being built.  buf[0..len) is the text and buf[len] is a NUL
 * whenever cap > 0; len < cap.  A fixed builder (nc_sb_init) writes only
 * into the caller's buffer.  A growable one (nc_sb_init_grow) starts in the
 * caller's buffer (which may be NULL) and moves to the heap, doubling, up to
 * max bytes (the NUL included); nc_sb_free releases the heap copy.  When an
 * append does not fit (or memory runs out) the text keeps what fit of it,
 * the builder is marked truncated, and every later append is dropped: a
 * cut text never goes on after a gap.  Read the fields; change them only
 * through these functions.  Not thread-safe (one builder, one thread). */
typedef struct nc_sb {
    char *buf;           /* the text (NULL while a growable builder is empty) */
    size_t len;          /* bytes of text, without the NUL */
    size_t cap;          /* bytes of buf */
    size_t max;          /* the most cap may grow to (== cap: fixed) */
    unsigned char heap;  /* buf is the builder's malloc'd copy */
    unsigned char trunc; /* something did not fit: the text is incomplete */
} nc_sb;

/* A fixed builder over buf[0..cap) (cap may be 0). */
static inline void nc_sb_init(nc_sb *sb, char *buf, size_t cap)
{
    sb->buf = buf;
    sb->len = 0;
    sb->cap = cap;
    sb->max = cap;
    sb->heap = 0;
    sb->trunc = 0;
    if (cap)
        buf[0] = '\0';
}

/* A growable builder: starts in buf[0..cap) (NULL, 0 for none) and moves to
 * the heap when that is full, growing up to max bytes.  Call nc_sb_free. */
static inline void nc_sb_init_grow(nc_sb *sb, char *buf, size_t cap, size_t max)
{
    nc_sb_init(sb, buf, cap);
    sb->max = max > cap ? max : cap;
}

/* Frees the heap copy, if any; the builder is then empty and fixed at 0 bytes. */
static inline void nc_sb_free(nc_sb *sb)
{
    if (sb->heap)
        free(sb->buf);
    nc_sb_init(sb, NULL, 0);
}

/* Empties the text and clears the truncation mark; keeps the buffer. */
static inline void nc_sb_reset(nc_sb *sb)
{
    sb->len = 0;
    sb->trunc = 0;
    if (sb->cap)
        sb->buf[0] = '\0';
}

/* Non-zero when some text did not fit: the text is incomplete. */
static inline int nc_sb_truncated(const nc_sb *sb)
{
    return sb->trunc;
}

/* The text, NUL-terminated ("" for an empty builder without a buffer);
 * valid until the next append or nc_sb_free. */
static inline const char *nc_sb_str(const nc_sb *sb)
{
    return sb->cap ? sb->buf : "";
}

/* Internal: make room for n more bytes and the NUL, growing a growable
 * builder as far as max allows.  1 when they fit now, else 0 (cap may
 * still have grown, so a partial copy fills the larger buffer). */
static inline int nc_sb__room(nc_sb *sb, size_t n)
{
    if (sb->cap && n < sb->cap - sb->len)
        return 1;
    if (sb->max <= sb->cap)
        return 0;
    /* max > cap >= len + 1 (or cap == len == 0): no underflow below */
    size_t want = n > sb->max - 1 - sb->len ? sb->max : sb->len + n + 1;
    size_t nc = sb->cap ? sb->cap : 64;
    while (nc < want)
        nc = nc > sb->max / 2 ? sb->max : nc * 2;
    if (nc > sb->max)
        nc = sb->max;
    if (nc == 0)
        return 0; /* not reached (max > cap); says so to the static analyser */
    char *nb = (char *)(sb->heap ? realloc(sb->buf, nc) : malloc(nc));
    if (!nb) {
        sb->trunc = 1;
        return 0;
    }
    if (!sb->heap && sb->len)
        memcpy(nb, sb->buf, sb->len);
    nb[sb->len] = '\0';
    sb->buf = nb;
    sb->cap = nc;
    sb->heap = 1;
    return n < sb->cap - sb->len;
}

/* Append s[0..n).  Returns 0, or -1 when the text is truncated (by this
 * append, which kept what fit, or by an earlier one). */
static inline int nc_sb_append(nc_sb *sb, const void *s, size_t n)
{
    if (sb->trunc)
        return -1;
    if (nc_sb__room(sb, n)) {
        memcpy(sb->buf + sb->len, s, n);
        sb->len += n;
        sb->buf[sb->len] = '\0';
        return 0;
    }
    if (sb->cap) {
        size_t k = sb->cap - 1 - sb->len;
        memcpy(sb->buf + sb->len, s, k);
        sb->len += k;
        sb->buf[sb->len] = '\0';
    }
    sb->trunc = 1;
    return -1;
}

/* Append a NUL-terminated string; returns as nc_sb_append. */
static inline int nc_sb_puts(nc_sb *sb, const char *s)
{
    return nc_sb_append(sb, s, strlen(s));
}

/* Append one byte; returns as nc_sb_append. */
static inline int nc_sb_putc(nc_sb *sb, char c)
{
    return nc_sb_append(sb, &c, 1);
}

static inline int nc_sb_vprintf(nc_sb *sb, const char *fmt, va_list ap) NC_PRINTF(2, 0);
static inline int nc_sb_printf(nc_sb *sb, const char *fmt, ...) NC_PRINTF(2, 3);

/* Append formatted text (vsnprintf rules); returns as nc_sb_append (also
 * -1 for an encoding error, which marks the builder truncated). */
static inline int nc_sb_vprintf(nc_sb *sb, const char *fmt, va_list ap)
{
    if (sb->trunc)
        return -1;
    size_t avail = sb->cap - sb->len; /* 0 when cap == 0 */
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(avail ? sb->buf + sb->len : NULL, avail, fmt, aq);
    va_end(aq);
    if (n < 0) {
        if (sb->cap)
            sb->buf[sb->len] = '\0';
        sb->trunc = 1;
        return -1;
    }
    if ((size_t)n < avail) {
        sb->len += (size_t)n;
        return 0;
    }
    int fits = nc_sb__room(sb, (size_t)n);
    if (sb->cap) {
        vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
        sb->len = fits ? sb->len + (size_t)n : sb->cap - 1;
    }
    if (fits)
        return 0;
    sb->trunc = 1;
    return -1;
}

/* Append formatted text (printf rules); returns as nc_sb_vprintf. */
static inline int nc_sb_printf(nc_sb *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = nc_sb_vprintf(sb, fmt, ap);
    va_end(ap);
    return r;
}

/* Append s[0..n) for HTML: the five special characters become &lt; &gt;
 * &amp; &quot; &#39;, so the result is safe as element content and inside a
 * quoted attribute value.  Returns as nc_sb_append. */
static inline int nc_sb_html(nc_sb *sb, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '<' && s[j] != '>' && s[j] != '&' && s[j] != '"' && s[j] != '\'')
            j++;
        nc_sb_append(sb, s + i, j - i);
        if (j == n)
            break;
        nc_sb_puts(sb, s[j] == '<' ? "&lt;" : s[j] == '>' ? "&gt;" : s[j] == '&' ? "&amp;"
                       : s[j] == '"' ? "&quot;" : "&#39;");
        i = j + 1;
    }
    return sb->trunc ? -1 : 0;
}

/* Append s[0..n) percent-encoded (RFC 3986): every byte but the unreserved
 * characters (A-Z a-z 0-9 - . _ ~) and those in keep becomes %XX (upper-case
 * hex).  A '%' in keep is kept only where two hex digits follow it (text
 * already encoded), else it is encoded too, so the result is always a
 * well-formed URI component.  keep "/" encodes a path.  Returns as
 * nc_sb_append. */
static inline int nc_sb_pct(nc_sb *sb, const char *s, size_t n, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || (c && strchr(keep, c));
#define NC_SB__HEX(x) (((x) >= '0' && (x) <= '9') || ((x) >= 'a' && (x) <= 'f') || ((x) >= 'A' && (x) <= 'F'))
        if (plain && c == '%')
            plain = i + 2 < n && NC_SB__HEX(s[i + 1]) && NC_SB__HEX(s[i + 2]);
#undef NC_SB__HEX
        if (plain) {
            nc_sb_putc(sb, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            nc_sb_append(sb, e, 3);
        }
    }
    return sb->trunc ? -1 : 0;
}

/* The clang static analyser does not follow calls into variadic functions,
 * so after nc_sb_printf it forgets that a fixed builder never allocates and
 * reports a leak for every fixed builder.  For the analyser alone, printf
 * is modelled by what it does to the builder: format checked, then an
 * append of that many bytes. */
#ifdef __clang_analyzer__
static inline int nc_sb__model(nc_sb *sb, int n)
{
    if (sb->trunc || n < 0 || !nc_sb__room(sb, (size_t)n)) {
        sb->trunc = 1;
        return -1;
    }
    memset(sb->buf + sb->len, 'x', (size_t)n);
    sb->len += (size_t)n;
    sb->buf[sb->len] = '\0';
    return 0;
}
#define nc_sb_printf(sb, ...) nc_sb__model((sb), snprintf(NULL, 0, __VA_ARGS__))
#endif

#ifdef __cplusplus
}
#endif
#endif /* NETCORE_STRBUF_H */
