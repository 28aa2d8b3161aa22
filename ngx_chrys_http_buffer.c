
/*
 * Copyright (C) chrys authors
 *
 * The HTTP side of the stream buffer and of events: the index, single
 * frames, image series (multipart) and MP4 clips of a time range.  Access
 * units are copied out of the zone under its lock, a GOP at a time, and
 * decoded or remuxed in the thread pool; a walk through a long range
 * sends each GOP's output before it copies the next, so a request holds
 * one GOP's worth of memory whatever the range.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_chrys_http.h"
#include "ngx_chrys_avc.h"


#define NGX_HTTP_CHRYS_STEP_IMAGES     30
#define NGX_HTTP_CHRYS_BODY_MAX        8192
#define NGX_HTTP_CHRYS_GONE                  410
#define NGX_HTTP_CHRYS_PRE_MAX         300000
#define NGX_HTTP_CHRYS_POST_MAX        300000
#define NGX_HTTP_CHRYS_DEFAULT_PRE     5000
#define NGX_HTTP_CHRYS_DEFAULT_POST    5000


typedef struct {
    uint64_t                      start;
    uint64_t                      end;
    ngx_uint_t                    count;
    size_t                        bytes;
    ngx_msec_t                    window;
    size_t                        max_bytes;
    ngx_uint_t                    width;
    ngx_uint_t                    height;
    ngx_uint_t                    n;          /* entries in range */
    ngx_chrys_entry_t            *entries;
} ngx_http_chrys_index_t;


typedef struct {
    ngx_str_t                     label;      /* raw JSON string, or empty */
    ngx_str_t                     meta;       /* raw JSON value, or empty */
    ngx_msec_t                    pre;
    ngx_msec_t                    post;
} ngx_http_chrys_event_args_t;


static ngx_chrys_buf_t *ngx_http_chrys_source_locked(
    ngx_http_chrys_ctx_t *ctx, ngx_chrys_event_t **evp);
