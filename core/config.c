/* config.c -- load and check netcore.json.  The schema is a table per object
 * (key, kind, bounds, default); every error names the file and the JSON path
 * and says what was expected, the way `nginx -t` does. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "netcore/strbuf.h"

/* Beside the executable (a build tree), relative to it (an installed tree
 * that was moved, or staged under DESTDIR), then the configured prefix. */
static char *default_dirs[3];

void nc__config_set_default_modules_dirs(const char *exe_dir, const char *installed)
{
    for (int i = 0; i < 3; i++) {
        free(default_dirs[i]);
        default_dirs[i] = NULL;
    }
    if (exe_dir) {
        if (asprintf(&default_dirs[0], "%s/modules", exe_dir) < 0)
            default_dirs[0] = NULL;
        if (asprintf(&default_dirs[1], "%s/../lib/netcore/modules", exe_dir) < 0)
            default_dirs[1] = NULL;
    }
    default_dirs[2] = installed ? strdup(installed) : NULL;
}

const char *nc__config_default_modules_dir(int i)
{
    return i >= 0 && i < 3 ? default_dirs[i] : NULL;
}

/* "FILE: PATH: message" */
static int fail(char *err, size_t n, const char *file, const char *path, const char *fmt, ...)
    NC_PRINTF(5, 6);
static int fail(char *err, size_t n, const char *file, const char *path, const char *fmt, ...)
{
    nc_sb sb;
    nc_sb_init(&sb, err, n);
    nc_sb_printf(&sb, "%s: %s%s", file, path ? path : "", path ? ": " : "");
    va_list ap;
    va_start(ap, fmt);
    nc_sb_vprintf(&sb, fmt, ap);
    va_end(ap);
    return -1;
}

/* One key of an object's schema.  For INT and BOOL the value lands in a
 * long long at `off` from the base (BOOL: 0 or 1); for STR in a const
 * char *. */
enum kind { K_STR, K_INT, K_OBJ, K_ARR, K_BOOL };
struct key {
    const char *name;
    enum kind kind;
    long long min, max, def;
    size_t off; /* offset in the target struct, or SIZE_MAX: handled by caller */
};

static const char *kind_name(enum kind k)
{
    switch (k) {
    case K_STR:
        return "a string";
    case K_INT:
        return "an integer";
    case K_OBJ:
        return "an object";
    case K_BOOL:
        return "true or false";
    default:
        return "an array";
    }
}

/* Check obj's members against keys; stores ints and strings, leaves the
 * rest to the caller.  Returns 0 or -1 with err filled. */
static int check_object(json_t *obj, const struct key *keys, size_t nkeys, void *base,
                        const char *file, const char *path, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    char sub[256];
    for (size_t i = 0; i < nkeys; i++)
        if ((keys[i].kind == K_INT || keys[i].kind == K_BOOL) && keys[i].off != SIZE_MAX)
            *(long long *)((char *)base + keys[i].off) = keys[i].def;
    json_object_foreach(obj, k, v) {
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", k);
        const struct key *key = NULL;
        for (size_t i = 0; i < nkeys; i++)
            if (strcmp(keys[i].name, k) == 0)
                key = &keys[i];
        if (!key) {
            const char *names[64];
            size_t nn = 0;
            for (size_t i = 0; i < nkeys && nn < 64; i++)
                names[nn++] = keys[i].name;
            const char *near = nc__nearest(k, names, nn);
            if (near)
                return fail(err, errlen, file, sub, "unknown key (did you mean \"%s\"?)", near);
            return fail(err, errlen, file, sub, "unknown key");
        }
        int ok;
        if (strcmp(k, "workers") == 0 && !*path) {
            ok = json_is_integer(v) || (json_is_string(v) && !strcmp(json_string_value(v), "auto"));
            if (!ok)
                return fail(err, errlen, file, sub, "expected a number of workers or \"auto\"");
            continue;
        }
        switch (key->kind) {
        case K_STR:
            ok = json_is_string(v);
            break;
        case K_INT:
            ok = json_is_integer(v);
            break;
        case K_OBJ:
            ok = json_is_object(v);
            break;
        case K_BOOL:
            ok = json_is_boolean(v);
            break;
        default:
            ok = json_is_array(v);
        }
        if (!ok)
            return fail(err, errlen, file, sub, "expected %s", kind_name(key->kind));
        if (key->off == SIZE_MAX)
            continue;
        if (key->kind == K_INT) {
            long long x = json_integer_value(v);
            if (x < key->min || x > key->max)
                return fail(err, errlen, file, sub, "expected an integer from %lld to %lld",
                            key->min, key->max);
            *(long long *)((char *)base + key->off) = x;
        } else if (key->kind == K_BOOL) {
            *(long long *)((char *)base + key->off) = json_is_true(v);
        } else if (key->kind == K_STR) {
            *(const char **)((char *)base + key->off) = json_string_value(v);
        }
    }
    return 0;
}

