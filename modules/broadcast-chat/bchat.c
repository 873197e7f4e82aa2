/* bchat.c -- the broadcast-chat module: a JSON chat room.  Clients log in,
 * broadcast to everyone else in the room, see join and leave notices; the
 * server writes one JSON object per line and reads objects separated by
 * whitespace or nothing.  See docs/protocols/broadcast-chat.md.
 *
 * Rooms are shared by every listener that names the same `room` (a module
 * global registry); each room holds its logged-in sessions in join order.
 * A broadcast is serialised once into a shared buffer and queued on every
 * recipient without copying.  Input is framed by a streaming scanner that
 * tracks depth and strings, so objects are found without parsing twice and
 * an oversized object is skipped exactly, memory staying bounded. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "netcore/deadline.h"
#include "netcore/list.h"
#include "netcore/netcore.h"

typedef struct session session;

typedef struct room {
    char *name;
    unsigned refs;         /* listeners using it */
    uint64_t next_id;      /* ids start at 1, never reused */
    nc_list sessions;      /* logged-in sessions (session.member), join order */
    size_t members;
    struct room *next;
} room;

typedef struct bchat {
    room *room;
    long long max_message;
    long long max_backlog;
    long long message_timeout;
    nc_deadlines messages;
    uint64_t *c_broadcasts, *c_deliveries, *c_dropped, *c_errors;
} bchat;

enum scan { S_IDLE, S_OBJ, S_STR, S_ESC, S_SKIP_LINE };

struct session {
    nc_conn *c;
    bchat *b;
    uint64_t id;           /* 0 until logged in */
    char *nick;            /* escaped for JSON output */
    char *raw;             /* as sent, for notices (fanout escapes them) */
    nc_list member;        /* on its room's sessions while logged in */
    /* scanner state, kept across on_data calls */
    int state;
    int skipping;          /* inside an object too large: discard it */
    unsigned depth;
    size_t pos;            /* bytes of the current object seen so far */
    size_t skipped;        /* bytes discarded looking for a newline */
    /* message_timeout_ms: the clock runs from the first byte after the last
     * complete object; the line ending after an object ("\r\n") is free. */
    nc_deadline dl;
    unsigned free_ws;
};

static room *rooms;

static room *room_get(const char *name)
{
    for (room *r = rooms; r; r = r->next)
        if (strcmp(r->name, name) == 0) {
            r->refs++;
            return r;
        }
    room *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(name))) {
        free(r);
        return NULL;
    }
    r->refs = 1;
    r->next_id = 1;
    nc_list_init(&r->sessions);
    r->next = rooms;
    rooms = r;
    return r;
}