static ngx_int_t ngx_http_chrys_no_source(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static ngx_int_t ngx_http_chrys_index_copy_locked(ngx_http_request_t *r,
    ngx_chrys_stream_t *st, ngx_chrys_buf_t *buf, uint64_t from, uint64_t to,
    ngx_http_chrys_index_t *ix);
static ngx_int_t ngx_http_chrys_index_send(ngx_http_request_t *r,
    ngx_chrys_stream_t *st, ngx_http_chrys_index_t *ix, uint64_t from,
    uint64_t to);
static ngx_int_t ngx_http_chrys_range_lock(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_chrys_buf_t **bufp, uint64_t *from,
    uint64_t *to);
static ngx_int_t ngx_http_chrys_range_check_locked(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_chrys_buf_t *buf, ngx_chrys_event_t *ev,
    uint64_t *from, uint64_t *to);
static void ngx_http_chrys_frame_done(ngx_event_t *ev);
static ngx_int_t ngx_http_chrys_walk_start(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_str_t *type);
static ngx_int_t ngx_http_chrys_images_pump(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static ngx_int_t ngx_http_chrys_images_step(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_http_chrys_lane_t *lane);
static ngx_uint_t ngx_http_chrys_clean_cut(ngx_chrys_buf_t *buf,
    ngx_uint_t start, ngx_uint_t j);
static void ngx_http_chrys_images_done(ngx_event_t *ev);
static ngx_chain_t *ngx_http_chrys_images_parts(ngx_http_chrys_walk_t *walk,
    ngx_http_chrys_lane_t *lane);
static void ngx_http_chrys_images_writer(ngx_http_request_t *r);
static ngx_int_t ngx_http_chrys_clip_step(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static void ngx_http_chrys_clip_done(ngx_event_t *ev);
static ngx_int_t ngx_http_chrys_walk_output(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_chain_t *out);
static void ngx_http_chrys_walk_writer(ngx_http_request_t *r);
static ngx_int_t ngx_http_chrys_walk_next(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static ngx_int_t ngx_http_chrys_walk_end(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static void ngx_http_chrys_walk_cleanup(void *data);
static void ngx_http_chrys_images_cleanup(void *data);
static ngx_chain_t *ngx_http_chrys_chain(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_chain_t ***last);
static void ngx_http_chrys_event_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_chrys_event_parse(ngx_http_request_t *r,
    u_char *p, u_char *last, ngx_http_chrys_event_args_t *ea);
static ngx_int_t ngx_http_chrys_event_send(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_uint_t status, ngx_uint_t id);
static size_t ngx_http_chrys_event_json_len(ngx_chrys_event_t *ev);
static u_char *ngx_http_chrys_event_json(u_char *p, ngx_chrys_event_t *ev);
static u_char *ngx_http_chrys_json_ws(u_char *p, u_char *last);
static u_char *ngx_http_chrys_json_value(u_char *p, u_char *last,
    ngx_uint_t depth);
static u_char *ngx_http_chrys_json_string(u_char *p, u_char *last);


static ngx_str_t  ngx_http_chrys_mp4_type = ngx_string("video/mp4");
static ngx_str_t  ngx_http_chrys_json_type = ngx_string("application/json");


/* the buffer a request reads: the stream's, or one of its events' */

static ngx_chrys_buf_t *
ngx_http_chrys_source_locked(ngx_http_chrys_ctx_t *ctx,
    ngx_chrys_event_t **evp)
{
    ngx_chrys_event_t  *ev;

    *evp = NULL;

    if (ctx->event == 0) {
        return ctx->stream->buf.entries ? &ctx->stream->buf : NULL;
    }

    ev = ngx_chrys_event_find_locked(ctx->stream, ctx->event);
    if (ev == NULL) {
        return NULL;
    }

    *evp = ev;

    return &ev->buf;
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


/*
 * The buffer a request reads and the range it asks for (from, to): by
 * default the whole buffer, or an event's window.  410 if it ended before
 * the buffer starts, 404 if it starts in the future.  NGX_DECLINED: the
 * range is good and the zone stays locked; else a response, the zone
 * unlocked.
 */

static ngx_int_t
ngx_http_chrys_range_lock(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_chrys_buf_t **bufp, uint64_t *from, uint64_t *to)
{
    ngx_int_t           rc;
    ngx_chrys_buf_t    *buf;
    ngx_chrys_event_t  *ev;

    ngx_shmtx_lock(&ctx->zone->shpool->mutex);

    buf = ngx_http_chrys_source_locked(ctx, &ev);

    if (buf == NULL) {
        ngx_shmtx_unlock(&ctx->zone->shpool->mutex);
        return ngx_http_chrys_no_source(r, ctx);
    }

    rc = ngx_http_chrys_range_check_locked(r, ctx, buf, ev, from, to);

    if (rc != NGX_DECLINED) {
        ngx_shmtx_unlock(&ctx->zone->shpool->mutex);
        return rc;
    }

    *bufp = buf;

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_chrys_range_check_locked(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_chrys_buf_t *buf, ngx_chrys_event_t *ev,
    uint64_t *from, uint64_t *to)
{
    uint64_t  now, start;

    now = ngx_chrys_unix_msec();
    start = buf->count ? ngx_chrys_buf_entry(buf, 0)->time : now;

    *from = ngx_http_chrys_time_arg(ctx, NGX_HTTP_CHRYS_ARG_FROM,
                                    ev ? ev->from : start);
    *to = ngx_http_chrys_time_arg(ctx, NGX_HTTP_CHRYS_ARG_TO,
                                  ev ? ev->to : now);

    if (*from > now) {
        return ngx_http_chrys_error_range(r, NGX_HTTP_NOT_FOUND, buf,
                                          "the range is in the future");
    }

    if (*from > *to) {
        return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                    "parameter \"from\" is after \"to\"");
    }

    if (buf->count == 0 || *to < start) {
        return ngx_http_chrys_error_range(r, NGX_HTTP_CHRYS_GONE, buf,
                                          "the range is no longer in the "
                                          "buffer");
    }

    return NGX_DECLINED;
}


/*
 * index.json: what the buffer holds, and its frames in a range.  The
 * entries in range are copied under the zone lock and formatted after it,
 * so that a long index holds up no other worker.
 */

ngx_int_t
ngx_http_chrys_index(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    uint64_t                 from, to;
    ngx_int_t                rc;
    ngx_chrys_buf_t         *buf;
    ngx_chrys_event_t       *ev;
    ngx_http_chrys_index_t   ix;

    from = ngx_http_chrys_time_arg(ctx, NGX_HTTP_CHRYS_ARG_FROM, 0);
    to = ngx_http_chrys_time_arg(ctx, NGX_HTTP_CHRYS_ARG_TO, (uint64_t) -1);

    ngx_shmtx_lock(&ctx->zone->shpool->mutex);

    buf = ngx_http_chrys_source_locked(ctx, &ev);

    if (buf == NULL) {
        ngx_shmtx_unlock(&ctx->zone->shpool->mutex);
        return ngx_http_chrys_no_source(r, ctx);
    }

    rc = ngx_http_chrys_index_copy_locked(r, ctx->stream, buf, from, to, &ix);

    ngx_shmtx_unlock(&ctx->zone->shpool->mutex);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_chrys_index_send(r, ctx->stream, &ix, from, to);
}


/* the figures of the buffer and a copy of its entries in [from, to] */

static ngx_int_t
ngx_http_chrys_index_copy_locked(ngx_http_request_t *r,
    ngx_chrys_stream_t *st, ngx_chrys_buf_t *buf, uint64_t from, uint64_t to,
    ngx_http_chrys_index_t *ix)
{
    ngx_int_t   first, last;
    ngx_uint_t  i;

    /* entries are in arrival order: [first, last] is the range */

    first = (from == 0) ? 0 : ngx_chrys_buf_find_time(buf, from - 1) + 1;
    last = ngx_chrys_buf_find_time(buf, to);

    ix->n = (last >= first) ? (ngx_uint_t) (last - first + 1) : 0;

    /* copies: their data and config pointers are not followed */

    ix->entries = ngx_palloc(r->pool,
                             ngx_max(ix->n, 1) * sizeof(ngx_chrys_entry_t));
    if (ix->entries == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < ix->n; i++) {
        ix->entries[i] = *ngx_chrys_buf_entry(buf, first + i);
    }

    ix->count = buf->count;
    ix->start = buf->count ? ngx_chrys_buf_entry(buf, 0)->time : 0;
    ix->end = buf->count ? ngx_chrys_buf_entry(buf, buf->count - 1)->time
                         : 0;
    ix->bytes = buf->bytes;
    ix->window = buf->window;
    ix->max_bytes = buf->max_bytes;
    ix->width = buf->config ? buf->config->width : st->width;
    ix->height = buf->config ? buf->config->height : st->height;

    return NGX_OK;
}


static ngx_int_t
ngx_http_chrys_index_send(ngx_http_request_t *r, ngx_chrys_stream_t *st,
    ngx_http_chrys_index_t *ix, uint64_t from, uint64_t to)
{
    u_char             *p, *last;
    size_t              len;
    int64_t             duration;
    ngx_uint_t          i, fps;
    ngx_chrys_entry_t  *e;

    len = 1024 + st->app_len + st->name_len
          + ngx_escape_json(NULL, st->key, st->app_len + 1 + st->name_len)
          + ix->n * (sizeof("{\"seq\":,\"pts\":,\"time\":,\"keyframe\":false,"
                            "\"size\":},") + 4 * NGX_INT64_LEN);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    duration = ix->end - ix->start;
    fps = (ix->count > 1 && duration > 0)
          ? (ix->count - 1) * 100000 / duration : 0;

    last = ngx_cpymem(p, "{\"app\":", 7);
    last = ngx_http_chrys_json_str(last, st->key, st->app_len);
    last = ngx_cpymem(last, ",\"name\":", 8);
    last = ngx_http_chrys_json_str(last, st->key + st->app_len + 1,
                                   st->name_len);

    last = ngx_sprintf(last, ",\"start\":%uL,\"end\":%uL,\"duration\":%L,"
                       "\"frames\":%ui,\"fps\":%ui.%02ui,\"bytes\":%uz,"
                       "\"window\":%M,\"max_bytes\":%uz,",
                       ix->start, ix->end, duration, ix->count, fps / 100,
                       fps % 100, ix->bytes, ix->window, ix->max_bytes);

    last = ngx_sprintf(last, "\"codec\":{\"name\":\"h264\",\"width\":%ui,"
                       "\"height\":%ui,\"profile\":%ui,\"level\":%ui},"
                       "\"from\":%uL,\"to\":%uL,\"index\":[",
                       ix->width, ix->height, st->profile, st->level,
                       from, to == (uint64_t) -1 ? ix->end : to);

    for (i = 0; i < ix->n; i++) {
        e = &ix->entries[i];

        last = ngx_sprintf(last, "%s{\"seq\":%ui,\"pts\":%L,\"time\":%uL,"
                           "\"keyframe\":%s,\"size\":%uD}",
                           i ? "," : "", e->seq, e->pts, e->time,
                           (e->flags & NGX_CHRYS_ENTRY_IDR) ? "true"
                                                            : "false",
                           e->size);
    }

    last = ngx_cpymem(last, "]}\n", 3);

    return ngx_http_chrys_send(r, NGX_HTTP_OK, &ngx_http_chrys_json_type, p,
                               last - p);
}


/* frame.jpg?time=T|seq=N[&keyframe=1]: one frame out of the buffer */

ngx_int_t
ngx_http_chrys_frame(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    uint64_t             t, now;
    ngx_int_t            i, start, rc;
    ngx_uint_t           seq;
    ngx_chrys_buf_t     *buf;
    ngx_chrys_gop_t     *gop;
    ngx_chrys_entry_t   *first, *last;
    ngx_chrys_event_t   *ev;
    ngx_thread_task_t   *task;
    ngx_chrys_replay_t  *rp;

    if (!ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_TIME)
        && !ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_SEQ))
    {
        return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                    "parameter \"time\" or \"seq\" is "
                                    "needed");
    }

    ngx_shmtx_lock(&ctx->zone->shpool->mutex);

    buf = ngx_http_chrys_source_locked(ctx, &ev);

    if (buf == NULL) {
        ngx_shmtx_unlock(&ctx->zone->shpool->mutex);
        return ngx_http_chrys_no_source(r, ctx);
    }

    if (buf->count == 0) {
        ngx_shmtx_unlock(&ctx->zone->shpool->mutex);
        return ngx_http_chrys_error_range(r, NGX_HTTP_NOT_FOUND, buf,
                                          "the buffer is empty");
    }

    first = ngx_chrys_buf_entry(buf, 0);
    last = ngx_chrys_buf_entry(buf, buf->count - 1);

    if (ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_SEQ)) {
        seq = ctx->args[NGX_HTTP_CHRYS_ARG_SEQ];

        if (seq < first->seq || seq > last->seq) {
            ngx_shmtx_unlock(&ctx->zone->shpool->mutex);

            return ngx_http_chrys_error_range(r, seq < first->seq
                                                 ? NGX_HTTP_CHRYS_GONE
                                                 : NGX_HTTP_NOT_FOUND,
                                              buf, seq < first->seq
                                                   ? "the frame is no longer "
                                                     "in the buffer"
                                                   : "no such frame yet");
        }

        i = ngx_chrys_buf_find_seq(buf, seq);

    } else {
        t = ngx_http_chrys_time_arg(ctx, NGX_HTTP_CHRYS_ARG_TIME, 0);
        now = ngx_chrys_unix_msec();

        if (t < first->time || t > now) {
            ngx_shmtx_unlock(&ctx->zone->shpool->mutex);

            return ngx_http_chrys_error_range(r, t < first->time
                                                 ? NGX_HTTP_CHRYS_GONE
                                                 : NGX_HTTP_NOT_FOUND,
                                              buf, t < first->time
                                                   ? "the time is no longer "
                                                     "in the buffer"
                                                   : "the time is in the "
                                                     "future");
        }

        i = ngx_chrys_buf_find_time(buf, t);
    }

    start = ngx_chrys_buf_gop_start(buf, i);

    if (start < 0) {
        ngx_shmtx_unlock(&ctx->zone->shpool->mutex);
        return ngx_http_chrys_error_range(r, NGX_HTTP_CHRYS_GONE, buf,
                                          "the keyframe this frame needs is "
                                          "no longer in the buffer");
    }

    if (ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_KEYFRAME)
        && ctx->args[NGX_HTTP_CHRYS_ARG_KEYFRAME])
    {
        i = start;
    }

    gop = ngx_chrys_buf_copy_locked(buf, start, i, r->connection->log);
    seq = ngx_chrys_buf_entry(buf, i)->seq;

    ngx_shmtx_unlock(&ctx->zone->shpool->mutex);

    if (gop == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
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
    rp->quality = ctx->quality;
    rp->width = ctx->width;
    rp->height = ctx->height;
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
    u_char                 *p;
    uint64_t                from, to, next;
    ngx_int_t               rc;
    ngx_str_t               type;
    ngx_uint_t              i, n, interval, limit, *want;
    ngx_chrys_buf_t        *buf;
    ngx_chrys_entry_t      *e;
    ngx_http_chrys_walk_t  *walk;

    interval = ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_INTERVAL)
               ? ctx->args[NGX_HTTP_CHRYS_ARG_INTERVAL] : 0;
    limit = ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_LIMIT)
            ? ctx->args[NGX_HTTP_CHRYS_ARG_LIMIT] : NGX_HTTP_CHRYS_IMAGES_MAX;

    walk = ngx_pcalloc(r->pool, sizeof(ngx_http_chrys_walk_t));
    if (walk == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->walk = walk;

    rc = ngx_http_chrys_range_lock(r, ctx, &buf, &from, &to);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_chrys_out_size(r, ctx, buf->config->width,
                                 buf->config->height);
    if (rc != NGX_DECLINED) {
        ngx_shmtx_unlock(&ctx->zone->shpool->mutex);
        return rc;
    }

    /* the frames: all in the range, or the first of each interval */

    n = 0;
    next = from;

    for (i = 0; i < buf->count; i++) {
        e = ngx_chrys_buf_entry(buf, i);

        if (e->time < next || e->time > to) {
            continue;
        }

        n++;
        next = interval ? e->time + interval : e->time;
    }

    if (n > limit && !ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_LIMIT)) {
        ngx_shmtx_unlock(&ctx->zone->shpool->mutex);
        return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                    "%ui images in the range, at most %d: "
                                    "use \"interval\" or \"limit\"",
                                    n, NGX_HTTP_CHRYS_IMAGES_MAX);
    }

    n = ngx_min(n, limit);

    want = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_uint_t));
    if (want == NULL) {
        ngx_shmtx_unlock(&ctx->zone->shpool->mutex);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    walk->want = want;
    next = from;

    for (i = 0; i < buf->count && walk->nwant < n; i++) {
        e = ngx_chrys_buf_entry(buf, i);

        if (e->time < next || e->time > to) {
            continue;
        }

        want[walk->nwant++] = e->seq;
        next = interval ? e->time + interval : e->time;
    }

    ngx_shmtx_unlock(&ctx->zone->shpool->mutex);

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

    return ngx_http_chrys_walk_start(r, ctx, &type);
}


