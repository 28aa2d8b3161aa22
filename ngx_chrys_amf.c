
/*
 * Copyright (C) chrys authors
 *
 * AMF0 (Adobe's Action Message Format, version 0) values as JSON: what
 * publishers send in data messages (onTextData, onCuePoint) kept in a
 * stream's buffer and served as data.json.  Pure functions over bytes.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_amf.h"
#include "ngx_chrys_query.h"

#include <math.h>


#define NGX_CHRYS_AMF_NUMBER      0x00
#define NGX_CHRYS_AMF_BOOLEAN     0x01
#define NGX_CHRYS_AMF_STRING      0x02
#define NGX_CHRYS_AMF_OBJECT      0x03
#define NGX_CHRYS_AMF_NULL        0x05
#define NGX_CHRYS_AMF_UNDEFINED   0x06
#define NGX_CHRYS_AMF_MIXED       0x08
#define NGX_CHRYS_AMF_END         0x09
#define NGX_CHRYS_AMF_ARRAY       0x0a
#define NGX_CHRYS_AMF_DATE        0x0b
#define NGX_CHRYS_AMF_LONG_STRING 0x0c

/* the most a number takes as JSON: "-1.2345678901234567e-308" */
#define NGX_CHRYS_AMF_NUMBER_LEN  32


/* where a conversion writes: "out" up to "end"; NULL once it is full */

typedef struct {
    u_char                       *out;
    u_char                       *end;
} ngx_chrys_amf_out_t;


static u_char *ngx_chrys_amf_value(u_char *p, u_char *last,
    ngx_chrys_amf_out_t *o, ngx_uint_t depth);
static u_char *ngx_chrys_amf_members(u_char *p, u_char *last,
    ngx_chrys_amf_out_t *o, ngx_uint_t depth);
static u_char *ngx_chrys_amf_number(u_char *p, u_char *last,
    ngx_chrys_amf_out_t *o);
static ngx_int_t ngx_chrys_amf_put(ngx_chrys_amf_out_t *o, u_char *s,
    size_t len);
static ngx_int_t ngx_chrys_amf_put_string(ngx_chrys_amf_out_t *o,
    u_char *s, size_t len);


/*
 * Converts the AMF0 values from "p" to "last" into a JSON array of them
 * in "out", at most "size" bytes; *len is its length, *count how many
 * values it has.  Returns where the values ended, or NULL if they are
 * malformed, too deep, or too big.
 */

u_char *
ngx_chrys_amf_json(u_char *p, u_char *last, u_char *out, size_t size,
    size_t *len, ngx_uint_t *count)
{
    ngx_chrys_amf_out_t  o;

    o.out = out;
    o.end = out + size;

    *count = 0;

    if (ngx_chrys_amf_put(&o, (u_char *) "[", 1) != NGX_OK) {
        return NULL;
    }

    while (p < last) {
        if (o.out - out > 1 && ngx_chrys_amf_put(&o, (u_char *) ",", 1)
                               != NGX_OK)
        {
            return NULL;
        }

        p = ngx_chrys_amf_value(p, last, &o, 0);
        if (p == NULL) {
            return NULL;
        }

        (*count)++;
    }

    if (ngx_chrys_amf_put(&o, (u_char *) "]", 1) != NGX_OK) {
        return NULL;
    }

    *len = o.out - out;

    return p;
}


/* an AMF0 string value (its type byte first); NULL if it is not one */

u_char *
ngx_chrys_amf_string(u_char *p, u_char *last, ngx_str_t *s)
{
    size_t  n;

    if (last - p < 3 || p[0] != NGX_CHRYS_AMF_STRING) {
        return NULL;
    }

    n = (p[1] << 8) | p[2];
    p += 3;

    if ((size_t) (last - p) < n) {
        return NULL;
    }

    s->data = p;
    s->len = n;

    return p + n;
}


