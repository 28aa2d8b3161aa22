
/*
 * Copyright (C) chrys authors
 *
 * The HTTP side of chrys: the "chrys_api" location serves the streams of
 * the shared zone from any worker.  This file routes requests (one table
 * of paths, methods and handlers), reads their parameters and holds what
 * responses share; the endpoints live in ngx_chrys_http_live.c,
 * ngx_chrys_http_buffer.c and ngx_chrys_http_ui.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_chrys_http.h"
#include "ngx_chrys_decoder.h"
#include "ngx_chrys_avc.h"
#include "ngx_chrys_query.h"


#define NGX_HTTP_CHRYS_MAX_SEGMENTS    5

#define NGX_HTTP_CHRYS_GET             (NGX_HTTP_GET|NGX_HTTP_HEAD)

#define NGX_HTTP_CHRYS_MAX_REPLAYS     8
#define NGX_HTTP_CHRYS_REQUEST_MEMORY  (64 * 1024 * 1024)
#define NGX_HTTP_CHRYS_WORKER_CACHE    (64 * 1024 * 1024)


static ngx_int_t ngx_http_chrys_handler(ngx_http_request_t *r);
static ngx_http_chrys_route_t *ngx_http_chrys_route(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_str_t *seg, ngx_uint_t n);
static ngx_uint_t ngx_http_chrys_match(ngx_str_t *path, ngx_str_t *seg,
    ngx_uint_t n, ngx_uint_t *id);
static ngx_int_t ngx_http_chrys_not_allowed(ngx_http_request_t *r,
    ngx_uint_t methods);
static void ngx_http_chrys_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_chrys_serve(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static ngx_int_t ngx_http_chrys_open(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static ngx_int_t ngx_http_chrys_split(ngx_http_request_t *r, ngx_str_t *seg,
    ngx_uint_t *n);
static ngx_int_t ngx_http_chrys_parse_args(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static ngx_int_t ngx_http_chrys_memory(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_uint_t width, ngx_uint_t height);
static void ngx_http_chrys_cleanup(void *data);
static void ngx_http_chrys_published(ngx_chrys_stream_t *st);
static size_t ngx_http_chrys_json_len(ngx_chrys_snapshot_t *snap);
static u_char *ngx_http_chrys_json(u_char *p, ngx_chrys_snapshot_t *snap);

static u_char *ngx_http_chrys_log_handler(ngx_log_t *log, u_char *buf,
    size_t len);

static ngx_int_t ngx_http_chrys_init_process(ngx_cycle_t *cycle);
static void *ngx_http_chrys_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_chrys_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_chrys_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_chrys_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_chrys_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_chrys_thread_pool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_conf_num_bounds_t  ngx_http_chrys_quality_bounds = {
    ngx_conf_check_num_bounds, 1, 100
};

static ngx_conf_num_bounds_t  ngx_http_chrys_replays_bounds = {
    ngx_conf_check_num_bounds, 1, 1024
};


static ngx_command_t  ngx_http_chrys_commands[] = {

    { ngx_string("chrys_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_chrys_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chrys_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_chrys_thread_pool,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chrys_jpeg_quality"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_chrys_loc_conf_t, quality),
      &ngx_http_chrys_quality_bounds },

    { ngx_string("chrys_max_replays"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_chrys_loc_conf_t, max_replays),
      &ngx_http_chrys_replays_bounds },

    { ngx_string("chrys_request_memory"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_chrys_loc_conf_t, request_memory),
      NULL },

    { ngx_string("chrys_mjpeg_until"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_chrys_loc_conf_t, mjpeg_until),
      NULL },

    { ngx_string("chrys_worker_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_chrys_main_conf_t, worker_cache),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_chrys_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_chrys_create_main_conf,       /* create main configuration */
    ngx_http_chrys_init_main_conf,         /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_chrys_create_loc_conf,        /* create location configuration */
    ngx_http_chrys_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_chrys_module = {
    NGX_MODULE_V1,
    &ngx_http_chrys_module_ctx,            /* module context */
    ngx_http_chrys_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_chrys_init_process,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the API, below the location's prefix */

static ngx_http_chrys_route_t  ngx_http_chrys_routes[] = {

    { ngx_string(""), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_UI, ngx_http_chrys_ui },

    { ngx_string("ui"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_UI, ngx_http_chrys_ui },

    { ngx_string("ui/"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_UI, ngx_http_chrys_ui },

    { ngx_string("streams"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_STREAMS, ngx_http_chrys_streams },

    { ngx_string("metrics"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_METRICS, ngx_http_chrys_metrics },

    { ngx_string("*/*/latest.jpg"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_LATEST_JPG, ngx_http_chrys_live },

    { ngx_string("*/*/latest.raw"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_LATEST_RAW, ngx_http_chrys_live },

    { ngx_string("*/*/live.mjpg"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_MJPEG, ngx_http_chrys_live },

    { ngx_string("*/*/status"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_STATUS, ngx_http_chrys_status },

    { ngx_string("*/*/index.json"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_INDEX, ngx_http_chrys_index },

    { ngx_string("*/*/frame.jpg"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_FRAME_JPG, ngx_http_chrys_frame },

    { ngx_string("*/*/images"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_IMAGES, ngx_http_chrys_images },

    { ngx_string("*/*/clip.mp4"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_CLIP, ngx_http_chrys_clip },

    { ngx_string("*/*/data.json"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_DATA, ngx_http_chrys_data },

    { ngx_string("*/*/data"), NGX_HTTP_POST,
      NGX_HTTP_CHRYS_DATA, ngx_http_chrys_data },

    { ngx_string("*/*/events"), NGX_HTTP_CHRYS_GET|NGX_HTTP_POST,
      NGX_HTTP_CHRYS_EVENTS, ngx_http_chrys_events },

    { ngx_string("*/*/events/#"), NGX_HTTP_CHRYS_GET|NGX_HTTP_DELETE,
      NGX_HTTP_CHRYS_EVENT, ngx_http_chrys_event },

    { ngx_string("*/*/events/#/images"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_IMAGES, ngx_http_chrys_images },

    { ngx_string("*/*/events/#/clip.mp4"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_CLIP, ngx_http_chrys_clip },

    { ngx_string("*/*/events/#/data.json"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_DATA, ngx_http_chrys_data },

    { ngx_string("*/*/events/#/frame.jpg"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_FRAME_JPG, ngx_http_chrys_frame },

    /* last: the endpoints of a stream whose app is "ui" come first */

    { ngx_string("ui/*/*"), NGX_HTTP_CHRYS_GET,
      NGX_HTTP_CHRYS_CAMERA, ngx_http_chrys_camera },

    { ngx_null_string, 0, 0, NULL }
};


/* tasks of this worker's requests in the thread pool */
ngx_uint_t  ngx_http_chrys_tasks;

/* frame.jpg, images and clip.mp4 requests of this worker under way */
static ngx_uint_t  ngx_http_chrys_replays;

static ngx_chrys_published_pt  ngx_http_chrys_next_published;


static ngx_str_t  ngx_http_chrys_json_type = ngx_string("application/json");
static ngx_str_t  ngx_http_chrys_jpeg_type = ngx_string("image/jpeg");


static ngx_int_t
ngx_http_chrys_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_str_t                   seg[NGX_HTTP_CHRYS_MAX_SEGMENTS];
    ngx_uint_t                  i, n;
    ngx_chrys_zone_t           *zone;
    ngx_pool_cleanup_t         *cln;
    ngx_http_chrys_ctx_t       *ctx;
    ngx_http_chrys_route_t     *rt;
    ngx_http_chrys_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_chrys_module);
    zone = clcf->shm_zone->data;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_chrys_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_chrys_cleanup;
    cln->data = ctx;

    ctx->request = r;
    ctx->zone = zone;
    ctx->look.quality = clcf->quality;

    ngx_http_set_ctx(r, ctx, ngx_http_chrys_module);

    rc = ngx_http_chrys_split(r, seg, &n);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rt = (rc == NGX_OK) ? ngx_http_chrys_route(r, ctx, seg, n) : NULL;

    if (rt == NULL || !(r->method & rt->methods)
        || r->method != NGX_HTTP_POST)
    {
        /*
         * a body is read and dropped before the answer, whatever it is,
         * so that the next bytes on the connection are a request
         */

        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (rt == NULL) {
        return ngx_http_chrys_error(r, NGX_HTTP_NOT_FOUND,
                                    "no such endpoint, see "
                                    "{app}/{name}/latest.jpg, "
                                    "{app}/{name}/status, streams, "
                                    "metrics or the dashboard");
    }

    if (!(r->method & rt->methods)) {
        return ngx_http_chrys_not_allowed(r, rt->methods);
    }

    ctx->route = rt;

    if (n >= 2) {
        /* the stream's names; a camera's page has them after "ui" */
        i = (rt->endpoint == NGX_HTTP_CHRYS_CAMERA) ? 1 : 0;

        ctx->app = seg[i];
        ctx->name = seg[i + 1];
    }

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_chrys_serve(r, ctx);

        if (rc == NGX_DONE) {
            /* answered later, by the timer or a thread task's completion */
            r->main->count++;
        }

        return rc;
    }

    /* a POST is served once its body is read, as nginx reads one */

    if (r->headers_in.content_length_n > NGX_HTTP_CHRYS_BODY_MAX) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_chrys_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                    "a body is at most %d bytes",
                                    NGX_HTTP_CHRYS_BODY_MAX);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_chrys_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_chrys_body(ngx_http_request_t *r)
{
    ngx_http_chrys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_chrys_module);

    ngx_http_finalize_request(r, ngx_http_chrys_serve(r, ctx));
}


/* the request's stream, if it has one, then the route's handler */

static ngx_int_t
ngx_http_chrys_serve(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ctx->zone->sh == NULL || ctx->zone->worker >= NGX_CHRYS_WORKERS) {
        return ngx_http_chrys_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "chrys zone is not ready");
    }

    if (ctx->route->path.len && ctx->route->path.data[0] == '*') {
        rc = ngx_http_chrys_open(r, ctx);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return ctx->route->handler(r, ctx);
}


/* the route of the path's segments, with ctx->endpoint and ctx->event */

static ngx_http_chrys_route_t *
ngx_http_chrys_route(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_str_t *seg, ngx_uint_t n)
{
    ngx_uint_t               id;
    ngx_http_chrys_route_t  *rt;

    for (rt = ngx_http_chrys_routes; rt->handler; rt++) {

        id = 0;

        if (ngx_http_chrys_match(&rt->path, seg, n, &id)) {
            ctx->endpoint = rt->endpoint;
            ctx->event = id;
            return rt;
        }
    }

    return NULL;
}


/* whether the segments fit a route's path; an event's id into *id */

static ngx_uint_t
ngx_http_chrys_match(ngx_str_t *path, ngx_str_t *seg, ngx_uint_t n,
    ngx_uint_t *id)
{
    u_char      *p, *last, *end;
    size_t       len;
    ngx_int_t    v;
    ngx_uint_t   i, more;

    if (path->len == 0) {
        /* the location itself */
        return n == 0 || (n == 1 && seg[0].len == 0);
    }

    p = path->data;
    last = p + path->len;
    more = 1;

    for (i = 0; i < n; i++) {

        if (!more) {
            return 0;
        }

        end = ngx_strlchr(p, last, '/');

        if (end == NULL) {
            end = last;
            more = 0;
        }

        len = end - p;

        if (len == 1 && *p == '#') {
            v = ngx_atoi(seg[i].data, seg[i].len);

            if (v <= 0) {
                return 0;
            }

            *id = v;

        } else if (!(len == 1 && *p == '*')
                   && (len != seg[i].len
                       || ngx_strncmp(p, seg[i].data, len) != 0))
        {
            return 0;
        }

        p = more ? end + 1 : last;
    }

    /* every segment of the path was matched, and nothing more */

    return !more;
}


/* 405, with the Allow header of a route's methods */

static ngx_int_t
ngx_http_chrys_not_allowed(ngx_http_request_t *r, ngx_uint_t methods)
{
    char       *allow, *use;
    ngx_str_t   v;

    if (methods & NGX_HTTP_POST) {
        allow = "GET, HEAD, POST";
        use = "GET, HEAD or POST";

    } else if (methods & NGX_HTTP_DELETE) {
        allow = "GET, HEAD, DELETE";
        use = "GET, HEAD or DELETE";

    } else {
        allow = "GET, HEAD";
        use = "GET or HEAD";
    }

    v.data = (u_char *) allow;
    v.len = ngx_strlen(allow);

    if (ngx_http_chrys_add_header(r, "Allow", &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_chrys_error(r, NGX_HTTP_NOT_ALLOWED,
                                "method not allowed, use %s", use);
}


/*
 * The stream of {app}/{name}, with its names checked, the parameters
 * read, and a reference taken: NGX_DECLINED to go on, else the error
 * response.
 */

static ngx_int_t
ngx_http_chrys_open(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ngx_chrys_valid_name(&ctx->app) != NGX_OK
        || ngx_chrys_valid_name(&ctx->name) != NGX_OK)
    {
        return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                    "invalid stream name: 1 to %d bytes "
                                    "of UTF-8, not \".\", no \"/\", "
                                    "\"..\" or control characters",
                                    NGX_CHRYS_NAME_MAX);
    }

    rc = ngx_http_chrys_parse_args(r, ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ngx_chrys_stream_open(ctx->zone, &ctx->app, &ctx->name,
                              &ctx->stream)
        != NGX_OK)
    {
        return ngx_http_chrys_error(r, NGX_HTTP_NOT_FOUND,
                                    "stream not found");
    }

    return NGX_DECLINED;
}

/*
 * Splits the request path after the location prefix into percent-decoded
 * segments.  The raw path is used, so that an encoded "/" or ".." inside a
 * name is seen as such rather than resolved by nginx.  NGX_DECLINED: no
 * path of the API (too many segments, a bad escape).
 */

static ngx_int_t
ngx_http_chrys_split(ngx_http_request_t *r, ngx_str_t *seg, ngx_uint_t *n)
{
    u_char                    *p, *last, *start, *buf;
    ngx_uint_t                 raw;
    ngx_http_core_loc_conf_t  *clcf;

    *n = 0;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = r->unparsed_uri.data;
    last = p + r->unparsed_uri.len;

    for (start = p; start < last && *start != '?'; start++) { /* void */ }

    last = start;
    raw = 1;

    if ((size_t) (last - p) < clcf->name.len
        || ngx_strncmp(p, clcf->name.data, clcf->name.len) != 0)
    {
        /* the raw path does not spell the prefix: use the parsed one */
        p = r->uri.data;
        last = p + r->uri.len;
        raw = 0;

        if (r->uri.len < clcf->name.len) {
            return NGX_DECLINED;
        }
    }

    p += clcf->name.len;

    if (p < last && *p == '/') {
        p++;
    }

    buf = ngx_pnalloc(r->pool, last - p + 1);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    if (ngx_chrys_path_split(p, last, raw, buf, seg,
                             NGX_HTTP_CHRYS_MAX_SEGMENTS, n)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}
/*
 * Reads the known query parameters (see ngx_chrys_query_parse()), and
 * what follows from them.
 */

static ngx_int_t
ngx_http_chrys_parse_args(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    ngx_uint_t        bad, why;
    ngx_chrys_arg_t  *arg;

    if (ngx_chrys_query_parse(r->args.data, r->args.data + r->args.len,
                              ngx_http_chrys_args, NGX_HTTP_CHRYS_NARGS,
                              ctx->args, &ctx->has_arg, &bad, &why)
        != NGX_OK)
    {
        arg = &ngx_http_chrys_args[bad];

        switch (why) {

        case NGX_CHRYS_ARG_REPEATED:
            return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                        "parameter \"%V\" is repeated",
                                        &arg->name);

        case NGX_CHRYS_ARG_UNKNOWN:
            return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                        "parameter \"%V\" has an unknown "
                                        "value", &arg->name);

        default:
            return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                        "parameter \"%V\" must be an "
                                        "integer from %L to %L",
                                        &arg->name, arg->min, arg->max);
        }
    }

    if (ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_QUALITY)) {
        ctx->look.quality = ctx->args[NGX_HTTP_CHRYS_ARG_QUALITY];
    }

    if (ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_FORMAT)) {
        ctx->look.format = ctx->args[NGX_HTTP_CHRYS_ARG_FORMAT];
    }

    if (ctx->endpoint != NGX_HTTP_CHRYS_LATEST_RAW) {
        /* raw pixels come from latest.raw only */
        ctx->look.format = NGX_CHRYS_OUT_JPEG;

    } else if (ctx->look.format == NGX_CHRYS_OUT_JPEG) {
        return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                    "parameter \"format\" is needed: "
                                    "bgr24, rgb24, gray8 or yuv420p");
    }

    ctx->deadline = ngx_current_msec
                    + (ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_TIMEOUT)
                       ? ctx->args[NGX_HTTP_CHRYS_ARG_TIMEOUT]
                       : NGX_HTTP_CHRYS_TIMEOUT);
    ctx->fresh = ngx_current_msec + NGX_HTTP_CHRYS_FRESH;
    ctx->wake = ngx_current_msec + NGX_HTTP_CHRYS_WAKE;

    return NGX_DECLINED;
}


/*
 * The output size asked for (width, height, fit), for a picture of
 * w x h: into ctx->look.width and ctx->look.height, 0 for as it is.  With
 * one of
 * width or height the other follows the aspect; with both, "contain" (the
 * default) fits the picture inside, "fill" stretches it.  At most twice
 * the picture's size and 7680 x 4320, else 400 naming the parameter.
 * NGX_DECLINED goes on, as in the parsers above.
 */

ngx_int_t
ngx_http_chrys_out_size(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_uint_t w, ngx_uint_t h)
{
    const char  *bad;
    ngx_uint_t   ow, oh, fill;

    ctx->look.width = 0;
    ctx->look.height = 0;

    ow = ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_WIDTH)
         ? ctx->args[NGX_HTTP_CHRYS_ARG_WIDTH] : 0;
    oh = ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_HEIGHT)
         ? ctx->args[NGX_HTTP_CHRYS_ARG_HEIGHT] : 0;

    if ((ow == 0 && oh == 0) || w == 0 || h == 0) {
        return ngx_http_chrys_memory(r, ctx, w, h);
    }

    fill = ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_FIT)
           && ctx->args[NGX_HTTP_CHRYS_ARG_FIT] == NGX_HTTP_CHRYS_FIT_FILL;

    if (ow && oh && !fill) {
        /* contain: the side that limits sets the scale */

        if (ow * h <= oh * w) {
            oh = 0;

        } else {
            ow = 0;
        }
    }

    if (ow && !oh) {
        oh = (h * ow + w / 2) / w;

    } else if (oh && !ow) {
        ow = (w * oh + h / 2) / h;
    }

    ow = ngx_max(ow, 1);
    oh = ngx_max(oh, 1);

    bad = NULL;

    if (ow > 2 * w || ow > NGX_CHRYS_MAX_WIDTH
        || oh > 2 * h || oh > NGX_CHRYS_MAX_HEIGHT)
    {
        /* the parameter given, or of the two the one too big */

        if (!ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_WIDTH)) {
            bad = "height";

        } else if (!ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_HEIGHT)) {
            bad = "width";

        } else {
            bad = (ow > 2 * w || ow > NGX_CHRYS_MAX_WIDTH) ? "width"
                                                            : "height";
        }
    }

    if (bad) {
        if (r->header_sent) {
            /* live.mjpg, after a change of the stream's size */
            return NGX_ERROR;
        }

        return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                    "parameter \"%s\": %uix%ui is more than "
                                    "twice the picture (%uix%ui) or more "
                                    "than %dx%d", bad, ow, oh, w, h,
                                    NGX_CHRYS_MAX_WIDTH,
                                    NGX_CHRYS_MAX_HEIGHT);
    }

    if (ow != w || oh != h) {
        ctx->look.width = ow;
        ctx->look.height = oh;
    }

    return ngx_http_chrys_memory(r, ctx, ow, oh);
}


/*
 * The request body, read before, in one piece of memory [*p, *last) (both
 * NULL without a body): NGX_DECLINED to go on, else the 413 sent.
 */

ngx_int_t
ngx_http_chrys_body_text(ngx_http_request_t *r, u_char **p, u_char **last)
{
    size_t        len;
    ngx_chain_t  *cl;

    *p = NULL;
    *last = NULL;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_DECLINED;
    }

    /* the body comes in a buffer or more, in memory if it is small */

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            len = NGX_HTTP_CHRYS_BODY_MAX + 1;
            break;
        }

        len += cl->buf->last - cl->buf->pos;
    }

    if (len > NGX_HTTP_CHRYS_BODY_MAX) {
        return ngx_http_chrys_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                    "a body is at most %d bytes",
                                    NGX_HTTP_CHRYS_BODY_MAX);
    }

    *p = ngx_pnalloc(r->pool, len + 1);
    if (*p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *last = *p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {

        if (cl->buf->last == cl->buf->pos) {
            /* an empty body's buffer may have no memory at all */
            continue;
        }

        *last = ngx_cpymem(*last, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    return NGX_DECLINED;
}


/*
 * What an image of width x height takes while it is made, at most
 * "chrys_request_memory": raw pixels are their size, a JPEG its scaled
 * 4:2:0 planes and about as much again for itself.
 */

static ngx_int_t
ngx_http_chrys_memory(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_uint_t width, ngx_uint_t height)
{
    size_t                      need;
    ngx_http_chrys_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_chrys_module);

    switch (ctx->look.format) {

    case NGX_CHRYS_OUT_BGR24:
    case NGX_CHRYS_OUT_RGB24:
        need = 3 * width * height;
        break;

    case NGX_CHRYS_OUT_GRAY8:
        need = width * height;
        break;

    default: /* JPEG, NGX_CHRYS_OUT_YUV420P */
        need = 3 * width * height;
        break;
    }

    if (need <= clcf->request_memory) {
        return NGX_DECLINED;
    }

    if (r->header_sent) {
        return NGX_ERROR;
    }

    return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                "a %uix%ui picture takes %uz MB to make, "
                                "more than \"chrys_request_memory\" "
                                "(%uz MB): ask for a smaller \"width\"",
                                width, height, need >> 20,
                                clcf->request_memory >> 20);
}


