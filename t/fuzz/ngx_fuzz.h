
/*
 * Copyright (C) chrys authors
 *
 * What the libFuzzer harnesses of t/fuzz share: a heap copy of exactly
 * the bytes given, so that AddressSanitizer reports any read past them,
 * a check that aborts, so that libFuzzer keeps the input that broke a
 * promise of the code under test, and a model of well-formed UTF-8.
 */


#ifndef _NGX_FUZZ_H_INCLUDED_
#define _NGX_FUZZ_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>


#define ngx_fuzz_check(expr)                                                  \
    do {                                                                      \
        if (!(expr)) {                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n",                      \
                    __FILE__, __LINE__, #expr);                               \
            abort();                                                          \
        }                                                                     \
    } while (0)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* AddressSanitizer's malloc(0) is a valid pointer to no bytes at all */

static ngx_inline u_char *
ngx_fuzz_copy(const u_char *data, size_t size)
{
    u_char  *p;

    p = malloc(size);
    ngx_fuzz_check(p != NULL);

    if (size) {
        ngx_memcpy(p, data, size);
    }

    return p;
}



/*
 * Well-formed UTF-8 by the byte ranges of Table 3-7 of the Unicode
 * standard: a model written apart from ngx_chrys_utf8_len()
 */

static ngx_inline ngx_uint_t
ngx_fuzz_utf8(const u_char *s, size_t len)
{
    size_t   i, n, k;
    u_char   lo, hi;

    for (i = 0; i < len; i += n) {

        lo = 0x80;
        hi = 0xbf;

        if (s[i] <= 0x7f) {
            n = 1;

        } else if (s[i] >= 0xc2 && s[i] <= 0xdf) {
            n = 2;

        } else if (s[i] >= 0xe0 && s[i] <= 0xef) {
            n = 3;
            lo = (s[i] == 0xe0) ? 0xa0 : 0x80;
            hi = (s[i] == 0xed) ? 0x9f : 0xbf;

        } else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
            n = 4;
            lo = (s[i] == 0xf0) ? 0x90 : 0x80;
            hi = (s[i] == 0xf4) ? 0x8f : 0xbf;

        } else {
            return 0;
        }

        if (len - i < n) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if (s[i + k] < (k == 1 ? lo : 0x80)
                || s[i + k] > (k == 1 ? hi : 0xbf))
            {
                return 0;
            }
        }
    }

    return 1;
}


#endif /* _NGX_FUZZ_H_INCLUDED_ */
