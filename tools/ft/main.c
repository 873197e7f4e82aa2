/* main.c -- netcore-ft, the file-transfer client: ls, get (to a temporary
 * file, verified, renamed; --continue resumes; an existing file is kept
 * unless --force), put (SHA-256 announced, the body sent with sendfile, or
 * read and written through TLS), sha256; any of them over TLS (--tls,
 * --cacert, --insecure).  A progress bar on a terminal, one "done" line at
 * the end, one line on stderr and a non-zero exit status on any failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int quiet;
static const char *prog = "netcore-ft";
static const char *peer; /* HOST:PORT, for messages */

/* TLS: asked for with --tls; the connection's, once dialled (NULL: plain). */
static int use_tls, insecure;
static const char *cacert;
static SSL *tls;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: netcore-ft HOST:PORT ls\n"
               "       netcore-ft HOST:PORT get NAME [DEST] [--continue]\n"
               "       netcore-ft HOST:PORT put FILE [NAME]\n"
               "       netcore-ft HOST:PORT sha256 NAME\n"
               "options: -q (no progress bar, no \"done\" line), --force (get: replace DEST),\n"
               "         --tls (verify the server against the system's CAs and HOST),\n"
               "         --cacert FILE (verify against the CAs in FILE), --insecure (no verification)\n"
               "get writes DEST.part and renames it to DEST once complete and its SHA-256\n"
               "matches the server's; --continue resumes from an existing DEST.part.\n");
}

static SSL_CTX *tls_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        die("TLS: cannot create a context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* A server leaving without close_notify is an ordinary close. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (!cacert) {
        SSL_CTX_set_default_verify_paths(ctx);
        return ctx;
    }
    if (access(cacert, R_OK) < 0)
        die("--cacert %s: %s", cacert, strerror(errno));
    if (SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1)
        die("--cacert %s: no certificate in it", cacert);
    return ctx;
}

/* The handshake on the connected fd: the server name sent (not an IP) and
 * the certificate checked against host (an IP against its IP names). */
static void tls_start(int fd, const char *host)
{
    SSL_CTX *ctx = tls_ctx();
    tls = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the connection holds its own reference */
    if (!tls)
        die("TLS: out of memory");
    SSL_set_fd(tls, fd);
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (!is_ip)
        SSL_set_tlsext_host_name(tls, host);
    if (!insecure && is_ip)
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls), host);
    else if (!insecure)
        SSL_set1_host(tls, host);
    errno = 0;
    int rc = SSL_connect(tls);
    if (rc == 1)
        return;
    long v = SSL_get_verify_result(tls);
    int e = SSL_get_error(tls, rc);
    const char *why = ERR_reason_error_string(ERR_peek_last_error());
    if (!insecure && v != X509_V_OK)
        die("TLS handshake with %s failed: certificate verify failed: %s (name checked: %s; CA: %s)", peer,
            X509_verify_cert_error_string(v), host, cacert ? cacert : "the system's store");
    if (e == SSL_ERROR_WANT_READ || (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)))
        die("%s did not finish a TLS handshake within 5 s: is it a TLS listener?", peer);
    if (e == SSL_ERROR_SYSCALL && !why)
        die("TLS handshake with %s failed: %s", peer, errno ? strerror(errno) : "the server closed the connection");
    die("TLS handshake with %s failed: %s", peer, why ? why : "unknown error");
}

static int dial(const char *hp)
{
    char host[256];
    const char *colon = strrchr(hp, ':');
    if (!colon || (size_t)(colon - hp) >= sizeof host)
        die("\"%s\": expected HOST:PORT", hp);
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    int port = atoi(colon + 1);
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (host[0] == '[') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        host[strlen(host) - 1] = '\0';
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            die("\"%s\": not an address", hp);
        sl = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, strcmp(host, "localhost") ? host : "127.0.0.1", &s4->sin_addr) != 1)
            die("\"%s\": not an address", hp);
        sl = sizeof *s4;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0)
        die("connecting to %s: %s", hp, strerror(errno));
    /* The first answer comes at once from a file-transfer listener: a
     * silent peer is most likely something else. */
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    peer = hp;
    if (use_tls)
        tls_start(fd, host[0] == '[' ? host + 1 : host);
    return fd;
}

