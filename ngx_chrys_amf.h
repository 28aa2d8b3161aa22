
/*
 * Copyright (C) chrys authors
 *
 * AMF0 values (the payload of an RTMP data message) as JSON, by a pure
 * function: at most NGX_CHRYS_AMF_DEPTH deep and "size" bytes of output,
 * strings escaped and bytes that are not UTF-8 replaced, numbers that
 * JSON cannot say (NaN, infinities) as null.  It reads what it is given
 * and nothing else, so that it can be fuzzed alone.  Its check of UTF-8
 * serves the POSTed data too.
 */


#ifndef _NGX_CHRYS_AMF_H_INCLUDED_
#define _NGX_CHRYS_AMF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_CHRYS_AMF_DEPTH       16


u_char *ngx_chrys_amf_json(u_char *p, u_char *last, u_char *out,
    size_t size, size_t *len, ngx_uint_t *count);
u_char *ngx_chrys_amf_string(u_char *p, u_char *last, ngx_str_t *s);
u_char *ngx_chrys_json_utf8(u_char *dst, u_char *end, u_char *src,
    size_t len);


#endif /* _NGX_CHRYS_AMF_H_INCLUDED_ */