static const char *str_or(json_t *obj, const char *k, const char *def)
{
    json_t *v = json_object_get(obj, k);
    return v ? json_string_value(v) : def;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

char *nc__config_module_path(const nc__config *cfg, const char *module, char *err, size_t errlen)
{
    char *p = NULL;
    size_t n = strlen(module);
    if (strchr(module, '/') || (n > 3 && strcmp(module + n - 3, ".so") == 0)) {
        if (module[0] == '/')
            p = strdup(module);
        else if (asprintf(&p, "%s/%s", cfg->dir, module) < 0)
            p = NULL;
        if (!p)
            snprintf(err, errlen, "out of memory");
        return p;
    }
    if (!valid_name(module)) {
        snprintf(err, errlen, "\"%s\" is not a module name or a path to a .so", module);
        return NULL;
    }
    const char *dirs[3] = {cfg->modules_dir, NULL, NULL};
    if (!cfg->modules_dir)
        for (int i = 0; i < 3; i++)
            dirs[i] = default_dirs[i];
    char looked[1024] = "";
    nc_sb lk;
    nc_sb_init(&lk, looked, sizeof looked);
    for (int i = 0; i < 3; i++) {
        if (!dirs[i])
            continue;
        if (asprintf(&p, "%s/%s.so", dirs[i], module) < 0) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        if (access(p, F_OK) == 0)
            return p;
        /* Name only the folders that exist, unless none does. */
        if (access(dirs[i], F_OK) == 0)
            nc_sb_printf(&lk, "%s%s", lk.len ? ", " : "", dirs[i]);
        free(p);
        p = NULL;
    }
    for (int i = 0; i < 3 && !looked[0]; i++)
        if (dirs[i])
            snprintf(looked, sizeof looked, "%s", dirs[i]);
    snprintf(err, errlen, "no module \"%s\" (looked in %s)", module, looked[0] ? looked : "nothing");
    return NULL;
}

#define LOFF(f) offsetof(nc__lconf, f)
static const struct key listener_keys[] = {
    {"name", K_STR, 0, 0, 0, LOFF(name)},
    {"module", K_STR, 0, 0, 0, LOFF(module)},
    {"listen", K_STR, 0, 0, 0, LOFF(listen)},
    {"transport", K_STR, 0, 0, 0, SIZE_MAX},
    {"backlog", K_INT, 1, 65535, 511, SIZE_MAX},
    {"max_connections", K_INT, 1, 10000000, 10000, LOFF(max_connections)},
    {"idle_timeout_ms", K_INT, 0, 86400000, 300000, LOFF(idle_timeout_ms)},
    {"max_input_bytes", K_INT, 1, 1LL << 30, 1 << 20, LOFF(max_input_bytes)},
    {"max_output_bytes", K_INT, 1024, 1LL << 36, 16 << 20, LOFF(max_output_bytes)},
    {"max_connections_per_ip", K_INT, 0, 10000000, 0, LOFF(max_connections_per_ip)},
    {"send_timeout_ms", K_INT, 0, 86400000, 60000, LOFF(send_timeout_ms)},
    {"write_budget_bytes", K_INT, 4096, 1LL << 30, 256 << 10, LOFF(write_budget_bytes)},
    {"max_queued_files", K_INT, 1, 65536, 32, LOFF(max_queued_files)},
    {"options", K_OBJ, 0, 0, 0, SIZE_MAX},
    {"tls", K_OBJ, 0, 0, 0, SIZE_MAX},
};

#define TOFF(f) offsetof(nc__tlsconf, f)
static const struct key tls_keys[] = {
    {"cert", K_STR, 0, 0, 0, TOFF(cert)},
    {"key", K_STR, 0, 0, 0, TOFF(key)},
    {"protocols", K_ARR, 0, 0, 0, SIZE_MAX},
    {"ciphers", K_STR, 0, 0, 0, TOFF(ciphers)},
    {"ciphersuites", K_STR, 0, 0, 0, TOFF(ciphersuites)},
    {"alpn", K_ARR, 0, 0, 0, SIZE_MAX},
    {"handshake_timeout_ms", K_INT, 100, 3600000, 5000, TOFF(handshake_timeout_ms)},
    {"max_handshakes", K_INT, 1, 1000000, 1024, TOFF(max_handshakes)},
    {"certificates", K_ARR, 0, 0, 0, SIZE_MAX},
    {"client_ca", K_STR, 0, 0, 0, TOFF(client_ca)},
    {"verify", K_STR, 0, 0, 0, SIZE_MAX},
    {"session_tickets", K_BOOL, 0, 1, 1, TOFF(session_tickets)},
    {"ticket_key_files", K_ARR, 0, 0, 0, SIZE_MAX},
    {"session_cache", K_INT, 0, 10000000, 0, TOFF(session_cache)},
    {"session_timeout_s", K_INT, 1, 604800, 3600, TOFF(session_timeout_s)},
    {"self_signed_if_missing", K_BOOL, 0, 1, 0, TOFF(self_signed)},
    {"ktls", K_BOOL, 0, 1, 1, TOFF(ktls)},
};

#define COFF_CERT(f) offsetof(nc__tlscert, f)
static const struct key cert_keys[] = {
    {"cert", K_STR, 0, 0, 0, COFF_CERT(cert)},
    {"key", K_STR, 0, 0, 0, COFF_CERT(key)},
    {"names", K_ARR, 0, 0, 0, SIZE_MAX},
};

static char *resolve(const nc__config *cfg, const char *p)
{
    char *r = NULL;
    if (p[0] == '/')
        return strdup(p);
    return asprintf(&r, "%s/%s", cfg->dir, p) < 0 ? NULL : r;
}

/* A JSON array of non-empty strings into a malloc'd array: copied as is,
 * or resolved as paths against the config's folder. */
static int str_array(nc__config *cfg, json_t *arr, int paths, char ***out, size_t *n, const char *path,
                     char *err, size_t errlen)
{
    size_t i;
    json_t *v;
    char sub[160];
    *n = 0;
    *out = calloc(json_array_size(arr) + 1, sizeof **out);
    if (!*out)
        return fail(err, errlen, cfg->path, path, "out of memory");
    json_array_foreach(arr, i, v) {
        const char *str = json_string_value(v);
        if (!str || !*str) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            return fail(err, errlen, cfg->path, sub, "expected a non-empty string");
        }
        if (!((*out)[(*n)++] = paths ? resolve(cfg, str) : strdup(str)))
            return fail(err, errlen, cfg->path, path, "out of memory");
    }
    return 0;
}

