/* tlsctx.c -- the TLS listeners' OpenSSL contexts: certificates (a default
 * and more chosen by SNI), client certificates, session tickets and cache,
 * kernel TLS, and the self-signed pair made where a config asks for one.
 * The transport that uses them is tls.c. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "tls.h"

/* A session ticket key: RFC 5077's key name, an HMAC-SHA256 secret and an
 * AES-CBC key.  The 80-byte file layout is nginx's (name, HMAC, AES), so
 * one key file can serve both; a 48-byte file holds 16-byte secrets
 * (AES-128). */
typedef struct tkey {
    unsigned char name[16], hmac[32], aes[32];
    int aes128;
} tkey;

/* The master's keys, in memory shared with every process it forks (and
 * so with every generation): slot n % 4 encrypts, slot (n - 1) % 4 still
 * decrypts.  The master writes slot (n + 1) % 4 and only then publishes
 * n + 1, so a reader holding n never sees the slots it uses change unless
 * two rotations pass while it copies (it then copies again). */
typedef struct tring {
    _Atomic uint64_t n;
    uint64_t made_ms; /* the master's clock: when slot n was made */
    tkey k[4];
} tring;

static tring *ring;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One certificate with the names SNI chooses it by. */
typedef struct tls_sni {
    SSL_CTX *ctx;
    char **names; /* lower case; "*.example.com" matches one label */
    size_t nnames;
} tls_sni;

/* A TLS listener's contexts (index as in the config). */
typedef struct tls_lst {
    SSL_CTX *ctx; /* the default certificate's */
    tls_sni *sni;
    size_t nsni;
    tkey *keys; /* from ticket_key_files (keys[0] encrypts); NULL: the ring */
    size_t nkeys;
} tls_lst;

static tls_lst *lsts;
static size_t nlsts;

/* Kernel TLS: -1 not probed, 0 not there, 1 usable; and why. */
static int ktls_state = -1;
static char ktls_why[256];

/* The reason of OpenSSL's last error, for a message; the queue is
 * emptied so the next message does not inherit it. */
const char *nc__tls_reason(char *buf, size_t n)
{
    unsigned long e = ERR_peek_error(); /* the first: the cause, not its consequences */
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(buf, n, "%s", r ? r : "unknown error");
    ERR_clear_error();
    return buf;
}

/* ---- session ticket keys ---- */

static int key_make(tkey *k)
{
    unsigned char b[80];
    if (RAND_bytes(b, sizeof b) != 1)
        return -1;
    memcpy(k->name, b, 16);
    memcpy(k->hmac, b + 16, 32);
    memcpy(k->aes, b + 48, 32);
    k->aes128 = 0;
    OPENSSL_cleanse(b, sizeof b);
    return 0;
}