static int answered; /* a first reply line arrived */

/* A reply that is not the protocol's: say what the peer is not, and show
 * what it sent (control bytes as '?'). */
static void not_ft(const char *line) __attribute__((noreturn));
static void not_ft(const char *line)
{
    char shown[64];
    size_t k = 0;
    for (; k < sizeof shown - 1 && line[k]; k++)
        shown[k] = (unsigned char)line[k] < 0x20 || (unsigned char)line[k] == 0x7f ? '?' : line[k];
    shown[k] = '\0';
    die("%s does not speak the file-transfer protocol (it answered \"%s\"%s)", peer, shown,
        line[k] ? "..." : "");
}

/* Buffered reading from the server. */
static char rbuf[1 << 16];
static size_t rlen;

/* Reads and writes on the connection, through TLS when it has it. */
static ssize_t io_recv(int fd, void *p, size_t n)
{
    if (!tls)
        return recv(fd, p, n, 0);
    errno = 0;
    int k = SSL_read(tls, p, n > 1 << 30 ? 1 << 30 : (int)n);
    if (k > 0)
        return k;
    int e = SSL_get_error(tls, k);
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (e == SSL_ERROR_WANT_READ) /* SO_RCVTIMEO ran out */
        errno = EAGAIN;
    else if (e == SSL_ERROR_SSL)
        die("TLS: %s", ERR_reason_error_string(ERR_peek_last_error()) ? ERR_reason_error_string(ERR_peek_last_error())
                                                                     : "unknown error");
    return -1;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w;
        if (tls) {
            int k = SSL_write(tls, c, n > 1 << 30 ? 1 << 30 : (int)n);
            if (k <= 0)
                die("sending: %s", SSL_get_error(tls, k) == SSL_ERROR_SYSCALL && errno ? strerror(errno)
                                                                                     : "TLS write failed");
            w = k;
        } else {
            w = send(fd, c, n, MSG_NOSIGNAL);
        }
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("sending: %s", strerror(errno));
        }
        c += w;
        n -= (size_t)w;
    }
}

/* A formatted request line (dprintf, through TLS when it is on). */
static void send_fmt(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_fmt(int fd, const char *fmt, ...)
{
    char line[4400];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line)
        die("request line too long");
    send_all(fd, line, (size_t)n);
}

static void read_line(int fd, char *out, size_t n)
{
    for (;;) {
        char *nl = memchr(rbuf, '\n', rlen);
        if (nl) {
            size_t l = (size_t)(nl - rbuf);
            if (l >= n)
                die("reply line too long");
            memcpy(out, rbuf, l);
            out[l] = '\0';
            memmove(rbuf, nl + 1, rlen - l - 1);
            rlen -= l + 1;
            return;
        }
        if (rlen == sizeof rbuf)
            die("reply line too long");
        ssize_t r = io_recv(fd, rbuf + rlen, sizeof rbuf - rlen);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !answered)
            die("%s did not answer within 5 s: is it a file-transfer listener?", peer);
        if (r <= 0)
            die("the server closed the connection%s%s", r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
        if (!answered) {
            answered = 1;
            struct timeval tv = {60, 0}; /* from here on, a slow disk is no error */
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        }
        rlen += (size_t)r;
    }
}