/*
 * A time parameter: Unix ms, or when negative, that many ms before now;
 * "def" when absent.
 */

uint64_t
ngx_http_chrys_time_arg(ngx_http_chrys_ctx_t *ctx, ngx_uint_t arg,
    uint64_t def)
{
    int64_t  v;

    if (!ngx_http_chrys_has(ctx, arg)) {
        return def;
    }

    v = ctx->args[arg];

    if (v < 0) {
        v += (int64_t) ngx_chrys_unix_msec();
    }

    return v < 0 ? 0 : (uint64_t) v;
}


/*
 * A thread task for the request: "handler" runs in a pool thread with the
 * task's context ("size" bytes, zeroed), then "done" on the event loop,
 * with the request as the event's data.
 */

ngx_thread_task_t *
ngx_http_chrys_task(ngx_http_request_t *r, size_t size,
    void (*handler)(void *data, ngx_log_t *log), ngx_event_handler_pt done)
{
    ngx_thread_task_t  *task;

    task = ngx_thread_task_alloc(r->pool, size);
    if (task == NULL) {
        return NULL;
    }

    task->handler = handler;
    task->event.handler = done;
    task->event.data = r;

    return task;
}


/*
 * Posts a task whose context is filled in, to the location's thread pool.
 * The request is blocked until its completion handler runs: a closed
 * connection does not free the request under the task.
 */

