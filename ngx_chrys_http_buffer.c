
/*
 * Copyright (C) chrys authors
 *
 * The HTTP side of the ring and of events: the index, single frames,
 * image series (multipart) and MP4 clips of a time range.  Access units
 * come out of the zone through the ring's operations, a GOP at a time,
 * and are decoded or remuxed in the thread pool; a walk through a long
 * range sends each GOP's output before it copies the next, so a request
 * holds a few GOPs' worth of memory whatever the range.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_chrys_http.h"
#include "ngx_chrys_codec.h"
#include "ngx_chrys_json.h"


#define NGX_HTTP_CHRYS_STEP_IMAGES     30
#define NGX_HTTP_CHRYS_BODY_MEMBERS    32
#define NGX_HTTP_CHRYS_GONE            410
#define NGX_HTTP_CHRYS_PRE_MAX         300000
#define NGX_HTTP_CHRYS_POST_MAX        300000
#define NGX_HTTP_CHRYS_DEFAULT_PRE     5000
#define NGX_HTTP_CHRYS_DEFAULT_POST    5000


typedef struct {
    ngx_str_t                     label;      /* raw JSON string, or empty */
    ngx_str_t                     meta;       /* raw JSON value, or empty */
    ngx_msec_t                    pre;
    ngx_msec_t                    post;
} ngx_http_chrys_event_args_t;