int nc__tls_master_init(void)
{
    void *p = mmap(NULL, sizeof(tring), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    ring = p;
    if (key_make(&ring->k[0]) < 0)
        return -1;
    ring->made_ms = mono_ms();
    atomic_store_explicit(&ring->n, 0, memory_order_release);
    return 0;
}

void nc__tls_master_tick(long long rotation_s)
{
    if (!ring)
        return;
    uint64_t now = mono_ms(), n = atomic_load_explicit(&ring->n, memory_order_relaxed);
    if (now - ring->made_ms < (uint64_t)rotation_s * 1000)
        return;
    if (key_make(&ring->k[(n + 1) % 4]) < 0) {
        nc__log(NC_LOG_ERROR, NULL, 0, "TLS: no randomness for a new session ticket key; keeping key %llu",
                (unsigned long long)n);
        return;
    }
    ring->made_ms = now;
    atomic_store_explicit(&ring->n, n + 1, memory_order_release);
    nc__log(NC_LOG_INFO, NULL, 0,
            "TLS session ticket key %llu made (tls_ticket_rotation_s %lld); key %llu still decrypts, older tickets "
            "get a full handshake",
            (unsigned long long)n + 1, rotation_s, (unsigned long long)n);
}

/* The keys a ticket may be sealed or opened with, newest first. */
static size_t keys_now(const tls_lst *tl, tkey *out, size_t max)
{
    if (tl->keys) {
        size_t n = tl->nkeys < max ? tl->nkeys : max;
        memcpy(out, tl->keys, n * sizeof *out);
        return n;
    }
    for (;;) {
        uint64_t n = atomic_load_explicit(&ring->n, memory_order_acquire);
        out[0] = ring->k[n % 4];
        if (n > 0)
            out[1] = ring->k[(n - 1) % 4];
        if (atomic_load_explicit(&ring->n, memory_order_acquire) - n < 2)
            return n > 0 ? 2 : 1;
    }
}

static int key_use(const tkey *k, unsigned char *iv, EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, k->aes128 ? 16 : 32),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"sha256", 0),
        OSSL_PARAM_construct_end(),
    };
    const EVP_CIPHER *c = k->aes128 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
    if (EVP_MAC_CTX_set_params(hctx, params) != 1)
        return -1;
    return (enc ? EVP_EncryptInit_ex(ectx, c, NULL, k->aes, iv) : EVP_DecryptInit_ex(ectx, c, NULL, k->aes, iv)) == 1
               ? 0
               : -1;
}

/* OpenSSL's ticket callback: seal with the newest key; open with any
 * known one, asking for a fresh ticket when it was not the newest, and
 * always in TLS 1.3: there a 1 sends no NewSessionTicket after a
 * resumption, and clients use a 1.3 ticket once (RFC 8446 C.4), so each
 * resumed connection would leave its client nothing to resume with next
 * (OpenSSL's own keys renew in 1.3 for the same reason). */
static int ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx,
                     int enc)
{
    const tls_lst *tl = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
    tkey ks[8];
    size_t n = keys_now(tl, ks, 8);
    int rc = -1;
    if (enc) {
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) == 1 && key_use(&ks[0], iv, ectx, hctx, 1) == 0) {
            memcpy(name, ks[0].name, 16);
            rc = 1;
        }
    } else {
        rc = 0; /* an unknown key: a full handshake */
        for (size_t i = 0; i < n; i++)
            if (!memcmp(name, ks[i].name, 16)) {
                rc = key_use(&ks[i], iv, ectx, hctx, 0) < 0 ? -1 : i == 0 && SSL_version(s) != TLS1_3_VERSION ? 1 : 2;
                break;
            }
    }
    OPENSSL_cleanse(ks, sizeof ks);
    return rc;
}

/* ticket_key_files: 80 bytes (or 48) each, as `openssl rand 80 > f`. */
static int keys_read(tls_lst *tl, const nc__tlsconf *t, char *why, size_t n, size_t *bad)
{
    tl->keys = calloc(t->nticket_keys, sizeof *tl->keys);
    if (!tl->keys) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < t->nticket_keys; i++) {
        unsigned char b[81];
        *bad = i;
        int fd = open(t->ticket_key_paths[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            snprintf(why, n, "%s: %s", t->ticket_key_paths[i], strerror(errno));
            return -1;
        }
        ssize_t got = read(fd, b, sizeof b);
        int e = errno;
        close(fd);
        if (got != 80 && got != 48) {
            if (got < 0)
                snprintf(why, n, "%s: %s", t->ticket_key_paths[i], strerror(e));
            else
                snprintf(why, n, "%s: %zd bytes; a ticket key file holds 80 (or 48) random bytes (openssl rand 80)",
                         t->ticket_key_paths[i], got);
            OPENSSL_cleanse(b, sizeof b);
            return -1;
        }
        tkey *k = &tl->keys[tl->nkeys++];
        size_t half = got == 80 ? 32 : 16;
        memcpy(k->name, b, 16);
        memcpy(k->hmac, b + 16, half);
        memcpy(k->aes, b + 16 + half, half);
        k->aes128 = got == 48;
        OPENSSL_cleanse(b, sizeof b);
    }
    return 0;
}

