/* test_file_transfer.c -- modules/file-transfer/ft.c under the mock core:
 * the native protocol's uploads (stored only after the work thread's
 * commit), downloads, LIST, SHA256 and its errors; uploads cut short leaving
 * no file, the upload slots, the command and rate deadlines; the
 * <SEPARATOR> dialect's upload and padded download. */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mt.h"

#define SHA_HELLO "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define SHA_HELLX "0b6179b38a9702b3e6b715188031623d09cdc4d173c6acfee273210ea281e1a8"

/* A fresh root for each test: mt_tmpdir()/ftN (created by on_listen). */
static const char *new_root(void)
{
    static char root[512];
    static int n;
    snprintf(root, sizeof root, "%s/ft%d", mt_tmpdir(), ++n);
    return root;
}

static nc_mock *start(const char *root, const char *extra)
{
    char opts[1024];
    snprintf(opts, sizeof opts, "{\"root\": \"%s\"%s%s}", root, extra ? ", " : "", extra ? extra : "");
    return mt_start("file-transfer", opts, NULL);
}

static void put(const char *root, const char *name, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, name);
    FILE *f = fopen(p, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    struct timespec ts[2] = {{1700000000, 0}, {1700000000, 0}};
    CU_ASSERT_EQUAL(utimensat(AT_FDCWD, p, ts, 0), 0);
}

/* The content of root/name, or NULL when there is no such file. */
static char *content(const char *root, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, name);
    return mt_slurp(p, NULL);
}