ngx_int_t
ngx_http_chrys_post(ngx_http_request_t *r, ngx_thread_task_t *task)
{
    ngx_http_chrys_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_chrys_module);

    if (ngx_thread_task_post(clcf->thread_pool, task) != NGX_OK) {
        return NGX_ERROR;
    }

    r->main->blocked++;
    ngx_http_chrys_tasks++;

    /* a worker that exits waits for the task: see the tick */
    ngx_http_chrys_keep_worker();

    return NGX_OK;
}


/* the completion of a posted task, back on the event loop */

void
ngx_http_chrys_task_done(ngx_http_request_t *r)
{
    r->main->blocked--;
    ngx_http_chrys_tasks--;
}

static void
ngx_http_chrys_cleanup(void *data)
{
    ngx_http_chrys_ctx_t  *ctx = data;

    ngx_http_chrys_live_cleanup(ctx);
    ngx_http_chrys_walk_cleanup(ctx);

    if (ctx->replaying) {
        ngx_http_chrys_replays--;
        ctx->replaying = 0;
    }

    if (ctx->stream) {
        ngx_chrys_stream_close(ctx->zone, ctx->stream);
        ctx->stream = NULL;
    }
}


/*
 * A request that decodes or remuxes the ring (frame.jpg, images,
 * clip.mp4) takes one of the worker's "chrys_max_replays": past them,
 * 503 with Retry-After, so that a burst of them cannot fill the thread
 * pool's queue.  NGX_DECLINED to go on.
 */