/* ---- kernel TLS ---- */

/* Whether the kernel takes the "tls" upper layer protocol, tried on a
 * loopback connection (this also loads the module where that is
 * allowed): OpenSSL would find out per connection, at a cost. */
static int ktls_probe(char *why, size_t n)
{
#ifdef OPENSSL_NO_KTLS
    snprintf(why, n, "this OpenSSL (%s) was built without kernel TLS", OpenSSL_version(OPENSSL_VERSION));
    return 0;
#else
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int ok = 0, ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), cs = -1, as = -1;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) < 0 || (cs = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        connect(cs, (struct sockaddr *)&a, sizeof a) < 0 || (as = accept4(ls, NULL, NULL, SOCK_CLOEXEC)) < 0) {
        snprintf(why, n, "cannot try it (a loopback connection: %s)", strerror(errno));
    } else if (setsockopt(as, SOL_TCP, TCP_ULP, "tls", sizeof "tls") < 0) {
        snprintf(why, n,
                 "the kernel has no TLS offload (setsockopt TCP_ULP \"tls\": %s; `modprobe tls` adds it where the "
                 "module exists)",
                 strerror(errno));
    } else {
        snprintf(why, n, "the kernel's \"tls\" module and %s", OpenSSL_version(OPENSSL_VERSION));
        ok = 1;
    }
    if (as >= 0)
        close(as);
    if (cs >= 0)
        close(cs);
    if (ls >= 0)
        close(ls);
    return ok;
#endif
}

void nc__tls_ktls_report(const nc__config *cfg)
{
    int any = 0, wanted = 0;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        any |= cfg->listeners[i].tls.on;
        wanted |= cfg->listeners[i].tls.on && cfg->listeners[i].tls.ktls;
    }
    if (!any)
        return;
    if (ktls_state < 0)
        ktls_state = ktls_probe(ktls_why, sizeof ktls_why);
    if (!wanted)
        nc__log(NC_LOG_INFO, NULL, 0, "TLS: kernel TLS off (\"ktls\": false): files are read and written through OpenSSL");
    else if (ktls_state)
        nc__log(NC_LOG_INFO, NULL, 0,
                "TLS: kernel TLS on (%s): files go out with SSL_sendfile on connections whose cipher the kernel "
                "offloads (AES-GCM, ChaCha20-Poly1305), through OpenSSL otherwise",
                ktls_why);
    else
        nc__log(NC_LOG_INFO, NULL, 0, "TLS: kernel TLS not available: %s; files are read and written through OpenSSL",
                ktls_why);
}

/* ---- the self-signed pair ---- */

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    int ok = e && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* A P-256 key and a certificate for localhost, 127.0.0.1 and ::1 signed by
 * itself, valid for a year. */
static int self_signed(EVP_PKEY **kp, X509 **xp)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    int ok = k && x && RAND_bytes(serial, sizeof serial) == 1;
    if (ok) {
        serial[0] &= 0x7f; /* a positive serial number (RFC 5280 4.1.2.2) */
        bn = BN_bin2bn(serial, sizeof serial, NULL);
        X509_NAME *nm = X509_get_subject_name(x);
        ok = bn && X509_set_version(x, 2) == 1 && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -3600) && X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400) &&
             X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC, (const unsigned char *)"netcore self-signed", -1, -1,
                                        0) == 1 &&
             X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0) == 1 &&
             X509_set_issuer_name(x, nm) == 1 && X509_set_pubkey(x, k) == 1 &&
             add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") == 0 &&
             add_ext(x, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
             add_ext(x, NID_ext_key_usage, "serverAuth") == 0 && X509_sign(x, k, EVP_sha256()) > 0;
    }
    BN_free(bn);
    if (!ok) {
        EVP_PKEY_free(k);
        X509_free(x);
        ERR_clear_error();
        return -1;
    }
    *kp = k;
    *xp = x;
    return 0;
}

/* Write a PEM file whole or not at all: a temporary file beside it,
 * fsync, rename. */
