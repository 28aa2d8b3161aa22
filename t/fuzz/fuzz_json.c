
/*
 * Copyright (C) chrys authors
 *
 * libFuzzer harness of ngx_chrys_json.c, the reader of the API's JSON
 * bodies (which come from anyone who can POST).  Each input is read as a
 * value (ngx_chrys_json_value()) and as a body (ngx_chrys_json_object()),
 * from a heap copy of exactly its bytes, and each answer is checked
 * against a model written apart from the code under test: an iterative
 * reader with a stack of its own, after RFC 8259 and the depth limit.
 * What the object reader slices out must be what the model reads there.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_json.h"
#include "ngx_fuzz.h"


#define NGX_FUZZ_MEMBERS      8


static const u_char *ngx_fuzz_ws(const u_char *p, const u_char *last);
static const u_char *ngx_fuzz_string(const u_char *p, const u_char *last);
static const u_char *ngx_fuzz_number(const u_char *p, const u_char *last);
static const u_char *ngx_fuzz_word(const u_char *p, const u_char *last,
    const char *word);
static const u_char *ngx_fuzz_value(const u_char *p, const u_char *last,
    size_t depth);
static ngx_int_t ngx_fuzz_object(const u_char *p, const u_char *last,
    size_t max, size_t *n);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                   *copy, *end;
    size_t                    n, i, mn;
    ngx_int_t                 rc, mrc;
    const u_char             *mend;
    ngx_chrys_json_member_t   m[NGX_FUZZ_MEMBERS];

    copy = ngx_fuzz_copy(data, size);

    /* a value at the start, at depth 0 and deeper */

    for (i = 0; i <= NGX_CHRYS_JSON_DEPTH + 1; i += NGX_CHRYS_JSON_DEPTH) {
        end = ngx_chrys_json_value(copy, copy + size, i);
        mend = ngx_fuzz_value(copy, copy + size, i);

        ngx_fuzz_check((end == NULL) == (mend == NULL));
        ngx_fuzz_check(end == NULL || end == mend);
        ngx_fuzz_check(end == NULL || (end > copy && end <= copy + size));
    }

    /* a body: one object, and what it holds */

    rc = ngx_chrys_json_object(copy, copy + size, m, NGX_FUZZ_MEMBERS, &n);
    mrc = ngx_fuzz_object(copy, copy + size, NGX_FUZZ_MEMBERS, &mn);

    ngx_fuzz_check(rc == mrc);

    if (rc == NGX_OK) {
        ngx_fuzz_check(n == mn && n <= NGX_FUZZ_MEMBERS);

        for (i = 0; i < n; i++) {
            ngx_fuzz_check(m[i].key.data >= copy
                           && m[i].key.data + m[i].key.len <= copy + size);
            ngx_fuzz_check(m[i].key.len >= 2 && m[i].key.data[0] == '"'
                           && m[i].key.data[m[i].key.len - 1] == '"');
            ngx_fuzz_check(ngx_fuzz_string(m[i].key.data, copy + size)
                           == m[i].key.data + m[i].key.len);

            ngx_fuzz_check(m[i].value.data >= copy
                           && m[i].value.data + m[i].value.len
                              <= copy + size);
            ngx_fuzz_check(ngx_fuzz_value(m[i].value.data, copy + size, 0)
                           == m[i].value.data + m[i].value.len);

            if (i) {
                ngx_fuzz_check(m[i].key.data
                               > m[i - 1].value.data + m[i - 1].value.len);
            }
        }

    } else {
        ngx_fuzz_check(rc == NGX_ERROR || rc == NGX_DECLINED);
    }

    free(copy);

    return 0;
}


static const u_char *
ngx_fuzz_ws(const u_char *p, const u_char *last)
{
    while (p < last && (*p == 0x20 || *p == 0x09 || *p == 0x0a
                        || *p == 0x0d))
    {
        p++;
    }

    return p;
}


/* string = quotation-mark *char quotation-mark (RFC 8259, section 7) */

static const u_char *
ngx_fuzz_string(const u_char *p, const u_char *last)
{
    size_t  i;

    if (p == last || *p != '"') {
        return NULL;
    }

    for (p++; p < last; p++) {

        if (*p == '"') {
            return p + 1;
        }

        if (*p < 0x20) {
            return NULL;
        }

        if (*p != '\\') {
            continue;
        }

        if (++p == last) {
            return NULL;
        }

        if (*p == 'u') {
            for (i = 0; i < 4; i++) {
                if (++p == last || !isxdigit(*p)) {
                    return NULL;
                }
            }

            continue;
        }

        if (ngx_strlchr((u_char *) "\"\\/bfnrt",
                        (u_char *) "\"\\/bfnrt" + 8, *p) == NULL)
        {
            return NULL;
        }
    }

    return NULL;
}