/* clip.mp4?from=&to=: the range as fragmented MP4, GOP by GOP */

ngx_int_t
ngx_http_chrys_clip(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    uint64_t                from, to;
    ngx_int_t               rc, i, start;
    ngx_chrys_buf_t        *buf;
    ngx_http_chrys_walk_t  *walk;

    walk = ngx_pcalloc(r->pool, sizeof(ngx_http_chrys_walk_t) + 2
                                * sizeof(ngx_uint_t));
    if (walk == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->walk = walk;

    rc = ngx_http_chrys_range_lock(r, ctx, &buf, &from, &to);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* from the IDR at or before "from" (or the first one after it) */

    i = ngx_chrys_buf_find_time(buf, from);
    start = ngx_chrys_buf_gop_start(buf, i < 0 ? 0 : i);

    if (start < 0) {
        for (start = (i < 0) ? 0 : i;
             (ngx_uint_t) start < buf->count
             && !(ngx_chrys_buf_entry(buf, start)->flags
                  & NGX_CHRYS_ENTRY_IDR);
             start++)
        {
            /* void */
        }
    }

    i = ngx_chrys_buf_find_time(buf, to);

    if ((ngx_uint_t) start >= buf->count || i < start) {
        ngx_shmtx_unlock(&ctx->zone->shpool->mutex);
        return ngx_http_chrys_error_range(r, NGX_HTTP_CHRYS_GONE, buf,
                                          "no keyframe in the range");
    }

    /* want[0]: the next seq to mux; walk->last: the last one */
    walk->want = (ngx_uint_t *) (walk + 1);
    walk->want[0] = ngx_chrys_buf_entry(buf, start)->seq;
    walk->nwant = 1;
    walk->last = ngx_chrys_buf_entry(buf, i)->seq;

    ngx_shmtx_unlock(&ctx->zone->shpool->mutex);

    return ngx_http_chrys_walk_start(r, ctx, &ngx_http_chrys_mp4_type);
}


/* sends the response header and starts the first step */

static ngx_int_t
ngx_http_chrys_walk_start(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_str_t *type)
{
    ngx_int_t            rc;
    ngx_str_t            v;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_chrys_walk_cleanup;
    cln->data = ctx->walk;

    (void) ngx_atomic_fetch_add(&ctx->zone->sh->clients_walking, 1);
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

        v.len = ngx_sprintf(v.data, "%ui", ctx->walk->nwant) - v.data;

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
                /* the writer calls again once the client took it */
                r->write_event_handler = ngx_http_chrys_images_writer;
                return NGX_DONE;
            }

            ngx_destroy_pool(lane->pool);
            lane->pool = NULL;
            lane->state = NGX_HTTP_CHRYS_LANE_FREE;
            walk->sent++;
        }

        for (i = 0; i < NGX_HTTP_CHRYS_LANES && !walk->done; i++) {
            lane = &walk->lanes[i];

            if (lane->state == NGX_HTTP_CHRYS_LANE_FREE
                && ngx_http_chrys_images_step(r, ctx, lane) != NGX_OK)
            {
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
                out = ngx_http_chrys_images_parts(walk, lane);

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


/*
 * Whether a GOP can be cut before entry "j" with every frame after the cut
 * shown after every frame before it: with B-frames, only before some of
 * the reference frames.  Steps are cut there, so that their images go out
 * in display order.
 */

static ngx_uint_t
ngx_http_chrys_clean_cut(ngx_chrys_buf_t *buf, ngx_uint_t start, ngx_uint_t j)
{
    int64_t             max;
    ngx_uint_t          i;
    ngx_chrys_entry_t  *e;

    max = ngx_chrys_buf_entry(buf, start)->pts;

    for (i = start + 1; i < j; i++) {
        max = ngx_max(max, ngx_chrys_buf_entry(buf, i)->pts);
    }

    for (i = j; i < buf->count; i++) {
        e = ngx_chrys_buf_entry(buf, i);

        if (e->flags & NGX_CHRYS_ENTRY_IDR) {
            break;
        }

        if (e->pts <= max) {
            return 0;
        }
    }

    return 1;
}


/* starts the next step in a free lane, if there is one to take */

static ngx_int_t
ngx_http_chrys_images_step(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_http_chrys_lane_t *lane)
{
    ngx_int_t               i, j, start, end;
    ngx_uint_t              k, max;
    ngx_chrys_buf_t        *buf;
    ngx_chrys_gop_t        *gop;
    ngx_chrys_entry_t      *e;
    ngx_chrys_event_t      *ev;
    ngx_chrys_replay_t     *rp;
    ngx_http_chrys_walk_t  *walk;

    walk = ctx->walk;
    rp = &lane->replay;
    gop = NULL;

    /* a short first step: the first picture goes out early */
    max = walk->steps ? NGX_HTTP_CHRYS_STEP_IMAGES : 2;

    ngx_shmtx_lock(&ctx->zone->shpool->mutex);

    buf = ngx_http_chrys_source_locked(ctx, &ev);

    /* the next wanted frame still in the buffer, with its IDR */

    for ( /* void */ ; buf && walk->next < walk->nwant; walk->next++) {
        i = ngx_chrys_buf_find_seq(buf, walk->want[walk->next]);

        if (i < 0 || ngx_chrys_buf_entry(buf, i)->seq
                     != walk->want[walk->next])
        {
            continue;
        }

        start = ngx_chrys_buf_gop_start(buf, i);

        if (start < 0) {
            continue;
        }

        /* this GOP's wanted frames, up to the next IDR */

        k = walk->next + 1;
        end = i;

        for (j = i + 1; (ngx_uint_t) j < buf->count && k < walk->nwant;
             j++)
        {
            e = ngx_chrys_buf_entry(buf, j);

            if (e->flags & NGX_CHRYS_ENTRY_IDR) {
                break;
            }

            if (k - walk->next >= max
                && ngx_http_chrys_clean_cut(buf, start, j))
            {
                break;
            }

            if (e->seq == walk->want[k]) {
                end = j;
                k++;
            }
        }

        gop = ngx_chrys_buf_copy_locked(buf, start, end, r->connection->log);

        rp->want = &walk->want[walk->next];
        rp->nwant = k - walk->next;
        walk->next = k;

        break;
    }

    ngx_shmtx_unlock(&ctx->zone->shpool->mutex);

    if (gop == NULL) {
        /* nothing more: frames evicted meanwhile are left out */
        walk->done = 1;
        return NGX_OK;
    }

    lane->pool = ngx_create_pool(4096, r->connection->log);
    if (lane->pool == NULL) {
        ngx_chrys_gop_free(gop);
        return NGX_ERROR;
    }

    rp->gop = gop;
    rp->quality = ctx->quality;
    rp->width = ctx->width;
    rp->height = ctx->height;
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
ngx_http_chrys_images_parts(ngx_http_chrys_walk_t *walk,
    ngx_http_chrys_lane_t *lane)
{
    u_char              *p, *end;
    ngx_uint_t           i;
    ngx_chain_t         *out, **last;
    ngx_chrys_image_t   *img;
    ngx_chrys_replay_t  *rp;

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
    ngx_int_t               i, j;
    ngx_chrys_buf_t        *buf;
    ngx_chrys_gop_t        *gop;
    ngx_chrys_mux_t        *mux;
    ngx_chrys_event_t      *ev;
    ngx_thread_task_t      *task;
    ngx_http_chrys_walk_t  *walk;

    walk = ctx->walk;
    mux = &walk->mux;
    gop = NULL;

    ngx_shmtx_lock(&ctx->zone->shpool->mutex);

    buf = ngx_http_chrys_source_locked(ctx, &ev);

    if (buf && buf->count) {
        i = ngx_chrys_buf_find_seq(buf, walk->want[0]);

        if (i < 0 || ngx_chrys_buf_entry(buf, i)->seq != walk->want[0]) {
            /* evicted meanwhile: go on at the next IDR */
            for (i = (i < 0) ? 0 : i + 1;
                 (ngx_uint_t) i < buf->count
                 && !(ngx_chrys_buf_entry(buf, i)->flags
                      & NGX_CHRYS_ENTRY_IDR);
                 i++)
            {
                /* void */
            }
        }

        if ((ngx_uint_t) i < buf->count
            && ngx_chrys_buf_entry(buf, i)->seq <= walk->last)
        {
            /* up to the next IDR, or the end of the range */

            for (j = i + 1; (ngx_uint_t) j < buf->count; j++) {
                if ((ngx_chrys_buf_entry(buf, j)->flags
                     & NGX_CHRYS_ENTRY_IDR)
                    || ngx_chrys_buf_entry(buf, j)->seq > walk->last)
                {
                    break;
                }
            }

            gop = ngx_chrys_buf_copy_locked(buf, i, j - 1,
                                            r->connection->log);

            mux->last = ((ngx_uint_t) j >= buf->count
                         || ngx_chrys_buf_entry(buf, j)->seq > walk->last);

            if ((ngx_uint_t) j < buf->count) {
                walk->want[0] = ngx_chrys_buf_entry(buf, j)->seq;
            }
        }
    }

    ngx_shmtx_unlock(&ctx->zone->shpool->mutex);

    if (gop == NULL) {
        if (!mux->started) {
            walk->done = 1;
            return ngx_http_chrys_walk_next(r, ctx);
        }

        /* the rest left the buffer: end the file where it is */
        mux->last = 1;
    }

    mux->gop = gop;
    mux->len = 0;

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

    if (c->error || mux->rc != NGX_OK) {
        if (mux->rc != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0, "chrys: clip of \"%*s\": %s",
                          ctx->stream->app_len + 1 + ctx->stream->name_len,
                          ctx->stream->key, mux->error);
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


static void
ngx_http_chrys_walk_cleanup(void *data)
{
    ngx_http_chrys_walk_t  *walk = data;

    ngx_uint_t  i;

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
    u_char              *p, *last;
    size_t               len;
    ngx_int_t            rc;
    ngx_queue_t         *q;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;

    if (r->method == NGX_HTTP_POST) {

        if (r->headers_in.content_length_n > NGX_HTTP_CHRYS_BODY_MAX) {
            return ngx_http_chrys_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "an event body is at most %d bytes",
                                        NGX_HTTP_CHRYS_BODY_MAX);
        }

        r->request_body_in_single_buf = 1;

        rc = ngx_http_read_client_request_body(r, ngx_http_chrys_event_body);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    st = ctx->stream;

    ngx_shmtx_lock(&ctx->zone->shpool->mutex);

    len = sizeof("{\"events\":[]}\n");

    for (q = ngx_queue_head(&st->events);
         q != ngx_queue_sentinel(&st->events);
         q = ngx_queue_next(q))
    {
        ev = ngx_queue_data(q, ngx_chrys_event_t, queue);
        len += ngx_http_chrys_event_json_len(ev) + 1;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        ngx_shmtx_unlock(&ctx->zone->shpool->mutex);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_cpymem(p, "{\"events\":[", sizeof("{\"events\":[") - 1);

    for (q = ngx_queue_head(&st->events);
         q != ngx_queue_sentinel(&st->events);
         q = ngx_queue_next(q))
    {
        if (q != ngx_queue_head(&st->events)) {
            *last++ = ',';
        }

        ev = ngx_queue_data(q, ngx_chrys_event_t, queue);
        last = ngx_http_chrys_event_json(last, ev);
    }

    ngx_shmtx_unlock(&ctx->zone->shpool->mutex);

    last = ngx_cpymem(last, "]}\n", 3);

    return ngx_http_chrys_send(r, NGX_HTTP_OK, &ngx_http_chrys_json_type, p,
                               last - p);
}


static void
ngx_http_chrys_event_body(ngx_http_request_t *r)
{
    u_char                       *p, *last;
    size_t                        len;
    ngx_int_t                     rc;
    ngx_uint_t                    status;
    ngx_chain_t                  *cl;
    ngx_chrys_event_t            *ev;
    ngx_http_chrys_ctx_t         *ctx;
    ngx_http_chrys_event_args_t   ea;

    ctx = ngx_http_get_module_ctx(r, ngx_http_chrys_module);

    p = NULL;
    last = NULL;

    if (r->request_body && r->request_body->bufs) {

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
            rc = ngx_http_chrys_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "an event body is at most %d bytes",
                                      NGX_HTTP_CHRYS_BODY_MAX);
            goto done;
        }

        p = ngx_pnalloc(r->pool, len + 1);
        if (p == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        last = p;

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            last = ngx_cpymem(last, cl->buf->pos, cl->buf->last - cl->buf->pos);
        }
    }

    rc = ngx_http_chrys_event_parse(r, p, last, &ea);
    if (rc != NGX_DECLINED) {
        goto done;
    }

    ev = ngx_chrys_event_create(ctx->zone, ctx->stream, &ea.label, &ea.meta,
                                ea.pre, ea.post, &status);
    if (ev == NULL) {
        rc = ngx_http_chrys_error(r, status,
                                  status == NGX_CHRYS_CONFLICT
                                  ? "the stream has %d events, delete some"
                                  : "the event budget is used up "
                                    "(\"chrys_event_budget\"), delete "
                                    "some events",
                                  NGX_CHRYS_EVENTS_MAX);
        goto done;
    }

    rc = ngx_http_chrys_event_send(r, ctx, NGX_HTTP_CREATED, ev->id);

done:

    ngx_http_finalize_request(r, rc);
}


/* the JSON body of a new event; NGX_DECLINED when it is fine */

static ngx_int_t
ngx_http_chrys_event_parse(ngx_http_request_t *r, u_char *p, u_char *last,
    ngx_http_chrys_event_args_t *ea)
{
    u_char     *key, *kend, *val, *vend;
    size_t      klen;
    ngx_int_t   n;

    ngx_memzero(ea, sizeof(ngx_http_chrys_event_args_t));
    ea->pre = NGX_HTTP_CHRYS_DEFAULT_PRE;
    ea->post = NGX_HTTP_CHRYS_DEFAULT_POST;

    p = ngx_http_chrys_json_ws(p, last);

    if (p == last) {
        return NGX_DECLINED;
    }

    if (*p++ != '{') {
        goto invalid;
    }

    p = ngx_http_chrys_json_ws(p, last);

    if (p < last && *p == '}') {
        p++;
        goto end;
    }

    for ( ;; ) {
        key = p;
        kend = ngx_http_chrys_json_string(p, last);
        if (kend == NULL) {
            goto invalid;
        }

        p = ngx_http_chrys_json_ws(kend, last);

        if (p == last || *p++ != ':') {
            goto invalid;
        }

        val = ngx_http_chrys_json_ws(p, last);
        vend = ngx_http_chrys_json_value(val, last, 0);
        if (vend == NULL) {
            goto invalid;
        }

        klen = kend - key;

        if (klen == 7 && ngx_strncmp(key, "\"label\"", 7) == 0) {
            if (*val != '"' || (size_t) (vend - val) > NGX_CHRYS_LABEL_LEN) {
                return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                            "\"label\" must be a string of "
                                            "at most %d bytes",
                                            NGX_CHRYS_LABEL_LEN - 2);
            }

            ea->label.data = val;
            ea->label.len = vend - val;

        } else if (klen == 6 && ngx_strncmp(key, "\"meta\"", 6) == 0) {
            if ((size_t) (vend - val) > NGX_CHRYS_META_MAX) {
                return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                            "\"meta\" is at most %d bytes "
                                            "of JSON", NGX_CHRYS_META_MAX);
            }

            ea->meta.data = val;
            ea->meta.len = vend - val;

        } else if ((klen == 5 && ngx_strncmp(key, "\"pre\"", 5) == 0)
                   || (klen == 6 && ngx_strncmp(key, "\"post\"", 6) == 0))
        {
            n = ngx_atoi(val, vend - val);

            if (n == NGX_ERROR || n > NGX_HTTP_CHRYS_PRE_MAX) {
                return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                            "\"%*s\" must be an integer "
                                            "from 0 to %d (ms)",
                                            klen - 2, key + 1,
                                            NGX_HTTP_CHRYS_PRE_MAX);
            }

            if (klen == 5) {
                ea->pre = n;

            } else {
                ea->post = n;
            }
        }

        p = ngx_http_chrys_json_ws(vend, last);

        if (p < last && *p == ',') {
            p = ngx_http_chrys_json_ws(p + 1, last);
            continue;
        }

        if (p < last && *p == '}') {
            p++;
            break;
        }

        goto invalid;
    }

end:

    if (ngx_http_chrys_json_ws(p, last) == last) {
        return NGX_DECLINED;
    }

invalid:

    return ngx_http_chrys_error(r, NGX_HTTP_BAD_REQUEST,
                                "the body must be a JSON object, e.g. "
                                "{\"label\":\"person\",\"pre\":5000,"
                                "\"post\":5000,\"meta\":{}}");
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

        return ngx_http_chrys_send(r, NGX_HTTP_OK, &ngx_http_chrys_json_type,
                                   p, last - p);
    }

    return ngx_http_chrys_event_send(r, ctx, NGX_HTTP_OK, ctx->event);
}


