
/*
 * Copyright (C) chrys authors
 *
 * libFuzzer harness of ngx_chrys_query.c and ngx_chrys_valid_name().  The
 * input is read as a query string, with the parameters of the chrys API
 * (the table of ngx_chrys_http_args.c itself),
 * and as a request path, split both ways ngx_chrys_http.c splits one (the
 * raw path, percent-decoded; the parsed one, as it is), each segment then
 * checked as a stream name.
 *
 * Each parser gets a heap copy of exactly its bytes, and buffers and
 * arrays of exactly the size it is told about; what the parsers promise is
 * checked.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_http.h"
#include "ngx_chrys_query.h"
#include "ngx_fuzz.h"


/* NGX_HTTP_CHRYS_MAX_SEGMENTS of ngx_chrys_http.c */
#define NGX_FUZZ_MAX_SEGMENTS      5


static void ngx_fuzz_query(const u_char *data, size_t size);
static void ngx_fuzz_path(const u_char *data, size_t size,
    ngx_uint_t unescape, ngx_str_t *raw);
static void ngx_fuzz_name(ngx_str_t *name);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_str_t  raw[NGX_FUZZ_MAX_SEGMENTS];

    ngx_fuzz_query(data, size);

    ngx_fuzz_path(data, size, 0, raw);
    ngx_fuzz_path(data, size, 1, raw);

    return 0;
}


static void
ngx_fuzz_query(const u_char *data, size_t size)
{
    u_char      *p;
    int64_t      values[NGX_HTTP_CHRYS_NARGS];
    ngx_int_t    rc;
    ngx_str_t   *w;
    ngx_uint_t   i, has, bad, why, nwords;

    p = ngx_fuzz_copy(data, size);

    rc = ngx_chrys_query_parse(p, p + size, ngx_http_chrys_args,
                               NGX_HTTP_CHRYS_NARGS, values, &has, &bad,
                               &why);

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_ERROR);

    if (rc != NGX_OK) {
        ngx_fuzz_check(bad < NGX_HTTP_CHRYS_NARGS);

        switch (why) {

        case NGX_CHRYS_ARG_REPEATED:
            ngx_fuzz_check(has & ((ngx_uint_t) 1 << bad));
            break;

        case NGX_CHRYS_ARG_INVALID:
            ngx_fuzz_check(ngx_http_chrys_args[bad].values == NULL);
            break;

        case NGX_CHRYS_ARG_UNKNOWN:
            ngx_fuzz_check(ngx_http_chrys_args[bad].values != NULL);
            break;

        default:
            ngx_fuzz_check(0);
        }

        free(p);
        return;
    }

    /* only known parameters, each within its bounds or one of its words */

    ngx_fuzz_check((has >> NGX_HTTP_CHRYS_NARGS) == 0);

    for (i = 0; i < NGX_HTTP_CHRYS_NARGS; i++) {

        if (!(has & ((ngx_uint_t) 1 << i))) {
            continue;
        }

        if (ngx_http_chrys_args[i].values) {
            nwords = 0;

            for (w = ngx_http_chrys_args[i].values; w->len; w++) {
                nwords++;
            }

            ngx_fuzz_check(values[i] >= 0 && values[i] < (int64_t) nwords);

        } else {
            ngx_fuzz_check(values[i] >= ngx_http_chrys_args[i].min
                           && values[i] <= ngx_http_chrys_args[i].max);
        }

        /* and named in the query string */

        ngx_fuzz_check(memmem(p, size, ngx_http_chrys_args[i].name.data,
                              ngx_http_chrys_args[i].name.len)
                       != NULL);
    }

    free(p);
}


/*
 * "raw": the segments of the path as it is (unescape 0), compared with
 * those of the percent-decoded path (unescape 1) after them.
 */

static void
ngx_fuzz_path(const u_char *data, size_t size, ngx_uint_t unescape,
    ngx_str_t *raw)
{
    u_char      *p, *buf;
    size_t       total;
    ngx_int_t    rc;
    ngx_str_t   *seg;
    ngx_uint_t   i, n, expect;

    p = ngx_fuzz_copy(data, size);
    buf = malloc(size);
    seg = malloc(NGX_FUZZ_MAX_SEGMENTS * sizeof(ngx_str_t));

    ngx_fuzz_check(buf != NULL && seg != NULL);

    rc = ngx_chrys_path_split(p, p + size, unescape, buf, seg,
                              NGX_FUZZ_MAX_SEGMENTS, &n);

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_ERROR);
    ngx_fuzz_check(n <= NGX_FUZZ_MAX_SEGMENTS);

    /* one segment more than there are "/", too many is an error */

    expect = 0;

    if (size) {
        expect = 1;

        for (i = 0; i < size; i++) {
            expect += (p[i] == '/');
        }
    }

    ngx_fuzz_check((rc == NGX_OK) == (expect <= NGX_FUZZ_MAX_SEGMENTS));

    if (rc != NGX_OK) {
        goto done;
    }

    ngx_fuzz_check(n == expect);

    total = 0;

    for (i = 0; i < n; i++) {

        if (unescape) {
            ngx_fuzz_check(seg[i].data >= buf
                           && seg[i].data + seg[i].len <= buf + size);

            /* decoding never makes a segment longer */
            ngx_fuzz_check(seg[i].len <= raw[i].len);

            if (i > 0) {
                ngx_fuzz_check(seg[i].data >= seg[i - 1].data
                                              + seg[i - 1].len);
            }

        } else {
            /* the empty segment after a trailing "/" points to "buf" */
            ngx_fuzz_check((seg[i].data >= p
                            && seg[i].data + seg[i].len <= p + size)
                           || (seg[i].len == 0 && seg[i].data == buf));

            ngx_fuzz_check(seg[i].len == 0
                           || ngx_strlchr(seg[i].data,
                                          seg[i].data + seg[i].len, '/')
                              == NULL);

            total += seg[i].len;
            raw[i] = seg[i];
        }

        ngx_fuzz_name(&seg[i]);
    }

    if (!unescape) {
        /* the segments and the "/" between them are the whole path */
        ngx_fuzz_check(n == 0 || total + n - 1 == size);
    }

done:

    free(seg);
    free(buf);
    free(p);
}


/*
 * "1 to 255 bytes of UTF-8, not ".", no "/", ".." or control characters"
 */

static void
ngx_fuzz_name(ngx_str_t *name)
{
    u_char      *copy;
    size_t       i;
    ngx_str_t    s;
    ngx_int_t    rc;
    ngx_uint_t   valid;

    copy = ngx_fuzz_copy(name->data, name->len);

    s.data = copy;
    s.len = name->len;

    rc = ngx_chrys_valid_name(&s);

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_ERROR);

    valid = (s.len >= 1 && s.len <= NGX_CHRYS_NAME_MAX
             && !(s.len == 1 && s.data[0] == '.')
             && ngx_fuzz_utf8(s.data, s.len));

    for (i = 0; valid && i < s.len; i++) {

        if (s.data[i] < 0x20 || s.data[i] == 0x7f || s.data[i] == '/'
            || (s.data[i] == '.' && i + 1 < s.len && s.data[i + 1] == '.'))
        {
            valid = 0;
        }
    }

    ngx_fuzz_check((rc == NGX_OK) == valid);

    free(copy);
}