static void str_array_free(char **a, size_t n)
{
    for (size_t i = 0; a && i < n; i++)
        free(a[i]);
    free(a);
}

/* "certificates": [{"cert", "key", "names"}...], the ones SNI chooses. */
static int parse_certs(nc__config *cfg, nc__tlsconf *t, json_t *arr, const char *path, char *err, size_t errlen)
{
    size_t i;
    json_t *v;
    char sub[160];
    t->sni = calloc(json_array_size(arr) + 1, sizeof *t->sni);
    if (!t->sni)
        return fail(err, errlen, cfg->path, path, "out of memory");
    json_array_foreach(arr, i, v) {
        nc__tlscert *c = &t->sni[t->nsni++];
        snprintf(sub, sizeof sub, "%s.tls.certificates[%zu]", path, i);
        if (!json_is_object(v))
            return fail(err, errlen, cfg->path, sub, "expected an object with \"cert\", \"key\" and optional \"names\"");
        if (check_object(v, cert_keys, sizeof cert_keys / sizeof cert_keys[0], c, cfg->path, sub, err, errlen) < 0)
            return -1;
        if (!c->cert || !c->key) {
            snprintf(sub, sizeof sub, "%s.tls.certificates[%zu].%s", path, i, c->cert ? "key" : "cert");
            return fail(err, errlen, cfg->path, sub, "missing (a PEM file)");
        }
        if (!(c->cert_path = resolve(cfg, c->cert)) || !(c->key_path = resolve(cfg, c->key)))
            return fail(err, errlen, cfg->path, sub, "out of memory");
        json_t *nm = json_object_get(v, "names");
        if (nm) {
            snprintf(sub, sizeof sub, "%s.tls.certificates[%zu].names", path, i);
            if (json_array_size(nm) == 0)
                return fail(err, errlen, cfg->path, sub,
                            "expected server names (\"example.com\", \"*.example.com\"), or no \"names\" "
                            "to use the certificate's own");
            if (str_array(cfg, nm, 0, &c->names, &c->nnames, sub, err, errlen) < 0)
                return -1;
        }
    }
    return 0;
}

