/* mime.c -- Content-Type by file extension: a built-in table of the common
 * types, which the module's mime_types option extends or overrides. */
#include <string.h>
#include <strings.h>

#include "http.h"

static const struct {
    const char *ext, *type;
    int text;
} builtin[] = {
    {"html", "text/html", 1},          {"htm", "text/html", 1},
    {"css", "text/css", 1},            {"js", "text/javascript", 1},
    {"mjs", "text/javascript", 1},     {"json", "application/json", 1},
    {"map", "application/json", 1},    {"txt", "text/plain", 1},
    {"md", "text/markdown", 1},        {"csv", "text/csv", 1},
    {"xml", "application/xml", 1},     {"svg", "image/svg+xml", 1},
    {"png", "image/png", 0},           {"jpg", "image/jpeg", 0},
    {"jpeg", "image/jpeg", 0},         {"gif", "image/gif", 0},
    {"webp", "image/webp", 0},         {"avif", "image/avif", 0},
    {"ico", "image/x-icon", 0},        {"bmp", "image/bmp", 0},
    {"wasm", "application/wasm", 0},   {"pdf", "application/pdf", 0},
    {"zip", "application/zip", 0},     {"gz", "application/gzip", 0},
    {"tar", "application/x-tar", 0},   {"mp4", "video/mp4", 0},
    {"webm", "video/webm", 0},         {"mp3", "audio/mpeg", 0},
    {"ogg", "audio/ogg", 0},           {"wav", "audio/wav", 0},
    {"woff", "font/woff", 0},          {"woff2", "font/woff2", 0},
    {"ttf", "font/ttf", 0},            {"otf", "font/otf", 0},
    {"bin", "application/octet-stream", 0},
};

const char *http_mime(const char *name, const http_mime_extra *extra, size_t nextra, int *text)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strrchr(base, '.');
    *text = 0;
    if (!dot || !dot[1])
        return "application/octet-stream";
    const char *ext = dot + 1;
    for (size_t i = 0; i < nextra; i++)
        if (strcasecmp(extra[i].ext, ext) == 0) {
            *text = strncmp(extra[i].type, "text/", 5) == 0 && !strchr(extra[i].type, ';');
            return extra[i].type;
        }
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (strcasecmp(builtin[i].ext, ext) == 0) {
            *text = builtin[i].text;
            return builtin[i].type;
        }
    return "application/octet-stream";
}
