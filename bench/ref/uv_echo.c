/* uv_echo.c -- an echo server on libuv, written the way libuv's own docs
 * suggest: netcore's echo module is measured against it by bench/echo.json.
 *   build/bench/uv_echo [-a 127.0.0.1] [-p 17002]
 *
 * Reads go into one shared 64 KiB buffer (the loop is single-threaded and
 * the buffer is done with before read_cb returns).  Each read is sent back
 * with uv_try_write; only what the kernel did not take is copied into a
 * uv_write request.  While a connection has such a request queued it stops
 * reading, so a peer that does not read costs at most one buffer. */
#include <string.h>
#include <uv.h>

#include "ref.h"

struct wreq {
    uv_write_t req;
    char data[]; /* the copy uv_write sends; freed in on_written */
};

static char shared[65536];

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    *buf = uv_buf_init(shared, sizeof shared);
}

static void on_closed(uv_handle_t *h)
{
    free(h);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    uv_stream_t *s = req->handle;
    free(req);
    if (status < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    if (!uv_is_closing((uv_handle_t *)s) && uv_stream_get_write_queue_size(s) == 0)
        uv_read_start(s, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n < 0) { /* UV_EOF or an error */
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    if (n == 0)
        return;
    uv_buf_t got = uv_buf_init(buf->base, (unsigned)n); /* buf->len is what on_alloc offered */
    int w = uv_try_write(s, &got, 1);
    if (w == n)
        return;
    size_t sent = w > 0 ? (size_t)w : 0;
    if (w < 0 && w != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    size_t rest = (size_t)n - sent;
    struct wreq *r = malloc(sizeof *r + rest);
    if (!r) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    memcpy(r->data, buf->base + sent, rest);
    uv_buf_t b = uv_buf_init(r->data, (unsigned)rest);
    if (uv_write(&r->req, s, &b, 1, on_written) < 0) {
        free(r);
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    uv_read_stop(s); /* until on_written finds the queue empty */
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    if (!c)
        return;
    uv_tcp_init(server->loop, c);
    if (uv_accept(server, (uv_stream_t *)c) < 0) {
        uv_close((uv_handle_t *)c, on_closed);
        return;
    }
    uv_tcp_nodelay(c, 1);
    uv_read_start((uv_stream_t *)c, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    int port = 17002;
    ref_args(argc, argv, &addr, &port);
    ref_setup_process();
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in sa;
    uv_tcp_init(loop, &server);
    int rc = uv_ip4_addr(addr, port, &sa);
    if (rc == 0)
        rc = uv_tcp_bind(&server, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, 4096, on_connection);
    if (rc < 0) {
        fprintf(stderr, "uv_echo: cannot listen on %s:%d: %s\n", addr, port, uv_strerror(rc));
        return 1;
    }
    fprintf(stderr, "uv_echo: listening on %s:%d\n", addr, port);
    return uv_run(loop, UV_RUN_DEFAULT);
}