ngx_int_t
ngx_http_chrys_replay_start(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    ngx_http_chrys_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_chrys_module);

    if (ngx_http_chrys_replays >= clcf->max_replays) {
        if (ngx_http_chrys_add_header(r, "Retry-After",
                                      &(ngx_str_t) ngx_string("1"))
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_chrys_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "%ui replays of the buffer are under "
                                    "way in this worker, the most "
                                    "\"chrys_max_replays\" allows; try "
                                    "again", ngx_http_chrys_replays);
    }

    ngx_http_chrys_replays++;
    ctx->replaying = 1;

    return NGX_DECLINED;
}


/* a new picture of this worker's decoders: its waiters look at once */

static void
ngx_http_chrys_published(ngx_chrys_stream_t *st)
{
    ngx_http_chrys_wake();

    ngx_http_chrys_next_published(st);
}


/* If-None-Match: the stored ETag, one of a list, or "*" */

ngx_int_t
ngx_http_chrys_not_modified(ngx_http_request_t *r, ngx_str_t *etag)
{
    u_char           *p, *last, *start;
    ngx_table_elt_t  *inm;

    inm = r->headers_in.if_none_match;

    if (inm == NULL) {
        return 0;
    }

    p = inm->value.data;
    last = p + inm->value.len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == ',' || *p == '\t')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        while (p > start && (p[-1] == ' ' || p[-1] == '\t')) {
            p--;
        }

        if ((size_t) (p - start) == etag->len
            && ngx_strncmp(start, etag->data, etag->len) == 0)
        {
            return 1;
        }

        if (p - start == 1 && *start == '*') {
            return 1;
        }

        while (p < last && *p != ',') {
            p++;
        }
    }

    return 0;
}


