
/*
 * Copyright (C) chrys authors
 *
 * A very small test harness for the C unit tests: ngx_unit_check() counts
 * a failure and tells where, ngx_unit_run() runs one test function and
 * says whether it passed, ngx_unit_summary() gives the exit status.
 */


#ifndef _NGX_UNIT_H_INCLUDED_
#define _NGX_UNIT_H_INCLUDED_


#include <stdio.h>


#define ngx_unit_check(expr)                                                  \
    do {                                                                      \
        ngx_unit_checks++;                                                    \
                                                                              \
        if (!(expr)) {                                                        \
            ngx_unit_failures++;                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n",                      \
                    __FILE__, __LINE__, #expr);                               \
        }                                                                     \
    } while (0)


#define ngx_unit_run(test)                                                    \
    do {                                                                      \
        ngx_uint_t  failed = ngx_unit_failures;                               \
                                                                              \
        test();                                                               \
                                                                              \
        ngx_unit_tests++;                                                     \
        printf("%s %s\n", ngx_unit_failures == failed ? "ok  " : "FAIL",      \
               #test);                                                        \
        fflush(stdout);                                                       \
    } while (0)


static ngx_uint_t  ngx_unit_tests;
static ngx_uint_t  ngx_unit_checks;
static ngx_uint_t  ngx_unit_failures;


static ngx_inline int
ngx_unit_summary(const char *name)
{
    printf("%s: %lu tests, %lu checks, %lu failures\n", name,
           (unsigned long) ngx_unit_tests, (unsigned long) ngx_unit_checks,
           (unsigned long) ngx_unit_failures);

    return ngx_unit_failures ? 1 : 0;
}


/* ngx_unit_stubs.c */

void ngx_unit_init(void);

extern ngx_uint_t  ngx_unit_log_crit;
extern u_char      ngx_unit_log_last[];


#endif /* _NGX_UNIT_H_INCLUDED_ */
