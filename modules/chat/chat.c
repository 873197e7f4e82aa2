/* chat.c -- private, line-based chat (works with nc or telnet): nicknames,
 * /msg to one user, /who, and an optional "desk" user who receives every
 * plain line, the customer-service pattern.  See docs/protocols/chat.md.
 *
 * State: one directory of users per listener (a hash of lowercased
 * nicknames, plus a list in join order for /who).  Each user is owned by
 * its connection and freed in on_close. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "netcore/deadline.h"
#include "netcore/hash.h"
#include "netcore/list.h"
#include "netcore/netcore.h"

#define NICK_MAX 32

typedef struct user {
    nc_conn *c;
    char nick[NICK_MAX + 1];
    char key[NICK_MAX + 1]; /* lowercased: the identity */
    int discarding;          /* inside a too-long line: drop through its newline */
    nc_deadline dl;          /* running from the first byte of an unfinished line */
    struct user *hnext;      /* hash chain */
    nc_list order;            /* on the chat's users list, join order */
} user;

typedef struct chat {
    const char *desk;        /* NULL: no desk */
    char desk_key[NICK_MAX + 1];
    long long max_line, line_timeout;
    nc_deadlines lines;
    user **table;
    size_t nbuckets, nusers;
    nc_list users;           /* of user.order, join order */
    uint64_t *c_messages, *c_errors;
} chat;

