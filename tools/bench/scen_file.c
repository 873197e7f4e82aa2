/* scen_file.c -- the file scenario, on the file-transfer protocol: each
 * connection downloads NAME over and over (GET 0 NAME), hashing what
 * arrives and comparing it with the server's SHA-256 (asked once, before
 * the run); or, with --upload, uploads SIZE bytes with their SHA-256 (PUT),
 * which the server checks.  A transfer counts only when verified; the table's
 * MB/s is the throughput. */
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "netcore/strbuf.h"

struct fstate {
    unsigned char want[32]; /* download: the server's hash */
    char *data;             /* upload: the payload */
    char put[512];
    size_t putlen;
};

/* Per connection: c->seq 0 waiting for a reply line, 1 in a body;
 * c->aux bytes of body left; the digest context in c->ts[0] (as a pointer). */

static EVP_MD_CTX *md_of(bconn *c)
{
    return (EVP_MD_CTX *)(uintptr_t)c->pos_in;
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Ask the server for NAME's SHA-256 over a blocking connection (TLS with
 * --tls, as the measured ones). */
static int fetch_sha(run *r, unsigned char out[32])
{
    tls_side side;
    if (tls_side_open(r, &side) < 0)
        return -1;
    char req[400], line[256];
    int n = snprintf(req, sizeof req, "SHA256 %s\n", r->o->name);
    if (tls_side_write(&side, req, (size_t)n) != n) {
        tls_side_close(&side);
        return -1;
    }
    size_t got = 0;
    while (got < sizeof line - 1) {
        long k = tls_side_read(&side, line + got, 1);
        if (k <= 0 || line[got] == '\n')
            break;
        got++;
    }
    line[got] = '\0';
    tls_side_close(&side);
    if (strncmp(line, "OK ", 3) != 0 || strlen(line) != 67) {
        fprintf(stderr, "netcore-bench: file: SHA256 %s: %s\n", r->o->name, line);
        return -1;
    }
    for (int i = 0; i < 32; i++)
        out[i] = (unsigned char)(hexval(line[3 + 2 * i]) * 16 + hexval(line[4 + 2 * i]));
    return 0;
}

static void start_one(run *r, bconn *c)
{
    struct fstate *s = r->state;
    EVP_MD_CTX *md = md_of(c);
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    c->seq = 0;
    bc_push_ts(c, now_ns());
    if (r->o->upload) {
        bc_send(r, c, s->put, s->putlen);
    } else {
        char req[400];
        int n = snprintf(req, sizeof req, "GET 0 %s\n", r->o->name);
        bc_send(r, c, req, (size_t)n);
    }
}

static int file_start(run *r)
{
    struct fstate *s = calloc(1, sizeof *s);
    r->state = s;
    if (!r->o->name) {
        fprintf(stderr, "netcore-bench: file: --name NAME is required\n");
        return -1;
    }
    if (r->o->upload) {
        s->data = malloc(r->o->size);
        for (size_t i = 0; i < r->o->size; i++)
            s->data[i] = (char)(i * 7 + i / 4093);
        unsigned char h[32];
        unsigned int hl;
        EVP_Digest(s->data, r->o->size, h, &hl, EVP_sha256(), NULL);
        nc_sb sb;
        nc_sb_init(&sb, s->put, sizeof s->put);
        nc_sb_printf(&sb, "PUT %zu ", r->o->size);
        for (int i = 0; i < 32; i++)
            nc_sb_printf(&sb, "%02x", h[i]);
        nc_sb_printf(&sb, " %s\n", r->o->name);
        if (nc_sb_truncated(&sb)) {
            fprintf(stderr, "netcore-bench: file: --name %s is too long for a PUT line\n", r->o->name);
            return -1;
        }
        s->putlen = sb.len;
    } else if (!r->o->no_verify && fetch_sha(r, s->want) < 0) {
        return -1;
    }
    r->nconns = r->o->conns;
    r->conns = calloc((size_t)r->nconns, sizeof *r->conns);
    for (int i = 0; i < r->nconns; i++) {
        bconn *c = bc_connect(r, i, 0);
        c->pos_in = (uint64_t)(uintptr_t)EVP_MD_CTX_new();
    }
    return 0;
}

static void file_open(run *r, bconn *c)
{
    start_one(r, c);
}

static void file_input(run *r, bconn *c)
{
    struct fstate *s = r->state;
    size_t off = 0;
    while (off < c->inlen) {
        if (c->seq == 1) { /* download body */
            size_t take = c->inlen - off < c->aux ? c->inlen - off : (size_t)c->aux;
            if (!r->o->no_verify)
                EVP_DigestUpdate(md_of(c), c->in + off, take);
            if (r->measuring)
                r->res->bytes += take; /* throughput counts bytes as they arrive */
            off += take;
            c->aux -= take;
            if (c->aux)
                break;
            unsigned char h[32];
            unsigned int hl;
            EVP_DigestFinal_ex(md_of(c), h, &hl);
            if (!r->o->no_verify && memcmp(h, s->want, 32) != 0) {
                bc_error(r, c, ERR_WRONG, "downloaded bytes do not match the server's SHA-256");
                return;
            }
            run_record(r, now_ns() - bc_pop_ts(c), 0);
            start_one(r, c);
            continue;
        }
        char *nl = memchr(c->in + off, '\n', c->inlen - off);
        if (!nl)
            break;
        *nl = '\0';
        const char *line = c->in + off;
        off = (size_t)(nl - c->in) + 1;
        long long size, len;
        if (!r->o->upload && sscanf(line, "OK %lld %lld", &size, &len) == 2) {
            c->seq = 1;
            c->aux = (uint64_t)len;
            c->pos_out = (uint64_t)len;
            if (len == 0)
                c->seq = 1;
            continue;
        }
        if (r->o->upload && strcmp(line, "CONTINUE") == 0) {
            bc_send(r, c, s->data, r->o->size);
            if (r->measuring)
                r->res->bytes += r->o->size;
            continue;
        }
        if (r->o->upload && strncmp(line, "OK ", 3) == 0) {
            run_record(r, now_ns() - bc_pop_ts(c), 0);
            start_one(r, c);
            continue;
        }
        bc_error(r, c, ERR_STATUS, line);
        return;
    }
    bc_consume(c, off);
}

static void file_finish(run *r)
{
    for (int i = 0; i < r->nconns; i++)
        EVP_MD_CTX_free(md_of(&r->conns[i]));
    free(((struct fstate *)r->state)->data);
}

const scenario scen_file = {
    .name = "file",
    .start = file_start,
    .on_open = file_open,
    .on_input = file_input,
    .finish = file_finish,
};
