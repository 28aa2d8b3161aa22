
/*
 * Copyright (C) chrys authors
 *
 * The JSON bodies of the API (events today), read by pure functions: a
 * strict check of a value as RFC 8259 has it, at most
 * NGX_CHRYS_JSON_DEPTH deep, and the members of an object sliced out as
 * they are.  Nothing is unescaped or copied; what they accept is all they
 * look at, so that they can be fuzzed alone (t/fuzz/fuzz_json.c).
 */


#ifndef _NGX_CHRYS_JSON_H_INCLUDED_
#define _NGX_CHRYS_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_CHRYS_JSON_DEPTH      16


typedef struct {
    ngx_str_t                     key;        /* its string, quotes too */
    ngx_str_t                     value;      /* its JSON text */
} ngx_chrys_json_member_t;


u_char *ngx_chrys_json_ws(u_char *p, u_char *last);
u_char *ngx_chrys_json_value(u_char *p, u_char *last, ngx_uint_t depth);
u_char *ngx_chrys_json_string(u_char *p, u_char *last);
ngx_int_t ngx_chrys_json_object(u_char *p, u_char *last,
    ngx_chrys_json_member_t *members, ngx_uint_t max, ngx_uint_t *n);
ngx_uint_t ngx_chrys_json_is(ngx_str_t *key, char *name);


#endif /* _NGX_CHRYS_JSON_H_INCLUDED_ */
