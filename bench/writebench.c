/* writebench.c -- how fast sequential write(2)s into a file go, and at
 * what CPU cost: MODE 0 through the page cache, 1 with write-behind
 * (sync_file_range + POSIX_FADV_DONTNEED every 16 MiB, the scheme of
 * udp-receiver's writeback_bytes), 2 with O_DIRECT (its direct_io; BLOCK a
 * multiple of 4096).  Not part of the build:
 *   cc -O2 -o /tmp/writebench bench/writebench.c
 *   /tmp/writebench FILE BLOCK TOTAL MODE      e.g. /tmp/wb 1048576 3000000000 2 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: writebench FILE BLOCK TOTAL MODE(0|1|2)\n");
        return 2;
    }
    size_t bs = strtoul(argv[2], NULL, 0), total = strtoull(argv[3], NULL, 0), step = 16 << 20;
    int mode = atoi(argv[4]), behind = mode == 1;
    void *b = NULL;
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | (mode == 2 ? O_DIRECT : 0), 0644);
    if (posix_memalign(&b, 4096, bs) != 0 || fd < 0 || bs == 0 || step % bs) {
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
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    printf("%s block %zu mode %d: %.2f GB/s, %.3f ns/byte of time, %.3f ns/byte of CPU\n", argv[1], bs, mode,
           (double)total / s / 1e9, s * 1e9 / (double)total, cpu * 1e9 / (double)total);
    close(fd);
    unlink(argv[1]);
    free(b);
    return 0;
}