static ngx_int_t
ngx_http_chrys_event_send(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_uint_t status, ngx_uint_t id)
{
    u_char             *p, *last;
    ngx_chrys_event_t  *ev;

    ngx_shmtx_lock(&ctx->zone->shpool->mutex);

    ev = ngx_chrys_event_find_locked(ctx->stream, id);

    if (ev == NULL) {
        ngx_shmtx_unlock(&ctx->zone->shpool->mutex);
        return ngx_http_chrys_error(r, NGX_HTTP_NOT_FOUND, "no such event");
    }

    p = ngx_pnalloc(r->pool, ngx_http_chrys_event_json_len(ev) + 1);
    if (p == NULL) {
        ngx_shmtx_unlock(&ctx->zone->shpool->mutex);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_http_chrys_event_json(p, ev);

    ngx_shmtx_unlock(&ctx->zone->shpool->mutex);

    *last++ = '\n';

    return ngx_http_chrys_send(r, status, &ngx_http_chrys_json_type, p,
                               last - p);
}


static size_t
ngx_http_chrys_event_json_len(ngx_chrys_event_t *ev)
{
    return sizeof("{\"id\":,\"label\":,\"time\":,\"pre\":,\"post\":,"
                  "\"from\":,\"to\":,\"complete\":false,"
                  "\"truncated\":false,\"frames\":,\"bytes\":,\"start\":,"
                  "\"end\":,\"meta\":null}") + 10 * NGX_INT64_LEN
           + ev->label_len + ev->meta_len + 4;
}


static u_char *
ngx_http_chrys_event_json(u_char *p, ngx_chrys_event_t *ev)
{
    ngx_chrys_buf_t  *buf;

    buf = &ev->buf;

    p = ngx_sprintf(p, "{\"id\":%ui,\"label\":", ev->id);

    /* label and meta were checked to be JSON: they go out as they came */

    if (ev->label_len) {
        p = ngx_cpymem(p, ev->label, ev->label_len);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    p = ngx_sprintf(p, ",\"time\":%uL,\"pre\":%M,\"post\":%M,\"from\":%uL,"
                    "\"to\":%uL,\"complete\":%s,\"truncated\":%s,"
                    "\"frames\":%ui,\"bytes\":%uz,\"start\":%uL,"
                    "\"end\":%uL,\"meta\":",
                    ev->time, ev->pre, ev->post, ev->from, ev->to,
                    ngx_chrys_unix_msec() >= ev->to ? "true" : "false",
                    ev->truncated ? "true" : "false",
                    buf->count, buf->bytes,
                    buf->count ? ngx_chrys_buf_entry(buf, 0)->time : 0,
                    buf->count ? ngx_chrys_buf_entry(buf, buf->count - 1)->time
                               : 0);

    if (ev->meta_len) {
        p = ngx_cpymem(p, ev->meta, ev->meta_len);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    *p++ = '}';

    return p;
}


/* a small strict JSON reader: just enough to check and slice a body */

static u_char *
ngx_http_chrys_json_ws(u_char *p, u_char *last)
{
    while (p < last
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


static u_char *
ngx_http_chrys_json_value(u_char *p, u_char *last, ngx_uint_t depth)
{
    u_char  close;

    if (p == last || depth > 16) {
        return NULL;
    }

    switch (*p) {

    case '"':
        return ngx_http_chrys_json_string(p, last);

    case '{':
    case '[':
        close = (*p == '{') ? '}' : ']';
        p = ngx_http_chrys_json_ws(p + 1, last);

        if (p < last && *p == close) {
            return p + 1;
        }

        for ( ;; ) {
            if (close == '}') {
                p = ngx_http_chrys_json_string(p, last);
                if (p == NULL) {
                    return NULL;
                }

                p = ngx_http_chrys_json_ws(p, last);

                if (p == last || *p++ != ':') {
                    return NULL;
                }

                p = ngx_http_chrys_json_ws(p, last);
            }

            p = ngx_http_chrys_json_value(p, last, depth + 1);
            if (p == NULL) {
                return NULL;
            }

            p = ngx_http_chrys_json_ws(p, last);

            if (p == last) {
                return NULL;
            }

            if (*p == close) {
                return p + 1;
            }

            if (*p++ != ',') {
                return NULL;
            }

            p = ngx_http_chrys_json_ws(p, last);
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


static u_char *
ngx_http_chrys_json_string(u_char *p, u_char *last)
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
