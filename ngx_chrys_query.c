
/*
 * Copyright (C) chrys authors
 *
 * The API's query strings, request paths and stream names: parsed and
 * checked by pure functions, fuzzed by t/fuzz/fuzz_query.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_query.h"


static ngx_int_t ngx_chrys_query_value(ngx_chrys_arg_t *arg, u_char *p,
    size_t len, int64_t *v, ngx_uint_t *why);


/*
 * Reads the known parameters of a query string: decimal integers within
 * their bounds, or one of their words, each at most once, percent-encoded
 * or not.  Unknown parameters are skipped (cache busters, tokens).  On
 * NGX_ERROR, *bad is the parameter and *why the reason.
 */

ngx_int_t
ngx_chrys_query_parse(u_char *p, u_char *last, ngx_chrys_arg_t *defs,
    ngx_uint_t ndefs, int64_t *values, ngx_uint_t *has, ngx_uint_t *bad,
    ngx_uint_t *why)
{
    u_char      *key, *eq, *val, *dst, *src, buf[32];
    size_t       klen, vlen;
    int64_t      v;
    ngx_uint_t   i;

    *has = 0;

    while (p < last) {
        key = p;

        while (p < last && *p != '&') {
            p++;
        }

        eq = ngx_strlchr(key, p, '=');
        klen = (eq ? eq : p) - key;
        val = eq ? eq + 1 : p;
        vlen = p - val;

        if (p < last) {
            p++;
        }

        for (i = 0; i < ndefs; i++) {
            if (klen == defs[i].name.len
                && ngx_strncmp(key, defs[i].name.data, klen) == 0)
            {
                break;
            }
        }

        if (i == ndefs) {
            continue;
        }

        *bad = i;

        if (*has & ((ngx_uint_t) 1 << i)) {
            *why = NGX_CHRYS_ARG_REPEATED;
            return NGX_ERROR;
        }

        if (vlen >= sizeof(buf)) {
            *why = defs[i].values ? NGX_CHRYS_ARG_UNKNOWN
                                  : NGX_CHRYS_ARG_INVALID;
            return NGX_ERROR;
        }

        dst = buf;
        src = val;
        ngx_unescape_uri(&dst, &src, vlen, NGX_UNESCAPE_URI);

        if (ngx_chrys_query_value(&defs[i], buf, dst - buf, &v, why)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        values[i] = v;
        *has |= (ngx_uint_t) 1 << i;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_chrys_query_value(ngx_chrys_arg_t *arg, u_char *p, size_t len,
    int64_t *v, ngx_uint_t *why)
{
    size_t      i;
    ngx_str_t  *w;
    ngx_uint_t  neg;

    if (arg->values) {
        for (w = arg->values; w->len; w++) {
            if (w->len == len && ngx_strncmp(w->data, p, len) == 0) {
                *v = w - arg->values;
                return NGX_OK;
            }
        }

        *why = NGX_CHRYS_ARG_UNKNOWN;
        return NGX_ERROR;
    }

    *why = NGX_CHRYS_ARG_INVALID;

    neg = (len > 0 && p[0] == '-');
    i = neg;

    /* 18 digits: no overflow of int64_t */

    if (len == i || len - i > 18) {
        return NGX_ERROR;
    }

    *v = 0;

    for ( /* void */ ; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return NGX_ERROR;
        }

        *v = *v * 10 + (p[i] - '0');
    }

    if (neg) {
        *v = -*v;
    }

    if (*v < arg->min || *v > arg->max) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Splits a path into its segments, percent-decoded into "buf" (as big as
 * the path) when "unescape".  A trailing "/" makes an empty last segment.
 * NGX_ERROR: more than "max" segments.
 */

ngx_int_t
ngx_chrys_path_split(u_char *p, u_char *last, ngx_uint_t unescape,
    u_char *buf, ngx_str_t *seg, ngx_uint_t max, ngx_uint_t *n)
{
    u_char  *start, *src;

    *n = 0;

    while (p < last) {

        if (*n == max) {
            return NGX_ERROR;
        }

        start = p;

        while (p < last && *p != '/') {
            p++;
        }

        if (unescape) {
            seg[*n].data = buf;
            src = start;
            ngx_unescape_uri(&buf, &src, p - start, 0);
            seg[*n].len = buf - seg[*n].data;

        } else {
            seg[*n].data = start;
            seg[*n].len = p - start;
        }

        (*n)++;

        if (p < last) {
            p++;    /* "/" */

            if (p == last) {
                if (*n == max) {
                    return NGX_ERROR;
                }

                seg[*n].data = buf;
                seg[*n].len = 0;
                (*n)++;
            }
        }
    }

    return NGX_OK;
}


/*
 * A stream name or application name that can be addressed in a URL path
 * segment: 1 to 255 bytes of UTF-8, not ".", no "/", no "..", no control
 * characters.
 */

ngx_int_t
ngx_chrys_valid_name(ngx_str_t *name)
{
    size_t  i;

    if (name->len == 0 || name->len > NGX_CHRYS_NAME_MAX
        || (name->len == 1 && name->data[0] == '.'))
    {
        return NGX_ERROR;
    }

    /* names go into JSON and metrics as they are */

    if (!ngx_chrys_valid_utf8(name->data, name->data + name->len)) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {

        if (name->data[i] < 0x20 || name->data[i] == 0x7f
            || name->data[i] == '/')
        {
            return NGX_ERROR;
        }

        if (name->data[i] == '.' && i + 1 < name->len
            && name->data[i + 1] == '.')
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Well-formed UTF-8 (RFC 3629): the shortest form of a code point up to
 * U+10FFFF that is not a surrogate.  ngx_utf8_decode() lets overlong forms,
 * surrogates and any byte above 0x7f as a continuation through, and a JSON
 * parser refuses those.
 */

ngx_uint_t
ngx_chrys_valid_utf8(u_char *p, u_char *last)
{
    size_t  n;

    while (p < last) {

        if (*p < 0x80) {
            p++;
            continue;
        }

        n = ngx_chrys_utf8_len(p, last);

        if (n == 0) {
            return 0;
        }

        p += n;
    }

    return 1;
}


/*
 * The length of the well-formed UTF-8 sequence (RFC 3629) at "p", above
 * U+007F, or 0: its shortest form, up to U+10FFFF, not a surrogate.
 * ngx_utf8_decode() takes any byte above 0x7f as a continuation (and
 * 0xf8 to 0xff as a lead byte), which would let bytes that are not UTF-8
 * into names and JSON.
 */

size_t
ngx_chrys_utf8_len(u_char *p, u_char *last)
{
    size_t    n, i;
    uint32_t  u, min;

    if (*p >= 0xc2 && *p <= 0xdf) {
        n = 2;
        u = *p & 0x1f;
        min = 0x80;

    } else if (*p >= 0xe0 && *p <= 0xef) {
        n = 3;
        u = *p & 0x0f;
        min = 0x800;

    } else if (*p >= 0xf0 && *p <= 0xf4) {
        n = 4;
        u = *p & 0x07;
        min = 0x10000;

    } else {
        return 0;
    }

    if ((size_t) (last - p) < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        u = (u << 6) | (p[i] & 0x3f);
    }

    if (u < min || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
        return 0;
    }

    return n;
}
