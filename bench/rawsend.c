/* rawsend.c -- the raw limit for downloads: a plain blocking sendfile loop
 * that answers the file-transfer protocol's "GET 0 NAME" (and "SHA256
 * NAME", so downloads can be verified), one thread per connection, no
 * framework.  netcore's file-transfer is measured
 * against it (bench/file.json).
 *   build/bench-rawsend PORT FOLDER */
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *folder;

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char line[512];
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, line + n, 1, 0);
        if (r <= 0)
            break;
        if (line[n] != '\n') {
            if (++n >= sizeof line - 1)
                break;
            continue;
        }
        line[n] = '\0';
        n = 0;
        char path[1024];
        if (strncmp(line, "SHA256 ", 7) == 0) {
            snprintf(path, sizeof path, "%s/%s", folder, line + 7);
            int f = open(path, O_RDONLY);
            if (f < 0)
                break;
            EVP_MD_CTX *md = EVP_MD_CTX_new();
            EVP_DigestInit_ex(md, EVP_sha256(), NULL);
            static __thread char buf[1 << 16];
            ssize_t k;
            while ((k = read(f, buf, sizeof buf)) > 0)
                EVP_DigestUpdate(md, buf, (size_t)k);
            unsigned char h[32];
            unsigned int hl;
            EVP_DigestFinal_ex(md, h, &hl);
            EVP_MD_CTX_free(md);
            close(f);
            char out[80] = "OK ";
            for (int i = 0; i < 32; i++)
                snprintf(out + 3 + 2 * i, 3, "%02x", h[i]);
            out[67] = '\n';
            send(fd, out, 68, 0);
            continue;
        }
        if (strncmp(line, "GET 0 ", 6) != 0)
            break;
        snprintf(path, sizeof path, "%s/%s", folder, line + 6);
        int f = open(path, O_RDONLY);
        struct stat st;
        if (f < 0 || fstat(f, &st) < 0)
            break;
        char head[64];
        int hl = snprintf(head, sizeof head, "OK %lld %lld\n", (long long)st.st_size, (long long)st.st_size);
        send(fd, head, (size_t)hl, MSG_MORE);
        off_t off = 0;
        while (off < st.st_size)
            if (sendfile(fd, f, &off, (size_t)(st.st_size - off)) <= 0)
                break;
        close(f);
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT FOLDER\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    folder = argv[2];
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 128) < 0) {
        perror("bind");
        return 1;
    }
    for (;;) {
        int fd = accept(l, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_t t;
        pthread_create(&t, NULL, serve, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
}