static ngx_int_t ngx_http_chrys_range_error(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_chrys_range_t *range, ngx_uint_t by_seq);
static ngx_int_t ngx_http_chrys_no_source(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static void ngx_http_chrys_range_args(ngx_http_chrys_ctx_t *ctx,
    uint64_t *from, uint64_t *to);
static ngx_int_t ngx_http_chrys_index_send(ngx_http_request_t *r,
    ngx_chrys_stream_t *st, ngx_chrys_index_t *ix, uint64_t from,
    uint64_t to);
static void ngx_http_chrys_frame_done(ngx_event_t *ev);
static ngx_int_t ngx_http_chrys_walk_start(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_str_t *type);
static ngx_int_t ngx_http_chrys_images_pump(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static ngx_int_t ngx_http_chrys_images_step(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_http_chrys_lane_t *lane);
static ngx_uint_t ngx_http_chrys_images_room(ngx_http_chrys_walk_t *walk);
static ngx_uint_t ngx_http_chrys_images_per_step(ngx_http_chrys_walk_t *walk);
static void ngx_http_chrys_images_done(ngx_event_t *ev);
static ngx_chain_t *ngx_http_chrys_images_parts(ngx_http_chrys_ctx_t *ctx,
    ngx_http_chrys_lane_t *lane);
static void ngx_http_chrys_images_writer(ngx_http_request_t *r);
static ngx_int_t ngx_http_chrys_data_new(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static ngx_uint_t ngx_http_chrys_data_polls(ngx_http_chrys_ctx_t *ctx);
static ngx_int_t ngx_http_chrys_clip_step(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static void ngx_http_chrys_clip_done(ngx_event_t *ev);
static ngx_chrys_gop_t *ngx_http_chrys_clip_audio(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_chrys_gop_t *gop, ngx_uint_t done);
static ngx_int_t ngx_http_chrys_walk_output(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_chain_t *out);
static void ngx_http_chrys_walk_writer(ngx_http_request_t *r);
static ngx_int_t ngx_http_chrys_walk_next(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static ngx_int_t ngx_http_chrys_walk_end(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static void ngx_http_chrys_images_cleanup(void *data);
static ngx_chain_t *ngx_http_chrys_chain(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_chain_t ***last);
static ngx_int_t ngx_http_chrys_event_new(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static ngx_int_t ngx_http_chrys_event_parse(ngx_http_request_t *r,
    u_char *p, u_char *last, ngx_http_chrys_event_args_t *ea);
static ngx_int_t ngx_http_chrys_event_send(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_uint_t status, ngx_uint_t id);
static size_t ngx_http_chrys_event_json_len(ngx_chrys_event_info_t *ev);
static u_char *ngx_http_chrys_event_json(u_char *p,
    ngx_chrys_event_info_t *ev);


static ngx_str_t  ngx_http_chrys_mp4_type = ngx_string("video/mp4");


/*
 * Answers what a ring operation said of a range: where it is, and why it
 * cannot be read.
 */

static ngx_int_t
ngx_http_chrys_range_error(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_chrys_range_t *range, ngx_uint_t by_seq)
{
    switch (range->result) {

    case NGX_CHRYS_RANGE_NONE:
        return ngx_http_chrys_no_source(r, ctx);

    case NGX_CHRYS_RANGE_EMPTY:
        return ngx_http_chrys_error_range(r, NGX_HTTP_NOT_FOUND, range,
                                          "the buffer is empty");

    case NGX_CHRYS_RANGE_INVERTED:
        return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                    "parameter \"from\" is after \"to\"");

    case NGX_CHRYS_RANGE_TOO_MANY:
        return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                    "%ui images in the range, at most %d: "
                                    "use \"interval\" or \"limit\"",
                                    range->frames, NGX_HTTP_CHRYS_IMAGES_MAX);
    }

    if (ctx->endpoint == NGX_HTTP_CHRYS_FRAME_JPG) {

        switch (range->result) {

        case NGX_CHRYS_RANGE_GONE:
            return ngx_http_chrys_error_range(r, NGX_HTTP_CHRYS_GONE, range,
                                              by_seq
                                              ? "the frame is no longer in "
                                                "the buffer"
                                              : "the time is no longer in "
                                                "the buffer");

        case NGX_CHRYS_RANGE_FUTURE:
            return ngx_http_chrys_error_range(r, NGX_HTTP_NOT_FOUND, range,
                                              by_seq ? "no such frame yet"
                                                     : "the time is in the "
                                                       "future");

        default: /* NGX_CHRYS_RANGE_NO_IDR */
            return ngx_http_chrys_error_range(r, NGX_HTTP_CHRYS_GONE, range,
                                              "the keyframe this frame "
                                              "needs is no longer in the "
                                              "buffer");
        }
    }

    switch (range->result) {

    case NGX_CHRYS_RANGE_FUTURE:
        return ngx_http_chrys_error_range(r, NGX_HTTP_NOT_FOUND, range,
                                          "the range is in the future");

    case NGX_CHRYS_RANGE_NO_IDR:
        return ngx_http_chrys_error_range(r, NGX_HTTP_CHRYS_GONE, range,
                                          "no keyframe in the range");

    default: /* NGX_CHRYS_RANGE_GONE */
        return ngx_http_chrys_error_range(r, NGX_HTTP_CHRYS_GONE, range,
                                          "the range is no longer in the "
                                          "buffer");
    }
}


static ngx_int_t
ngx_http_chrys_no_source(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    if (ctx->event) {
        return ngx_http_chrys_error(r, NGX_HTTP_NOT_FOUND, "no such event");
    }

    return ngx_http_chrys_error(r, NGX_HTTP_NOT_FOUND,
                                "the stream has no buffer "
                                "(\"chrys_buffer off\")");
}


/* from= and to=, or 0 and -1 for the ring's defaults */

static void
ngx_http_chrys_range_args(ngx_http_chrys_ctx_t *ctx, uint64_t *from,
    uint64_t *to)
{
    *from = ngx_http_chrys_time_arg(ctx, NGX_HTTP_CHRYS_ARG_FROM, 0);
    *to = ngx_http_chrys_time_arg(ctx, NGX_HTTP_CHRYS_ARG_TO, (uint64_t) -1);

    if (*from == 0 && ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_FROM)) {
        /* the beginning of time: before any ring */
        *from = 1;
    }
}


/*
 * data.json?from=&to=&after=: the stream's timed data in a range (after
 * seq "after"); POST data: a JSON value, kept at "now".  A stream's
 * data.json with "after" and no "to" waits (a long poll, like latest.jpg)
 * for a message after it, for at most "timeout"; an empty answer's "last"
 * is the newest message's seq, so that none is missed.  Returns NGX_DONE
 * while it waits; every wait comes back here.
 */

ngx_int_t
ngx_http_chrys_data(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    u_char      *p, *last;
    uint64_t     from, to;
    ngx_int_t    rc;
    ngx_str_t    out;
    ngx_uint_t   n, after, seq, newest;

    if (r->method == NGX_HTTP_POST) {
        return ngx_http_chrys_data_new(r, ctx);
    }

    ngx_http_chrys_range_args(ctx, &from, &to);

    after = ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_AFTER)
            ? (ngx_uint_t) ctx->args[NGX_HTTP_CHRYS_ARG_AFTER] : 0;

    /* what arrives from now on is newer than what is listed now */
    newest = ngx_chrys_data_seq(ctx->stream);

    if (ctx->event == 0 && after > newest) {
        /*
         * a cursor that is no message's (the stream, or the zone, is new
         * since): every message kept is new to whoever holds it
         */
        after = 0;
    }

    rc = ngx_chrys_data_list(ctx->zone, ctx->stream, ctx->event, from, to,
                             after, r->pool, &out, &n, &seq);

    if (rc == NGX_DECLINED) {
        return ngx_http_chrys_no_source(r, ctx);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (n == 0 && ctx->event == 0) {

        if (ngx_http_chrys_data_polls(ctx)
            && (ngx_msec_int_t) (ctx->deadline - ngx_current_msec) > 0
            && !ngx_exiting && !ngx_terminate)
        {
            if (ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_FROM)) {
                /* a relative "from" keeps meaning the time it was asked */
                ctx->args[NGX_HTTP_CHRYS_ARG_FROM] = (int64_t) from;
            }

            ctx->cursor = newest;
            ngx_http_chrys_wait(r, ctx);
            return NGX_DONE;
        }

        /*
         * none up to the newest message is for this question: the next
         * one asked "after" it misses nothing
         */
        seq = ngx_max(after, newest);
    }

    p = ngx_pnalloc(r->pool, out.len + sizeof("{\"data\":[],\"last\":}\n")
                             + NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_cpymem(p, "{\"data\":[", 9);
    last = ngx_cpymem(last, out.data, out.len);
    last = ngx_sprintf(last, "],\"last\":%ui}\n", seq);

    return ngx_http_chrys_send_json(r, NGX_HTTP_OK, p, last - p);
}


/* whether data.json waits for the next message: a stream's, "after" */

static ngx_uint_t
ngx_http_chrys_data_polls(ngx_http_chrys_ctx_t *ctx)
{
    return ctx->event == 0
           && ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_AFTER)
           && !ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_TO);
}


/*
 * A POSTed data value: JSON (RFC 8259, at most NGX_CHRYS_JSON_DEPTH deep)
 * of UTF-8, that fits in a data message.
 */

static ngx_int_t
ngx_http_chrys_data_new(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    u_char     *p, *last, *q, *start, *json;
    uint64_t    now;
    ngx_int_t   rc;

    rc = ngx_http_chrys_body_text(r, &p, &last);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    start = ngx_chrys_json_ws(p, last);
    q = start ? ngx_chrys_json_value(start, last, 0) : NULL;
    q = q ? ngx_chrys_json_ws(q, last) : NULL;

    if (q == NULL || q != last) {
        return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                    "the body must be one JSON value, at "
                                    "most %d deep", NGX_CHRYS_JSON_DEPTH);
    }

    if (!ngx_chrys_valid_utf8(start, last)) {
        return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                    "the body is not UTF-8");
    }

    /* trailing white space off, what it says kept as it came */

    while (last > start && (last[-1] == ' ' || last[-1] == '\t'
                            || last[-1] == '\r' || last[-1] == '\n'))
    {
        last--;
    }

    if (last - start > NGX_CHRYS_DATA_MAX - 32) {
        return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                    "data is at most %d bytes",
                                    NGX_CHRYS_DATA_MAX - 32);
    }

    json = ngx_pnalloc(r->pool, (last - start) + 32);
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q = ngx_cpymem(json, "\"type\":\"http\",\"data\":", 21);
    q = ngx_cpymem(q, start, last - start);

    now = ngx_chrys_unix_msec();

    rc = ngx_chrys_data_push(ctx->zone, ctx->stream, now, 0, 1, json,
                             q - json);

    if (rc == NGX_DECLINED) {
        return ngx_http_chrys_error(r, NGX_HTTP_NOT_FOUND,
                                    "the stream has no buffer "
                                    "(\"chrys_buffer off\")");
    }

    if (rc != NGX_OK) {
        return ngx_http_chrys_error(r, NGX_HTTP_INSUFFICIENT_STORAGE,
                                    "no room for data in the zone; raise "
                                    "the size in \"chrys_zone\"");
    }

    /* this worker's long polls of data.json look at once */
    ngx_http_chrys_wake();

    p = ngx_pnalloc(r->pool, sizeof("{\"time\":}\n") + NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_sprintf(p, "{\"time\":%uL}\n", now);

    return ngx_http_chrys_send_json(r, NGX_HTTP_CREATED, p, last - p);
}