static void expect_file(const char *root, const char *name, const char *want)
{
    char *got = content(root, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

/* Upload temporaries (".upload-*.tmp") in root. */
static int temporaries(const char *root)
{
    DIR *d = opendir(root);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, ".upload-", 8) == 0;
    closedir(d);
    return n;
}

static void expect_read(nc_conn *c, const char *want)
{
    size_t n;
    char *got = nc_mock_read_all(c, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_EQUAL(n, strlen(want));
    CU_ASSERT_STRING_EQUAL(got, want);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n  got:  [%s]\n  want: [%s]\n", got, want);
    free(got);
}

static void test_upload(void)
{
    const char *root = new_root();
    nc_mock *mk = start(root, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "PUT 5 - a.txt\n");
    expect_read(c, "CONTINUE\n");
    CU_ASSERT_EQUAL(temporaries(root), 1);
    nc_mock_feeds(c, "hel");
    nc_mock_feeds(c, "lo");
    /* The body is whole: the commit (fsync, rename) is a work job, and
     * until it ran there is no file and no answer. */
    CU_ASSERT_EQUAL(nc_mock_work_pending(mk), 1);
    CU_ASSERT_EQUAL(nc_mock_pending(c), 0);
    CU_ASSERT_PTR_NULL(content(root, "a.txt"));
    CU_ASSERT_EQUAL(nc_mock_run_work(mk), 1);
    expect_read(c, "OK " SHA_HELLO "\n");
    expect_file(root, "a.txt", "hello");
    CU_ASSERT_EQUAL(temporaries(root), 0);
    /* With the checksum given, and the request after it in the same feed:
     * read once the commit resumed the connection. */
    nc_mock_feeds(c, "PUT 5 " SHA_HELLX " a.txt\nhellxGET 0 a.txt\n");
    expect_read(c, "CONTINUE\n");
    nc_mock_run_work(mk);
    expect_read(c, "OK " SHA_HELLX "\nOK 5 5\nhellx");
    /* A mismatch keeps the old file. */
    nc_mock_feeds(c, "PUT 5 " SHA_HELLO " a.txt\nhellx");
    nc_mock_run_work(mk);
    expect_read(c, "CONTINUE\nERR 409 checksum mismatch: the file was not kept\n");
    expect_file(root, "a.txt", "hellx");
    CU_ASSERT_EQUAL(temporaries(root), 0);
    /* An empty file is committed at once after CONTINUE. */
    nc_mock_feeds(c, "PUT 0 - empty\n");
    nc_mock_run_work(mk);
    expect_read(c, "CONTINUE\nOK e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n");
    expect_file(root, "empty", "");
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "uploads"), 3);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "bytes_uploaded"), 15);
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_OPEN);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_download_list_sha(void)
{
    const char *root = new_root();
    nc_mock *mk = start(root, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    put(root, "one.txt", "hello");
    put(root, "two", "0123456789");
    put(root, ".hidden", "x");
    char sub[600];
    snprintf(sub, sizeof sub, "%s/sub", root);
    CU_ASSERT_EQUAL(mkdir(sub, 0755), 0);
    nc_conn *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "GET 0 one.txt\r\n");
    expect_read(c, "OK 5 5\nhello");
    nc_mock_feeds(c, "GET 7 two\n");
    expect_read(c, "OK 10 3\n789");
    nc_mock_feeds(c, "GET 10 two\n");
    expect_read(c, "OK 10 0\n");
    nc_mock_feeds(c, "GET 11 two\n");
    expect_read(c, "ERR 416 offset beyond the end of the file\n");
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "downloads"), 3);
    /* Regular files only, no dot files; in readdir's order. */
    nc_mock_feeds(c, "LIST\n");
    char *got = nc_mock_read_all(c, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT(strcmp(got, "OK 2\n5 1700000000 one.txt\n10 1700000000 two\n") == 0 ||
              strcmp(got, "OK 2\n10 1700000000 two\n5 1700000000 one.txt\n") == 0);
    free(got);
    nc_mock_feeds(c, "SHA256 one.txt\n");
    CU_ASSERT_EQUAL(nc_mock_pending(c), 0);
    CU_ASSERT_EQUAL(nc_mock_run_work(mk), 1);
    expect_read(c, "OK " SHA_HELLO "\n");
    nc_mock_feeds(c, "SHA256 sub\n");
    nc_mock_run_work(mk);
    expect_read(c, "ERR 403 not a regular file\n");
    nc_mock_feeds(c, "QUIT\n");
    expect_read(c, "OK bye\n");
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_errors(void)
{
    const char *root = new_root();
    nc_mock *mk = start(root, "\"max_file_size\": 10");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/sub", root);
    CU_ASSERT_EQUAL(mkdir(sub, 0755), 0);
    nc_conn *c = nc_mock_accept(mk, NULL);
    static const char *const cases[][2] = {
        {"GET 0 ../etc/passwd\n", "ERR 400 a file name must not start with '.'\n"},
        {"GET 0 x/../../etc/passwd\n", "ERR 400 a file name must not contain '/'\n"},
        {"PUT 1 - /etc/passwd\n", "ERR 400 a file name must not contain '/'\n"},
        {"GET 0 ..\n", "ERR 400 a file name must not start with '.'\n"},
        {"PUT 1 - .upload-1-0.tmp\n", "ERR 400 a file name must not start with '.'\n"},
        {"GET 0 a\tb\n", "ERR 400 a file name must not contain control characters\n"},
        {"GET 0 \xff\xfe\n", "ERR 400 a file name must be valid UTF-8\n"},
        {"GET 0 nope\n", "ERR 404 no such file\n"},
        {"GET 0 sub\n", "ERR 403 not a regular file\n"},
        {"GET x nope\n", "ERR 400 usage: GET OFFSET NAME\n"},
        {"PUT 11 - big\n", "ERR 413 larger than max_file_size\n"},
        {"PUT 5 abc big\n", "ERR 400 usage: PUT SIZE SHA256|- NAME (SHA256: 64 hex digits)\n"},
        {"PUT 5\n", "ERR 400 usage: PUT SIZE SHA256|- NAME\n"},
        {"SHA256\n", "ERR 400 usage: SHA256 NAME\n"},
        {"DANCE\n", "ERR 400 unknown request (LIST, GET, PUT, SHA256, QUIT)\n"},
        {"list\n", "ERR 400 unknown request (LIST, GET, PUT, SHA256, QUIT)\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nc_mock_feeds(c, cases[i][0]);
        expect_read(c, cases[i][1]);
    }
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "refused"), sizeof cases / sizeof cases[0]);
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_OPEN); /* all of them leave it usable */
    /* A line over 4096 bytes without its newline: the answer, then the close. */
    static char longline[4200];
    memset(longline, 'L', sizeof longline - 1);
    nc_mock_feeds(c, longline);
    expect_read(c, "ERR 400 request line too long\n");
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
    /* read_only refuses uploads. */
    mk = start(root, "\"read_only\": true");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "PUT 1 - x\n");
    expect_read(c, "ERR 403 read-only: uploads are refused\n");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

