
/*
 * Copyright (C) chrys authors
 *
 * What the libFuzzer harnesses of t/fuzz share: a heap copy of exactly
 * the bytes given, so that AddressSanitizer reports any read past them,
 * and a check that aborts, so that libFuzzer keeps the input that broke a
 * promise of the code under test.
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


#endif /* _NGX_FUZZ_H_INCLUDED_ */
