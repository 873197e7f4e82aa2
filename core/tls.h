/* tls.h -- TLS on stream listeners (tls.c): the listeners' OpenSSL
 * contexts, and the TLS transport a connection of such a listener gets. */
#ifndef NC_CORE_TLS_H
#define NC_CORE_TLS_H

#include <stddef.h>

#include "config.h"
#include "netcore/netcore.h"
#include "transport.h"

/* Build an SSL_CTX for every listener with a "tls" object: certificate
 * chain, key (checked against each other), protocols, ciphers, ALPN.
 * Before the privilege drop: the key may be readable by root alone.
 * Returns 0, or -1 with err naming the key and the file
 * ("netcore.json: listeners[3].tls.key: /etc/x.pem: No such file or
 * directory").  A second call replaces what the first built. */
int nc__tls_load(const nc__config *cfg, char *err, size_t errlen);
void nc__tls_unload(void);
/* The master, once at start: the session ticket keys every worker of
 * every generation uses, so that a session resumes on whichever worker
 * the kernel hands the next connection to, and after a reload.  Returns 0
 * or -1. */
int nc__tls_master_init(void);

/* Give a newly accepted connection of a TLS listener the TLS transport:
 * the handshake runs inside its first reads and writes, bounded by
 * handshake_timeout_ms.  Returns 0, -EBUSY at max_handshakes (counted and
 * logged), or another negative errno. */
int nc__tls_attach(nc_conn *c);

extern const nc__tp_ops nc__tp_tls;

#endif