static int pem_write(const char *path, mode_t mode, EVP_PKEY *k, X509 *x, char *why, size_t n)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    int ok = f && (k ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, x)) == 1 &&
             fflush(f) == 0 && fsync(fileno(f)) == 0;
    int e = errno;
    if (f)
        ok = (fclose(f) == 0) && ok;
    else if (fd >= 0)
        close(fd);
    if (ok && rename(tmp, path) == 0)
        return 0;
    e = e ? e : errno;
    unlink(tmp);
    snprintf(why, n, "%s: cannot write it: %s", path, strerror(e ? e : EIO));
    ERR_clear_error();
    return -1;
}

static int missing(const char *path)
{
    struct stat st;
    return lstat(path, &st) < 0 && errno == ENOENT;
}

/* The folders above path (the run folder may not exist on a fresh
 * clone): made 0700, as the key's. */
static int mkdirs(const char *path, char *why, size_t n)
{
    char d[4096];
    snprintf(d, sizeof d, "%s", path);
    for (char *p = d + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        if (mkdir(d, 0700) < 0 && errno != EEXIST) {
            snprintf(why, n, "%s: cannot make the folder: %s", d, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    return 0;
}

int nc__tls_make_missing(const nc__config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const nc__tlsconf *t = &cfg->listeners[i].tls;
        if (!t->on || !t->self_signed || !missing(t->cert_path) || !missing(t->key_path))
            continue;
        char why[4400];
        EVP_PKEY *k;
        X509 *x;
        const char *key = "key";
        if (mkdirs(t->key_path, why, sizeof why) < 0 || mkdirs(t->cert_path, why, sizeof why) < 0)
            goto fail;
        if (self_signed(&k, &x) < 0) {
            snprintf(why, sizeof why, "cannot make a self-signed certificate (OpenSSL failed)");
            goto fail;
        }
        int rc = pem_write(t->key_path, 0600, k, NULL, why, sizeof why);
        if (rc == 0) {
            key = "cert";
            rc = pem_write(t->cert_path, 0644, NULL, x, why, sizeof why);
            if (rc < 0)
                unlink(t->key_path); /* both or neither: the next start tries again */
        }
        EVP_PKEY_free(k);
        X509_free(x);
        if (rc < 0)
            goto fail;
        nc__log(NC_LOG_WARN, cfg->listeners[i].name, 0,
                "TLS: no certificate at %s: made a self-signed one for localhost, 127.0.0.1 and ::1 (key %s); "
                "browsers will not trust it: put a real certificate and key there (docs/tls.md)",
                t->cert_path, t->key_path);
        continue;
    fail:
        snprintf(err, errlen, "%s: listeners[%zu].tls.%s: %s", cfg->path, i, key, why);
        return -1;
    }
    return 0;
}

/* ---- contexts ---- */

static int alpn_select(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg)
{
    (void)s;
    const nc__tlsconf *t = arg;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, t->alpn, (unsigned)t->alpn_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301 3.2: no protocol in common */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static int name_match(const char *pat, const char *host)
{
    if (pat[0] == '*' && pat[1] == '.') { /* one label: a.example.com, not example.com or a.b.example.com */
        const char *dot = strchr(host, '.');
        return dot && dot != host && !strcasecmp(dot + 1, pat + 2);
    }
    return !strcasecmp(pat, host);
}

/* SNI: the certificate named for the server name; the default one for a
 * name none has, or none sent (as nginx's default server). */
static int sni_cb(SSL *s, int *alert, void *arg)
{
    (void)alert;
    const tls_lst *tl = arg;
    const char *host = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
    for (size_t i = 0; host && i < tl->nsni; i++)
        for (size_t k = 0; k < tl->sni[i].nnames; k++)
            if (name_match(tl->sni[i].names[k], host)) {
                SSL_set_SSL_CTX(s, tl->sni[i].ctx);
                return SSL_TLSEXT_ERR_OK;
            }
    return SSL_TLSEXT_ERR_OK;
}

/* A PEM file OpenSSL is about to read: its own errors say "no such file"
 * as "system lib"; the errno text, with the path, is what helps. */
static int readable_file(const char *path, char *why, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, n, "%s: %s", path, strerror(errno));
        return 0;
    }
    fclose(f);
    return 1;
}

/* Certificate chain and key into ctx, checked against each other; NULL or
 * the failing key's name ("cert", "key") with why filled. */
static const char *load_pair(SSL_CTX *ctx, const char *cert, const char *key, char *why, size_t n)
{
    char r[256];
    if (!readable_file(cert, why, n))
        return "cert";
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(why, n, "%s: not a PEM certificate chain (%s)", cert, nc__tls_reason(r, sizeof r));
        return "cert";
    }
    if (!readable_file(key, why, n))
        return "key";
    ERR_clear_error();
    int krc = SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM);
    if ((krc != 1 && ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) ||
        (krc == 1 && SSL_CTX_check_private_key(ctx) != 1)) {
        ERR_clear_error();
        snprintf(why, n, "%s: the key does not match the certificate in %s", key, cert);
        return "key";
    }
    if (krc != 1) {
        snprintf(why, n, "%s: not a PEM private key (%s)", key, nc__tls_reason(r, sizeof r));
        return "key";
    }
    return NULL;
}