/* "OK ..." returns what follows; "ERR code msg" dies with it. */
static const char *expect_ok(const char *line)
{
    if (strncmp(line, "OK", 2) == 0)
        return line[2] ? line + 3 : "";
    if (strncmp(line, "ERR ", 4) == 0)
        die("server: %s", line + 4);
    not_ft(line);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Bytes in the unit that keeps them short: "812 B", "4.2 KiB", "1.0 GiB". */
static const char *human(double n, char *out, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (n >= 1024 && u < 4)
        n /= 1024, u++;
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", n, units[u]);
    return out;
}

/* A bar with the bytes so far, the rate and the time left, redrawn at
 * most every 100 ms, on a terminal only. */
static void progress(const char *what, long long done, long long total, double t0, int final)
{
    static double last;
    if (quiet || !isatty(2))
        return;
    double t = now_s();
    if (!final && t - last < 0.1)
        return;
    last = t;
    double rate = t > t0 ? (double)done / (t - t0) : 0;
    int width = 24, fill = total > 0 ? (int)((double)done * width / (double)total) : width;
    char bar[64], a[32], b[32], r[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    int left = rate > 0 ? (int)((double)(total - done) / rate + 0.5) : 0;
    fprintf(stderr, "\r%s [%s] %3d%% %s / %s  %s/s  ETA %02d:%02d\033[K", what, bar,
            total > 0 ? (int)(100.0 * (double)done / (double)total) : 100, human((double)done, a, sizeof a),
            human((double)total, b, sizeof b), human(rate, r, sizeof r), left / 60, left % 60);
    if (final)
        fputc('\n', stderr);
}

/* The last word of a transfer, even without a terminal (but not with -q). */
static void done_line(const char *verb, const char *name, long long bytes, double t0)
{
    if (quiet)
        return;
    char a[32];
    fprintf(stderr, "%s: %s %s: done, %s in %.2f s, SHA-256 verified\n", prog, verb, name,
            human((double)bytes, a, sizeof a), now_s() - t0);
}

static void sha256_file(int fd, unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    static char buf[1 << 16];
    ssize_t n;
    off_t off = 0;
    while ((n = pread(fd, buf, sizeof buf, off)) > 0) {
        EVP_DigestUpdate(md, buf, (size_t)n);
        off += n;
    }
    if (n < 0)
        die("reading: %s", strerror(errno));
    unsigned int len;
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
}

static void to_hex(char *out, const unsigned char *sha)
{
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", sha[i]);
}

static int cmd_ls(int fd)
{
    char line[1024];
    send_all(fd, "LIST\n", 5);
    read_line(fd, line, sizeof line);
    long n = atol(expect_ok(line));
    for (long i = 0; i < n; i++) {
        read_line(fd, line, sizeof line);
        long long size, mtime;
        int off = 0;
        if (sscanf(line, "%lld %lld %n", &size, &mtime, &off) < 2)
            die("unexpected listing line: %s", line);
        time_t t = (time_t)mtime;
        struct tm tm;
        char when[32];
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        printf("%12lld  %s  %s\n", size, when, line + off);
    }
    return 0;
}

static int cmd_sha(int fd, const char *name)
{
    char line[1024];
    send_fmt(fd, "SHA256 %s\n", name);
    read_line(fd, line, sizeof line);
    const char *h = expect_ok(line);
    if (strlen(h) != 64)
        not_ft(line);
    printf("%s  %s\n", h, name);
    return 0;
}

static int cmd_get(int fd, const char *name, const char *dest, int cont, int force)
{
    char part[4200], line[1024];
    struct stat dst;
    if (!force && lstat(dest, &dst) == 0)
        die("%s exists: not overwritten (use --force to replace it)", dest);
    snprintf(part, sizeof part, "%s.part", dest);
    int out = open(part, O_RDWR | O_CREAT | (cont ? 0 : O_TRUNC) | O_CLOEXEC, 0644);
    if (out < 0)
        die("%s: %s", part, strerror(errno));
    off_t have = cont ? lseek(out, 0, SEEK_END) : 0;
    send_fmt(fd, "GET %lld %s\n", (long long)have, name);
    read_line(fd, line, sizeof line);
    long long size, len;
    if (sscanf(expect_ok(line), "%lld %lld", &size, &len) != 2)
        not_ft(line);
    double t0 = now_s();
    long long got = 0;
    /* what read_line buffered after the reply is body already */
    size_t first = rlen < (size_t)len ? rlen : (size_t)len;
    if (first && write(out, rbuf, first) != (ssize_t)first)
        die("%s: %s", part, strerror(errno));
    memmove(rbuf, rbuf + first, rlen - first);
    rlen -= first;
    got = (long long)first;
    static char buf[1 << 20];
    while (got < len) {
        size_t want = (size_t)(len - got) < sizeof buf ? (size_t)(len - got) : sizeof buf;
        ssize_t r = io_recv(fd, buf, want);
        if (r <= 0)
            die("download of %s cut after %lld of %lld bytes (resume with --continue)", name,
                (long long)have + got, size);
        if (write(out, buf, (size_t)r) != r)
            die("%s: %s", part, strerror(errno));
        got += r;
        progress(name, have + got, size, t0, 0);
    }
    progress(name, have + got, size, t0, 1);
    if (fsync(out) < 0)
        die("%s: %s", part, strerror(errno));
    /* verify against the server's checksum before taking the file */
    send_fmt(fd, "SHA256 %s\n", name);
    read_line(fd, line, sizeof line);
    const char *theirs = expect_ok(line);
    unsigned char mine[32];
    char mhex[65];
    sha256_file(out, mine);
    to_hex(mhex, mine);
    close(out);
    if (strcmp(mhex, theirs) != 0)
        die("%s: checksum mismatch (the server's file may have changed; %s kept for inspection)", name, part);
    if (rename(part, dest) < 0)
        die("%s: %s", dest, strerror(errno));
    done_line("get", name, have + got, t0);
    return 0;
}

/* TLS has no sendfile here: the file is read and written through it. */
static ssize_t send_chunk(int fd, int in, off_t *off, size_t want)
{
    static char buf[1 << 20];
    ssize_t n = pread(in, buf, want < sizeof buf ? want : sizeof buf, *off);
    if (n > 0) {
        send_all(fd, buf, (size_t)n);
        *off += n;
    }
    return n;
}

static int cmd_put(int fd, const char *file, const char *name)
{
    int in = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (in < 0 || fstat(in, &st) < 0)
        die("%s: %s", file, strerror(errno));
    unsigned char sha[32];
    char h[65], line[1024];
    sha256_file(in, sha);
    to_hex(h, sha);
    send_fmt(fd, "PUT %lld %s %s\n", (long long)st.st_size, h, name);
    read_line(fd, line, sizeof line);
    if (strcmp(line, "CONTINUE") != 0)
        expect_ok(line), not_ft(line);
    double t0 = now_s();
    off_t off = 0;
    while (off < st.st_size) {
        size_t want = (size_t)(st.st_size - off) > (1 << 20) ? 1 << 20 : (size_t)(st.st_size - off);
        ssize_t n = tls ? send_chunk(fd, in, &off, want) : sendfile(fd, in, &off, want);
        if (n <= 0)
            die("sending %s: %s", file, n < 0 ? strerror(errno) : "file shrank");
        progress(name, off, st.st_size, t0, 0);
    }
    progress(name, off, st.st_size, t0, 1);
    read_line(fd, line, sizeof line);
    const char *got = expect_ok(line);
    if (strcmp(got, h) != 0)
        die("the server stored a different checksum: %s", got);
    done_line("put", name, (long long)st.st_size, t0);
    return 0;
}

int main(int argc, char **argv)
{
    int cont = 0, force = 0;
    const char *args[8] = {NULL};
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-q"))
            quiet = 1;
        else if (!strcmp(argv[i], "--continue"))
            cont = 1;
        else if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f"))
            force = 1;
        else if (!strcmp(argv[i], "--tls"))
            use_tls = 1;
        else if (!strcmp(argv[i], "--insecure"))
            insecure = 1;
        else if (!strcmp(argv[i], "--cacert") && i + 1 < argc)
            cacert = argv[++i];
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (n < 8)
            args[n++] = argv[i];
    }
    if (n < 2) {
        usage(stderr);
        return 2;
    }
    if ((cacert || insecure) && !use_tls) {
        fprintf(stderr, "%s: --cacert and --insecure need --tls\n", prog);
        return 2;
    }
    if (cacert && insecure) {
        fprintf(stderr, "%s: --cacert and --insecure: choose one\n", prog);
        return 2;
    }
    const char *cmd = args[1];
    int fd;
    if (!strcmp(cmd, "ls") && n == 2)
        return fd = dial(args[0]), cmd_ls(fd);
    if (!strcmp(cmd, "sha256") && n == 3)
        return fd = dial(args[0]), cmd_sha(fd, args[2]);
    if (!strcmp(cmd, "get") && (n == 3 || n == 4)) {
        const char *dest = n == 4 ? args[3] : args[2];
        return fd = dial(args[0]), cmd_get(fd, args[2], dest, cont, force);
    }
    if (!strcmp(cmd, "put") && (n == 3 || n == 4)) {
        const char *name = n == 4 ? args[3] : strrchr(args[2], '/') ? strrchr(args[2], '/') + 1 : args[2];
        return fd = dial(args[0]), cmd_put(fd, args[2], name);
    }
    usage(stderr);
    return 2;
}
