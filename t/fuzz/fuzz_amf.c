
/*
 * Copyright (C) chrys authors
 *
 * libFuzzer harness of ngx_chrys_amf.c, which turns the AMF0 payload of
 * an RTMP data message (onTextData, onCuePoint, @setDataFrame: whatever a
 * publisher sends) into the JSON that data.json serves.  The input is the
 * payload; ngx_chrys_amf_json() reads a heap copy of exactly its bytes
 * into heap buffers of exactly the size it is told about, and:
 *
 *   - takes the input if and only if a model written apart from it (a
 *     reader of AMF0 that writes nothing) takes it, with as many values;
 *
 *   - writes a JSON array of one valid value (ngx_chrys_json_value(), at
 *     most NGX_CHRYS_JSON_DEPTH deep) per AMF0 value, in well-formed
 *     UTF-8 (Table 3-7 of the Unicode standard), at most 6 bytes for each
 *     byte of input and 2 for the brackets;
 *
 *   - writes the same into a buffer of exactly that length, and refuses a
 *     buffer one byte shorter or of any length the input picks below it;
 *
 *   - says a lone number as the same double and a lone string of UTF-8 as
 *     the same bytes, escapes undone.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_amf.h"
#include "ngx_chrys_json.h"
#include "ngx_fuzz.h"

#include <math.h>


/* each byte of AMF0 is at most 6 of JSON ("\u0001"), and "[" and "]" */
#define ngx_fuzz_out_max(size)   (6 * (size) + 2)


static const u_char *ngx_fuzz_amf(const u_char *p, const u_char *last,
    size_t depth);
static void ngx_fuzz_json(u_char *out, size_t len, ngx_uint_t count);
static void ngx_fuzz_bound(u_char *in, size_t size, u_char *want,
    size_t len, size_t cut);
static void ngx_fuzz_number(const u_char *in, u_char *out, size_t len);
static void ngx_fuzz_string(const u_char *in, size_t n, u_char *out,
    size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char           *in, *out, *end;
    size_t            len, max, n;
    ngx_uint_t        count, mcount;
    const u_char     *p, *mend;

    in = ngx_fuzz_copy(data, size);

    max = ngx_fuzz_out_max(size);
    out = malloc(max);
    ngx_fuzz_check(out != NULL);

    end = ngx_chrys_amf_json(in, in + size, out, max, &len, &count);

    /* the model: values one after the other, to the end of the input */

    mcount = 0;

    for (p = in; p != NULL && p < in + size; mcount++) {
        p = ngx_fuzz_amf(p, in + size, 0);
    }

    mend = p;

    ngx_fuzz_check((end == NULL) == (mend == NULL));

    if (end == NULL) {
        goto done;
    }

    ngx_fuzz_check(end == in + size);
    ngx_fuzz_check(count == mcount);
    ngx_fuzz_check(len >= 2 && len <= max);

    ngx_fuzz_json(out, len, count);

    /* the bound: exactly "len" is enough, less is not */

    n = (size && len > 2) ? (size_t) data[0] * (len - 2) / 256 : 0;

    ngx_fuzz_bound(in, size, out, len, n);

    if (count != 1) {
        goto done;
    }

    if (in[0] == 0x00) {
        ngx_fuzz_number(in + 1, out, len);

    } else if (in[0] == 0x02) {
        ngx_fuzz_string(in + 3, size - 3, out, len);
    }

done:

    free(out);
    free(in);

    return 0;
}


/*
 * One AMF0 value (AMF0 specification, section 2), at "depth" in what
 * holds it: a value inside something 16 deep is refused.
 */

static const u_char *
ngx_fuzz_amf(const u_char *p, const u_char *last, size_t depth)
{
    size_t  left, n, i;

    left = last - p;

    if (left == 0 || depth > NGX_CHRYS_AMF_DEPTH) {
        return NULL;
    }

    left--;

    switch (*p++) {

    case 0x00:                                  /* number */
        return (left >= 8) ? p + 8 : NULL;

    case 0x01:                                  /* boolean */
        return (left >= 1) ? p + 1 : NULL;

    case 0x02:                                  /* string */
        if (left < 2) {
            return NULL;
        }

        n = (size_t) p[0] * 256 + p[1];

        return (left - 2 >= n) ? p + 2 + n : NULL;

    case 0x0c:                                  /* long string */
        if (left < 4) {
            return NULL;
        }

        n = (size_t) p[0] * 16777216 + (size_t) p[1] * 65536
            + (size_t) p[2] * 256 + p[3];

        return (left - 4 >= n) ? p + 4 + n : NULL;

    case 0x05:                                  /* null */
    case 0x06:                                  /* undefined */
        return p;

    case 0x0b:                                  /* date: ms and zone */
        return (left >= 10) ? p + 10 : NULL;

    case 0x08:                                  /* ECMA array */
        if (left < 4) {
            return NULL;
        }

        p += 4;

        /* fall through */

    case 0x03:                                  /* object */

        /* name and value pairs, up to an empty name and the end marker */

        for ( ;; ) {
            if (last - p < 2) {
                return NULL;
            }

            n = (size_t) p[0] * 256 + p[1];
            p += 2;

            if (n == 0 && p < last && *p == 0x09) {
                return p + 1;
            }

            if ((size_t) (last - p) < n) {
                return NULL;
            }

            p = ngx_fuzz_amf(p + n, last, depth + 1);

            if (p == NULL) {
                return NULL;
            }
        }

    case 0x0a:                                  /* strict array */
        if (left < 4) {
            return NULL;
        }

        n = (size_t) p[0] * 16777216 + (size_t) p[1] * 65536
            + (size_t) p[2] * 256 + p[3];
        p += 4;

        for (i = 0; i < n; i++) {
            p = ngx_fuzz_amf(p, last, depth + 1);

            if (p == NULL) {
                return NULL;
            }
        }

        return p;

    default:
        return NULL;
    }
}