/* The listener's "tls" object: what can be checked without reading the
 * files (tls.c loads them, and names the file in what it says). */
static int parse_tls(nc__config *cfg, nc__lconf *lc, json_t *obj, const char *path, char *err, size_t errlen)
{
    nc__tlsconf *t = &lc->tls;
    char sub[128];
    snprintf(sub, sizeof sub, "%s.tls", path);
    if (lc->transport == NC_UDP)
        return fail(err, errlen, cfg->path, sub, "TLS needs a stream listener (tcp or unix), not udp");
    if (check_object(obj, tls_keys, sizeof tls_keys / sizeof tls_keys[0], t, cfg->path, sub, err, errlen) < 0)
        return -1;
    t->on = 1;
    if (!t->cert || !t->key) {
        snprintf(sub, sizeof sub, "%s.tls.%s", path, t->cert ? "key" : "cert");
        return fail(err, errlen, cfg->path, sub, "missing (a PEM file: the %s)",
                    t->cert ? "certificate's private key" : "certificate chain, the server's first");
    }
    t->cert_path = resolve(cfg, t->cert);
    t->key_path = resolve(cfg, t->key);
    if (!t->cert_path || !t->key_path)
        return fail(err, errlen, cfg->path, sub, "out of memory");
    t->min_version = TLS1_2_VERSION;
    t->max_version = TLS1_3_VERSION;
    json_t *pr = json_object_get(obj, "protocols");
    if (pr) {
        size_t i;
        json_t *v;
        int lo = 0, hi = 0;
        json_array_foreach(pr, i, v) {
            const char *s = json_string_value(v);
            int ver = !s ? 0 : !strcmp(s, "TLSv1.2") ? TLS1_2_VERSION : !strcmp(s, "TLSv1.3") ? TLS1_3_VERSION : 0;
            if (!ver) {
                snprintf(sub, sizeof sub, "%s.tls.protocols[%zu]", path, i);
                return fail(err, errlen, cfg->path, sub, "expected \"TLSv1.2\" or \"TLSv1.3\"");
            }
            lo = !lo || ver < lo ? ver : lo;
            hi = ver > hi ? ver : hi;
        }
        if (!lo) {
            snprintf(sub, sizeof sub, "%s.tls.protocols", path);
            return fail(err, errlen, cfg->path, sub, "expected at least one of \"TLSv1.2\", \"TLSv1.3\"");
        }
        t->min_version = lo;
        t->max_version = hi;
    }
    json_t *certs = json_object_get(obj, "certificates");
    if (certs && parse_certs(cfg, t, certs, path, err, errlen) < 0)
        return -1;
    const char *verify = str_or(obj, "verify", NULL);
    t->verify = t->client_ca ? NC__VERIFY_REQUIRED : NC__VERIFY_NONE;
    if (verify) {
        snprintf(sub, sizeof sub, "%s.tls.verify", path);
        if (!strcmp(verify, "none"))
            t->verify = NC__VERIFY_NONE;
        else if (!strcmp(verify, "optional"))
            t->verify = NC__VERIFY_OPTIONAL;
        else if (!strcmp(verify, "required"))
            t->verify = NC__VERIFY_REQUIRED;
        else
            return fail(err, errlen, cfg->path, sub, "expected \"none\", \"optional\" or \"required\"");
        if (t->verify != NC__VERIFY_NONE && !t->client_ca)
            return fail(err, errlen, cfg->path, sub,
                        "\"%s\" needs client_ca (the PEM file of the CAs that sign client certificates)", verify);
    }
    if (t->client_ca && !(t->client_ca_path = resolve(cfg, t->client_ca)))
        return fail(err, errlen, cfg->path, sub, "out of memory");
    json_t *tk = json_object_get(obj, "ticket_key_files");
    if (tk) {
        snprintf(sub, sizeof sub, "%s.tls.ticket_key_files", path);
        if (str_array(cfg, tk, 1, &t->ticket_key_paths, &t->nticket_keys, sub, err, errlen) < 0)
            return -1;
        if (!t->nticket_keys)
            return fail(err, errlen, cfg->path, sub,
                        "expected one file or more (80 or 48 random bytes each; the first encrypts): or no key, for the "
                        "master's rotating keys");
        if (!t->session_tickets)
            return fail(err, errlen, cfg->path, sub, "set, but session_tickets is false");
    }
    json_t *al = json_object_get(obj, "alpn");
    if (al && json_array_size(al) > 0) {
        size_t i, n = 0;
        json_t *v;
        json_array_foreach(al, i, v) {
            const char *s = json_string_value(v);
            size_t k = s ? strlen(s) : 0;
            if (k < 1 || k > 255) {
                snprintf(sub, sizeof sub, "%s.tls.alpn[%zu]", path, i);
                return fail(err, errlen, cfg->path, sub, "expected a protocol name of 1 to 255 bytes (\"http/1.1\")");
            }
            n += 1 + k;
        }
        t->alpn = n ? malloc(n) : NULL; /* n > 0: the array is not empty, every name has 1 byte or more */
        if (!t->alpn)
            return fail(err, errlen, cfg->path, sub, "out of memory");
        json_array_foreach(al, i, v) {
            size_t k = strlen(json_string_value(v));
            t->alpn[t->alpn_len++] = (unsigned char)k;
            memcpy(t->alpn + t->alpn_len, json_string_value(v), k);
            t->alpn_len += k;
        }
    }
    return 0;
}

