/* config.h -- netcore.json: parsed with jansson, checked against the schema
 * (unknown keys are errors), with defaults filled in.  Module options are
 * kept as JSON and validated by the module itself (options.c). */
#ifndef NC_CORE_CONFIG_H
#define NC_CORE_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

enum nc__transport { NC_TCP = 0, NC_UDP = 1, NC_UNIX = 2 };

/* A listener's "tls" object (docs/tls.md).  Strings are borrowed from the
 * config's JSON tree; the paths are resolved copies, owned here. */
/* One certificate of a listener: the default one (the "tls" object's own
 * cert and key) or one of "certificates", chosen by the client's SNI. */
typedef struct nc__tlscert {
    const char *cert, *key;     /* as written */
    char *cert_path, *key_path; /* resolved against the config's folder */
    char **names;               /* "names" (NULL: the certificate's own DNS names) */
    size_t nnames;
} nc__tlscert;

enum { NC__VERIFY_NONE, NC__VERIFY_OPTIONAL, NC__VERIFY_REQUIRED };

typedef struct nc__tlsconf {
    int on;
    const char *cert, *key;       /* as written */
    char *cert_path, *key_path;   /* resolved against the config's folder */
    nc__tlscert *sni;             /* "certificates": chosen by server name */
    size_t nsni;
    const char *ciphers;          /* TLS 1.2 cipher list; NULL: OpenSSL's default */
    const char *ciphersuites;     /* TLS 1.3 suites; NULL: OpenSSL's default */
    int min_version, max_version; /* TLS1_2_VERSION / TLS1_3_VERSION values (from "protocols") */
    unsigned char *alpn;          /* wire format (length-prefixed names), or NULL */
    size_t alpn_len;
    const char *client_ca;        /* as written; NULL: no client certificates */
    char *client_ca_path;
    int verify;                   /* NC__VERIFY_* */
    char **ticket_key_paths;      /* "ticket_key_files" resolved; NULL: the master's rotating keys */
    size_t nticket_keys;
    long long handshake_timeout_ms;
    long long max_handshakes;     /* per worker, at once */
    long long session_tickets;    /* bool */
    long long session_cache;      /* sessions a worker keeps by id; 0: none */
    long long session_timeout_s;  /* how long a session may be resumed */
    long long self_signed;        /* bool: make a self-signed pair where cert and key are missing */
    long long ktls;               /* bool: kernel TLS where the kernel and the cipher allow it */
} nc__tlsconf;

typedef struct nc__lconf {
    int index;              /* position in listeners[] */
    const char *name;
    const char *module;     /* as written */
    char *module_path;      /* resolved .so path */
    const char *listen;
    nc__addr addr;
    int transport;          /* enum nc__transport (unix: from the address) */
    int backlog;
    long long max_connections;
    long long idle_timeout_ms;   /* 0: none */
    long long max_input_bytes;
    long long max_output_bytes;
    long long max_connections_per_ip; /* 0: no limit */
    long long send_timeout_ms;        /* 0: none */
    long long write_budget_bytes;     /* written per connection per loop turn */
    long long max_queued_files;       /* descriptors a connection's queued files may hold */
    json_t *options;        /* borrowed from the config's JSON tree */
    nc__tlsconf tls;
} nc__lconf;

typedef struct nc__config {
    char *path;             /* the file, as given */
    char *dir;              /* its folder */
    char *modules_dir;      /* resolved; NULL: the built-in search path */
    int log_level;
    int log_format;
    char *log_file;         /* NULL: stderr */
    long long shutdown_timeout_ms;
    long long drain_timeout_ms;   /* reload: how long old workers may finish */
    long long workers;            /* resolved: "auto" is the CPU count */
    long long max_connections;    /* all listeners of all workers together */
    long long worker_max_output_bytes; /* queued output of all of a worker's connections */
    long long worker_max_queued_files; /* descriptors of a worker's queued files; 0: auto */
    long long tls_ticket_rotation_s;   /* the master's session ticket keys: a new one this often */
    const char *pid_file;         /* NULL: none (resolved path in pid_path) */
    char *pid_path;
    const char *user, *group;     /* NULL: not set */
    nc__lconf *listeners;
    size_t nlisteners;
    json_t *root;           /* owns every borrowed string above */
} nc__config;

/* Read and check path.  Returns 0, or -1 with a one-line message in err that
 * starts with the file name and names the place (line:column or JSON path). */
int nc__config_load(const char *path, nc__config *cfg, char *err, size_t errlen);
/* The same for text already in memory; `path` is used for messages and to
 * resolve relative paths. */
int nc__config_parse(const char *text, size_t len, const char *path, nc__config *cfg, char *err,
                     size_t errlen);
void nc__config_free(nc__config *cfg);

/* Where a module name is looked for when the config has no modules_dir:
 * the folder beside the executable's ("<exe dir>/modules"), then the
 * installed one.  Set once by main. */
void nc__config_set_default_modules_dirs(const char *exe_dir, const char *installed);
/* The i-th default folder (0..2), or NULL. */
const char *nc__config_default_modules_dir(int i);
/* Resolve `module` (a name, or a path with '/' or ending in ".so") for the
 * config; returns a malloc'd path, or NULL with err filled. */
char *nc__config_module_path(const nc__config *cfg, const char *module, char *err, size_t errlen);

#endif