/*
 * "app/name/seq/qQUALITY[/WxH]", or with raw pixels FORMAT in place of
 * the quality; names percent-encoded
 */

ngx_int_t
ngx_http_chrys_etag(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_chrys_frame_t *f, ngx_str_t *etag)
{
    u_char              *p;
    size_t               len;
    ngx_chrys_stream_t  *st;

    st = ctx->stream;

    len = st->key.len;
    len += 2 * ngx_escape_uri(NULL, st->key.data, len,
                              NGX_ESCAPE_URI_COMPONENT);

    p = ngx_pnalloc(r->pool, len + sizeof("\"//yuv420p/x\"")
                             + 3 * NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    etag->data = p;

    *p++ = '"';
    p = (u_char *) ngx_escape_uri(p, st->app.data, st->app.len,
                                  NGX_ESCAPE_URI_COMPONENT);
    *p++ = '/';
    p = (u_char *) ngx_escape_uri(p, st->name.data, st->name.len,
                                  NGX_ESCAPE_URI_COMPONENT);
    if (ctx->look.format == NGX_CHRYS_OUT_JPEG) {
        p = ngx_sprintf(p, "/%uA/q%ui", f->seq, ctx->look.quality);

    } else {
        p = ngx_sprintf(p, "/%uA/%V", f->seq,
                        &ngx_http_chrys_formats[ctx->look.format]);
    }

    if (ctx->look.width) {
        p = ngx_sprintf(p, "/%uix%ui", ctx->look.width, ctx->look.height);
    }

    *p++ = '"';

    etag->len = p - etag->data;

    return NGX_OK;
}


/* the X-Chrys-* fields of a picture, as header lines */

u_char *
ngx_http_chrys_frame_fields(u_char *p, ngx_chrys_frame_t *f)
{
    int64_t  age;

    age = (int64_t) (ngx_chrys_unix_msec() - f->time);

    if (age < 0) {
        age = 0;
    }

    p = ngx_sprintf(p, "X-Chrys-Seq: %uA\r\nX-Chrys-Pts: %L\r\n"
                    "X-Chrys-Time: %uL\r\nX-Chrys-Age: %L\r\n"
                    "X-Chrys-Keyframe: %ui\r\nX-Chrys-Width: %ui\r\n"
                    "X-Chrys-Height: %ui\r\n",
                    f->seq, f->pts, f->time, age,
                    (ngx_uint_t) f->keyframe, f->width, f->height);

    if (f->data_time) {
        /* the timed data known when the frame came: data.json?to= it */
        p = ngx_sprintf(p, "X-Chrys-Data-Time: %uL\r\n", f->data_time);
    }

    return p;
}


ngx_int_t
ngx_http_chrys_frame_headers(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_chrys_frame_t *f)
{
    u_char           *p, *last, *name, *value;
    ngx_str_t         v, etag;
    ngx_table_elt_t  *h;

    p = ngx_pnalloc(r->pool, NGX_HTTP_CHRYS_FRAME_FIELDS_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = ngx_http_chrys_frame_fields(p, f);

    /* "Name: value\r\n" lines into headers, pointing into the text */

    while (p < last) {
        name = p;
        p = ngx_strlchr(p, last, ':');
        value = p + 2;

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        h->key.data = name;
        h->key.len = p - name;

        p = ngx_strlchr(value, last, '\r');
        h->value.data = value;
        h->value.len = p - value;

        p += 2;
    }

    if (ngx_http_chrys_etag(r, ctx, f, &etag) != NGX_OK) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "ETag");
    h->value = etag;
    r->headers_out.etag = h;

    ngx_str_set(&v, "no-store");

    return ngx_http_chrys_add_header(r, "Cache-Control", &v);
}


ngx_int_t
ngx_http_chrys_add_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}


