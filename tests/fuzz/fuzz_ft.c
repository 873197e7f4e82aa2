/* fuzz_ft.c -- a libFuzzer target for the file-transfer request parser and
 * its name rules: every accepted name must obey the rules it promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ft_req r;
    const char *why = NULL;
    if (ft_parse_line((const char *)data, size, &r, &why) == 0) {
        if (r.op != FT_LIST && r.op != FT_QUIT) {
            size_t n = strlen(r.name);
            if (n == 0 || r.name[0] == '.' || strchr(r.name, '/'))
                abort();
            for (size_t i = 0; i < n; i++)
                if ((unsigned char)r.name[i] < 0x20)
                    abort();
        }
    } else if (!why) {
        abort(); /* a refusal always says why */
    }
    return 0;
}
