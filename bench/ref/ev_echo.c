/* ev_echo.c -- an echo server on libevent's bufferevents, the ancestor of
 * netcore's on_data/write model: netcore's echo module is measured against
 * it by bench/echo.json.
 *   build/bench/ev_echo [-a 127.0.0.1] [-p 17003]
 *
 * Input is moved to output without copying (evbuffer_add_buffer hands the
 * chains over).  Above HIGH bytes of unsent output a connection stops
 * reading; the write callback, which libevent calls once the output has
 * drained to the low watermark (0), turns reading back on. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/tcp.h>
#include <string.h>

#include "ref.h"

#define HIGH (1u << 20)

static void on_read(struct bufferevent *bev, void *arg)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    evbuffer_add_buffer(out, bufferevent_get_input(bev));
    if (evbuffer_get_length(out) >= HIGH)
        bufferevent_disable(bev, EV_READ);
}

static void on_drained(struct bufferevent *bev, void *arg)
{
    bufferevent_enable(bev, EV_READ);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev); /* BEV_OPT_CLOSE_ON_FREE: closes the socket too */
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct bufferevent *bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        evutil_closesocket(fd);
        return;
    }
    bufferevent_setcb(bev, on_read, on_drained, on_event, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    int port = 17003;
    ref_args(argc, argv, &addr, &port);
    ref_setup_process();
    struct event_base *base = event_base_new();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (!base || inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "ev_echo: %s is not an IPv4 address\n", addr);
        return 1;
    }
    struct evconnlistener *l =
        evconnlistener_new_bind(base, on_accept, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, 4096,
                                (struct sockaddr *)&sa, sizeof sa);
    if (!l) {
        fprintf(stderr, "ev_echo: cannot listen on %s:%d: ", addr, port);
        perror(NULL);
        return 1;
    }
    fprintf(stderr, "ev_echo: listening on %s:%d\n", addr, port);
    return event_base_dispatch(base);
}