/* number = [ minus ] int [ frac ] [ exp ] */

static const u_char *
ngx_fuzz_number(const u_char *p, const u_char *last)
{
    const u_char  *start;

    if (p < last && *p == '-') {
        p++;
    }

    if (p == last || !isdigit(*p)) {
        return NULL;
    }

    if (*p++ != '0') {
        while (p < last && isdigit(*p)) {
            p++;
        }
    }

    if (p < last && *p == '.') {
        start = ++p;

        while (p < last && isdigit(*p)) {
            p++;
        }

        if (p == start) {
            return NULL;
        }
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < last && (*p == '+' || *p == '-')) {
            p++;
        }

        start = p;

        while (p < last && isdigit(*p)) {
            p++;
        }

        if (p == start) {
            return NULL;
        }
    }

    return p;
}


static const u_char *
ngx_fuzz_word(const u_char *p, const u_char *last, const char *word)
{
    size_t  len;

    len = strlen(word);

    if ((size_t) (last - p) < len || memcmp(p, word, len) != 0) {
        return NULL;
    }

    return p + len;
}


/*
 * A value, read without recursion: "open" holds the containers around
 * the reader.  A value nested deeper than NGX_CHRYS_JSON_DEPTH below
 * "depth" is refused; a container's own depth is that of its opening.
 */

static const u_char *
ngx_fuzz_value(const u_char *p, const u_char *last, size_t depth)
{
    u_char  open[NGX_CHRYS_JSON_DEPTH + 2];
    size_t  n;

    n = 0;

value:

    if (p == last || depth + n > NGX_CHRYS_JSON_DEPTH) {
        return NULL;
    }

    switch (*p) {

    case '"':
        p = ngx_fuzz_string(p, last);
        break;

    case 't':
        p = ngx_fuzz_word(p, last, "true");
        break;

    case 'f':
        p = ngx_fuzz_word(p, last, "false");
        break;

    case 'n':
        p = ngx_fuzz_word(p, last, "null");
        break;

    case '[':
    case '{':
        open[n++] = *p;
        p = ngx_fuzz_ws(p + 1, last);

        if (p < last && *p == (open[n - 1] == '[' ? ']' : '}')) {
            p++;
            n--;
            break;
        }

        if (open[n - 1] == '[') {
            goto value;
        }

        goto member;

    default:
        p = ngx_fuzz_number(p, last);
        break;
    }

next:

    if (p == NULL) {
        return NULL;
    }

    if (n == 0) {
        return p;
    }

    p = ngx_fuzz_ws(p, last);

    if (p == last) {
        return NULL;
    }

    if (*p == (open[n - 1] == '[' ? ']' : '}')) {
        p++;
        n--;
        goto next;
    }

    if (*p != ',') {
        return NULL;
    }

    p = ngx_fuzz_ws(p + 1, last);

    if (open[n - 1] == '[') {
        goto value;
    }

member:

    p = ngx_fuzz_string(p, last);

    if (p == NULL) {
        return NULL;
    }

    p = ngx_fuzz_ws(p, last);

    if (p == last || *p != ':') {
        return NULL;
    }

    p = ngx_fuzz_ws(p + 1, last);

    goto value;
}


/* a body: whitespace, then one object with at most "max" members */

static ngx_int_t
ngx_fuzz_object(const u_char *p, const u_char *last, size_t max, size_t *n)
{
    *n = 0;

    p = ngx_fuzz_ws(p, last);

    if (p == last) {
        return NGX_DECLINED;
    }

    if (*p != '{') {
        return NGX_ERROR;
    }

    p = ngx_fuzz_ws(p + 1, last);

    if (p < last && *p == '}') {
        return (ngx_fuzz_ws(p + 1, last) == last) ? NGX_OK : NGX_ERROR;
    }

    for ( ;; ) {
        p = ngx_fuzz_string(p, last);

        if (p == NULL) {
            return NGX_ERROR;
        }

        p = ngx_fuzz_ws(p, last);

        if (p == last || *p != ':') {
            return NGX_ERROR;
        }

        p = ngx_fuzz_value(ngx_fuzz_ws(p + 1, last), last, 0);

        if (p == NULL || *n == max) {
            return NGX_ERROR;
        }

        (*n)++;

        p = ngx_fuzz_ws(p, last);

        if (p == last) {
            return NGX_ERROR;
        }

        if (*p == '}') {
            return (ngx_fuzz_ws(p + 1, last) == last) ? NGX_OK : NGX_ERROR;
        }

        if (*p != ',') {
            return NGX_ERROR;
        }

        p = ngx_fuzz_ws(p + 1, last);
    }
}
