/* options.c -- the typed getters modules use to read and validate their
 * listener's "options" object.  The core remembers which keys were asked for
 * so that a misspelt option is an error, not silently ignored. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "netcore/strbuf.h"

#define MAX_ASKED 128

struct nc_options {
    json_t *obj; /* NULL when the listener has no "options" */
    const char *file;
    const char *dir; /* the config file's folder */
    char prefix[64]; /* listeners[N].options */
    char err[768];
    int failed;
    const char *asked[MAX_ASKED];
    size_t nasked;
};

nc_options *nc__options_new(const char *file, const char *dir, const nc__lconf *lc)
{
    nc_options *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->obj = lc->options;
    o->file = file;
    o->dir = dir;
    snprintf(o->prefix, sizeof o->prefix, "listeners[%d].options", lc->index);
    return o;
}

void nc__options_free(nc_options *o)
{
    free(o);
}

static void verror(nc_options *o, const char *key, const char *fmt, va_list ap)
{
    if (o->failed)
        return; /* the first error is the one worth reading */
    o->failed = 1;
    nc_sb sb;
    nc_sb_init(&sb, o->err, sizeof o->err);
    nc_sb_printf(&sb, "%s: %s.%s: ", o->file, o->prefix, key);
    nc_sb_vprintf(&sb, fmt, ap);
}

int nc_opt_error(nc_options *o, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(o, key, fmt, ap);
    va_end(ap);
    return -1;
}

static json_t *get(nc_options *o, const char *key)
{
    if (o->nasked < MAX_ASKED)
        o->asked[o->nasked++] = key;
    return o->obj ? json_object_get(o->obj, key) : NULL;
}

int nc_opt_str(nc_options *o, const char *key, const char *def, const char **out)
{
    json_t *v = get(o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_string(v))
        return nc_opt_error(o, key, "expected a string");
    *out = json_string_value(v);
    return 0;
}

int nc_opt_path(nc_options *o, const char *key, const char *def, const char **out)
{
    const char *s = NULL;
    if (nc_opt_str(o, key, def, &s) < 0)
        return -1;
    *out = s;
    if (!s || s[0] == '/' || !strcmp(s, "-") || !strcmp(s, "off"))
        return 0;
    if (!s[0])
        return nc_opt_error(o, key, "expected a path");
    /* Resolved text is kept in the options object itself, so it lives as
     * long as the config (until fini). */
    char *full;
    if (asprintf(&full, "%s/%s", o->dir, s) < 0)
        return nc_opt_error(o, key, "out of memory");
    char hidden[128];
    snprintf(hidden, sizeof hidden, "\x01resolved:%s", key);
    json_t *v = json_string(full);
    free(full);
    if (!v || !o->obj || json_object_set_new(o->obj, hidden, v) < 0)
        return nc_opt_error(o, key, "out of memory");
    *out = json_string_value(v);
    return 0;
}

int nc_opt_int(nc_options *o, const char *key, long long def, long long min, long long max,
               long long *out)
{
    json_t *v = get(o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return nc_opt_error(o, key, "expected an integer from %lld to %lld", min, max);
    *out = json_integer_value(v);
    return 0;
}

int nc_opt_bool(nc_options *o, const char *key, int def, int *out)
{
    json_t *v = get(o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v))
        return nc_opt_error(o, key, "expected true or false");
    *out = json_is_true(v);
    return 0;
}

int nc_opt_enum(nc_options *o, const char *key, const char *const *choices, int def, int *out)
{
    json_t *v = get(o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    const char *s = json_string_value(v);
    for (int i = 0; s && choices[i]; i++)
        if (strcmp(s, choices[i]) == 0) {
            *out = i;
            return 0;
        }
    char list[256];
    nc_sb sb;
    nc_sb_init(&sb, list, sizeof list);
    size_t n = 0;
    for (; choices[n]; n++)
        nc_sb_printf(&sb, "%s\"%s\"", n ? ", " : "", choices[n]);
    const char *near = s ? nc__nearest(s, choices, n) : NULL;
    return nc_opt_error(o, key, "expected one of %s%s%s%s%s", list, nc_sb_truncated(&sb) ? "..." : "",
                        near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
}

int nc_opt_strmap(nc_options *o, const char *key,
                  const char *(*cb)(void *arg, const char *name, const char *value), void *arg)
{
    json_t *v = get(o, key);
    if (!v)
        return 0;
    if (!json_is_object(v))
        return nc_opt_error(o, key, "expected an object of strings");
    const char *k;
    json_t *m;
    json_object_foreach(v, k, m) {
        if (!json_is_string(m))
            return nc_opt_error(o, key, "\"%s\": expected a string", k);
        const char *why = cb(arg, k, json_string_value(m));
        if (why)
            return nc_opt_error(o, key, "\"%s\": %s", k, why);
    }
    return 0;
}

/* A key the module never asked for: reported before anything else, since a
 * misspelt key is the likeliest cause of a "missing" one ("rooot" beside a
 * missing "root"), with the nearest key the module knows. */
static const char *unknown_key(nc_options *o)
{
    if (!o->obj)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach(o->obj, k, v) {
        size_t i;
        if (k[0] == '\x01')
            continue; /* nc_opt_path's resolved copies */
        for (i = 0; i < o->nasked; i++)
            if (strcmp(o->asked[i], k) == 0)
                break;
        if (i == o->nasked) {
            const char *near = nc__nearest(k, o->asked, o->nasked);
            if (near)
                snprintf(o->err, sizeof o->err, "%s: %s.%s: unknown option (did you mean \"%s\"?)", o->file,
                         o->prefix, k, near);
            else
                snprintf(o->err, sizeof o->err, "%s: %s.%s: unknown option", o->file, o->prefix, k);
            return o->err;
        }
    }
    return NULL;
}

const char *nc__options_finish(nc_options *o, int init_rc)
{
    /* The module may have stopped asking at its first error: only then can
     * an unasked key be a later option rather than a typo -- so with a
     * failure, report an unknown key only when it is a typo of an asked one. */
    if (o->failed || init_rc != 0) {
        char saved[sizeof o->err];
        snprintf(saved, sizeof saved, "%s", o->err);
        const char *u = unknown_key(o);
        if (u && strstr(u, "(did you mean"))
            return u;
        snprintf(o->err, sizeof o->err, "%s", saved);
    }
    if (o->failed)
        return o->err;
    if (init_rc != 0) {
        snprintf(o->err, sizeof o->err, "%s: %s: the module refused its options", o->file,
                 o->prefix);
        return o->err;
    }
    return unknown_key(o);
}