/* The pair self_signed_if_missing promises, for a check (-t) that runs
 * before the master has written it: made in memory, never written. */
static const char *load_ephemeral(SSL_CTX *ctx, char *why, size_t n)
{
    EVP_PKEY *k;
    X509 *x;
    if (self_signed(&k, &x) < 0) {
        snprintf(why, n, "cannot make a self-signed certificate (OpenSSL failed)");
        return "cert";
    }
    int ok = SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, k) == 1;
    EVP_PKEY_free(k);
    X509_free(x);
    if (!ok) {
        snprintf(why, n, "cannot use the self-signed certificate");
        return "cert";
    }
    return NULL;
}

/* Every setting but the certificate: the same on each context of a
 * listener, since SNI swaps the context in the middle of a handshake. */
static const char *ctx_settings(SSL_CTX *ctx, const nc__lconf *lc, tls_lst *tl, char *why, size_t n)
{
    const nc__tlsconf *t = &lc->tls;
    char r[256];
    SSL_CTX_set_min_proto_version(ctx, t->min_version);
    SSL_CTX_set_max_proto_version(ctx, t->max_version);
    /* No renegotiation (a client-initiated one is a cheap way to make the
     * server do handshakes), no compression (CRIME), the server's order of
     * ciphers, and a peer that closes without close_notify is an ordinary
     * end of stream, not an error. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (t->ktls && ktls_state == 1)
        SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
    /* Partial writes and a moving buffer: the output queue offers the same
     * bytes again after WANT_WRITE, but not always at the same address or
     * with the same length (more may have been queued behind them).
     * RELEASE_BUFFERS: an idle connection holds no 16 KiB record buffers. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* Read ahead: one read(2) takes what the socket has (a client's whole
     * flight, a request's record) instead of a header and then a body per
     * record; tls.c's pending counts the records read but not yet opened. */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* TLS 1.2 by default: Mozilla's "intermediate" list, forward-secret
     * AEAD suites only (OpenSSL's own default still has CBC suites, which
     * testssl.sh rates LUCKY13-prone); TLS 1.3's suites are all AEAD. */
    if (!t->ciphers && SSL_CTX_set_cipher_list(ctx, NC__TLS12_DEFAULT_CIPHERS) != 1) {
        snprintf(why, n, "the default TLS 1.2 ciphers: %s", nc__tls_reason(r, sizeof r));
        return "ciphers";
    }
    SSL_CTX_set_dh_auto(ctx, 1); /* DHE suites with the RFC 7919 group the key's size calls for */
    if (t->ciphers && SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1) {
        snprintf(why, n, "\"%s\": %s", t->ciphers, nc__tls_reason(r, sizeof r));
        return "ciphers";
    }
    if (t->ciphersuites && SSL_CTX_set_ciphersuites(ctx, t->ciphersuites) != 1) {
        snprintf(why, n, "\"%s\": %s", t->ciphersuites, nc__tls_reason(r, sizeof r));
        return "ciphersuites";
    }
    if (t->alpn)
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)t);
    if (t->client_ca) {
        STACK_OF(X509_NAME) *names = NULL;
        if (!readable_file(t->client_ca_path, why, n))
            return "client_ca";
        if (SSL_CTX_load_verify_locations(ctx, t->client_ca_path, NULL) != 1 ||
            !(names = SSL_load_client_CA_file(t->client_ca_path))) {
            snprintf(why, n, "%s: no PEM certificate in it (%s)", t->client_ca_path, nc__tls_reason(r, sizeof r));
            return "client_ca";
        }
        SSL_CTX_set_client_CA_list(ctx, names); /* the CAs named in the CertificateRequest */
    }
    if (t->verify != NC__VERIFY_NONE)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (t->verify == NC__VERIFY_REQUIRED ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    /* A session belongs to its listener: one made on a listener without
     * client certificates must not resume on one that requires them (the
     * ticket keys are the same everywhere). */
    unsigned char sid[32];
    unsigned int sl = 0;
    EVP_Digest(lc->name, strlen(lc->name), sid, &sl, EVP_sha256(), NULL);
    SSL_CTX_set_session_id_context(ctx, sid, sl);
    SSL_CTX_set_timeout(ctx, (long)t->session_timeout_s);
    if (!t->session_tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        if (!t->session_cache)
            SSL_CTX_set_num_tickets(ctx, 0);
    } else if (tl->keys || ring) {
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    }
    /* A cache is per worker (a client that comes back to another worker
     * gets a full handshake); tickets resume everywhere. */
    if (t->session_cache) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx, t->session_cache);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    SSL_CTX_set_app_data(ctx, tl);
    return NULL;
}