/* "[", "count" JSON values with commas between them, "]" */

static void
ngx_fuzz_json(u_char *out, size_t len, ngx_uint_t count)
{
    u_char      *p, *last;
    ngx_uint_t   n;

    last = out + len;

    ngx_fuzz_check(ngx_fuzz_utf8(out, len));
    ngx_fuzz_check(out[0] == '[' && last[-1] == ']');

    p = out + 1;
    n = 0;

    if (*p == ']') {
        p++;

    } else {
        for ( ;; ) {
            p = ngx_chrys_json_value(p, last, 0);
            ngx_fuzz_check(p != NULL && p < last);
            n++;

            if (*p++ == ']') {
                break;
            }

            ngx_fuzz_check(p[-1] == ',');
        }
    }

    ngx_fuzz_check(p == last);
    ngx_fuzz_check(n == count);
}


/*
 * Into buffers of exactly "len" bytes, and of "len - 1" and "cut" bytes,
 * which must be refused without a byte written past them.
 */

static void
ngx_fuzz_bound(u_char *in, size_t size, u_char *want, size_t len,
    size_t cut)
{
    u_char      *out, *end;
    size_t       n;
    ngx_uint_t   count;

    out = malloc(len);
    ngx_fuzz_check(out != NULL);

    end = ngx_chrys_amf_json(in, in + size, out, len, &n, &count);

    ngx_fuzz_check(end == in + size && n == len);
    ngx_fuzz_check(ngx_memcmp(out, want, len) == 0);

    free(out);

    out = malloc(len - 1);
    ngx_fuzz_check(out != NULL);

    ngx_fuzz_check(ngx_chrys_amf_json(in, in + size, out, len - 1, &n,
                                      &count)
                   == NULL);
    free(out);

    out = malloc(cut ? cut : 1);
    ngx_fuzz_check(out != NULL);

    ngx_fuzz_check(ngx_chrys_amf_json(in, in + size, out, cut, &n, &count)
                   == NULL);
    free(out);
}


/* "[number]": the same double, or null for NaN and the infinities */

static void
ngx_fuzz_number(const u_char *in, u_char *out, size_t len)
{
    char        buf[64];
    double      d, r;
    uint64_t    bits;
    ngx_uint_t  i;

    bits = 0;

    for (i = 0; i < 8; i++) {
        bits = (bits << 8) | in[i];
    }

    ngx_memcpy(&d, &bits, sizeof(double));

    ngx_fuzz_check(len - 2 < sizeof(buf));
    ngx_memcpy(buf, out + 1, len - 2);
    buf[len - 2] = '\0';

    if (isnan(d) || isinf(d)) {
        ngx_fuzz_check(strcmp(buf, "null") == 0);
        return;
    }

    r = strtod(buf, NULL);

    /* -0 may be said as 0 */

    ngx_fuzz_check(r == d);
}


/* "[string]": escapes undone, the input itself if it was UTF-8 */

static void
ngx_fuzz_string(const u_char *in, size_t n, u_char *out, size_t len)
{
    u_char     *p, *last, *s, *q;
    ngx_int_t   c;

    if (!ngx_fuzz_utf8(in, n)) {
        return;
    }

    ngx_fuzz_check(out[1] == '"' && out[len - 2] == '"');

    s = malloc(len);
    ngx_fuzz_check(s != NULL);

    q = s;
    p = out + 2;
    last = out + len - 2;

    while (p < last) {
        if (*p != '\\') {
            *q++ = *p++;
            continue;
        }

        /* only \" \\ and \u00XX are written */

        ngx_fuzz_check(last - p >= 2);

        if (p[1] == '"' || p[1] == '\\') {
            *q++ = p[1];
            p += 2;
            continue;
        }

        ngx_fuzz_check(last - p >= 6 && p[1] == 'u' && p[2] == '0'
                       && p[3] == '0');

        c = ngx_hextoi(p + 4, 2);

        ngx_fuzz_check(c != NGX_ERROR && (c < 0x20 || c == 0x7f));
        *q++ = (u_char) c;
        p += 6;
    }

    ngx_fuzz_check((size_t) (q - s) == n && ngx_memcmp(s, in, n) == 0);

    free(s);
}


