
/*
 * Copyright (C) chrys authors
 *
 * The query parameters of the chrys API: one table, read by
 * ngx_chrys_http.c and by the query fuzzer (t/fuzz/fuzz_query.c), so that
 * what is fuzzed is what is served.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_chrys_http.h"


static ngx_str_t  ngx_http_chrys_fits[] = {
    ngx_string("contain"), ngx_string("fill"), ngx_null_string
};


/* in the order of NGX_CHRYS_OUT_..., "jpeg" not one of them */

ngx_str_t  ngx_http_chrys_formats[] = {
    ngx_string("-"), ngx_string("bgr24"), ngx_string("rgb24"),
    ngx_string("gray8"), ngx_string("yuv420p"), ngx_null_string
};


/* in the order of NGX_HTTP_CHRYS_ARG_... */

ngx_chrys_arg_t  ngx_http_chrys_args[NGX_HTTP_CHRYS_NARGS] = {
    { ngx_string("quality"), 1, 100, NULL },
    { ngx_string("after"), 0, 999999999999999999LL, NULL },
    { ngx_string("timeout"), 0, NGX_HTTP_CHRYS_MAX_TIMEOUT, NULL },
    { ngx_string("from"), -(1LL << 53), 1LL << 53, NULL },
    { ngx_string("to"), -(1LL << 53), 1LL << 53, NULL },
    { ngx_string("time"), -(1LL << 53), 1LL << 53, NULL },
    { ngx_string("seq"), 1, 999999999999999999LL, NULL },
    { ngx_string("keyframe"), 0, 1, NULL },
    { ngx_string("interval"), 0, 3600000, NULL },
    { ngx_string("limit"), 1, NGX_HTTP_CHRYS_IMAGES_MAX, NULL },
    { ngx_string("width"), 1, NGX_CHRYS_MAX_WIDTH, NULL },
    { ngx_string("height"), 1, NGX_CHRYS_MAX_HEIGHT, NULL },
    { ngx_string("fit"), 0, 0, ngx_http_chrys_fits },
    { ngx_string("format"), 0, 0, ngx_http_chrys_formats },
    { ngx_string("fps"), 1, 60, NULL },
    { ngx_string("audio"), 0, 1, NULL }
};