static void lower(char *dst, const char *src)
{
    size_t i = 0;
    for (; i < NICK_MAX && src[i]; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

static size_t hash(const char *k)
{
    return (size_t)nc_hash_str(k);
}

static user *find(chat *ch, const char *key)
{
    for (user *u = ch->table[hash(key) & (ch->nbuckets - 1)]; u; u = u->hnext)
        if (strcmp(u->key, key) == 0)
            return u;
    return NULL;
}

static void unhash(chat *ch, user *u)
{
    for (user **pp = &ch->table[hash(u->key) & (ch->nbuckets - 1)]; *pp; pp = &(*pp)->hnext)
        if (*pp == u) {
            *pp = u->hnext;
            return;
        }
}

static void grow(chat *ch)
{
    size_t n = ch->nbuckets * 2;
    user **t = calloc(n, sizeof *t);
    if (!t)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < ch->nbuckets; i++)
        for (user *u = ch->table[i], *next; u; u = next) {
            next = u->hnext;
            size_t b = hash(u->key) & (n - 1);
            u->hnext = t[b];
            t[b] = u;
        }
    free(ch->table);
    ch->table = t;
    ch->nbuckets = n;
}

static void rehash_in(chat *ch, user *u)
{
    if (ch->nusers > ch->nbuckets)
        grow(ch);
    size_t b = hash(u->key) & (ch->nbuckets - 1);
    u->hnext = ch->table[b];
    ch->table[b] = u;
}

static int valid_nick(const char *s, size_t n)
{
    if (n < 1 || n > NICK_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

static chat *of(nc_conn *c);

static void line_expired(nc_conn *c)
{
    nc_sendf(c, "! no complete line within line_timeout_ms (%lld): closing\n", of(c)->line_timeout);
}

static int chat_init(nc_listener *l, nc_options *o, void **instance)
{
    chat *ch = calloc(1, sizeof *ch);
    if (!ch)
        return nc_opt_error(o, "desk", "out of memory");
    nc_list_init(&ch->users);
    if (nc_opt_str(o, "desk", NULL, &ch->desk) < 0 ||
        nc_opt_int(o, "max_line", 4096, 16, 1 << 20, &ch->max_line) < 0 ||
        nc_opt_int(o, "line_timeout_ms", 30000, 0, 86400000, &ch->line_timeout) < 0)
        goto fail;
    if (ch->desk && !valid_nick(ch->desk, strlen(ch->desk))) {
        nc_opt_error(o, "desk", "\"%s\" is not a nickname (1 to 32 of A-Z a-z 0-9 _ -)", ch->desk);
        goto fail;
    }
    if (ch->desk)
        lower(ch->desk_key, ch->desk);
    ch->nbuckets = 64;
    ch->table = calloc(ch->nbuckets, sizeof *ch->table);
    if (!ch->table)
        goto fail;
    ch->c_messages = nc_counter(l, "messages");
    ch->c_errors = nc_counter(l, "protocol_errors");
    nc_deadlines_init(&ch->lines, (uint64_t)ch->line_timeout, "a complete line", "line_timeout_ms",
                      nc_counter(l, "line_timeouts"), line_expired);
    *instance = ch;
    return 0;
fail:
    free(ch);
    return -1;
}

static void chat_fini(nc_listener *l, void *instance)
{
    (void)l;
    chat *ch = instance;
    nc_deadlines_stop(&ch->lines);
    free(ch->table);
    free(ch);
}

static chat *of(nc_conn *c)
{
    return nc_listener_instance(nc_conn_listener(c));
}

static void err(nc_conn *c, const char *fmt, ...) NC_PRINTF(2, 3);
static void err(nc_conn *c, const char *fmt, ...)
{
    chat *ch = of(c);
    if (ch->c_errors)
        (*ch->c_errors)++;
    char msg[256] = "! ";
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg + 2, sizeof msg - 3, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = 2 + ((size_t)n < sizeof msg - 3 ? (size_t)n : sizeof msg - 4);
    msg[len++] = '\n';
    nc_send(c, msg, len);
}

static int chat_accept(nc_conn *c)
{
    chat *ch = of(c);
    user *u = calloc(1, sizeof *u);
    if (!u)
        return -1;
    u->c = c;
    snprintf(u->nick, sizeof u->nick, "guest%llu", (unsigned long long)nc_conn_id(c));
    lower(u->key, u->nick);
    /* A user may already have taken this guest name with /nick. */
    while (find(ch, u->key)) {
        size_t l = strlen(u->nick);
        if (l >= NICK_MAX)
            break;
        u->nick[l] = '_';
        u->nick[l + 1] = '\0';
        lower(u->key, u->nick);
    }
    nc_list_push_tail(&ch->users, &u->order);
    ch->nusers++;
    rehash_in(ch, u);
    nc_conn_set_data(c, u);
    nc_sendf(c, "* welcome, you are %s. Commands: /nick NAME, /msg NAME TEXT, /who, /help, /quit%s%s\n",
             u->nick, ch->desk ? "; other lines go to " : "", ch->desk ? ch->desk : "");
    return 0;
}

static void chat_close(nc_conn *c)
{
    chat *ch = of(c);
    user *u = nc_conn_data(c);
    nc_deadline_disarm(&ch->lines, &u->dl);
    unhash(ch, u);
    nc_list_remove(&u->order);
    ch->nusers--;
    free(u);
}

/* A C0 control (but tab), DEL, or a C1 control (U+0080..U+009F, C2 80..9F
 * in UTF-8) at s[i]: how many bytes it takes, else 0. */
static size_t control_at(const unsigned char *s, size_t i, size_t n)
{
    if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
        return 1;
    if (s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
        return 2;
    return 0;
}

/* Relayed text goes to someone's terminal: a CR, an escape sequence or a
 * C1 control there could rewrite what they see (a forged line from the
 * desk, a cleared screen).  Each is written out as visible text instead:
 * C0 and DEL as \xHH, C1 as \uHHHH.  Returns text itself when it has none,
 * else a malloc'd copy (*len updated), or NULL when out of memory. */
static const char *defang(const char *text, size_t *len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = *len, i = 0;
    while (i < n && !control_at(s, i, n))
        i++;
    if (i == n)
        return text;
    static const char hexd[] = "0123456789abcdef";
    char *out = malloc(4 * n), *o = out; /* a control grows 4 times at most (C0: 1 -> 4, C1: 2 -> 6) */
    if (!out)
        return NULL;
    memcpy(o, text, i);
    o += i;
    while (i < n) {
        size_t k = control_at(s, i, n);
        unsigned char c = k == 2 ? s[i + 1] : s[i];
        if (k) {
            memcpy(o, k == 1 ? "\\x" : "\\u00", k == 1 ? 2 : 4);
            o += k == 1 ? 2 : 4;
            *o++ = hexd[c >> 4];
            *o++ = hexd[c & 15];
        } else {
            *o++ = (char)c;
        }
        i += k ? k : 1;
    }
    *len = (size_t)(o - out);
    return out;
}

static void deliver(chat *ch, user *from, user *to, const char *text, size_t n)
{
    char head[NICK_MAX + 4];
    int hl = snprintf(head, sizeof head, "<%s> ", from->nick);
    const char *safe = defang(text, &n);
    if (!safe) {
        err(from->c, "out of memory: message dropped");
        return;
    }
    nc_send(to->c, head, (size_t)hl);
    nc_send(to->c, safe, n);
    nc_send(to->c, "\n", 1);
    if (safe != text)
        free((void *)(uintptr_t)safe);
    if (ch->c_messages)
        (*ch->c_messages)++;
}

static void command(chat *ch, user *u, const char *s, size_t n);

static void cmd_nick(chat *ch, user *u, const char *arg, size_t n)
{
    if (!valid_nick(arg, n)) {
        err(u->c, "invalid nickname: use 1 to 32 of A-Z a-z 0-9 _ -");
        return;
    }
    char nick[NICK_MAX + 1], key[NICK_MAX + 1];
    memcpy(nick, arg, n);
    nick[n] = '\0';
    lower(key, nick);
    user *other = find(ch, key);
    if (other && other != u) {
        err(u->c, "nickname %s is taken", nick);
        return;
    }
    unhash(ch, u);
    memcpy(u->nick, nick, n + 1);
    memcpy(u->key, key, n + 1);
    rehash_in(ch, u);
    nc_sendf(u->c, "* you are now %s\n", u->nick);
}

static void cmd_msg(chat *ch, user *u, const char *arg, size_t n)
{
    const char *sp = memchr(arg, ' ', n);
    size_t nl = sp ? (size_t)(sp - arg) : n;
    const char *text = sp ? sp + 1 : arg + n;
    size_t tl = (size_t)(arg + n - text);
    if (nl == 0 || tl == 0) {
        err(u->c, "usage: /msg NAME TEXT");
        return;
    }
    char key[NICK_MAX + 1], name[NICK_MAX + 1];
    if (!valid_nick(arg, nl)) {
        snprintf(name, sizeof name, "%.*s", (int)(nl > NICK_MAX ? NICK_MAX : nl), arg);
        err(u->c, "no such user: %s", name);
        return;
    }
    memcpy(name, arg, nl);
    name[nl] = '\0';
    lower(key, name);
    user *to = find(ch, key);
    if (!to) {
        err(u->c, "no such user: %s", name);
        return;
    }
    deliver(ch, u, to, text, tl);
}

static void cmd_who(chat *ch, user *u)
{
    nc_send(u->c, "* users:", 8);
    for (nc_list *q = nc_list_first(&ch->users); q; q = nc_list_next(&ch->users, q)) {
        const user *p = NC_LIST_DATA(q, user, order);
        nc_send(u->c, " ", 1);
        nc_send(u->c, p->nick, strlen(p->nick));
    }
    nc_send(u->c, "\n", 1);
}

/* One complete line.  An empty one is not a message: the line_timeout_ms
 * clock keeps running. */
static void line(chat *ch, user *u, const char *s, size_t n)
{
    if (n && s[n - 1] == '\r')
        n--;
    if (n == 0)
        return;
    nc_deadline_disarm(&ch->lines, &u->dl);
    command(ch, u, s, n);
}

static void command(chat *ch, user *u, const char *s, size_t n)
{
    if (!nc_utf8_valid(s, n)) {
        err(u->c, "invalid UTF-8: line dropped");
        return;
    }
    if (s[0] != '/') {
        if (!ch->desk) {
            err(u->c, "no recipient: use /msg NAME TEXT");
            return;
        }
        if (strcmp(u->key, ch->desk_key) == 0) {
            err(u->c, "you are %s: answer with /msg NAME TEXT", ch->desk);
            return;
        }
        user *desk = find(ch, ch->desk_key);
        if (!desk) {
            err(u->c, "%s is not online", ch->desk);
            return;
        }
        deliver(ch, u, desk, s, n);
        return;
    }
    const char *sp = memchr(s, ' ', n);
    size_t cl = sp ? (size_t)(sp - s) : n;
    const char *arg = sp ? sp + 1 : s + n;
    size_t al = (size_t)(s + n - arg);
    if (cl == 5 && memcmp(s, "/nick", 5) == 0) {
        cmd_nick(ch, u, arg, al);
    } else if (cl == 4 && memcmp(s, "/msg", 4) == 0) {
        cmd_msg(ch, u, arg, al);
    } else if (cl == 4 && memcmp(s, "/who", 4) == 0) {
        cmd_who(ch, u);
    } else if (cl == 5 && memcmp(s, "/help", 5) == 0) {
        nc_sendf(u->c, "* /nick NAME: change your nickname (1 to 32 of A-Z a-z 0-9 _ -)\n"
                       "* /msg NAME TEXT: send TEXT to NAME only\n"
                       "* /who: list the users\n"
                       "* /quit: leave\n");
        if (ch->desk)
            nc_sendf(u->c, "* any other line goes to %s\n", ch->desk);
    } else if (cl == 5 && memcmp(s, "/quit", 5) == 0) {
        nc_send(u->c, "* bye\n", 6);
        nc_close(u->c, NC_CLOSE_FLUSH);
    } else {
        char name[40];
        snprintf(name, sizeof name, "%.*s", (int)(cl > 32 ? 32 : cl), s);
        err(u->c, "unknown command %s (try /help)", name);
    }
}

static ssize_t chat_data(nc_conn *c, const char *data, size_t len)
{
    chat *ch = of(c);
    user *u = nc_conn_data(c);
    const char *nl = memchr(data, '\n', len);
    /* These bytes begin or continue a line; only a non-empty one stops the
     * clock, so a trickle of bytes or of empty lines is closed. */
    nc_deadline_arm(&ch->lines, &u->dl, c);
    if (u->discarding) {
        /* The rest of a line already reported as too long. */
        if (!nl)
            return (ssize_t)len;
        u->discarding = 0;
        nc_deadline_disarm(&ch->lines, &u->dl);
        return nl - data + 1;
    }
    if (!nl) {
        if (len > (size_t)ch->max_line) {
            err(c, "line too long (max %lld bytes): dropped", ch->max_line);
            u->discarding = 1;
            return (ssize_t)len;
        }
        return 0;
    }
    size_t n = (size_t)(nl - data);
    if (n > (size_t)ch->max_line) {
        err(c, "line too long (max %lld bytes): dropped", ch->max_line);
        nc_deadline_disarm(&ch->lines, &u->dl);
    } else {
        line(ch, u, data, n);
    }
    return (ssize_t)(n + 1);
}

NC_MODULE_DEFINE = {
    NC_MODULE_HEADER,
    .flags = NC_MOD_STREAM | NC_MOD_SHARED,
    .name = "chat",
    .version = "1.0.0",
    .description = "private line-based chat with /nick, /msg, /who and a help desk",
    .init = chat_init,
    .fini = chat_fini,
    .on_accept = chat_accept,
    .on_data = chat_data,
    .on_close = chat_close,
};
