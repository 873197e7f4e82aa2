/* writebench.c -- how fast sequential write(2)s into a file go, with and
 * without write-behind (sync_file_range + POSIX_FADV_DONTNEED every 16 MiB,
 * the scheme of udp-receiver's writeback_bytes).  Not part of the build:
 *   cc -O2 -o /tmp/writebench bench/writebench.c
 *   /tmp/writebench FILE BLOCK TOTAL BEHIND      e.g. /tmp/wb 262144 4000000000 1 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: writebench FILE BLOCK TOTAL BEHIND(0|1)\n");
        return 2;
    }
    size_t bs = strtoul(argv[2], NULL, 0), total = strtoull(argv[3], NULL, 0), step = 16 << 20;
    int behind = atoi(argv[4]);
    char *b = malloc(bs);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (!b || fd < 0 || bs == 0 || step % bs) {
        perror(argv[1]);
        return 1;
    }
    memset(b, 'x', bs);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t done = 0; done < total; done += bs) {
        if (write(fd, b, bs) != (ssize_t)bs) {
            perror("write");
            return 1;
        }
        size_t end = done + bs;
        if (behind && end % step == 0) {
            sync_file_range(fd, (off_t)(end - step), (off_t)step, SYNC_FILE_RANGE_WRITE);
            if (end >= 2 * step &&
                sync_file_range(fd, (off_t)(end - 2 * step), (off_t)step,
                                SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) == 0)
                posix_fadvise(fd, (off_t)(end - 2 * step), (off_t)step, POSIX_FADV_DONTNEED);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%s block %zu behind %d: %.2f GB/s, %.3f ns/byte\n", argv[1], bs, behind, (double)total / s / 1e9,
           s * 1e9 / (double)total);
    close(fd);
    unlink(argv[1]);
    free(b);
    return 0;
}