static int parse_listener(nc__config *cfg, size_t i, json_t *obj, char *err, size_t errlen)
{
    nc__lconf *lc = &cfg->listeners[i];
    char path[64];
    char sub[96];
    snprintf(path, sizeof path, "listeners[%zu]", i);
    lc->index = (int)i;
    if (!json_is_object(obj))
        return fail(err, errlen, cfg->path, path, "expected an object");
    if (check_object(obj, listener_keys, sizeof listener_keys / sizeof listener_keys[0], lc,
                     cfg->path, path, err, errlen) < 0)
        return -1;
    json_t *b = json_object_get(obj, "backlog");
    lc->backlog = b ? (int)json_integer_value(b) : 511;
    if (b && (lc->backlog < 1 || lc->backlog > 65535)) {
        snprintf(sub, sizeof sub, "%s.backlog", path);
        return fail(err, errlen, cfg->path, sub, "expected an integer from 1 to 65535");
    }
    if (!lc->module) {
        snprintf(sub, sizeof sub, "%s.module", path);
        return fail(err, errlen, cfg->path, sub, "missing (the module that serves this listener)");
    }
    if (!lc->listen) {
        snprintf(sub, sizeof sub, "%s.listen", path);
        return fail(err, errlen, cfg->path, sub, "missing (for example \"127.0.0.1:7000\")");
    }
    if (!lc->name) {
        /* Default: the module's name ("echo", or "x" for "mods/x.so"). */
        const char *base = strrchr(lc->module, '/');
        base = base ? base + 1 : lc->module;
        size_t bl = strlen(base);
        if (bl > 3 && strcmp(base + bl - 3, ".so") == 0)
            bl -= 3;
        json_t *nm = json_stringn(base, bl);
        if (!nm || json_object_set_new(obj, "name", nm) < 0)
            return fail(err, errlen, cfg->path, NULL, "out of memory");
        lc->name = json_string_value(json_object_get(obj, "name"));
    }
    if (!valid_name(lc->name)) {
        snprintf(sub, sizeof sub, "%s.name", path);
        return fail(err, errlen, cfg->path, sub,
                    "expected 1 to 64 characters from A-Z a-z 0-9 _ - .");
    }
    for (size_t j = 0; j < i; j++)
        if (strcmp(cfg->listeners[j].name, lc->name) == 0) {
            snprintf(sub, sizeof sub, "%s.name", path);
            return fail(err, errlen, cfg->path, sub,
                        "\"%s\" is already the name of listeners[%zu] (names must be unique)",
                        lc->name, j);
        }
    const char *aerr;
    if (nc__addr_parse(lc->listen, &lc->addr, &aerr) < 0) {
        snprintf(sub, sizeof sub, "%s.listen", path);
        return fail(err, errlen, cfg->path, sub, "\"%s\": %s", lc->listen, aerr);
    }
    const char *tr = str_or(obj, "transport", "tcp");
    snprintf(sub, sizeof sub, "%s.transport", path);
    if (strcmp(tr, "tcp") == 0)
        lc->transport = NC_TCP;
    else if (strcmp(tr, "udp") == 0)
        lc->transport = NC_UDP;
    else {
        static const char *const tr_names[] = {"tcp", "udp"};
        const char *near = nc__nearest(tr, tr_names, 2);
        return fail(err, errlen, cfg->path, sub, "expected \"tcp\" or \"udp\", not \"%s\"%s%s%s", tr,
                    near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
    }
    if (lc->addr.ss.ss_family == AF_UNIX) {
        if (lc->transport == NC_UDP)
            return fail(err, errlen, cfg->path, sub,
                        "\"udp\" needs an IP address, not a unix socket");
        lc->transport = NC_UNIX;
    }
    /* Two listeners on one fixed address would fail at bind; say so now. */
    for (size_t j = 0; j < i; j++) {
        nc__lconf *o = &cfg->listeners[j];
        if (o->transport == lc->transport && o->addr.len == lc->addr.len &&
            memcmp(&o->addr.ss, &lc->addr.ss, lc->addr.len) == 0 &&
            (lc->transport == NC_UNIX || nc__addr_port((struct sockaddr *)&lc->addr.ss) != 0)) {
            snprintf(sub, sizeof sub, "%s.listen", path);
            return fail(err, errlen, cfg->path, sub, "\"%s\" is already used by listeners[%zu]",
                        lc->listen, j);
        }
    }
    json_t *tls = json_object_get(obj, "tls");
    if (tls && parse_tls(cfg, lc, tls, path, err, errlen) < 0)
        return -1;
    lc->options = json_object_get(obj, "options");
    if (!lc->options) {
        /* An empty one, owned by the tree like the rest: nc_opt_path keeps
         * the paths it resolves from a relative default in it, and they
         * must live as long as the config. */
        if (json_object_set_new(obj, "options", json_object()) < 0)
            return fail(err, errlen, cfg->path, path, "out of memory");
        lc->options = json_object_get(obj, "options");
    }
    char merr[512];
    lc->module_path = nc__config_module_path(cfg, lc->module, merr, sizeof merr);
    if (!lc->module_path) {
        snprintf(sub, sizeof sub, "%s.module", path);
        return fail(err, errlen, cfg->path, sub, "%s", merr);
    }
    return 0;
}

#define COFF(f) offsetof(nc__config, f)
static const struct key top_keys[] = {
    {"modules_dir", K_STR, 0, 0, 0, SIZE_MAX},
    {"log", K_OBJ, 0, 0, 0, SIZE_MAX},
    {"shutdown_timeout_ms", K_INT, 0, 3600000, 5000, COFF(shutdown_timeout_ms)},
    {"drain_timeout_ms", K_INT, 0, 86400000, 30000, COFF(drain_timeout_ms)},
    {"max_connections", K_INT, 1, 100000000, 1000000, COFF(max_connections)},
    {"workers", K_STR, 0, 0, 0, SIZE_MAX}, /* a number or "auto": checked below */
    {"pid_file", K_STR, 0, 0, 0, SIZE_MAX},
    {"user", K_STR, 0, 0, 0, SIZE_MAX},
    {"group", K_STR, 0, 0, 0, SIZE_MAX},
    {"listeners", K_ARR, 0, 0, 0, SIZE_MAX},
    {"worker_max_output_bytes", K_INT, 1 << 20, 1LL << 40, 256 << 20, COFF(worker_max_output_bytes)},
    {"worker_max_queued_files", K_INT, 0, 10000000, 0, COFF(worker_max_queued_files)},
    {"tls_ticket_rotation_s", K_INT, 1, 604800, 3600, COFF(tls_ticket_rotation_s)},
};

static const struct key log_keys[] = {
    {"level", K_STR, 0, 0, 0, SIZE_MAX},
    {"format", K_STR, 0, 0, 0, SIZE_MAX},
    {"file", K_STR, 0, 0, 0, SIZE_MAX},
};

static int parse_root(nc__config *cfg, char *err, size_t errlen)
{
    json_t *root = cfg->root;
    if (!json_is_object(root))
        return fail(err, errlen, cfg->path, NULL, "expected a JSON object at the top level");
    if (check_object(root, top_keys, sizeof top_keys / sizeof top_keys[0], cfg, cfg->path, "",
                     err, errlen) < 0)
        return -1;

    const char *md = str_or(root, "modules_dir", NULL);
    if (md) {
        if (md[0] == '/')
            cfg->modules_dir = strdup(md);
        else if (asprintf(&cfg->modules_dir, "%s/%s", cfg->dir, md) < 0)
            cfg->modules_dir = NULL;
        if (!cfg->modules_dir)
            return fail(err, errlen, cfg->path, NULL, "out of memory");
    }

    json_t *wv = json_object_get(root, "workers");
    if (!wv) {
        cfg->workers = 1;
    } else if (json_is_integer(wv)) {
        cfg->workers = json_integer_value(wv);
        if (cfg->workers < 1 || cfg->workers > 64)
            return fail(err, errlen, cfg->path, "workers", "expected 1 to 64 or \"auto\"");
    } else {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->workers = n < 1 ? 1 : n > 64 ? 64 : n;
    }
    cfg->pid_file = str_or(root, "pid_file", NULL);
    if (cfg->pid_file) {
        if (!cfg->pid_file[0])
            return fail(err, errlen, cfg->path, "pid_file", "expected a file path");
        if (cfg->pid_file[0] == '/')
            cfg->pid_path = strdup(cfg->pid_file);
        else if (asprintf(&cfg->pid_path, "%s/%s", cfg->dir, cfg->pid_file) < 0)
            cfg->pid_path = NULL;
        if (!cfg->pid_path)
            return fail(err, errlen, cfg->path, NULL, "out of memory");
    }
    cfg->user = str_or(root, "user", NULL);
    cfg->group = str_or(root, "group", NULL);
    if (cfg->group && !cfg->user)
        return fail(err, errlen, cfg->path, "group", "needs \"user\" as well");

    cfg->log_level = NC_LOG_INFO;
    cfg->log_format = NC_LOGFMT_TEXT;
    json_t *log = json_object_get(root, "log");
    if (log) {
        if (check_object(log, log_keys, 3, NULL, cfg->path, "log", err, errlen) < 0)
            return -1;
        const char *lv = str_or(log, "level", "info");
        if ((cfg->log_level = nc__log_level_parse(lv)) < 0) {
            static const char *const levels[] = {"error", "warn", "info", "debug"};
            const char *near = nc__nearest(lv, levels, 4);
            return fail(err, errlen, cfg->path, "log.level",
                        "expected \"error\", \"warn\", \"info\" or \"debug\", not \"%s\"%s%s%s", lv,
                        near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
        }
        const char *fmt = str_or(log, "format", "text");
        if (strcmp(fmt, "json") == 0)
            cfg->log_format = NC_LOGFMT_JSON;
        else if (strcmp(fmt, "text") != 0) {
            static const char *const formats[] = {"text", "json"};
            const char *near = nc__nearest(fmt, formats, 2);
            return fail(err, errlen, cfg->path, "log.format", "expected \"text\" or \"json\", not \"%s\"%s%s%s",
                        fmt, near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
        }
        const char *f = str_or(log, "file", NULL);
        if (f && strcmp(f, "-") != 0) {
            if (f[0] == '\0')
                return fail(err, errlen, cfg->path, "log.file", "expected a file path or \"-\"");
            if (f[0] == '/')
                cfg->log_file = strdup(f);
            else if (asprintf(&cfg->log_file, "%s/%s", cfg->dir, f) < 0)
                cfg->log_file = NULL;
            if (!cfg->log_file)
                return fail(err, errlen, cfg->path, NULL, "out of memory");
        }
    }

    json_t *ls = json_object_get(root, "listeners");
    if (!ls)
        return fail(err, errlen, cfg->path, "listeners", "missing (an array of listeners)");
    if (json_array_size(ls) == 0)
        return fail(err, errlen, cfg->path, "listeners", "expected at least one listener");
    cfg->nlisteners = json_array_size(ls);
    cfg->listeners = calloc(cfg->nlisteners, sizeof *cfg->listeners);
    if (!cfg->listeners)
        return fail(err, errlen, cfg->path, NULL, "out of memory");
    for (size_t i = 0; i < cfg->nlisteners; i++)
        if (parse_listener(cfg, i, json_array_get(ls, i), err, errlen) < 0)
            return -1;
    return 0;
}

int nc__config_parse(const char *text, size_t len, const char *path, nc__config *cfg, char *err,
                     size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->path = strdup(path);
    const char *slash = strrchr(path, '/');
    cfg->dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    if (slash == path) {
        free(cfg->dir);
        cfg->dir = strdup("/");
    }
    if (!cfg->path || !cfg->dir) {
        nc__config_free(cfg);
        return fail(err, errlen, path, NULL, "out of memory");
    }
    json_error_t je;
    cfg->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!cfg->root) {
        /* jansson says "'}' expected near '"listen"'" where a comma is
         * missing between two members (or "']' expected" between two
         * elements): say what that almost always means. */
        int comma = (strncmp(je.text, "'}' expected near '", 19) == 0 && je.text[19] == '"') ||
                    (strncmp(je.text, "']' expected near '", 19) == 0 && je.text[19] != ']');
        snprintf(err, errlen, "%s:%d:%d: %s%s", path, je.line, je.column, je.text,
                 comma ? " (a missing comma before it?)" : "");
        nc__config_free(cfg);
        return -1;
    }
    if (parse_root(cfg, err, errlen) < 0) {
        nc__config_free(cfg);
        return -1;
    }
    return 0;
}

int nc__config_load(const char *path, nc__config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            if (cap > (64u << 20)) {
                fclose(f);
                free(text);
                snprintf(err, errlen, "%s: larger than 64 MiB", path);
                return -1;
            }
            char *p = realloc(text, cap = cap ? cap * 2 : 65536);
            if (!p) {
                fclose(f);
                free(text);
                snprintf(err, errlen, "%s: out of memory", path);
                return -1;
            }
            text = p;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(text);
        snprintf(err, errlen, "%s: read error", path);
        return -1;
    }
    int rc = nc__config_parse(text, len, path, cfg, err, errlen);
    free(text);
    return rc;
}

void nc__config_free(nc__config *cfg)
{
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        free(cfg->listeners[i].module_path);
        free(cfg->listeners[i].tls.cert_path);
        free(cfg->listeners[i].tls.key_path);
        free(cfg->listeners[i].tls.alpn);
        free(cfg->listeners[i].tls.client_ca_path);
        str_array_free(cfg->listeners[i].tls.ticket_key_paths, cfg->listeners[i].tls.nticket_keys);
        for (size_t k = 0; k < cfg->listeners[i].tls.nsni; k++) {
            nc__tlscert *c = &cfg->listeners[i].tls.sni[k];
            free(c->cert_path);
            free(c->key_path);
            str_array_free(c->names, c->nnames);
        }
        free(cfg->listeners[i].tls.sni);
    }
    free(cfg->listeners);
    free(cfg->path);
    free(cfg->dir);
    free(cfg->modules_dir);
    free(cfg->log_file);
    free(cfg->pid_path);
    if (cfg->root)
        json_decref(cfg->root);
    memset(cfg, 0, sizeof *cfg);
}
