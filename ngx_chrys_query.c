
/*
 * Copyright (C) chrys authors
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
