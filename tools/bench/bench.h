/* bench.h -- netcore-bench's shared structures: options, targets, one run's
 * client connections and results, and the scenario interface. */
#ifndef NCB_BENCH_H
#define NCB_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "hist.h"

typedef struct opts {
    const char *scenario;
    int conns;         /* echo, http: connections; chat: pairs */
    size_t size;       /* message / payload bytes */
    int depth;         /* pipeline depth (1 = ping-pong) */
    double duration;   /* measured seconds per round */
    double warmup;     /* seconds before measuring */
    int rounds;
    double timeout;    /* seconds a request may wait before it is an error */
    const char *path;  /* http */
    int close_each;    /* http --close */
    long long expect_len; /* http: expected Content-Length, -1: first response's */
    int subs, pubs, window; /* broadcast */
    const char *dialect;    /* broadcast: netcore, plain, redis */
    double rate;       /* udp: datagrams/s, 0 = as fast as possible */
    const char *name;  /* file: remote file name */
    int upload;        /* file: upload instead of download */
    int no_verify;     /* file: skip the SHA-256 check (the client's hashing is then no limit) */
    int json;
    const char *csv;
    const char *plot;
    int quiet;
    int run_no, nruns;  /* a spec's run being measured (1-based) and how many it has; 0, 0 without a spec */
    /* TLS (tls.c): --tls and what the handshake offers and checks */
    int tls;
    const char *cacert;   /* verify against this CA file; NULL: the system's store */
    const char *sni;      /* server name sent and checked; NULL: the target's host name */
    const char *alpn;     /* comma-separated protocols to offer */
    const char *tls_ciphers, *tls_ciphersuites; /* TLS 1.2 cipher list, TLS 1.3 suites */
    const char *tls_version; /* "1.2" or "1.3": only that one; NULL: both */
    int insecure;         /* no verification at all */
    int resume;           /* offer each connection slot's last session again */
} opts;

typedef struct target {
    char *name;
    char *addr;        /* as given */
    char *host;        /* the host part, without brackets ("" for unix:): what TLS checks */
    struct sockaddr_storage ss;
    socklen_t sl;
    pid_t pid;         /* the server's pid when we started it, else 0 */
} target;

typedef struct result {
    target *t;
    int round;
    double secs;          /* measured window */
    uint64_t ops;         /* complete, verified operations in the window */
    uint64_t bytes;       /* payload bytes of those */
    uint64_t sent;        /* udp: datagrams sent */
    uint64_t err_wrong, err_reset, err_timeout, err_status, err_connect;
    uint64_t hs_full, hs_resumed; /* TLS handshakes completed in the window */
    double client_cpu;    /* cores used by the generator */
    double server_cpu;    /* cores used by the server (when its pid is known), -1 unknown */
    hist *lat;
} result;

enum { ERR_WRONG, ERR_RESET, ERR_TIMEOUT, ERR_STATUS, ERR_CONNECT };

typedef struct bconn bconn;
typedef struct run run;

typedef struct scenario {
    const char *name;
    int (*start)(run *r);              /* create connections / state */
    void (*on_open)(run *r, bconn *c);  /* connected */
    void (*on_input)(run *r, bconn *c); /* bytes in c->in */
    void (*on_tick)(run *r);            /* every loop turn (pacing) */
    void (*finish)(run *r);
    void (*on_session)(run *r, bconn *c); /* optional: TLS gave c a new session (c->sess) */
} scenario;

struct bconn {
    int fd;
    int idx;
    int role;            /* scenario-defined */
    int open;            /* connected */
    int dead;
    char *in;
    size_t inlen, incap;
    char *out;
    size_t outlen, outoff, outcap;
    uint64_t *ts;        /* ring of send times, one per outstanding request */
    unsigned tscap, tshead, tscount;
    uint64_t pos_in, pos_out; /* stream offsets (echo) */
    uint64_t seq, aux;
    uint64_t started;    /* connect start (http --close) */
    unsigned evmask;     /* the epoll interest registered (TLS connections) */
    /* TLS: the connection (NULL when plain); the slot's session, kept across
     * reconnects for --resume (owned here, freed at the run's end); what
     * OpenSSL last asked for; the length of a write to repeat. */
    struct ssl_st *ssl;
    struct ssl_session_st *sess;
    unsigned char tls_hs_want_out, tls_rd_want_out, tls_wr_want_in, tls_pending, tls_new_sess;
    size_t tls_wlen;
};

struct run {
    const opts *o;
    target *t;
    result *res;
    const scenario *sc;
    int ep;
    bconn *conns;
    int nconns;
    uint64_t t0, t_measure, t_end;
    int measuring;
    int stop;
    void *state;
    struct ssl_ctx_st *tls; /* the run's TLS context, NULL without --tls */
    int tls_npending;       /* connections with decrypted input left inside OpenSSL */
};

uint64_t now_ns(void);

/* loop.c */
int run_scenario(const opts *o, target *t, int round, result *res);
bconn *bc_connect(run *r, int idx, int role);
void bc_reconnect(run *r, bconn *c);
void bc_send(run *r, bconn *c, const void *data, size_t len);
void bc_consume(bconn *c, size_t n);
void bc_error(run *r, bconn *c, int kind, const char *why);
void bc_push_ts(bconn *c, uint64_t t);
uint64_t bc_pop_ts(bconn *c);
void run_record(run *r, uint64_t latency_ns, uint64_t bytes);
int parse_target(const char *s, target *t);

/* tls.c: the client side of TLS on the loop's connections (non-blocking)
 * and on one blocking side connection (file's SHA256 question). */
int tls_ctx_new(run *r);
void tls_ctx_free(run *r);
int tls_begin(run *r, bconn *c);     /* after the TCP connect: 0, or -1 (an error counted) */
int tls_handshake(run *r, bconn *c); /* 1 done, 0 in progress, -1 failed (counted, c reconnected) */
long tls_write(run *r, bconn *c, const char *p, size_t n); /* >0 written, 0 wait, -1 failed */
long tls_read(run *r, bconn *c, char *p, size_t n);        /* >0 read, 0 wait, -1 failed */
void tls_close(run *r, bconn *c);
unsigned tls_interest(const bconn *c); /* the epoll events c waits for */
typedef struct tls_side { int fd; struct ssl_st *ssl; } tls_side;
int tls_side_open(run *r, tls_side *s);   /* blocking connect (and handshake with --tls); -1 said */
long tls_side_write(tls_side *s, const void *p, size_t n);
long tls_side_read(tls_side *s, void *p, size_t n);
void tls_side_close(tls_side *s);

/* scenarios */
extern const scenario scen_echo, scen_http, scen_broadcast, scen_udp, scen_chat, scen_file, scen_handshake;

/* report.c */
void report(const opts *o, target *targets, int ntargets, result *res, int nres);
void describe_run(const opts *o, char *buf, size_t n);
char *plot_path(const opts *o);
double proc_cpu_seconds(pid_t pid);

#endif