static void room_put(room *r)
{
    if (--r->refs)
        return;
    for (room **pp = &rooms; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    free(r->name);
    free(r);
}

static void message_expired(nc_conn *c);

static int bc_init(nc_listener *l, nc_options *o, void **instance)
{
    bchat *b = calloc(1, sizeof *b);
    const char *rname;
    if (!b)
        return nc_opt_error(o, "room", "out of memory");
    if (nc_opt_str(o, "room", nc_listener_name(l), &rname) < 0 ||
        nc_opt_int(o, "max_message", 64 * 1024, 16, 64LL << 20, &b->max_message) < 0 ||
        nc_opt_int(o, "max_backlog", 8LL << 20, 1024, 1LL << 36, &b->max_backlog) < 0 ||
        nc_opt_int(o, "message_timeout_ms", 10000, 0, 86400000, &b->message_timeout) < 0) {
        free(b);
        return -1;
    }
    if (!rname[0]) {
        free(b);
        return nc_opt_error(o, "room", "must not be empty");
    }
    b->room = room_get(rname);
    if (!b->room) {
        free(b);
        return nc_opt_error(o, "room", "out of memory");
    }
    b->c_broadcasts = nc_counter(l, "broadcasts");
    b->c_deliveries = nc_counter(l, "deliveries");
    b->c_dropped = nc_counter(l, "slow_consumers_dropped");
    b->c_errors = nc_counter(l, "protocol_errors");
    nc_deadlines_init(&b->messages, (uint64_t)b->message_timeout, "a complete message", "message_timeout_ms",
                      nc_counter(l, "message_timeouts"), message_expired);
    *instance = b;
    return 0;
}

static void bc_fini(nc_listener *l, void *instance)
{
    (void)l;
    bchat *b = instance;
    nc_deadlines_stop(&b->messages);
    room_put(b->room);
    free(b);
}

static void count(uint64_t *k, uint64_t n)
{
    if (k)
        *k += n;
}

static void send_error(session *s, const char *what)
{
    char buf[512];
    char esc[400];
    size_t n = nc_json_escape(esc, sizeof esc, what, strlen(what));
    if (n > sizeof esc)
        n = 0;
    int k = snprintf(buf, sizeof buf, "{\"status\":\"error\",\"error\":\"%.*s\"}\n", (int)n, esc);
    nc_send(s->c, buf, (size_t)k);
    count(s->b->c_errors, 1);
}

static void message_expired(nc_conn *c)
{
    session *s = nc_conn_data(c);
    char why[96];
    snprintf(why, sizeof why, "no complete message within message_timeout_ms (%lld): closing",
             s->b->message_timeout);
    send_error(s, why);
}

/* A framed object ended (handled or skipped whole): the clock stops. */
static void object_end(session *s)
{
    nc_deadline_disarm(&s->b->messages, &s->dl);
    s->free_ws = 2;
}

/* Queue msg on one recipient, unless its backlog says it stopped reading. */
static void deliver(session *to, nc_shared *msg)
{
    bchat *b = to->b;
    if (nc_conn_queued(to->c) + nc_shared_len(msg) > (size_t)b->max_backlog) {
        nc_log_conn(to->c, NC_LOG_WARN,
                    "slow consumer: %zu bytes unsent exceed max_backlog (%lld); disconnecting",
                    nc_conn_queued(to->c), b->max_backlog);
        count(b->c_dropped, 1);
        nc_close(to->c, NC_CLOSE_ABORT);
        return;
    }
    if (nc_send_shared(to->c, msg) == 0)
        count(b->c_deliveries, 1);
}

/* One serialisation, N recipients; `except` (may be NULL) is skipped. */
static void fanout(room *r, session *except, uint64_t sender_id, const char *sender_nick,
                   const char *text, size_t tlen)
{
    static const char frame[] = "{\"sender_id\":,\"sender_nickname\":\"\",\"message\":\"\"}\n";
    size_t nl = strlen(sender_nick);
    /* The worst case exactly: the frame, 20 digits of id, the nickname
     * (escaped at login), and the text escaped at 6 bytes a byte. */
    size_t cap = sizeof frame + 20 + nl + 6 * tlen;
    nc_shared *msg = nc_shared_new(NULL, cap);
    if (!msg)
        return;
    char *p = nc_shared_data(msg);
    int k = snprintf(p, cap, "{\"sender_id\":%llu,\"sender_nickname\":\"%s\",\"message\":\"",
                     (unsigned long long)sender_id, sender_nick);
    size_t n = (size_t)k;
    n += nc_json_escape(p + n, cap - n, text, tlen);
    memcpy(p + n, "\"}\n", 3);
    n += 3;
    /* The buffer was sized for the worst case; trim what is sent. */
    nc_shared *exact = nc_shared_new(p, n);
    nc_shared_release(msg);
    if (!exact)
        return;
    for (nc_list *q = nc_list_first(&r->sessions), *next; q; q = next) {
        next = nc_list_next(&r->sessions, q);
        session *s = NC_LIST_DATA(q, session, member);
        if (s != except)
            deliver(s, exact);
    }
    nc_shared_release(exact);
}

static void leave(session *s)
{
    if (!s->id)
        return;
    room *r = s->b->room;
    nc_list_remove(&s->member);
    r->members--;
    char text[512];
    int n = snprintf(text, sizeof text, "%s left (id %llu)", s->raw, (unsigned long long)s->id);
    s->id = 0;
    fanout(r, NULL, 0, "System", text, (size_t)n);
}

static int bc_accept(nc_conn *c)
{
    session *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->c = c;
    nc_list_init(&s->member);
    s->b = nc_listener_instance(nc_conn_listener(c));
    nc_conn_set_data(c, s);
    return 0;
}

static void bc_close(nc_conn *c)
{
    session *s = nc_conn_data(c);
    nc_deadline_disarm(&s->b->messages, &s->dl);
    leave(s);
    free(s->nick);
    free(s->raw);
    free(s);
}

/* Why nick (n bytes of valid UTF-8) cannot be a nickname, or NULL.  The
 * server's notices come from "System": nobody may look like them.  Controls
 * (C0, DEL, C1) and bidirectional overrides and isolates (U+202A..U+202E,
 * U+2066..U+2069) would let a name rewrite how the lines around it read. */
static const char *nick_refused(const char *nick, size_t n)
{
    const unsigned char *u = (const unsigned char *)nick;
    if (n == 6 && strncasecmp(nick, "System", 6) == 0)
        return "nickname \"System\" is reserved";
    for (size_t i = 0; i < n; i++) {
        if (u[i] < 0x20 || u[i] == 0x7f || (u[i] == 0xc2 && i + 1 < n && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f))
            return "nickname must not contain control characters";
        if (u[i] == 0xe2 && i + 2 < n &&
            ((u[i + 1] == 0x80 && u[i + 2] >= 0xaa && u[i + 2] <= 0xae) ||
             (u[i + 1] == 0x81 && u[i + 2] >= 0xa6 && u[i + 2] <= 0xa9)))
            return "nickname must not contain bidirectional overrides (U+202A..U+202E, U+2066..U+2069)";
    }
    return NULL;
}

static void do_login(session *s, json_t *obj)
{
    json_t *nv = json_object_get(obj, "nickname");
    if (!json_is_string(nv)) {
        send_error(s, "login needs \"nickname\": a string");
        return;
    }
    const char *nick = json_string_value(nv);
    size_t n = json_string_length(nv);
    if (n < 1 || n > 64) {
        send_error(s, "nickname must be 1 to 64 bytes");
        return;
    }
    const char *why = nick_refused(nick, n);
    if (why) {
        send_error(s, why);
        return;
    }
    if (s->id) {
        send_error(s, "already logged in");
        return;
    }
    char esc[400];
    size_t el = nc_json_escape(esc, sizeof esc, nick, n);
    free(s->nick);
    free(s->raw);
    s->nick = strndup(esc, el);
    s->raw = strndup(nick, n);
    if (!s->nick || !s->raw) {
        send_error(s, "out of memory");
        return;
    }
    room *r = s->b->room;
    s->id = r->next_id++;
    nc_list_push_tail(&r->sessions, &s->member);
    r->members++;
    nc_sendf(s->c, "{\"status\":\"ok\",\"id\":%llu}\n", (unsigned long long)s->id);
    /* The notice text holds the nickname raw; fanout escapes it. */
    char text[512];
    int tl = snprintf(text, sizeof text, "%.*s joined (id %llu)", (int)n, nick,
                      (unsigned long long)s->id);
    fanout(r, NULL, 0, "System", text, (size_t)tl);
}

static void do_broadcast(session *s, json_t *obj)
{
    if (!s->id) {
        send_error(s, "not logged in: send {\"type\":\"login\",\"nickname\":\"...\"} first");
        return;
    }
    json_t *mv = json_object_get(obj, "message");
    if (!json_is_string(mv)) {
        send_error(s, "broadcast needs \"message\": a string");
        return;
    }
    count(s->b->c_broadcasts, 1);
    fanout(s->b->room, s, s->id, s->nick, json_string_value(mv), json_string_length(mv));
}

static void handle(session *s, const char *text, size_t n)
{
    json_error_t je;
    json_t *obj = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    if (!obj) {
        char why[300];
        snprintf(why, sizeof why, "malformed JSON: %s", je.text);
        send_error(s, why);
        return;
    }
    json_t *tv = json_object_get(obj, "type");
    const char *type = json_string_value(tv);
    if (!type) {
        send_error(s, "missing \"type\": a string");
    } else if (strcmp(type, "login") == 0) {
        do_login(s, obj);
    } else if (strcmp(type, "broadcast") == 0) {
        do_broadcast(s, obj);
    } else if (strcmp(type, "logout") == 0) {
        nc_send(s->c, "{\"status\":\"ok\"}\n", 16);
        leave(s);
        nc_close(s->c, NC_CLOSE_FLUSH);
    } else {
        char why[128];
        snprintf(why, sizeof why, "unknown type \"%.64s\"", type);
        send_error(s, why);
    }
    json_decref(obj);
}

static ssize_t bc_data(nc_conn *c, const char *data, size_t len)
{
    session *s = nc_conn_data(c);
    size_t max = (size_t)s->b->max_message;
    size_t i = 0;
    unsigned char first = (unsigned char)data[0];
    if (s->state == S_IDLE && s->free_ws && (first == ' ' || first == '\t' || first == '\r' || first == '\n'))
        s->free_ws--;
    else {
        s->free_ws = 0;
        nc_deadline_arm(&s->b->messages, &s->dl, c);
    }
    /* Scan from where the last call stopped: s->pos bytes of the current
     * object are already known good and were left unconsumed. */
    if (s->state != S_IDLE && s->state != S_SKIP_LINE && !s->skipping)
        i = s->pos;
    for (; i < len; i++) {
        unsigned char ch = (unsigned char)data[i];
        switch (s->state) {
        case S_SKIP_LINE:
            if (ch == '\n') {
                s->state = S_IDLE;
                s->skipped = 0;
                return (ssize_t)(i + 1);
            }
            if (++s->skipped > max) {
                send_error(s, "cannot find the next object: closing");
                nc_close(c, NC_CLOSE_FLUSH);
                return (ssize_t)len;
            }
            continue;
        case S_IDLE:
            if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
                return (ssize_t)(i + 1);
            if (ch != '{') {
                send_error(s, "malformed JSON: expected an object");
                s->state = S_SKIP_LINE;
                s->skipped = 0;
                return (ssize_t)(i + 1);
            }
            s->state = S_OBJ;
            s->depth = 1;
            s->pos = 0;
            continue;
        case S_OBJ:
            if (ch == '"')
                s->state = S_STR;
            else if (ch == '{' || ch == '[')
                s->depth++;
            else if (ch == '}' || ch == ']') {
                if (--s->depth == 0) {
                    s->state = S_IDLE;
                    object_end(s);
                    if (s->skipping) {
                        s->skipping = 0;
                        return (ssize_t)(i + 1);
                    }
                    handle(s, data, i + 1);
                    return (ssize_t)(i + 1);
                }
            }
            break;
        case S_STR:
            if (ch == '\\')
                s->state = S_ESC;
            else if (ch == '"')
                s->state = S_OBJ;
            else if (ch < 0x20) {
                /* A raw control character (a newline, typically) inside a
                 * string: the object is broken; resynchronise after it. */
                if (!s->skipping)
                    send_error(s, "malformed JSON: control character in a string");
                s->skipping = 0;
                s->state = ch == '\n' ? S_IDLE : S_SKIP_LINE;
                s->skipped = 0;
                return (ssize_t)(i + 1);
            }
            break;
        case S_ESC:
            s->state = S_STR;
            break;
        }
        if (s->skipping)
            continue;
        if (i + 1 > max) {
            char why[96];
            snprintf(why, sizeof why, "message too large (max_message is %zu bytes)", max);
            send_error(s, why);
            s->skipping = 1;
            return (ssize_t)(i + 1); /* discard what was seen; keep scanning */
        }
    }
    if (s->skipping || s->state == S_SKIP_LINE)
        return (ssize_t)len; /* nothing worth keeping */
    s->pos = len;
    return 0;
}

NC_MODULE_DEFINE = {
    NC_MODULE_HEADER,
    .flags = NC_MOD_STREAM | NC_MOD_SHARED,
    .name = "broadcast-chat",
    .version = "1.0.0",
    .description = "JSON chat room: login, broadcast, join/leave notices",
    .init = bc_init,
    .fini = bc_fini,
    .on_accept = bc_accept,
    .on_data = bc_data,
    .on_close = bc_close,
};