/* An upload that never completes leaves neither its file nor its
 * temporary, and an older file of that name untouched. */
static void test_upload_cut_short(void)
{
    const char *root = new_root();
    nc_mock *mk = start(root, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    put(root, "old.txt", "old content");
    nc_conn *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "PUT 10 - new.txt\nhello");
    CU_ASSERT_EQUAL(temporaries(root), 1);
    nc_mock_hangup(c);
    CU_ASSERT_EQUAL(temporaries(root), 0);
    CU_ASSERT_PTR_NULL(content(root, "new.txt"));
    char want[160];
    snprintf(want, sizeof want,
             "warn [mock#%llu] upload of new.txt abandoned after 5 of 10 bytes; the old file is untouched",
             (unsigned long long)nc_conn_id(c));
    CU_ASSERT_STRING_EQUAL(nc_mock_log_line(mk, -1), want);
    /* The same by EOF, over an existing file. */
    c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "PUT 10 - old.txt\nnew");
    expect_read(c, "CONTINUE\n");
    CU_ASSERT_EQUAL(nc_mock_eof(c), -1);
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(temporaries(root), 0);
    expect_file(root, "old.txt", "old content");
    CU_ASSERT_EQUAL(nc_mock_work_pending(mk), 0);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "uploads"), 0);
    /* Gone while its commit is in flight: the job still stores the file,
     * and frees the connection's state itself. */
    c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "PUT 5 - late.txt\nhello");
    nc_mock_hangup(c);
    CU_ASSERT_EQUAL(nc_mock_run_work(mk), 1);
    expect_file(root, "late.txt", "hello");
    CU_ASSERT_STRING_EQUAL(nc_mock_log_line(mk, -1),
                           "info file-transfer: stored late.txt (5 bytes; the client left before the answer)");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_upload_slots(void)
{
    const char *root = new_root();
    nc_mock *mk = start(root, "\"max_concurrent_uploads\": 2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *a = nc_mock_accept(mk, NULL), *b = nc_mock_accept(mk, NULL), *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(a, "PUT 3 - a\n");
    nc_mock_feeds(b, "PUT 3 - b\n");
    nc_mock_feeds(c, "PUT 3 - c\n");
    expect_read(a, "CONTINUE\n");
    expect_read(b, "CONTINUE\n");
    expect_read(c, "ERR 503 too many uploads at once (max_concurrent_uploads)\n");
    /* A slot is free once an upload ends, whichever way. */
    nc_mock_hangup(a);
    nc_mock_feeds(c, "PUT 3 - c\nccc");
    expect_read(c, "CONTINUE\n");
    nc_conn *d = nc_mock_accept(mk, NULL);
    nc_mock_feeds(d, "PUT 3 - d\n");
    expect_read(d, "ERR 503 too many uploads at once (max_concurrent_uploads)\n");
    nc_mock_run_work(mk); /* c's commit */
    expect_read(c, "OK 64daa44ad493ff28a96effab6e77f1732a3d97d83241581b37dbd70a7a4900fe\n");
    expect_file(root, "c", "ccc");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

/* A request line unfinished after command_timeout_ms gets 408 and the
 * close; an upload body below upload_min_rate is dropped with its
 * temporary. */
static void test_deadlines(void)
{
    const char *root = new_root();
    nc_mock *mk = start(root, "\"command_timeout_ms\": 2000, \"upload_min_rate\": 100, \"upload_rate_window_ms\": 1000");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *slow = nc_mock_accept(mk, NULL), *up = nc_mock_accept(mk, NULL), *ok = nc_mock_accept(mk, NULL);
    nc_mock_feeds(slow, "LI");
    nc_mock_feeds(ok, "LIST\n");
    expect_read(ok, "OK 0\n");
    nc_mock_feeds(up, "PUT 1000 - trickle\n");
    expect_read(up, "CONTINUE\n");
    nc_mock_feeds(up, "0123456789"); /* 10 bytes in the first second: below 100 */
    nc_mock_advance(mk, 999);
    CU_ASSERT_EQUAL(nc_mock_closed(up), NC_MOCK_OPEN);
    nc_mock_advance(mk, 1);
    expect_read(up, "ERR 408 upload slower than upload_min_rate (100 bytes/s over 1000 ms): dropped\n");
    CU_ASSERT_EQUAL(nc_mock_closed(up), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(temporaries(root), 0);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "slow_uploads_dropped"), 1);
    CU_ASSERT_EQUAL(nc_mock_closed(slow), NC_MOCK_OPEN);
    nc_mock_advance(mk, 1250);
    expect_read(slow, "ERR 408 request line not complete within command_timeout_ms (2000)\n");
    CU_ASSERT_EQUAL(nc_mock_closed(slow), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "command_timeouts"), 1);
    CU_ASSERT_EQUAL(nc_mock_closed(ok), NC_MOCK_OPEN); /* it sent a whole request */
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_separator_dialect(void)
{
    const char *root = new_root();
    nc_mock *mk = start(root, "\"dialect\": \"separator\"");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    /* Upload: the header ends at its newline; the body ends with the EOF. */
    nc_conn *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "n.txt<SEPARATOR>5\n");
    expect_read(c, "ok");
    nc_mock_feeds(c, "hello");
    CU_ASSERT_EQUAL(nc_mock_work_pending(mk), 0); /* exactly SIZE is known only at the EOF */
    nc_mock_eof(c);
    CU_ASSERT_EQUAL(nc_mock_run_work(mk), 1);
    CU_ASSERT_EQUAL(nc_mock_pending(c), 0);
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
    expect_file(root, "n.txt", "hello");
    /* One byte too many: nothing kept. */
    c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "m.txt<SEPARATOR>2\n");
    nc_mock_feeds(c, "abc");
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_FLUSHING);
    expect_read(c, "ok");
    CU_ASSERT_PTR_NULL(content(root, "m.txt"));
    CU_ASSERT_EQUAL(temporaries(root), 0);
    /* Download: a header of exactly 1024 bytes, then after a pause the file. */
    c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "n.txt\n");
    char hdr[1100];
    CU_ASSERT_EQUAL_FATAL(nc_mock_read(c, hdr, sizeof hdr), 1024);
    hdr[1024] = '\0'; /* strspn must stop at the header's end */
    CU_ASSERT_EQUAL(memcmp(hdr, "0<SEPARATOR>5 ", 14), 0);
    CU_ASSERT_EQUAL(strspn(hdr + 13, " "), 1024 - 13);
    CU_ASSERT_EQUAL(nc_mock_pending(c), 0);
    nc_mock_advance(mk, 20);
    expect_read(c, "hello");
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
    /* A missing file. */
    c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "nope\n");
    expect_read(c, "-1<SEPARATOR>no such file");
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_options(void)
{
    CU_ASSERT_STRING_EQUAL(mt_start_error("file-transfer", NULL, NULL),
                           "mock.json: listeners[0].options.root: missing (the folder files are stored in)");
    char opts[1024];
    snprintf(opts, sizeof opts, "{\"root\": \"%s\", \"max_concurrent_uploads\": 0}", new_root());
    CU_ASSERT_STRING_EQUAL(mt_start_error("file-transfer", opts, NULL),
                           "mock.json: listeners[0].options.max_concurrent_uploads: expected an integer from 1 to "
                           "100000");
}

int add_file_transfer_suite(void)
{
    CU_pSuite s = CU_add_suite("file_transfer", NULL, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "PUT: CONTINUE, stored by the commit job, OK SHA256; 409 keeps the old", test_upload);
    CU_add_test(s, "GET whole and from an offset, 416, LIST, SHA256, QUIT", test_download_list_sha);
    CU_add_test(s, "bad names, traversal, 404, 403, 413, usage, unknown, too long, read_only", test_errors);
    CU_add_test(s, "an upload cut short leaves no file and no temporary", test_upload_cut_short);
    CU_add_test(s, "max_concurrent_uploads: 503, a slot freed by a hang-up", test_upload_slots);
    CU_add_test(s, "command_timeout_ms and upload_min_rate", test_deadlines);
    CU_add_test(s, "the <SEPARATOR> dialect: upload to the EOF, padded download", test_separator_dialect);
    CU_add_test(s, "option errors", test_options);
    return 0;
}