ngx_int_t
ngx_http_chrys_send_jpeg(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_chrys_frame_t *f, u_char *data, size_t len)
{
    if (ngx_http_chrys_frame_headers(r, ctx, f) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_chrys_send(r, NGX_HTTP_OK, &ngx_http_chrys_jpeg_type,
                               data, len);
}


ngx_int_t
ngx_http_chrys_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;

    if (type) {
        r->headers_out.content_type = *type;
        r->headers_out.content_type_len = type->len;
    }

    if (status == NGX_HTTP_NO_CONTENT || status == NGX_HTTP_NOT_MODIFIED) {
        r->header_only = 1;
        ngx_http_clear_content_length(r);

    } else {
        r->headers_out.content_length_n = len;
    }

    if (len == 0 || r->header_only || r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * The write handler's first part for the responses that stream (MJPEG,
 * image series, clips): what the filters hold goes out.  NGX_OK: all is
 * out, the caller may send more; NGX_AGAIN: the client is slow, the write
 * event comes back; NGX_DONE: the request is finalized.
 */

ngx_int_t
ngx_http_chrys_flush(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_event_t               *wev;
    ngx_connection_t          *c;
    ngx_http_core_loc_conf_t  *clcf;

    c = r->connection;
    wev = c->write;

    if (wev->timedout) {
        ngx_http_chrys_log(NGX_LOG_INFO, r, NGX_ETIMEDOUT,
                           "client timed out");
        c->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return NGX_DONE;
    }

    rc = ngx_http_output_filter(r, NULL);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    if (r->buffered || c->buffered) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        if (!wev->delayed) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

        if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
            return NGX_DONE;
        }

        return NGX_AGAIN;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    return NGX_OK;
}


/* {"error": "..."} with the given status */

ngx_int_t
ngx_http_chrys_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char   *p, *last, msg[NGX_MAX_ERROR_STR];
    size_t    len;
    va_list   args;

    va_start(args, fmt);
    last = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    len = last - msg;

    if (r->header_sent) {
        /* a stream already under way (live.mjpg): only closing is left */
        ngx_http_chrys_log(NGX_LOG_INFO, r, 0, "chrys: %*s", len, msg);
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, sizeof("{\"error\":\"\"}\n") + len
                             + ngx_escape_json(NULL, msg, len));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_cpymem(p, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    last = (u_char *) ngx_escape_json(last, msg, len);
    last = ngx_cpymem(last, "\"}\n", 3);

    ngx_str_null(&r->headers_out.content_type);
    r->headers_out.content_type_lowcase = NULL;

    return ngx_http_chrys_send(r, status, &ngx_http_chrys_json_type, p,
                               last - p);
}


