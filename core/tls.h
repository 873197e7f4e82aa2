/* tls.h -- TLS on stream listeners: the listeners' OpenSSL contexts
 * (tlsctx.c), and the TLS transport a connection of such a listener gets
 * (tls.c). */
#ifndef NC_CORE_TLS_H
#define NC_CORE_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "config.h"
#include "netcore/netcore.h"
#include "transport.h"

/* A listener's TLS 1.2 suites without "ciphers" (Mozilla's "intermediate"
 * profile, 5.7): ECDHE and DHE key exchange, AES-GCM and ChaCha20-Poly1305. */
#define NC__TLS12_DEFAULT_CIPHERS                                                                       \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"          \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"            \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"

/* tlsctx.c.  Build the contexts of every listener with a "tls" object:
 * certificates (the default one and those SNI chooses), protocols,
 * ciphers, ALPN, client certificates, sessions.  Before the privilege drop:
 * keys may be readable by root alone.  Returns 0, or -1 with err naming
 * the key and the file ("netcore.json: listeners[3].tls.key: /etc/x.pem:
 * No such file or directory").  A second call replaces what the first
 * built. */
int nc__tls_load(const nc__config *cfg, char *err, size_t errlen);
void nc__tls_unload(void);
/* The listener's context (its default certificate), or NULL. */
SSL_CTX *nc__tls_ctx(int index);
/* The master, once at start: the session ticket keys every worker of
 * every generation uses (memory shared with all it forks), so that a
 * session resumes on whichever worker the kernel hands the next
 * connection to, and after a reload.  Returns 0 or -1. */
int nc__tls_master_init(void);
/* The master, about once a second: a new ticket key every rotation_s
 * seconds; the one before still decrypts (then asks for a new ticket). */
void nc__tls_master_tick(long long rotation_s);
/* The master, before a start or reload's check: write a self-signed pair
 * where a listener with self_signed_if_missing has neither file (logged).
 * Returns 0, or -1 with err naming the key and the file. */
int nc__tls_make_missing(const nc__config *cfg, char *err, size_t errlen);
/* The master at start: whether kernel TLS is there, in the log. */
void nc__tls_ktls_report(const nc__config *cfg);
/* OpenSSL's first queued error's reason, the queue then emptied. */
const char *nc__tls_reason(char *buf, size_t n);

/* Give a newly accepted connection of a TLS listener the TLS transport:
 * the handshake runs inside its first reads and writes, bounded by
 * handshake_timeout_ms.  Returns 0, -EBUSY at max_handshakes (counted and
 * logged), or another negative errno. */
int nc__tls_attach(nc_conn *c);

extern const nc__tp_ops nc__tp_tls, nc__tp_ktls;

#endif