/* index.json: what the ring holds, and its frames in a range */

ngx_int_t
ngx_http_chrys_index(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    uint64_t           from, to;
    ngx_int_t          rc;
    ngx_chrys_index_t  ix;

    from = ngx_http_chrys_time_arg(ctx, NGX_HTTP_CHRYS_ARG_FROM, 0);
    to = ngx_http_chrys_time_arg(ctx, NGX_HTTP_CHRYS_ARG_TO, (uint64_t) -1);

    rc = ngx_chrys_ring_index(ctx->zone, ctx->stream, ctx->event, from, to,
                              r->pool, &ix);

    if (rc == NGX_DECLINED) {
        return ngx_http_chrys_no_source(r, ctx);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_chrys_index_send(r, ctx->stream, &ix, from, to);
}


static ngx_int_t
ngx_http_chrys_index_send(ngx_http_request_t *r, ngx_chrys_stream_t *st,
    ngx_chrys_index_t *ix, uint64_t from, uint64_t to)
{
    u_char             *p, *last;
    size_t              len;
    int64_t             duration;
    ngx_uint_t          i, fps;
    ngx_chrys_entry_t  *e;

    len = 1024 + st->key.len
          + ngx_escape_json(NULL, st->key.data, st->key.len)
          + ix->n * (sizeof("{\"seq\":,\"pts\":,\"time\":,\"keyframe\":false,"
                            "\"size\":},") + 4 * NGX_INT64_LEN);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    duration = ix->range.end - ix->range.start;
    fps = (ix->count > 1 && duration > 0)
          ? (ix->count - 1) * 100000 / duration : 0;

    last = ngx_cpymem(p, "{\"app\":", 7);
    last = ngx_http_chrys_json_str(last, st->app.data, st->app.len);
    last = ngx_cpymem(last, ",\"name\":", 8);
    last = ngx_http_chrys_json_str(last, st->name.data, st->name.len);

    last = ngx_sprintf(last, ",\"start\":%uL,\"end\":%uL,\"duration\":%L,"
                       "\"frames\":%ui,\"fps\":%ui.%02ui,\"bytes\":%uz,"
                       "\"window\":%M,\"max_bytes\":%uz,",
                       ix->range.start, ix->range.end, duration, ix->count,
                       fps / 100,
                       fps % 100, ix->bytes, ix->window, ix->max_bytes);

    last = ngx_sprintf(last, "\"codec\":{\"name\":\"h264\",\"width\":%ui,"
                       "\"height\":%ui,\"profile\":%ui,\"level\":%ui},",
                       ix->width, ix->height, ix->profile, ix->level);

    if (ix->audio_rate) {
        last = ngx_sprintf(last, "\"audio\":{\"name\":\"aac\",\"rate\":%ui,"
                           "\"channels\":%ui,\"frames\":%ui},",
                           ix->audio_rate, ix->audio_channels,
                           ix->audio_frames);

    } else {
        last = ngx_cpymem(last, "\"audio\":null,", 13);
    }

    last = ngx_sprintf(last, "\"from\":%uL,\"to\":%uL,\"index\":[",
                       from, to == (uint64_t) -1 ? ix->range.end : to);

    for (i = 0; i < ix->n; i++) {
        e = &ix->entries[i];

        last = ngx_sprintf(last, "%s{\"seq\":%ui,\"pts\":%L,\"time\":%uL,"
                           "\"keyframe\":%s,\"size\":%uD}",
                           i ? "," : "", e->seq, e->pts, e->time,
                           (e->flags & NGX_CHRYS_AU_IDR) ? "true"
                                                            : "false",
                           e->size);
    }

    last = ngx_cpymem(last, "]}\n", 3);

    return ngx_http_chrys_send_json(r, NGX_HTTP_OK, p, last - p);
}


/* frame.jpg?time=T|seq=N[&keyframe=1]: one frame out of the ring */

ngx_int_t
ngx_http_chrys_frame(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    uint64_t             value;
    ngx_int_t            rc;
    ngx_uint_t           seq, by_seq, keyframe;
    ngx_chrys_gop_t     *gop;
    ngx_chrys_range_t    range;
    ngx_thread_task_t   *task;
    ngx_chrys_replay_t  *rp;

    if (!ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_TIME)
        && !ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_SEQ))
    {
        return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                    "parameter \"time\" or \"seq\" is "
                                    "needed");
    }

    rc = ngx_http_chrys_replay_start(r, ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    by_seq = ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_SEQ);
    value = by_seq ? (uint64_t) ctx->args[NGX_HTTP_CHRYS_ARG_SEQ]
                   : ngx_http_chrys_time_arg(ctx, NGX_HTTP_CHRYS_ARG_TIME, 0);
    keyframe = ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_KEYFRAME)
               && ctx->args[NGX_HTTP_CHRYS_ARG_KEYFRAME];

    seq = 0;

    gop = ngx_chrys_ring_frame(ctx->zone, ctx->stream, ctx->event, by_seq,
                               value, keyframe, NGX_CHRYS_CODEC_PAD, &seq,
                               &range, r->connection->log);

    if (gop == NULL) {
        return ngx_http_chrys_range_error(r, ctx, &range, by_seq);
    }

    rc = ngx_http_chrys_out_size(r, ctx, gop->width, gop->height);
    if (rc != NGX_DECLINED) {
        ngx_chrys_gop_free(gop);
        return rc;
    }

    task = ngx_http_chrys_task(r, sizeof(ngx_chrys_replay_t),
                               ngx_chrys_replay_handler,
                               ngx_http_chrys_frame_done);
    if (task == NULL) {
        ngx_chrys_gop_free(gop);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rp = task->ctx;
    rp->gop = gop;
    rp->look = ctx->look;
    rp->nwant = 1;
    rp->want = ngx_palloc(r->pool, sizeof(ngx_uint_t));
    rp->images = ngx_pcalloc(r->pool, sizeof(ngx_chrys_image_t));

    if (rp->want == NULL || rp->images == NULL) {
        ngx_chrys_gop_free(gop);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rp->want[0] = seq;

    if (ngx_http_chrys_post(r, task) != NGX_OK) {
        ngx_chrys_gop_free(gop);
        return ngx_http_chrys_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "server busy, no thread for decoding");
    }

    ctx->frame.seq = seq;

    return NGX_DONE;
}


