
/*
 * Copyright (C) chrys authors
 *
 * The request path, query string and stream names of the chrys API, as
 * pure functions: what they accept is all they need, so that they can be
 * fuzzed alone.
 */


#ifndef _NGX_CHRYS_QUERY_H_INCLUDED_
#define _NGX_CHRYS_QUERY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys.h"


#define NGX_CHRYS_ARG_REPEATED    1
#define NGX_CHRYS_ARG_INVALID     2
#define NGX_CHRYS_ARG_UNKNOWN     3    /* a word not among its values */


typedef struct {
    ngx_str_t                     name;
    int64_t                       min;
    int64_t                       max;
    ngx_str_t                    *values;     /* words, not numbers */
} ngx_chrys_arg_t;


ngx_int_t ngx_chrys_query_parse(u_char *p, u_char *last,
    ngx_chrys_arg_t *defs, ngx_uint_t ndefs, int64_t *values,
    ngx_uint_t *has, ngx_uint_t *bad, ngx_uint_t *why);
ngx_int_t ngx_chrys_path_split(u_char *p, u_char *last, ngx_uint_t unescape,
    u_char *buf, ngx_str_t *seg, ngx_uint_t max, ngx_uint_t *n);
ngx_int_t ngx_chrys_valid_name(ngx_str_t *name);
ngx_uint_t ngx_chrys_valid_utf8(u_char *p, u_char *last);
size_t ngx_chrys_utf8_len(u_char *p, u_char *last);


#endif /* _NGX_CHRYS_QUERY_H_INCLUDED_ */