/* The DNS names a certificate is for: its subjectAltName, else its CN. */
static int cert_names(SSL_CTX *ctx, tls_sni *s)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    GENERAL_NAMES *gens = x ? X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL) : NULL;
    int n = gens ? sk_GENERAL_NAME_num(gens) : 0;
    s->names = calloc((size_t)n + 1, sizeof *s->names);
    if (!s->names) {
        GENERAL_NAMES_free(gens);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_DNS)
            continue;
        const char *d = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
        int len = ASN1_STRING_length(g->d.dNSName);
        if (len > 0 && (int)strnlen(d, (size_t)len) == len && !(s->names[s->nnames] = strndup(d, (size_t)len)))
            break;
        s->nnames += len > 0 && s->names[s->nnames];
    }
    GENERAL_NAMES_free(gens);
    char cn[256];
    if (!s->nnames && x && X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) > 0 &&
        (s->names[0] = strdup(cn)))
        s->nnames = 1;
    return 0;
}

static SSL_CTX *ctx_make(const nc__lconf *lc, tls_lst *tl, const char *cert, const char *key, const char **bad,
                         char *why, size_t n)
{
    const nc__tlsconf *t = &lc->tls;
    char r[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(why, n, "%s", nc__tls_reason(r, sizeof r));
        *bad = "cert";
        return NULL;
    }
    *bad = t->self_signed && cert == t->cert_path && missing(cert) && missing(key) ? load_ephemeral(ctx, why, n)
                                                                                  : load_pair(ctx, cert, key, why, n);
    if (!*bad)
        *bad = ctx_settings(ctx, lc, tl, why, n);
    if (*bad) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static void lst_free(tls_lst *tl)
{
    SSL_CTX_free(tl->ctx);
    for (size_t i = 0; tl->sni && i < tl->nsni; i++) {
        SSL_CTX_free(tl->sni[i].ctx);
        for (size_t k = 0; k < tl->sni[i].nnames; k++)
            free(tl->sni[i].names[k]);
        free(tl->sni[i].names);
    }
    free(tl->sni);
    if (tl->keys)
        OPENSSL_cleanse(tl->keys, tl->nkeys * sizeof *tl->keys);
    free(tl->keys);
    memset(tl, 0, sizeof *tl);
}

static int lst_make(const nc__config *cfg, const nc__lconf *lc, tls_lst *tl, char *err, size_t errlen)
{
    const nc__tlsconf *t = &lc->tls;
    char why[4400], where[96] = "";
    const char *bad = NULL;
    size_t badk = 0;
    if (t->nticket_keys && keys_read(tl, t, why, sizeof why, &badk) < 0) {
        snprintf(err, errlen, "%s: listeners[%d].tls.ticket_key_files[%zu]: %s", cfg->path, lc->index, badk, why);
        return -1;
    }
    if (!(tl->ctx = ctx_make(lc, tl, t->cert_path, t->key_path, &bad, why, sizeof why)))
        goto fail;
    if (t->nsni && !(tl->sni = calloc(t->nsni, sizeof *tl->sni))) {
        snprintf(why, sizeof why, "out of memory");
        bad = "certificates";
        goto fail;
    }
    for (size_t i = 0; i < t->nsni; i++) {
        const nc__tlscert *c = &t->sni[i];
        tls_sni *s = &tl->sni[tl->nsni++];
        snprintf(where, sizeof where, "certificates[%zu].", i);
        if (!(s->ctx = ctx_make(lc, tl, c->cert_path, c->key_path, &bad, why, sizeof why)))
            goto fail;
        if (c->nnames) {
            if (!(s->names = calloc(c->nnames, sizeof *s->names))) {
                snprintf(why, sizeof why, "out of memory");
                goto fail;
            }
            for (; s->nnames < c->nnames; s->nnames++)
                if (!(s->names[s->nnames] = strdup(c->names[s->nnames]))) {
                    snprintf(why, sizeof why, "out of memory");
                    goto fail;
                }
        } else if (cert_names(s->ctx, s) < 0 || !s->nnames) {
            snprintf(why, sizeof why, "%s names no server (no DNS subjectAltName, no CN): give \"names\"",
                     c->cert_path);
            bad = "names";
            goto fail;
        }
    }
    if (tl->nsni)
        for (size_t i = 0; i < 1 + tl->nsni; i++) {
            SSL_CTX *ctx = i ? tl->sni[i - 1].ctx : tl->ctx;
            SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
            SSL_CTX_set_tlsext_servername_arg(ctx, tl);
        }
    return 0;
fail:
    snprintf(err, errlen, "%s: listeners[%d].tls.%s%s: %s", cfg->path, lc->index, where, bad ? bad : "cert", why);
    lst_free(tl);
    return -1;
}

int nc__tls_load(const nc__config *cfg, char *err, size_t errlen)
{
    nc__tls_unload();
    lsts = calloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof *lsts);
    if (!lsts) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    nlsts = cfg->nlisteners;
    int any = 0;
    for (size_t i = 0; i < cfg->nlisteners; i++)
        any |= cfg->listeners[i].tls.on && cfg->listeners[i].tls.ktls;
    if (any && ktls_state < 0) /* the master probed before forking; a lone check probes here */
        ktls_state = ktls_probe(ktls_why, sizeof ktls_why);
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        if (!cfg->listeners[i].tls.on)
            continue;
        if (lst_make(cfg, &cfg->listeners[i], &lsts[i], err, errlen) < 0) {
            nc__tls_unload();
            return -1;
        }
    }
    return 0;
}

void nc__tls_unload(void)
{
    for (size_t i = 0; i < nlsts; i++)
        lst_free(&lsts[i]);
    free(lsts);
    lsts = NULL;
    nlsts = 0;
}

SSL_CTX *nc__tls_ctx(int index)
{
    return (size_t)index < nlsts ? lsts[index].ctx : NULL;
}