/*
 * chrys's own lines in a request's log: as nginx's, but the request line
 * without its query string, which may hold the API token.
 */

void
ngx_http_chrys_log(ngx_uint_t level, ngx_http_request_t *r, ngx_err_t err,
    const char *fmt, ...)
{
    u_char              *p, msg[NGX_MAX_ERROR_STR];
    va_list              args;
    ngx_log_t           *log;
    ngx_log_handler_pt   handler;

    log = r->connection->log;

    if (log->log_level < level) {
        return;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    handler = log->handler;
    log->handler = ngx_http_chrys_log_handler;

    ngx_log_error(level, log, err, "%*s", p - msg, msg);

    log->handler = handler;
}


static u_char *
ngx_http_chrys_log_handler(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char              *p, *q, *end;
    ngx_http_request_t  *r;
    ngx_http_log_ctx_t  *ctx;

    ctx = log->data;
    end = buf + len;

    p = ngx_snprintf(buf, len, ", client: %V", &ctx->connection->addr_text);

    r = ctx->request;

    if (r == NULL || r->request_line.len == 0) {
        return p;
    }

    q = ngx_strlchr(r->request_line.data,
                    r->request_line.data + r->request_line.len, '?');

    if (q == NULL) {
        q = ngx_strlchr(r->request_line.data,
                        r->request_line.data + r->request_line.len, ' ');
        q = q ? ngx_strlchr(q + 1, r->request_line.data
                                   + r->request_line.len, ' ')
              : NULL;
    }

    if (q == NULL) {
        q = r->request_line.data + r->request_line.len;
    }

    return ngx_snprintf(p, end - p, ", request: \"%*s\"",
                        q - r->request_line.data, r->request_line.data);
}


/* an error about a range of a ring: says where the ring is */

ngx_int_t
ngx_http_chrys_error_range(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chrys_range_t *range, const char *msg)
{
    u_char  *p, *last;

    p = ngx_pnalloc(r->pool, 128 + ngx_strlen(msg));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_sprintf(p, "{\"error\":\"%s\",\"start\":%uL,\"end\":%uL}\n",
                       msg, range->start, range->end);

    return ngx_http_chrys_send_json(r, status, p, last - p);
}


ngx_int_t
ngx_http_chrys_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len)
{
    return ngx_http_chrys_send(r, status, &ngx_http_chrys_json_type, data,
                               len);
}


/* a JSON string literal of the bytes, escaped */

u_char *
ngx_http_chrys_json_str(u_char *p, u_char *data, size_t len)
{
    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, data, len);
    *p++ = '"';

    return p;
}