static u_char *
ngx_chrys_amf_value(u_char *p, u_char *last, ngx_chrys_amf_out_t *o,
    ngx_uint_t depth)
{
    size_t      n;
    ngx_uint_t  i, type;

    if (p == last || depth > NGX_CHRYS_AMF_DEPTH) {
        return NULL;
    }

    type = *p++;

    switch (type) {

    case NGX_CHRYS_AMF_NUMBER:
        return ngx_chrys_amf_number(p, last, o);

    case NGX_CHRYS_AMF_BOOLEAN:
        if (p == last) {
            return NULL;
        }

        return ngx_chrys_amf_put(o, (u_char *) (*p ? "true" : "false"),
                                 *p ? 4 : 5) == NGX_OK ? p + 1 : NULL;

    case NGX_CHRYS_AMF_STRING:
    case NGX_CHRYS_AMF_LONG_STRING:
        if (last - p < (type == NGX_CHRYS_AMF_STRING ? 2 : 4)) {
            return NULL;
        }

        if (type == NGX_CHRYS_AMF_STRING) {
            n = (p[0] << 8) | p[1];
            p += 2;

        } else {
            n = ((size_t) p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
            p += 4;
        }

        if ((size_t) (last - p) < n
            || ngx_chrys_amf_put_string(o, p, n) != NGX_OK)
        {
            return NULL;
        }

        return p + n;

    case NGX_CHRYS_AMF_NULL:
    case NGX_CHRYS_AMF_UNDEFINED:
        return ngx_chrys_amf_put(o, (u_char *) "null", 4) == NGX_OK
               ? p : NULL;

    case NGX_CHRYS_AMF_MIXED:
        /* an ECMA array: a count (a hint only), then an object's members */
        if (last - p < 4) {
            return NULL;
        }

        p += 4;

        /* fall through */

    case NGX_CHRYS_AMF_OBJECT:
        return ngx_chrys_amf_members(p, last, o, depth);

    case NGX_CHRYS_AMF_ARRAY:
        if (last - p < 4) {
            return NULL;
        }

        n = ((size_t) p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
        p += 4;

        if (ngx_chrys_amf_put(o, (u_char *) "[", 1) != NGX_OK) {
            return NULL;
        }

        /* each value takes a byte at least: a count past that is a lie */

        for (i = 0; i < n; i++) {
            if ((i && ngx_chrys_amf_put(o, (u_char *) ",", 1) != NGX_OK)
                || (p = ngx_chrys_amf_value(p, last, o, depth + 1)) == NULL)
            {
                return NULL;
            }
        }

        return ngx_chrys_amf_put(o, (u_char *) "]", 1) == NGX_OK ? p : NULL;

    case NGX_CHRYS_AMF_DATE:
        /* ms since the epoch, then a time zone nobody uses */
        p = ngx_chrys_amf_number(p, last, o);

        if (p == NULL || last - p < 2) {
            return NULL;
        }

        return p + 2;

    default:
        /* references, XML, typed objects, AMF3: not taken */
        return NULL;
    }
}


/* an object's members up to the end marker, as a JSON object */

static u_char *
ngx_chrys_amf_members(u_char *p, u_char *last, ngx_chrys_amf_out_t *o,
    ngx_uint_t depth)
{
    size_t      n;
    ngx_uint_t  first;

    if (ngx_chrys_amf_put(o, (u_char *) "{", 1) != NGX_OK) {
        return NULL;
    }

    for (first = 1; /* void */ ; first = 0) {

        if (last - p < 3) {
            return NULL;
        }

        n = (p[0] << 8) | p[1];
        p += 2;

        if (n == 0 && *p == NGX_CHRYS_AMF_END) {
            p++;
            break;
        }

        if ((size_t) (last - p) < n
            || (!first && ngx_chrys_amf_put(o, (u_char *) ",", 1) != NGX_OK)
            || ngx_chrys_amf_put_string(o, p, n) != NGX_OK
            || ngx_chrys_amf_put(o, (u_char *) ":", 1) != NGX_OK)
        {
            return NULL;
        }

        p = ngx_chrys_amf_value(p + n, last, o, depth + 1);
        if (p == NULL) {
            return NULL;
        }
    }

    return ngx_chrys_amf_put(o, (u_char *) "}", 1) == NGX_OK ? p : NULL;
}


/* a big-endian IEEE 754 double: an integer as one, else in full */

static u_char *
ngx_chrys_amf_number(u_char *p, u_char *last, ngx_chrys_amf_out_t *o)
{
    int         n;
    double      d;
    uint64_t    bits;
    ngx_uint_t  i;
    u_char      buf[NGX_CHRYS_AMF_NUMBER_LEN];

    if (last - p < 8) {
        return NULL;
    }

    bits = 0;

    for (i = 0; i < 8; i++) {
        bits = (bits << 8) | p[i];
    }

    ngx_memcpy(&d, &bits, sizeof(double));

    if (isnan(d) || isinf(d)) {
        n = 4;
        ngx_memcpy(buf, "null", 4);

    } else if (fabs(d) < 9007199254740992.0 && d == (double) (int64_t) d) {
        /* within 2^53 first: a cast of a bigger one is undefined */
        n = ngx_sprintf(buf, "%L", (int64_t) d) - buf;

    } else {
        n = snprintf((char *) buf, sizeof(buf), "%.17g", d);
    }

    if (n <= 0 || ngx_chrys_amf_put(o, buf, n) != NGX_OK) {
        return NULL;
    }

    return p + 8;
}


static ngx_int_t
ngx_chrys_amf_put(ngx_chrys_amf_out_t *o, u_char *s, size_t len)
{
    if ((size_t) (o->end - o->out) < len) {
        return NGX_ERROR;
    }

    o->out = ngx_cpymem(o->out, s, len);

    return NGX_OK;
}


static ngx_int_t
ngx_chrys_amf_put_string(ngx_chrys_amf_out_t *o, u_char *s, size_t len)
{
    u_char  *p;

    if (o->end - o->out < 2) {
        return NGX_ERROR;
    }

    *o->out++ = '"';

    p = ngx_chrys_json_utf8(o->out, o->end - 1, s, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *p++ = '"';
    o->out = p;

    return NGX_OK;
}


/*
 * A string's bytes escaped for JSON, between its quotes, into "dst" up to
 * "end": a byte that does not start well-formed UTF-8 becomes U+FFFD.
 * NULL if it does not fit.
 */

u_char *
ngx_chrys_json_utf8(u_char *dst, u_char *end, u_char *src, size_t len)
{
    u_char    *p, *last;
    size_t     n;
    uint32_t   c;

    static u_char  hex[] = "0123456789abcdef";

    p = src;
    last = src + len;

    while (p < last) {

        if (*p < 0x80) {
            c = *p++;

            if (c == '"' || c == '\\') {
                if (end - dst < 2) {
                    return NULL;
                }

                *dst++ = '\\';
                *dst++ = (u_char) c;

            } else if (c < 0x20 || c == 0x7f) {
                if (end - dst < 6) {
                    return NULL;
                }

                dst = ngx_cpymem(dst, "\\u00", 4);
                *dst++ = hex[c >> 4];
                *dst++ = hex[c & 0xf];

            } else {
                if (dst == end) {
                    return NULL;
                }

                *dst++ = (u_char) c;
            }

            continue;
        }

        n = ngx_chrys_utf8_len(p, last);

        if (n == 0) {
            /* not UTF-8: one byte of it replaced, and on */
            p++;

            if (end - dst < 3) {
                return NULL;
            }

            dst = ngx_cpymem(dst, "\xef\xbf\xbd", 3);
            continue;
        }

        if ((size_t) (end - dst) < n) {
            return NULL;
        }

        dst = ngx_cpymem(dst, p, n);
        p += n;
    }

    return dst;
}