static void
ngx_http_chrys_frame_done(ngx_event_t *ev)
{
    ngx_int_t              rc;
    ngx_connection_t      *c;
    ngx_thread_task_t     *task;
    ngx_http_request_t    *r;
    ngx_pool_cleanup_t    *cln;
    ngx_chrys_replay_t    *rp;
    ngx_http_chrys_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_chrys_module);

    ngx_http_set_log_request(c->log, r);

    ngx_http_chrys_task_done(r);

    task = (ngx_thread_task_t *) ((u_char *) ev
                                  - offsetof(ngx_thread_task_t, event));
    rp = task->ctx;

    ngx_chrys_gop_free(rp->gop);
    rp->gop = NULL;

    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (cln == NULL) {
        ngx_chrys_replay_free(rp);
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        cln->handler = ngx_http_chrys_images_cleanup;
        cln->data = rp;

        if (c->error) {
            rc = NGX_ERROR;

        } else if (rp->nimages == 0) {
            rc = ngx_http_chrys_error(r, 422, "frame %ui cannot be decoded "
                                      "cleanly (damaged stream)",
                                      ctx->frame.seq);
        } else {
            rp->images[0].frame.data_time =
                ngx_chrys_data_before(ctx->zone, ctx->stream, ctx->event,
                                      rp->images[0].frame.time);

            rc = ngx_http_chrys_send_jpeg(r, ctx, &rp->images[0].frame,
                                          rp->images[0].data,
                                          rp->images[0].len);
        }
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_chrys_images_cleanup(void *data)
{
    ngx_chrys_replay_free(data);
}


/*
 * images?from=&to=[&interval=][&limit=]: a series of frames as
 * multipart/mixed, one JPEG part each with its X-Chrys-* headers, in
 * display order, sent GOP by GOP as they are decoded.
 */

ngx_int_t
ngx_http_chrys_images(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    u_char                     *p;
    uint64_t                    from, to;
    ngx_int_t                   rc;
    ngx_str_t                   type;
    ngx_uint_t                  interval, limit, width, height;
    ngx_chrys_range_t           range;
    ngx_http_chrys_walk_t      *walk;
    ngx_http_chrys_loc_conf_t  *clcf;

    interval = ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_INTERVAL)
               ? ctx->args[NGX_HTTP_CHRYS_ARG_INTERVAL] : 0;
    limit = ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_LIMIT)
            ? ctx->args[NGX_HTTP_CHRYS_ARG_LIMIT] : 0;

    rc = ngx_http_chrys_replay_start(r, ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    walk = ngx_pcalloc(r->pool, sizeof(ngx_http_chrys_walk_t));
    if (walk == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->walk = walk;
    walk->frames.max = NGX_HTTP_CHRYS_IMAGES_MAX;

    ngx_http_chrys_range_args(ctx, &from, &to);

    rc = ngx_chrys_ring_select(ctx->zone, ctx->stream, ctx->event, from, to,
                               interval, limit, r->pool, &walk->frames,
                               &width, &height, &range);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_chrys_range_error(r, ctx, &range, 0);
    }

    rc = ngx_http_chrys_out_size(r, ctx, width, height);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    p = ngx_pnalloc(r->pool, sizeof("chrys-") + NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    walk->boundary.data = p;
    walk->boundary.len = ngx_sprintf(p, "chrys-%016xL",
                                     (uint64_t) ngx_random() << 32
                                     | (uint64_t) ngx_random())
                         - p;

    type.len = sizeof("multipart/mixed; boundary=") - 1 + walk->boundary.len;
    type.data = ngx_pnalloc(r->pool, type.len);
    if (type.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(type.data, "multipart/mixed; boundary=%V", &walk->boundary);

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_chrys_module);
    walk->budget = clcf->request_memory;

    return ngx_http_chrys_walk_start(r, ctx, &type);
}


/* clip.mp4?from=&to=: the range as fragmented MP4, GOP by GOP */

ngx_int_t
ngx_http_chrys_clip(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    uint64_t                from, to;
    ngx_int_t               rc;
    ngx_chrys_range_t       range;
    ngx_http_chrys_walk_t  *walk;

    rc = ngx_http_chrys_replay_start(r, ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    walk = ngx_pcalloc(r->pool, sizeof(ngx_http_chrys_walk_t));
    if (walk == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->walk = walk;

    ngx_http_chrys_range_args(ctx, &from, &to);

    walk->no_audio = (ctx->has_arg & (1 << NGX_HTTP_CHRYS_ARG_AUDIO))
                     && ctx->args[NGX_HTTP_CHRYS_ARG_AUDIO] == 0;
    walk->mux.audio_index = -1;

    if (ngx_chrys_ring_span(ctx->zone, ctx->stream, ctx->event, from, to,
                            &walk->next, &walk->last, &range)
        != NGX_OK)
    {
        return ngx_http_chrys_range_error(r, ctx, &range, 0);
    }

    return ngx_http_chrys_walk_start(r, ctx, &ngx_http_chrys_mp4_type);
}


/* sends the response header and starts the first step */

static ngx_int_t
ngx_http_chrys_walk_start(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_str_t *type)
{
    ngx_int_t  rc;
    ngx_str_t  v;

    ngx_chrys_zone_clients(ctx->zone, NGX_CHRYS_CLIENTS_WALKING, 1);
    ctx->counted = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    ngx_http_clear_content_length(r);

    if (ctx->endpoint == NGX_HTTP_CHRYS_IMAGES) {
        v.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (v.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        v.len = ngx_sprintf(v.data, "%ui", ctx->walk->frames.nwant) - v.data;

        if (ngx_http_chrys_add_header(r, "X-Chrys-Images", &v) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_str_set(&v, "no-store");

    if (ngx_http_chrys_add_header(r, "Cache-Control", &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (ctx->endpoint == NGX_HTTP_CHRYS_IMAGES) {
        return ngx_http_chrys_images_pump(r, ctx);
    }

    return ngx_http_chrys_walk_next(r, ctx);
}


/*
 * The next step of a walk: copies the next GOP out of the zone and posts
 * its task.  Returns NGX_DONE while a task runs, or the result of ending
 * the response.
 */

static ngx_int_t
ngx_http_chrys_walk_next(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    ngx_http_chrys_walk_t  *walk;

    walk = ctx->walk;

    if (walk->pool) {
        /* the previous step's output is out */
        ngx_destroy_pool(walk->pool);
        walk->pool = NULL;
    }

    if (walk->done) {
        return ngx_http_chrys_walk_end(r, ctx);
    }

    walk->pool = ngx_create_pool(4096, r->connection->log);
    if (walk->pool == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_chrys_clip_step(r, ctx);
}


/*
 * Image series move on in lanes: up to NGX_HTTP_CHRYS_LANES GOPs decode
 * at once in the pool, and their parts go out in order, one step after
 * the other once the client took the previous one.  Returns NGX_DONE
 * while there is more to come.
 */

static ngx_int_t
ngx_http_chrys_images_pump(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    ngx_int_t               rc;
    ngx_uint_t              i, running;
    ngx_chain_t            *out;
    ngx_connection_t       *c;
    ngx_http_chrys_lane_t  *lane;
    ngx_http_chrys_walk_t  *walk;

    c = r->connection;
    walk = ctx->walk;

    for ( ;; ) {

        for (i = 0; i < NGX_HTTP_CHRYS_LANES; i++) {
            lane = &walk->lanes[i];

            if (lane->state != NGX_HTTP_CHRYS_LANE_SENDING) {
                continue;
            }

            if (r->buffered || c->buffered) {
                /*
                 * the writer comes back once the client took it, or the
                 * request ends after send_timeout
                 */
                r->write_event_handler = ngx_http_chrys_images_writer;

                rc = ngx_http_chrys_flush(r);

                if (rc != NGX_OK) {
                    return NGX_DONE;
                }
            }

            ngx_destroy_pool(lane->pool);
            lane->pool = NULL;
            lane->state = NGX_HTTP_CHRYS_LANE_FREE;
            walk->sent++;
        }

        for (i = 0; i < NGX_HTTP_CHRYS_LANES && !walk->done; i++) {
            lane = &walk->lanes[i];

            if (lane->state != NGX_HTTP_CHRYS_LANE_FREE) {
                continue;
            }

            if (!ngx_http_chrys_images_room(walk)) {
                break;
            }

            if (ngx_http_chrys_images_step(r, ctx, lane) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        running = 0;
        out = NULL;

        for (i = 0; i < NGX_HTTP_CHRYS_LANES; i++) {
            lane = &walk->lanes[i];

            if (lane->state == NGX_HTTP_CHRYS_LANE_RUNNING) {
                running = 1;

            } else if (lane->state == NGX_HTTP_CHRYS_LANE_READY
                       && lane->step == walk->sent)
            {
                out = ngx_http_chrys_images_parts(ctx, lane);

                if (out == NULL) {
                    return NGX_ERROR;
                }

                lane->state = NGX_HTTP_CHRYS_LANE_SENDING;
                break;
            }
        }

        if (out) {
            rc = ngx_http_output_filter(r, out);

            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            continue;
        }

        if (running) {
            return NGX_DONE;
        }

        return ngx_http_chrys_walk_end(r, ctx);
    }
}


/* starts the next step in a free lane, if there is one to take */

static ngx_int_t
ngx_http_chrys_images_step(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_http_chrys_lane_t *lane)
{
    ngx_chrys_gop_t        *gop;
    ngx_chrys_replay_t     *rp;
    ngx_http_chrys_walk_t  *walk;

    walk = ctx->walk;
    rp = &lane->replay;

    /*
     * a short first step: the first picture goes out early, and tells
     * how big the images are; then as many as the memory allows
     */

    walk->frames.max = ngx_http_chrys_images_per_step(walk);

    for ( ;; ) {
        gop = ngx_chrys_ring_step(ctx->zone, ctx->stream, ctx->event,
                                  &walk->frames, NGX_CHRYS_CODEC_PAD,
                                  r->connection->log);
        if (gop) {
            break;
        }

        if (walk->frames.next >= walk->frames.nwant) {
            /* nothing more: frames evicted meanwhile are left out */
            walk->done = 1;
            return NGX_OK;
        }

        /* the frames of that step left the ring meanwhile: the next */
    }

    lane->pool = ngx_create_pool(4096, r->connection->log);
    if (lane->pool == NULL) {
        ngx_chrys_gop_free(gop);
        return NGX_ERROR;
    }

    /* the step's frames: from where the walk was to where it is now */

    rp->gop = gop;
    rp->look = ctx->look;
    rp->want = &walk->frames.want[walk->frames.next - walk->frames.taken];
    rp->nwant = walk->frames.taken;
    rp->nimages = 0;
    rp->images = ngx_pcalloc(lane->pool,
                             rp->nwant * sizeof(ngx_chrys_image_t));

    if (lane->task == NULL) {
        lane->task = ngx_http_chrys_task(r, 0, ngx_chrys_replay_handler,
                                         ngx_http_chrys_images_done);
    }

    if (rp->images == NULL || lane->task == NULL) {
        return NGX_ERROR;
    }

    lane->task->ctx = rp;
    lane->step = walk->steps++;

    if (ngx_http_chrys_post(r, lane->task) != NGX_OK) {
        return NGX_ERROR;
    }

    lane->state = NGX_HTTP_CHRYS_LANE_RUNNING;

    return NGX_OK;
}


/*
 * Whether another step may start: the first alone, until it tells how big
 * the images are; then while the images held and coming stay within
 * "chrys_request_memory" (a step's worth past it at most).
 */

static ngx_uint_t
ngx_http_chrys_images_room(ngx_http_chrys_walk_t *walk)
{
    size_t                  held, avg;
    ngx_uint_t              i, j, busy;
    ngx_chrys_replay_t     *rp;
    ngx_http_chrys_lane_t  *lane;

    busy = 0;
    held = 0;
    avg = walk->images ? walk->image_bytes / walk->images : 0;

    for (i = 0; i < NGX_HTTP_CHRYS_LANES; i++) {
        lane = &walk->lanes[i];
        rp = &lane->replay;

        switch (lane->state) {

        case NGX_HTTP_CHRYS_LANE_FREE:
            continue;

        case NGX_HTTP_CHRYS_LANE_RUNNING:
            held += rp->nwant * avg;
            break;

        default: /* READY, SENDING */
            for (j = 0; j < rp->nimages; j++) {
                held += rp->images[j].len;
            }
        }

        busy = 1;
    }

    if (!busy) {
        return 1;
    }

    if (walk->images == 0) {
        return 0;
    }

    return held + ngx_http_chrys_images_per_step(walk) * avg <= walk->budget;
}


/* how many images the next step takes: a lane's share of the memory */

static ngx_uint_t
ngx_http_chrys_images_per_step(ngx_http_chrys_walk_t *walk)
{
    ngx_uint_t  n;

    if (walk->images == 0) {
        return 2;
    }

    n = walk->budget
        / (NGX_HTTP_CHRYS_LANES * (walk->image_bytes / walk->images) + 1);

    return ngx_max(1, ngx_min(n, NGX_HTTP_CHRYS_STEP_IMAGES));
}


static void
ngx_http_chrys_images_done(ngx_event_t *ev)
{
    ngx_int_t               rc;
    ngx_uint_t              i;
    ngx_connection_t       *c;
    ngx_pool_cleanup_t     *cln;
    ngx_http_request_t     *r;
    ngx_chrys_replay_t     *rp;
    ngx_http_chrys_ctx_t   *ctx;
    ngx_http_chrys_lane_t  *lane;
    ngx_http_chrys_walk_t  *walk;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_chrys_module);
    walk = ctx->walk;

    ngx_http_set_log_request(c->log, r);

    ngx_http_chrys_task_done(r);

    for (i = 0; i < NGX_HTTP_CHRYS_LANES; i++) {
        if (walk->lanes[i].task && ev == &walk->lanes[i].task->event) {
            break;
        }
    }

    lane = &walk->lanes[i];
    rp = &lane->replay;

    ngx_chrys_gop_free(rp->gop);
    rp->gop = NULL;

    lane->state = NGX_HTTP_CHRYS_LANE_READY;

    for (i = 0; i < rp->nimages; i++) {
        walk->image_bytes += rp->images[i].len;
        walk->images++;
    }

    /* the JPEGs live as long as the step's output */
    cln = ngx_pool_cleanup_add(lane->pool, 0);

    if (cln == NULL) {
        ngx_chrys_replay_free(rp);
        rc = NGX_ERROR;

    } else {
        cln->handler = ngx_http_chrys_images_cleanup;
        cln->data = rp;

        if (c->error) {
            if (r->main->blocked) {
                /* the last lane to finish ends the request */
                return;
            }

            rc = NGX_ERROR;

        } else {
            rc = ngx_http_chrys_images_pump(r, ctx);
        }
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    ngx_http_run_posted_requests(c);
}


/* a step's images as parts of the multipart response */

static ngx_chain_t *
ngx_http_chrys_images_parts(ngx_http_chrys_ctx_t *ctx,
    ngx_http_chrys_lane_t *lane)
{
    u_char                 *p, *end;
    ngx_uint_t              i;
    ngx_chain_t            *out, **last;
    ngx_chrys_image_t      *img;
    ngx_chrys_replay_t     *rp;
    ngx_http_chrys_walk_t  *walk;

    walk = ctx->walk;
    rp = &lane->replay;
    out = NULL;
    last = &out;

    for (i = 0; i < rp->nimages; i++) {
        img = &rp->images[i];

        p = ngx_pnalloc(lane->pool, walk->boundary.len
                                    + NGX_HTTP_CHRYS_FRAME_FIELDS_LEN + 128);
        if (p == NULL) {
            return NULL;
        }

        /* the part's headers, the picture, and the line that ends it */

        end = ngx_sprintf(p, "--%V\r\nContent-Type: image/jpeg\r\n"
                          "Content-Length: %uz\r\n",
                          &walk->boundary, img->len);
        img->frame.data_time = ngx_chrys_data_before(ctx->zone, ctx->stream,
                                                     ctx->event,
                                                     img->frame.time);

        end = ngx_http_chrys_frame_fields(end, &img->frame);
        end = ngx_cpymem(end, "\r\n", 2);

        if (ngx_http_chrys_chain(lane->pool, p, end - p, &last) == NULL
            || ngx_http_chrys_chain(lane->pool, img->data, img->len, &last)
               == NULL
            || ngx_http_chrys_chain(lane->pool, (u_char *) "\r\n", 2, &last)
               == NULL)
        {
            return NULL;
        }
    }

    if (out == NULL) {
        /* every frame of the step was damaged: an empty buffer */
        if (ngx_http_chrys_chain(lane->pool, (u_char *) "", 0, &last)
            == NULL)
        {
            return NULL;
        }
    }

    return out;
}


static void
ngx_http_chrys_images_writer(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_http_chrys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_chrys_module);

    if (ngx_http_chrys_flush(r) != NGX_OK) {
        return;
    }

    rc = ngx_http_chrys_images_pump(r, ctx);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


static ngx_int_t
ngx_http_chrys_clip_step(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    ngx_uint_t              done;
    ngx_chrys_gop_t        *gop;
    ngx_chrys_mux_t        *mux;
    ngx_thread_task_t      *task;
    ngx_http_chrys_walk_t  *walk;

    walk = ctx->walk;
    mux = &walk->mux;

    gop = ngx_chrys_ring_gop(ctx->zone, ctx->stream, ctx->event, &walk->next,
                             walk->last, NGX_CHRYS_CODEC_PAD, &done,
                             r->connection->log);

    if (gop == NULL) {
        if (!mux->started) {
            walk->done = 1;
            return ngx_http_chrys_walk_next(r, ctx);
        }

        /* the rest left the ring: end the file where it is */
        done = 1;
    }

    mux->gop = gop;
    mux->last = done;
    mux->len = 0;

    if (gop && !walk->no_audio && (!mux->started || mux->audio_index >= 0))
    {
        mux->audio = ngx_http_chrys_clip_audio(r, ctx, gop, done);
    }

    task = ngx_http_chrys_task(r, 0, ngx_chrys_mux_handler,
                               ngx_http_chrys_clip_done);
    if (task == NULL) {
        return NGX_ERROR;
    }

    task->ctx = mux;

    if (ngx_http_chrys_post(r, task) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


/*
 * The AAC frames that go with a step's GOP: by stream time, from its
 * first frame (for the first step) to its last one, and a frame's
 * duration past it for the last step; if the GOP's time went back (the
 * publisher came back), the previous publish's frames not yet taken
 * first.  The first step decides whether the clip has an audio track.
 */

static ngx_chrys_gop_t *
ngx_http_chrys_clip_audio(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_chrys_gop_t *gop, ngx_uint_t done)
{
    int64_t                 from, to, step;
    ngx_uint_t              i, behind;
    ngx_chrys_au_t         *first, *last;
    ngx_chrys_mux_clock_t  *clock;
    ngx_http_chrys_walk_t  *walk;

    walk = ctx->walk;
    clock = &walk->mux.video_clock;

    first = NULL;
    last = NULL;
    step = 0;

    for (i = 0; i < gop->naus; i++) {
        if (gop->aus[i].flags & NGX_CHRYS_AU_CONFIG) {
            continue;
        }

        if (last) {
            step = gop->aus[i].dts - last->dts;
        }

        if (first == NULL) {
            first = &gop->aus[i];
        }

        last = &gop->aus[i];
    }

    if (first == NULL) {
        return NULL;
    }

    from = walk->mux.started ? INT64_MIN : first->dts;
    to = done ? last->dts + (step > 0 ? step : 1) : last->dts + 1;
    behind = walk->mux.started && clock->seen && first->dts <= clock->last;

    return ngx_chrys_ring_audio(ctx->zone, ctx->stream, ctx->event,
                                &walk->audio_next, from, to, first->time,
                                behind, 0, r->connection->log);
}


static void
ngx_http_chrys_clip_done(ngx_event_t *ev)
{
    ngx_int_t               rc;
    ngx_chain_t            *out, **last;
    ngx_connection_t       *c;
    ngx_chrys_mux_t        *mux;
    ngx_http_request_t     *r;
    ngx_http_chrys_ctx_t   *ctx;
    ngx_http_chrys_walk_t  *walk;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_chrys_module);
    walk = ctx->walk;
    mux = &walk->mux;

    ngx_http_set_log_request(c->log, r);

    ngx_http_chrys_task_done(r);

    if (mux->gop) {
        ngx_chrys_gop_free(mux->gop);
        mux->gop = NULL;
    }

    if (mux->audio) {
        ngx_chrys_gop_free(mux->audio);
        mux->audio = NULL;
    }

    if (c->error || mux->rc != NGX_OK) {
        if (mux->rc != NGX_OK) {
            ngx_http_chrys_log(NGX_LOG_ERR, r, 0, "chrys: clip of \"%V\": %s",
                               &ctx->stream->key, mux->error);
        }

        rc = NGX_ERROR;
        goto done;
    }

    if (mux->last) {
        walk->done = 1;
    }

    out = NULL;
    last = &out;

    if (mux->len
        && ngx_http_chrys_chain(walk->pool, mux->out, mux->len, &last)
           == NULL)
    {
        rc = NGX_ERROR;
        goto done;
    }

    rc = ngx_http_chrys_walk_output(r, ctx, out);

done:

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    ngx_http_run_posted_requests(c);
}


/*
 * Sends a step's output; the next step starts once the client took it all
 * (ngx_http_chrys_walk_writer waits for that), so that a slow client slows
 * the walk instead of growing its memory.
 */

static ngx_int_t
ngx_http_chrys_walk_output(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_chain_t *out)
{
    ngx_int_t  rc;

    if (out) {
        rc = ngx_http_output_filter(r, out);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    r->write_event_handler = ngx_http_chrys_walk_writer;

    if (r->buffered || r->connection->buffered) {
        ngx_http_chrys_walk_writer(r);
        return NGX_DONE;
    }

    return ngx_http_chrys_walk_next(r, ctx);
}


static void
ngx_http_chrys_walk_writer(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_http_chrys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_chrys_module);

    if (r->main->blocked) {
        /* a step's task runs: its completion goes on */
        return;
    }

    if (ngx_http_chrys_flush(r) != NGX_OK) {
        return;
    }

    rc = ngx_http_chrys_walk_next(r, ctx);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/* the closing boundary of a multipart response, or nothing for a clip */

static ngx_int_t
ngx_http_chrys_walk_end(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    u_char                 *p;
    ngx_buf_t              *b;
    ngx_chain_t             out;
    ngx_http_chrys_walk_t  *walk;

    walk = ctx->walk;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    if (ctx->endpoint == NGX_HTTP_CHRYS_IMAGES) {
        p = ngx_pnalloc(r->pool, walk->boundary.len + 8);
        if (p == NULL) {
            return NGX_ERROR;
        }

        b->pos = p;
        b->last = ngx_sprintf(p, "--%V--\r\n", &walk->boundary);
        b->memory = 1;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* the walk's memory, when the request ends */

void
ngx_http_chrys_walk_cleanup(ngx_http_chrys_ctx_t *ctx)
{
    ngx_uint_t              i;
    ngx_http_chrys_walk_t  *walk;

    walk = ctx->walk;

    if (walk == NULL) {
        return;
    }

    if (ctx->counted) {
        ngx_chrys_zone_clients(ctx->zone, NGX_CHRYS_CLIENTS_WALKING, -1);
        ctx->counted = 0;
    }

    for (i = 0; i < NGX_HTTP_CHRYS_LANES; i++) {
        if (walk->lanes[i].pool) {
            ngx_destroy_pool(walk->lanes[i].pool);
            walk->lanes[i].pool = NULL;
        }

        if (walk->lanes[i].replay.gop) {
            ngx_chrys_gop_free(walk->lanes[i].replay.gop);
            walk->lanes[i].replay.gop = NULL;
        }
    }

    if (walk->pool) {
        ngx_destroy_pool(walk->pool);
        walk->pool = NULL;
    }

    ngx_chrys_mux_free(&walk->mux);

    ctx->walk = NULL;
}


static ngx_chain_t *
ngx_http_chrys_chain(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_chain_t ***last)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = ngx_calloc_buf(pool);
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(pool);
    if (cl == NULL) {
        return NULL;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = len ? 1 : 0;
    b->flush = 1;

    cl->buf = b;
    cl->next = NULL;

    **last = cl;
    *last = &cl->next;

    return cl;
}


/*
 * events: GET lists them; POST marks "now", with an optional JSON body
 * {"label": "...", "pre": ms, "post": ms, "meta": any JSON}.
 */

ngx_int_t
ngx_http_chrys_events(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    u_char                  *p, *last;
    size_t                   len;
    ngx_uint_t               i;
    ngx_array_t              events;
    ngx_chrys_event_info_t  *info;

    if (r->method == NGX_HTTP_POST) {
        /* the body was read before */
        return ngx_http_chrys_event_new(r, ctx);
    }

    if (ngx_chrys_event_list(ctx->zone, ctx->stream, r->pool, &events)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    info = events.elts;
    len = sizeof("{\"events\":[]}\n");

    for (i = 0; i < events.nelts; i++) {
        len += ngx_http_chrys_event_json_len(&info[i]) + 1;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_cpymem(p, "{\"events\":[", sizeof("{\"events\":[") - 1);

    for (i = 0; i < events.nelts; i++) {
        if (i) {
            *last++ = ',';
        }

        last = ngx_http_chrys_event_json(last, &info[i]);
    }

    last = ngx_cpymem(last, "]}\n", 3);

    return ngx_http_chrys_send_json(r, NGX_HTTP_OK, p, last - p);
}


/* a new event, of the body the request brought */

static ngx_int_t
ngx_http_chrys_event_new(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    u_char                       *p, *last;
    ngx_int_t                     rc;
    ngx_uint_t                    id;
    ngx_http_chrys_event_args_t   ea;

    rc = ngx_http_chrys_body_text(r, &p, &last);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_chrys_event_parse(r, p, last, &ea);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_chrys_event_create(ctx->zone, ctx->stream, &ea.label, &ea.meta,
                                ea.pre, ea.post, &id);

    switch (rc) {

    case NGX_OK:
        return ngx_http_chrys_event_send(r, ctx, NGX_HTTP_CREATED, id);

    case NGX_BUSY:
        return ngx_http_chrys_error(r, NGX_HTTP_CONFLICT,
                                    "the stream has %d events, delete some",
                                    NGX_CHRYS_EVENTS_MAX);

    case NGX_DECLINED:
        return ngx_http_chrys_error(r, NGX_HTTP_INSUFFICIENT_STORAGE,
                                    "the event budget is used up "
                                    "(\"chrys_event_budget\"), delete some "
                                    "events");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* the JSON body of a new event; NGX_DECLINED when it is fine */

static ngx_int_t
ngx_http_chrys_event_parse(ngx_http_request_t *r, u_char *p, u_char *last,
    ngx_http_chrys_event_args_t *ea)
{
    ngx_int_t                rc, v;
    ngx_uint_t               i, n;
    ngx_chrys_json_member_t  m[NGX_HTTP_CHRYS_BODY_MEMBERS], *mb;

    ngx_memzero(ea, sizeof(ngx_http_chrys_event_args_t));
    ea->pre = NGX_HTTP_CHRYS_DEFAULT_PRE;
    ea->post = NGX_HTTP_CHRYS_DEFAULT_POST;

    rc = ngx_chrys_json_object(p, last, m, NGX_HTTP_CHRYS_BODY_MEMBERS, &n);

    if (rc == NGX_DECLINED) {
        /* no body: the defaults */
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                    "the body must be a JSON object, e.g. "
                                    "{\"label\":\"person\",\"pre\":5000,"
                                    "\"post\":5000,\"meta\":{}}");
    }

    for (i = 0; i < n; i++) {
        mb = &m[i];

        if (ngx_chrys_json_is(&mb->key, "label")) {
            if (mb->value.data[0] != '"'
                || mb->value.len > NGX_CHRYS_LABEL_LEN)
            {
                return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                            "\"label\" must be a string of "
                                            "at most %d bytes",
                                            NGX_CHRYS_LABEL_LEN - 2);
            }

            ea->label = mb->value;

        } else if (ngx_chrys_json_is(&mb->key, "meta")) {
            if (mb->value.len > NGX_CHRYS_META_MAX) {
                return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                            "\"meta\" is at most %d bytes "
                                            "of JSON", NGX_CHRYS_META_MAX);
            }

            ea->meta = mb->value;

        } else if (ngx_chrys_json_is(&mb->key, "pre")
                   || ngx_chrys_json_is(&mb->key, "post"))
        {
            v = ngx_atoi(mb->value.data, mb->value.len);

            if (v == NGX_ERROR || v > NGX_HTTP_CHRYS_PRE_MAX) {
                return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                            "\"%*s\" must be an integer "
                                            "from 0 to %d (ms)",
                                            mb->key.len - 2,
                                            mb->key.data + 1,
                                            NGX_HTTP_CHRYS_PRE_MAX);
            }

            if (mb->key.len == 5) {
                ea->pre = v;

            } else {
                ea->post = v;
            }
        }
    }

    return NGX_DECLINED;
}


/* events/{id}: GET shows it, DELETE removes it and its frames */

ngx_int_t
ngx_http_chrys_event(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    u_char  *p, *last;

    if (r->method == NGX_HTTP_DELETE) {
        if (ngx_chrys_event_delete(ctx->zone, ctx->stream, ctx->event)
            != NGX_OK)
        {
            return ngx_http_chrys_error(r, NGX_HTTP_NOT_FOUND,
                                        "no such event");
        }

        p = ngx_pnalloc(r->pool, sizeof("{\"deleted\":}\n") + NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        last = ngx_sprintf(p, "{\"deleted\":%ui}\n", ctx->event);

        return ngx_http_chrys_send_json(r, NGX_HTTP_OK, p, last - p);
    }

    return ngx_http_chrys_event_send(r, ctx, NGX_HTTP_OK, ctx->event);
}


static ngx_int_t
ngx_http_chrys_event_send(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_uint_t status, ngx_uint_t id)
{
    u_char                  *p, *last;
    ngx_int_t                rc;
    ngx_chrys_event_info_t   info;

    rc = ngx_chrys_event_info(ctx->zone, ctx->stream, id, r->pool, &info);

    if (rc == NGX_DECLINED) {
        return ngx_http_chrys_error(r, NGX_HTTP_NOT_FOUND, "no such event");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, ngx_http_chrys_event_json_len(&info) + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_http_chrys_event_json(p, &info);
    *last++ = '\n';

    return ngx_http_chrys_send_json(r, status, p, last - p);
}


static size_t
ngx_http_chrys_event_json_len(ngx_chrys_event_info_t *ev)
{
    return sizeof("{\"id\":,\"label\":,\"time\":,\"pre\":,\"post\":,"
                  "\"from\":,\"to\":,\"complete\":false,"
                  "\"truncated\":false,\"frames\":,\"bytes\":,\"start\":,"
                  "\"end\":,\"meta\":null}") + 10 * NGX_INT64_LEN
           + ev->label.len + ev->meta.len + 4;
}


static u_char *
ngx_http_chrys_event_json(u_char *p, ngx_chrys_event_info_t *ev)
{
    p = ngx_sprintf(p, "{\"id\":%ui,\"label\":", ev->id);

    /* label and meta were checked to be JSON: they go out as they came */

    if (ev->label.len) {
        p = ngx_cpymem(p, ev->label.data, ev->label.len);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    p = ngx_sprintf(p, ",\"time\":%uL,\"pre\":%M,\"post\":%M,\"from\":%uL,"
                    "\"to\":%uL,\"complete\":%s,\"truncated\":%s,"
                    "\"frames\":%ui,\"bytes\":%uz,\"start\":%uL,"
                    "\"end\":%uL,\"meta\":",
                    ev->time, ev->pre, ev->post, ev->from, ev->to,
                    ngx_chrys_unix_msec() >= ev->to + NGX_CHRYS_AUDIO_LATE
                    ? "true" : "false",
                    ev->truncated ? "true" : "false",
                    ev->frames, ev->bytes, ev->start, ev->end);

    if (ev->meta.len) {
        p = ngx_cpymem(p, ev->meta.data, ev->meta.len);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    *p++ = '}';

    return p;
}