ngx_int_t
ngx_http_chrys_status(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    u_char                *p, *last;
    ngx_chrys_snapshot_t  *snap;

    snap = ngx_palloc(r->pool, sizeof(ngx_chrys_snapshot_t));
    if (snap == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_chrys_stream_snapshot(ctx->zone, ctx->stream, snap);

    p = ngx_pnalloc(r->pool, ngx_http_chrys_json_len(snap) + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_http_chrys_json(p, snap);
    *last++ = '\n';

    return ngx_http_chrys_send_json(r, NGX_HTTP_OK, p, last - p);
}


ngx_int_t
ngx_http_chrys_streams(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    u_char                *p, *last;
    size_t                 len;
    ngx_uint_t             i;
    ngx_array_t            streams;
    ngx_chrys_snapshot_t  *snap;

    if (ngx_chrys_zone_snapshot(ctx->zone, r->pool, &streams) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    snap = streams.elts;
    len = sizeof("{\"streams\":[]}\n");

    for (i = 0; i < streams.nelts; i++) {
        len += ngx_http_chrys_json_len(&snap[i]) + 1;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_cpymem(p, "{\"streams\":[", sizeof("{\"streams\":[") - 1);

    for (i = 0; i < streams.nelts; i++) {
        if (i) {
            *last++ = ',';
        }

        last = ngx_http_chrys_json(last, &snap[i]);
    }

    last = ngx_cpymem(last, "]}\n", 3);

    return ngx_http_chrys_send_json(r, NGX_HTTP_OK, p, last - p);
}


static size_t
ngx_http_chrys_json_len(ngx_chrys_snapshot_t *snap)
{
    return sizeof("{\"app\":\"\",\"name\":\"\",\"publishing\":false,"
                  "\"decoding\":false,\"codec\":\"\",\"width\":,\"height\":,\"profile\":,"
                  "\"level\":,\"fps\":.00,\"bitrate\":,"
                  "\"frames_received\":,\"frames_decoded\":,"
                  "\"frames_skipped\":,\"decode_errors\":,"
                  "\"jpeg_encodes\":,\"jpeg_cache_hits\":,"
                  "\"last_seq\":,\"last_time\":,\"last_age\":,"
                  "\"publish_start\":,\"publishes\":,\"error\":\"\","
                  "\"audio\":{\"codec\":\"nellymoser16\",\"rate\":,"
                  "\"channels\":,\"kept\":false}}")
           + 22 * NGX_INT64_LEN + 16
           + 6 * (snap->app.len + snap->name.len)
           + 6 * NGX_CHRYS_ERROR_LEN;
}


/* one stream as a JSON object */

static u_char *
ngx_http_chrys_json(u_char *p, ngx_chrys_snapshot_t *snap)
{
    int64_t             age;
    ngx_chrys_video_t  *v;

    v = &snap->video;

    age = snap->last_seq
          ? (int64_t) (ngx_chrys_unix_msec() - snap->last_time) : -1;

    p = ngx_cpymem(p, "{\"app\":\"", 8);
    p = (u_char *) ngx_escape_json(p, snap->app.data, snap->app.len);
    p = ngx_cpymem(p, "\",\"name\":\"", 10);
    p = (u_char *) ngx_escape_json(p, snap->name.data, snap->name.len);

    p = ngx_sprintf(p, "\",\"publishing\":%s,\"decoding\":%s,"
                    "\"codec\":\"%s\",\"width\":%ui,\"height\":%ui,"
                    "\"profile\":%ui,\"level\":%ui,"
                    "\"fps\":%ui.%02ui,\"bitrate\":%ui,",
                    snap->publishing ? "true" : "false",
                    snap->decoding ? "true" : "false",
                    v->codec ? ngx_chrys_flv_codec_name(v->codec) : "",
                    v->width, v->height, v->profile, v->level,
                    snap->fps / 100, snap->fps % 100, snap->bitrate);

    if (snap->audio.codec) {
        p = ngx_sprintf(p, "\"audio\":{\"codec\":\"%s\",\"rate\":%ui,"
                        "\"channels\":%ui,\"kept\":%s},",
                        ngx_chrys_flv_sound_name(snap->audio.codec - 1),
                        snap->audio.rate, snap->audio.channels,
                        (snap->audio.codec == NGX_CHRYS_FLV_AAC + 1
                         && snap->audio.rate) ? "true" : "false");

    } else {
        p = ngx_cpymem(p, "\"audio\":null,", 13);
    }

    p = ngx_sprintf(p, "\"frames_received\":%ui,\"frames_decoded\":%ui,"
                    "\"frames_skipped\":%ui,\"decode_errors\":%ui,"
                    "\"jpeg_encodes\":%ui,\"jpeg_cache_hits\":%ui,",
                    snap->received, snap->decoded, snap->skipped,
                    snap->errors, snap->encodes, snap->cache_hits);

    p = ngx_sprintf(p, "\"last_seq\":%ui,\"last_time\":%uL,"
                    "\"last_age\":%L,\"publish_start\":%uL,"
                    "\"publishes\":%ui,\"error\":",
                    snap->last_seq, snap->last_time, age,
                    snap->publish_time, snap->publishes);

    if (snap->error[0] == '\0') {
        return ngx_cpymem(p, "null}", 5);
    }

    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, snap->error, ngx_strlen(snap->error));

    return ngx_cpymem(p, "\"}", 2);
}


static ngx_int_t
ngx_http_chrys_init_process(ngx_cycle_t *cycle)
{
    ngx_http_chrys_live_init(cycle);

    /* the decoders of this worker tell of new pictures */

    ngx_http_chrys_next_published = ngx_chrys_published;
    ngx_chrys_published = ngx_http_chrys_published;

    return NGX_OK;
}


static void *
ngx_http_chrys_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_chrys_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_chrys_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    cmcf->worker_cache = NGX_CONF_UNSET_SIZE;

    return cmcf;
}


static char *
ngx_http_chrys_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_chrys_main_conf_t  *cmcf = conf;

    ngx_conf_init_size_value(cmcf->worker_cache,
                             NGX_HTTP_CHRYS_WORKER_CACHE);

    return NGX_CONF_OK;
}


static void *
ngx_http_chrys_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_chrys_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_chrys_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->shm_zone = NULL;
     *     conf->thread_pool = NULL;
     *     conf->mjpeg_until = NULL;
     */

    conf->quality = NGX_CONF_UNSET_UINT;
    conf->max_replays = NGX_CONF_UNSET_UINT;
    conf->request_memory = NGX_CONF_UNSET_SIZE;

    return conf;
}


static char *
ngx_http_chrys_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_chrys_loc_conf_t  *prev = parent;
    ngx_http_chrys_loc_conf_t  *conf = child;

    ngx_conf_merge_uint_value(conf->quality, prev->quality, 80);
    ngx_conf_merge_uint_value(conf->max_replays, prev->max_replays,
                              NGX_HTTP_CHRYS_MAX_REPLAYS);
    ngx_conf_merge_size_value(conf->request_memory, prev->request_memory,
                              NGX_HTTP_CHRYS_REQUEST_MEMORY);

    if (conf->thread_pool == NULL) {
        conf->thread_pool = prev->thread_pool;
    }

    if (conf->mjpeg_until == NULL) {
        conf->mjpeg_until = prev->mjpeg_until;
    }

    if (conf->shm_zone && conf->thread_pool == NULL) {
        conf->thread_pool = ngx_thread_pool_add(cf, NULL);
        if (conf->thread_pool == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_chrys_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_chrys_loc_conf_t  *ccf = conf;

    ngx_str_t                 *value, name;
    ngx_http_core_loc_conf_t  *clcf;

    if (ccf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        name = value[1];

    } else {
        ngx_str_set(&name, NGX_CHRYS_DEFAULT_ZONE);
    }

    /* the size comes from "chrys_zone" in the rtmp block, or its default */
    ccf->shm_zone = ngx_chrys_zone_add(cf, &name, 0);
    if (ccf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_chrys_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_chrys_thread_pool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_chrys_loc_conf_t  *ccf = conf;

    ngx_str_t  *value;

    if (ccf->thread_pool) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ccf->thread_pool = ngx_thread_pool_add(cf, &value[1]);
    if (ccf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
