
/*
 * Copyright (C) chrys authors
 *
 * A small strict JSON reader: just enough to check a body and slice the
 * members of its object.  Every function takes [p, last) and returns
 * where what it read ends, or NULL if it is not what it should be.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_json.h"


/*
 * The members of the object that [p, last) holds, whitespace around it
 * allowed, into members (at most "max", *n of them).  NGX_DECLINED for a
 * body of whitespace only; NGX_ERROR if it is not one object of valid
 * JSON, or has more members.  Keys may repeat: the last one counts, as
 * for most readers.
 */

ngx_int_t
ngx_chrys_json_object(u_char *p, u_char *last,
    ngx_chrys_json_member_t *members, ngx_uint_t max, ngx_uint_t *n)
{
    u_char  *key, *kend, *val, *vend;

    *n = 0;

    p = ngx_chrys_json_ws(p, last);

    if (p == last) {
        return NGX_DECLINED;
    }

    if (*p++ != '{') {
        return NGX_ERROR;
    }

    p = ngx_chrys_json_ws(p, last);

    if (p < last && *p == '}') {
        p++;
        goto end;
    }

    for ( ;; ) {
        key = p;
        kend = ngx_chrys_json_string(p, last);
        if (kend == NULL) {
            return NGX_ERROR;
        }

        p = ngx_chrys_json_ws(kend, last);

        if (p == last || *p++ != ':') {
            return NGX_ERROR;
        }

        val = ngx_chrys_json_ws(p, last);
        vend = ngx_chrys_json_value(val, last, 0);
        if (vend == NULL || *n == max) {
            return NGX_ERROR;
        }

        members[*n].key.data = key;
        members[*n].key.len = kend - key;
        members[*n].value.data = val;
        members[*n].value.len = vend - val;
        (*n)++;

        p = ngx_chrys_json_ws(vend, last);

        if (p < last && *p == ',') {
            p = ngx_chrys_json_ws(p + 1, last);
            continue;
        }

        if (p < last && *p == '}') {
            p++;
            break;
        }

        return NGX_ERROR;
    }

end:

    return (ngx_chrys_json_ws(p, last) == last) ? NGX_OK : NGX_ERROR;
}


/* whether a member's key is "name" as it is written, without escapes */

ngx_uint_t
ngx_chrys_json_is(ngx_str_t *key, char *name)
{
    size_t  len;

    len = ngx_strlen(name);

    return key->len == len + 2 && ngx_strncmp(key->data + 1, name, len) == 0;
}


u_char *
ngx_chrys_json_ws(u_char *p, u_char *last)
{
    while (p < last
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


u_char *
ngx_chrys_json_value(u_char *p, u_char *last, ngx_uint_t depth)
{
    u_char  close;

    if (p == last || depth > NGX_CHRYS_JSON_DEPTH) {
        return NULL;
    }

    switch (*p) {

    case '"':
        return ngx_chrys_json_string(p, last);

    case '{':
    case '[':
        close = (*p == '{') ? '}' : ']';
        p = ngx_chrys_json_ws(p + 1, last);

        if (p < last && *p == close) {
            return p + 1;
        }

        for ( ;; ) {
            if (close == '}') {
                p = ngx_chrys_json_string(p, last);
                if (p == NULL) {
                    return NULL;
                }

                p = ngx_chrys_json_ws(p, last);

                if (p == last || *p++ != ':') {
                    return NULL;
                }

                p = ngx_chrys_json_ws(p, last);
            }

            p = ngx_chrys_json_value(p, last, depth + 1);
            if (p == NULL) {
                return NULL;
            }

            p = ngx_chrys_json_ws(p, last);

            if (p == last) {
                return NULL;
            }

            if (*p == close) {
                return p + 1;
            }

            if (*p++ != ',') {
                return NULL;
            }

            p = ngx_chrys_json_ws(p, last);
        }

    case 't':
        return (last - p >= 4 && ngx_strncmp(p, "true", 4) == 0)
               ? p + 4 : NULL;

    case 'f':
        return (last - p >= 5 && ngx_strncmp(p, "false", 5) == 0)
               ? p + 5 : NULL;

    case 'n':
        return (last - p >= 4 && ngx_strncmp(p, "null", 4) == 0)
               ? p + 4 : NULL;
    }

    /* a number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */

    if (*p == '-') {
        p++;
    }

    if (p == last || *p < '0' || *p > '9') {
        return NULL;
    }

    if (*p == '0') {
        p++;

    } else {
        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < last && *p == '.') {
        p++;

        if (p == last || *p < '0' || *p > '9') {
            return NULL;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < last && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == last || *p < '0' || *p > '9') {
            return NULL;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    return p;
}


u_char *
ngx_chrys_json_string(u_char *p, u_char *last)
{
    ngx_uint_t  i;

    if (p == last || *p++ != '"') {
        return NULL;
    }

    while (p < last) {

        if (*p == '"') {
            return p + 1;
        }

        if (*p < 0x20) {
            return NULL;
        }

        if (*p++ != '\\') {
            continue;
        }

        if (p == last) {
            return NULL;
        }

        switch (*p++) {

        case '"': case '\\': case '/': case 'b': case 'f': case 'n':
        case 'r': case 't':
            break;

        case 'u':
            for (i = 0; i < 4; i++) {
                if (p == last || !((*p >= '0' && *p <= '9')
                                   || ((*p | 0x20) >= 'a'
                                       && (*p | 0x20) <= 'f')))
                {
                    return NULL;
                }

                p++;
            }

            break;

        default:
            return NULL;
        }
    }

    return NULL;
}
