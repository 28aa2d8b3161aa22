
/*
 * Copyright (C) chrys authors
 *
 * The newest picture of a stream, from any worker: latest.jpg,
 * latest.raw and the live.mjpg stream.  A picture is encoded once per
 * variant (quality and size) and frame for all workers, through the JPEG
 * cache of the zone, and kept by each worker that served it in a small
 * cache of its own.  Waiting (for a new frame, or for an encode another
 * request started) holds no thread: a per-worker timer checks the zone.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_chrys_http.h"


/*
 * An encode of the newest picture of a stream, as a thread task's context:
 * the slot it reads was pinned by ngx_chrys_jpeg_acquire(); if the decoder
 * reuses the slot meanwhile the encoder still reads inside the zone, and
 * its seq tells (a sequence lock): the image is then thrown away.
 */

typedef struct {
    ngx_chrys_slot_t             *slot;
    u_char                       *planes;
    ngx_uint_t                    seq;
    ngx_chrys_look_t              look;
    ngx_chrys_image_t             image;
    ngx_int_t                     rc;         /* NGX_DECLINED: overwritten */
    ngx_uint_t                    usec;
} ngx_http_chrys_encode_t;


#define NGX_HTTP_CHRYS_POLL            5
#define NGX_HTTP_CHRYS_MAX_TRIES       4
#define NGX_HTTP_CHRYS_LOCALS          16
#define NGX_HTTP_CHRYS_PART_HEAD       (NGX_HTTP_CHRYS_FRAME_FIELDS_LEN + 128)


/*
 * A picture this worker served lately, in its own memory: asked again,
 * it goes out without the zone's lock or a copy.
 */

typedef struct {
    uint64_t                      stream;     /* its id */
    ngx_uint_t                    variant;
    ngx_uint_t                    format;
    ngx_chrys_frame_t             frame;
    u_char                       *data;
    size_t                        len;
    ngx_uint_t                    stride;
    ngx_uint_t                    refs;       /* responses sending it */
    ngx_msec_t                    used;
} ngx_http_chrys_local_t;


/* a live.mjpg response: one part in flight, whatever the client's pace */

typedef struct {
    ngx_buf_t                     head;
    ngx_buf_t                     body;
    ngx_buf_t                     tail;
    ngx_chain_t                   out[3];
    u_char                       *data;       /* the part's picture */
    size_t                        size;
    ngx_uint_t                    cursor;     /* seq of the last part */
    ngx_msec_t                    next;       /* no part before that */
    ngx_msec_t                    interval;
    time_t                        until;      /* chrys_mjpeg_until, or 0 */
    unsigned                      sending:1;
} ngx_http_chrys_mjpeg_t;


/* whether the response's chrys_mjpeg_until time has come */
#define ngx_http_chrys_mjpeg_over(mj)                                        \
    ((mj)->until && ngx_time() >= (mj)->until)


static time_t ngx_http_chrys_mjpeg_until(ngx_http_request_t *r);
static ngx_int_t ngx_http_chrys_mjpeg_start(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static ngx_int_t ngx_http_chrys_picture(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static ngx_int_t ngx_http_chrys_encode(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static void ngx_http_chrys_encode_handler(void *data, ngx_log_t *log);
static void ngx_http_chrys_encoded(ngx_event_t *ev);
static ngx_int_t ngx_http_chrys_deliver(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_http_chrys_local_t *local, u_char *data,
    size_t len, ngx_uint_t stride);
static ngx_int_t ngx_http_chrys_send_raw(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, u_char *data, size_t len, ngx_uint_t stride);
static ngx_int_t ngx_http_chrys_mjpeg_part(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, u_char *data, size_t len);
static void ngx_http_chrys_mjpeg_writer(ngx_http_request_t *r);
static ngx_int_t ngx_http_chrys_mjpeg_end(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
static void ngx_http_chrys_mjpeg_free(void *data);
static ngx_http_chrys_local_t *ngx_http_chrys_local_find(
    ngx_http_chrys_ctx_t *ctx, ngx_uint_t seq);
static ngx_http_chrys_local_t *ngx_http_chrys_local_store(
    ngx_http_chrys_ctx_t *ctx, u_char *data, size_t len, ngx_uint_t stride,
    ngx_uint_t copy);
static ngx_uint_t ngx_http_chrys_local_room(ngx_http_chrys_ctx_t *ctx,
    ngx_http_chrys_local_t *found, size_t len);
static void ngx_http_chrys_local_drop(ngx_http_chrys_local_t *local);
static void ngx_http_chrys_local_release(void *data);
static void ngx_http_chrys_free_image(void *data);
static void ngx_http_chrys_free_copy(void *data);
static ngx_uint_t ngx_http_chrys_ready(ngx_http_chrys_ctx_t *ctx);
static ngx_uint_t ngx_http_chrys_stale(ngx_http_chrys_ctx_t *ctx);
static ngx_uint_t ngx_http_chrys_waking(ngx_http_chrys_ctx_t *ctx);
static void ngx_http_chrys_tick(ngx_event_t *ev);
static void ngx_http_chrys_resume(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);


static ngx_str_t  ngx_http_chrys_mjpeg_type =
    ngx_string("multipart/x-mixed-replace; boundary=chrysframe");
static ngx_str_t  ngx_http_chrys_raw_type =
    ngx_string("application/octet-stream");


static ngx_http_chrys_local_t  ngx_http_chrys_locals[NGX_HTTP_CHRYS_LOCALS];
static size_t                  ngx_http_chrys_locals_bytes;

/* requests of this worker that wait, and the timer that checks them */
static ngx_queue_t  ngx_http_chrys_waiters;
static ngx_event_t  ngx_http_chrys_timer;


/*
 * latest.jpg, latest.raw, and each part of live.mjpg: the newest picture,
 * or with "after" the first one newer than that seq.  Returns NGX_DONE
 * while it waits or encodes; every wait comes back here.
 */

ngx_int_t
ngx_http_chrys_live(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    ngx_int_t                rc;
    ngx_uint_t               seq, after;
    ngx_chrys_stream_t      *st;
    ngx_http_chrys_mjpeg_t  *mj;

    st = ctx->stream;
    seq = st->pictures.latest_seq;

    /* pictures are copied into the zone while somebody asks */
    ngx_chrys_stream_want(ctx->zone, st);

    if (ctx->endpoint == NGX_HTTP_CHRYS_MJPEG && ctx->mjpeg == NULL) {
        rc = ngx_http_chrys_mjpeg_start(r, ctx);

        if (rc != NGX_DECLINED) {
            /* an error, or a HEAD: answered */
            return rc;
        }
    }

    mj = ctx->mjpeg;

    if (mj && ngx_http_chrys_mjpeg_over(mj) && !mj->sending) {
        /* the time the location gave it is over (a share link's) */
        return ngx_http_chrys_mjpeg_end(r, ctx);
    }

    if (ngx_http_chrys_waking(ctx)) {
        /*
         * a stream decoded on demand that nobody asked for: its decoder
         * wakes and decodes from the newest keyframe to the newest frame
         */

        ngx_http_chrys_wait(r, ctx);
        return NGX_DONE;
    }

    if (ngx_http_chrys_stale(ctx)) {
        /*
         * a newer picture was decoded while nobody looked: it comes with
         * the next frame, now that somebody does
         */

        ngx_http_chrys_wait(r, ctx);
        return NGX_DONE;
    }

    if (ctx->endpoint == NGX_HTTP_CHRYS_MJPEG) {
        mj = ctx->mjpeg;

        if (mj->sending) {
            /* the writer comes back once the part is out */
            return NGX_DONE;
        }

        if (ngx_exiting || ngx_terminate) {
            /* a reload: the client reconnects to a new worker */
            return ngx_http_chrys_mjpeg_end(r, ctx);
        }

        if (seq == mj->cursor
            || (ngx_msec_int_t) (mj->next - ngx_current_msec) > 0)
        {
            ngx_http_chrys_wait(r, ctx);
            return NGX_DONE;
        }

    } else if (ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_AFTER)) {
        after = ctx->args[NGX_HTTP_CHRYS_ARG_AFTER];

        /*
         * the picture after SEQ is any other: with B-frames pictures come
         * in display order, and the next can carry a lower seq than SEQ;
         * a cursor that is no picture's any more (the zone was recreated
         * since) is answered at once, with the newest one
         */

        if (seq == after) {

            if ((ngx_msec_int_t) (ctx->deadline - ngx_current_msec) <= 0
                || ngx_exiting || ngx_terminate)
            {
                return ngx_http_chrys_send(r, NGX_HTTP_NO_CONTENT, NULL,
                                           NULL, 0);
            }

            ngx_http_chrys_wait(r, ctx);
            return NGX_DONE;
        }
    }

    if (seq == 0) {
        if (ctx->endpoint == NGX_HTTP_CHRYS_MJPEG) {
            ngx_http_chrys_wait(r, ctx);
            return NGX_DONE;
        }

        if (ngx_http_chrys_add_header(r, "Retry-After",
                                      &(ngx_str_t) ngx_string("1"))
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_chrys_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "no frame decoded yet");
    }

    return ngx_http_chrys_picture(r, ctx);
}


/*
 * The response header of live.mjpg, and its state: NGX_DECLINED to go on,
 * else what answered the request.
 */

static ngx_int_t
ngx_http_chrys_mjpeg_start(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    ngx_int_t                rc;
    ngx_str_t                v;
    ngx_uint_t               i;
    ngx_pool_cleanup_t      *cln;
    ngx_http_chrys_mjpeg_t  *mj;

    mj = ngx_pcalloc(r->pool, sizeof(ngx_http_chrys_mjpeg_t));
    if (mj == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mj->head.start = ngx_pnalloc(r->pool, NGX_HTTP_CHRYS_PART_HEAD);
    if (mj->head.start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_chrys_mjpeg_free;
    cln->data = mj;

    mj->interval = ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_FPS)
                   ? 1000 / ctx->args[NGX_HTTP_CHRYS_ARG_FPS] : 0;

    mj->until = ngx_http_chrys_mjpeg_until(r);
    if (mj->until == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the part's buffers are used again for every part */

    mj->head.memory = 1;
    mj->body.memory = 1;
    mj->tail.memory = 1;
    mj->tail.flush = 1;
    mj->tail.start = (u_char *) "\r\n";
    mj->tail.end = mj->tail.start + 2;

    for (i = 0; i < 3; i++) {
        mj->out[i].buf = (i == 0) ? &mj->head : (i == 1) ? &mj->body
                                                         : &mj->tail;
        mj->out[i].next = (i < 2) ? &mj->out[i + 1] : NULL;
    }

    if (ctx->stream->pictures.latest_seq) {
        /* a size that does not suit the stream: 400 while it still can */
        rc = ngx_http_chrys_out_size(r, ctx, ctx->stream->video.width,
                                     ctx->stream->video.height);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    ctx->mjpeg = mj;

    ngx_chrys_zone_clients(ctx->zone, NGX_CHRYS_CLIENTS_MJPEG, 1);
    ctx->counted = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = ngx_http_chrys_mjpeg_type;
    r->headers_out.content_type_len = ngx_http_chrys_mjpeg_type.len;
    ngx_http_clear_content_length(r);

    ngx_str_set(&v, "no-store");

    if (ngx_http_chrys_add_header(r, "Cache-Control", &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return (rc == NGX_DECLINED) ? NGX_ERROR : rc;
    }

    r->write_event_handler = ngx_http_chrys_mjpeg_writer;

    return NGX_DECLINED;
}


/*
 * The newest picture in the variant asked for: from this worker's cache,
 * the zone's JPEG cache, or an encode (its own, or another request's that
 * it waits for).
 */

static ngx_int_t
ngx_http_chrys_picture(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    ngx_int_t                rc;
    ngx_str_t                etag;
    ngx_chrys_want_t        *want;
    ngx_pool_cleanup_t      *cln;
    ngx_http_chrys_local_t  *local;

    /* the output size follows the picture, which may change size */

    if (ngx_chrys_stream_latest(ctx->zone, ctx->stream, &ctx->frame)
        != NGX_OK)
    {
        return ngx_http_chrys_error(r, NGX_HTTP_NOT_FOUND,
                                    "stream not found");
    }

    rc = ngx_http_chrys_out_size(r, ctx, ctx->frame.width,
                                 ctx->frame.height);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    ctx->busy = 0;

    if (ctx->endpoint != NGX_HTTP_CHRYS_MJPEG
        && r->headers_in.if_none_match)
    {
        if (ngx_http_chrys_etag(r, ctx, &ctx->frame, &etag) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_chrys_not_modified(r, &etag)) {
            if (ngx_http_chrys_frame_headers(r, ctx, &ctx->frame) != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_chrys_send(r, NGX_HTTP_NOT_MODIFIED, NULL, NULL,
                                       0);
        }
    }

    local = ngx_http_chrys_local_find(ctx, ctx->frame.seq);

    if (local) {
        ngx_chrys_stream_add(ctx->stream, cache_hits, 1);
        return ngx_http_chrys_deliver(r, ctx, local, NULL, 0, 0);
    }

    want = &ctx->want;
    want->variant = ngx_chrys_variant(ctx->look.quality, ctx->look.width,
                                      ctx->look.height);
    want->raw = (ctx->look.format != NGX_CHRYS_OUT_JPEG);

    rc = ngx_chrys_jpeg_acquire(ctx->zone, ctx->stream, want,
                                r->connection->log);

    switch (rc) {

    case NGX_OK:
        /* the zone's JPEG, copied: this worker keeps it, or the request */

        ctx->frame = want->frame;
        local = ngx_http_chrys_local_store(ctx, want->data, want->len, 0, 0);

        if (local == NULL) {
            cln = ngx_pool_cleanup_add(r->pool, 0);
            if (cln == NULL) {
                ngx_free(want->data);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            cln->handler = ngx_http_chrys_free_copy;
            cln->data = want->data;
        }

        return ngx_http_chrys_deliver(r, ctx, local, want->data, want->len,
                                      0);

    case NGX_AGAIN:
        ctx->frame = want->frame;
        return ngx_http_chrys_encode(r, ctx);

    case NGX_BUSY:
        ctx->busy = 1;
        ngx_http_chrys_wait(r, ctx);
        return NGX_DONE;

    case NGX_DECLINED:
        return ngx_http_chrys_error(r, NGX_HTTP_NOT_FOUND,
                                    "stream not found");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


static ngx_int_t
ngx_http_chrys_encode(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    ngx_thread_task_t        *task;
    ngx_http_chrys_encode_t  *enc;

    /* one task a request, used again for every part of live.mjpg */

    if (ctx->task == NULL) {
        ctx->task = ngx_http_chrys_task(r, sizeof(ngx_http_chrys_encode_t),
                                        ngx_http_chrys_encode_handler,
                                        ngx_http_chrys_encoded);
        if (ctx->task == NULL) {
            goto failed;
        }
    }

    task = ctx->task;
    enc = task->ctx;
    ngx_memzero(enc, sizeof(ngx_http_chrys_encode_t));
    enc->slot = ctx->want.slot;
    enc->planes = ctx->want.planes;
    enc->seq = ctx->frame.seq;
    enc->look = ctx->look;
    enc->image.frame = ctx->frame;

    if (ngx_http_chrys_post(r, task) != NGX_OK) {
        goto failed;
    }

    ctx->encoding = 1;

    return NGX_DONE;

failed:

    (void) ngx_chrys_slot_unpin(ctx->zone, ctx->want.slot, ctx->frame.seq);
    ctx->want.slot = NULL;

    ngx_chrys_jpeg_abort(ctx->zone, &ctx->want);

    return ngx_http_chrys_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "server busy, no thread for encoding");
}


/*
 * The encode, in a pool thread.  If the decoder overwrote the slot
 * meanwhile, the image is thrown away (NGX_DECLINED) and the request
 * tries again with the newer picture.
 */

static void
ngx_http_chrys_encode_handler(void *data, ngx_log_t *log)
{
    ngx_http_chrys_encode_t  *enc = data;

    ngx_uint_t           start;
    ngx_chrys_planes_t   pl;

    start = ngx_chrys_thread_usec();

    if (enc->slot->seq != enc->seq) {
        enc->rc = NGX_DECLINED;
        return;
    }

    ngx_chrys_planes_packed(&pl, enc->planes, &enc->image.frame);

    enc->rc = ngx_chrys_image_make(&pl, &enc->look, &enc->image, log);

    if (enc->rc == NGX_OK && enc->slot->seq != enc->seq) {
        enc->rc = NGX_DECLINED;
    }

    enc->usec = ngx_chrys_thread_usec() - start;
}


static void
ngx_http_chrys_encoded(ngx_event_t *ev)
{
    ngx_int_t                 rc, stored;
    ngx_uint_t                intact;
    ngx_connection_t         *c;
    ngx_chrys_image_t        *img, out;
    ngx_pool_cleanup_t       *cln;
    ngx_http_request_t       *r;
    ngx_http_chrys_ctx_t     *ctx;
    ngx_http_chrys_local_t   *local;
    ngx_http_chrys_encode_t  *enc;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_chrys_module);
    enc = ctx->task->ctx;
    img = &enc->image;

    ngx_http_set_log_request(c->log, r);

    ngx_http_chrys_task_done(r);
    ctx->encoding = 0;

    intact = ngx_chrys_slot_unpin(ctx->zone, ctx->want.slot, enc->seq);
    ctx->want.slot = NULL;

    if (img->format == NGX_CHRYS_OUT_JPEG) {
        ngx_chrys_stream_add(ctx->stream, encodes, 1);
        ngx_chrys_stream_add(ctx->stream, encode_usec, enc->usec);
    }

    if (enc->rc == NGX_OK && intact) {

        stored = NGX_OK;

        if (ctx->want.jpeg) {
            stored = ngx_chrys_jpeg_store(ctx->zone, ctx->stream, &ctx->want,
                                          img->data, img->len);

            if (stored == NGX_ERROR) {
                ngx_http_chrys_log(NGX_LOG_WARN, r, 0,
                                   "chrys: zone \"%V\" is full, JPEG not "
                                   "cached", &ctx->zone->shm_zone->shm.name);
            }
        }

        local = NULL;

        if (stored == NGX_OK
            && enc->seq == ctx->stream->pictures.latest_seq)
        {
            local = ngx_http_chrys_local_store(ctx, img->data, img->len,
                                               img->stride, 1);
        }

        if (c->error) {
            ngx_chrys_image_free(img);
            rc = NGX_ERROR;

        } else if (ctx->endpoint == NGX_HTTP_CHRYS_MJPEG) {
            /*
             * the part takes a copy: nothing stays with the request.  The
             * delivery may go on to the next part, and post the same task
             * (enc) again, zeroed: the picture is taken out of it first
             */
            out = *img;
            img->data = NULL;

            rc = ngx_http_chrys_deliver(r, ctx, NULL, out.data, out.len,
                                        out.stride);

            ngx_chrys_image_free(&out);

        } else {
            cln = ngx_pool_cleanup_add(r->pool, 0);

            if (cln == NULL) {
                ngx_chrys_image_free(img);
                rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

            } else {
                cln->handler = ngx_http_chrys_free_image;
                cln->data = img;

                rc = ngx_http_chrys_deliver(r, ctx, local, img->data,
                                            img->len, img->stride);
            }
        }

    } else {
        ngx_chrys_image_free(img);
        ngx_chrys_jpeg_abort(ctx->zone, &ctx->want);

        if (c->error) {
            rc = NGX_ERROR;

        } else if (enc->rc == NGX_ERROR
                   || (++ctx->tries >= NGX_HTTP_CHRYS_MAX_TRIES
                       && ctx->endpoint != NGX_HTTP_CHRYS_MJPEG))
        {
            rc = ngx_http_chrys_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "encoding failed");

        } else {
            /* the picture was overwritten while encoded: take the newer */
            rc = ngx_http_chrys_live(r, ctx);
        }
    }

    ngx_http_chrys_wake();

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    ngx_http_run_posted_requests(c);
}


/*
 * Hands a picture to the response: a whole one for latest.*, a part for
 * live.mjpg.  It is in "local", or else at "data".
 */

static ngx_int_t
ngx_http_chrys_deliver(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    ngx_http_chrys_local_t *local, u_char *data, size_t len,
    ngx_uint_t stride)
{
    ngx_pool_cleanup_t  *cln;

    if (local) {
        ctx->frame = local->frame;
        data = local->data;
        len = local->len;
        stride = local->stride;
    }

    if (ctx->look.width) {
        /* the headers tell the size sent */
        ctx->frame.width = ctx->look.width;
        ctx->frame.height = ctx->look.height;
    }

    ctx->tries = 0;

    if (ctx->endpoint == NGX_HTTP_CHRYS_MJPEG) {
        /* the part is a copy: the entry is free again at once */
        return ngx_http_chrys_mjpeg_part(r, ctx, data, len);
    }

    if (local) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the entry is not replaced while this response may send it */
        local->refs++;
        cln->handler = ngx_http_chrys_local_release;
        cln->data = local;
    }

    if (ctx->look.format != NGX_CHRYS_OUT_JPEG) {
        return ngx_http_chrys_send_raw(r, ctx, data, len, stride);
    }

    return ngx_http_chrys_send_jpeg(r, ctx, &ctx->frame, data, len);
}


static ngx_int_t
ngx_http_chrys_send_raw(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    u_char *data, size_t len, ngx_uint_t stride)
{
    u_char     *p;
    ngx_str_t   v;

    if (ngx_http_chrys_frame_headers(r, ctx, &ctx->frame) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%ui", stride) - p;

    if (ngx_http_chrys_add_header(r, "X-Chrys-Stride", &v) != NGX_OK
        || ngx_http_chrys_add_header(r, "X-Chrys-Format",
                                     &ngx_http_chrys_formats[ctx->look.format])
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* RGB and gray are full range; 4:2:0 is as the stream has it */

    ngx_str_set(&v, "pc");

    if (ctx->look.format == NGX_CHRYS_OUT_YUV420P && !ctx->frame.full_range) {
        ngx_str_set(&v, "tv");
    }

    if (ngx_http_chrys_add_header(r, "X-Chrys-Range", &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_chrys_send(r, NGX_HTTP_OK, &ngx_http_chrys_raw_type,
                               data, len);
}


/*
 * The Unix time at which the location's chrys_mjpeg_until ends a live.mjpg
 * response, 0 for none.  A value that is no time ends it at once: a
 * mistake there must not leave a stream open for ever.
 */

static time_t
ngx_http_chrys_mjpeg_until(ngx_http_request_t *r)
{
    time_t                      until;
    ngx_str_t                   v;
    ngx_http_chrys_loc_conf_t  *ccf;

    ccf = ngx_http_get_module_loc_conf(r, ngx_http_chrys_module);

    if (ccf->mjpeg_until == NULL) {
        return 0;
    }

    if (ngx_http_complex_value(r, ccf->mjpeg_until, &v) != NGX_OK) {
        return NGX_ERROR;
    }

    until = ngx_atotm(v.data, v.len);

    return (until > 0) ? until : 1;
}


/*
 * One part of live.mjpg, copied into the response's own buffer; the next
 * waits until the client took it, and then is the newest frame.
 */

static ngx_int_t
ngx_http_chrys_mjpeg_part(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx,
    u_char *data, size_t len)
{
    u_char                  *p;
    ngx_int_t                rc;
    ngx_http_chrys_mjpeg_t  *mj;

    mj = ctx->mjpeg;

    if (len > mj->size) {
        p = ngx_alloc(len, r->connection->log);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (mj->data) {
            ngx_free(mj->data);
        }

        mj->data = p;
        mj->size = len;
    }

    ngx_memcpy(mj->data, data, len);

    mj->head.pos = mj->head.start;
    mj->head.last = ngx_sprintf(mj->head.start,
                                "--chrysframe\r\nContent-Type: image/jpeg\r\n"
                                "Content-Length: %uz\r\n", len);
    mj->head.last = ngx_http_chrys_frame_fields(mj->head.last, &ctx->frame);
    mj->head.last = ngx_cpymem(mj->head.last, "\r\n", 2);

    mj->body.pos = mj->data;
    mj->body.last = mj->data + len;

    mj->tail.pos = mj->tail.start;
    mj->tail.last = mj->tail.end;

    mj->cursor = ctx->frame.seq;
    mj->next = ngx_current_msec + mj->interval;

    rc = ngx_http_output_filter(r, mj->out);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (r->buffered || r->connection->buffered) {
        mj->sending = 1;
        ngx_http_chrys_mjpeg_writer(r);
        return NGX_DONE;
    }

    return ngx_http_chrys_live(r, ctx);
}


static void
ngx_http_chrys_mjpeg_writer(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_http_chrys_ctx_t    *ctx;
    ngx_http_chrys_mjpeg_t  *mj;

    ctx = ngx_http_get_module_ctx(r, ngx_http_chrys_module);
    mj = ctx->mjpeg;

    if (!mj->sending) {
        return;
    }

    if (ngx_http_chrys_flush(r) != NGX_OK) {
        return;
    }

    mj->sending = 0;

    rc = ngx_http_chrys_live(r, ctx);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


static ngx_int_t
ngx_http_chrys_mjpeg_end(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = (u_char *) "--chrysframe--\r\n";
    b->last = b->pos + sizeof("--chrysframe--\r\n") - 1;
    b->memory = 1;
    b->last_buf = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static void
ngx_http_chrys_mjpeg_free(void *data)
{
    ngx_http_chrys_mjpeg_t  *mj = data;

    if (mj->data) {
        ngx_free(mj->data);
        mj->data = NULL;
    }
}


static ngx_http_chrys_local_t *
ngx_http_chrys_local_find(ngx_http_chrys_ctx_t *ctx, ngx_uint_t seq)
{
    ngx_uint_t               i, variant;
    ngx_http_chrys_local_t  *local;

    variant = ngx_chrys_variant(ctx->look.quality, ctx->look.width,
                                ctx->look.height);

    for (i = 0; i < NGX_HTTP_CHRYS_LOCALS; i++) {
        local = &ngx_http_chrys_locals[i];

        if (local->stream == ctx->stream->id && local->frame.seq == seq
            && local->variant == variant && local->format == ctx->look.format
            && local->data)
        {
            local->used = ngx_current_msec;
            return local;
        }
    }

    return NULL;
}


/*
 * Keeps the picture of ctx->frame, a copy of "data" or (copy 0) "data"
 * itself, an ngx_alloc() block then the entry's, in the place of an entry
 * that no response is sending: the one of the same stream and variant,
 * or the least recently used.  NULL if all are being sent.
 */

static ngx_http_chrys_local_t *
ngx_http_chrys_local_store(ngx_http_chrys_ctx_t *ctx, u_char *data,
    size_t len, ngx_uint_t stride, ngx_uint_t copy)
{
    u_char                  *p;
    ngx_uint_t               i, variant;
    ngx_http_chrys_local_t  *local, *found;

    variant = ngx_chrys_variant(ctx->look.quality, ctx->look.width,
                                ctx->look.height);
    found = NULL;

    for (i = 0; i < NGX_HTTP_CHRYS_LOCALS; i++) {
        local = &ngx_http_chrys_locals[i];

        if (local->refs) {
            continue;
        }

        if (local->stream == ctx->stream->id && local->variant == variant
            && local->format == ctx->look.format)
        {
            found = local;
            break;
        }

        if (found == NULL || local->used < found->used) {
            found = local;
        }
    }

    if (found == NULL || !ngx_http_chrys_local_room(ctx, found, len)) {
        return NULL;
    }

    p = data;

    if (copy) {
        p = ngx_alloc(len, ngx_cycle->log);
        if (p == NULL) {
            return NULL;
        }

        ngx_memcpy(p, data, len);
    }

    ngx_http_chrys_local_drop(found);

    ngx_http_chrys_locals_bytes += len;

    found->stream = ctx->stream->id;
    found->variant = variant;
    found->format = ctx->look.format;
    found->frame = ctx->frame;
    found->data = p;
    found->len = len;
    found->stride = stride;
    found->used = ngx_current_msec;

    return found;
}


/*
 * Makes room for "len" more bytes within "chrys_worker_cache", in place
 * of entry "found": the least recently used entries that no response is
 * sending go.  Returns 0 if there is none.
 */

static ngx_uint_t
ngx_http_chrys_local_room(ngx_http_chrys_ctx_t *ctx,
    ngx_http_chrys_local_t *found, size_t len)
{
    size_t                       budget;
    ngx_uint_t                   i;
    ngx_http_chrys_local_t      *local, *oldest;
    ngx_http_chrys_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(ctx->request, ngx_http_chrys_module);
    budget = cmcf->worker_cache;

    if (len > budget) {
        return 0;
    }

    ngx_http_chrys_local_drop(found);

    while (ngx_http_chrys_locals_bytes + len > budget) {
        oldest = NULL;

        for (i = 0; i < NGX_HTTP_CHRYS_LOCALS; i++) {
            local = &ngx_http_chrys_locals[i];

            if (local->data && local->refs == 0
                && (oldest == NULL || local->used < oldest->used))
            {
                oldest = local;
            }
        }

        if (oldest == NULL) {
            return 0;
        }

        ngx_http_chrys_local_drop(oldest);
    }

    return 1;
}


static void
ngx_http_chrys_local_drop(ngx_http_chrys_local_t *local)
{
    if (local->data) {
        ngx_http_chrys_locals_bytes -= local->len;
        ngx_free(local->data);
    }

    local->data = NULL;
    local->len = 0;
    local->stream = 0;
}


static void
ngx_http_chrys_local_release(void *data)
{
    ngx_http_chrys_local_t  *local = data;

    local->refs--;
}


static void
ngx_http_chrys_free_image(void *data)
{
    ngx_chrys_image_free(data);
}


static void
ngx_http_chrys_free_copy(void *data)
{
    ngx_free(data);
}


/*
 * The request waits in this worker's queue: the tick looks at it every
 * NGX_HTTP_CHRYS_POLL ms (at once after a picture of this worker), and
 * runs its route's handler again when it has something to do.
 */

void
ngx_http_chrys_wait(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    ngx_queue_insert_tail(&ngx_http_chrys_waiters, &ctx->wait);
    ctx->waiting = 1;

    ngx_chrys_zone_clients(ctx->zone, NGX_CHRYS_CLIENTS_WAITING, 1);

    r->read_event_handler = ngx_http_test_reading;

    if (!ngx_http_chrys_timer.timer_set) {
        ngx_add_timer(&ngx_http_chrys_timer, NGX_HTTP_CHRYS_POLL);
    }
}


/* frames and encodes of this worker wake its waiters at once */

void
ngx_http_chrys_wake(void)
{
    if (ngx_http_chrys_waiters.next == NULL
        || ngx_queue_empty(&ngx_http_chrys_waiters)
        || ngx_http_chrys_timer.posted)
    {
        return;
    }

    ngx_post_event(&ngx_http_chrys_timer, &ngx_posted_events);
}


/* whether a waiting request has something to do */

static ngx_uint_t
ngx_http_chrys_ready(ngx_http_chrys_ctx_t *ctx)
{
    ngx_uint_t               seq;
    ngx_chrys_stream_t      *st;
    ngx_http_chrys_mjpeg_t  *mj;

    if (ngx_exiting || ngx_terminate) {
        return 1;
    }

    if (ctx->endpoint == NGX_HTTP_CHRYS_DATA) {
        return ngx_chrys_data_seq(ctx->stream) != ctx->cursor
               || (ngx_msec_int_t) (ctx->deadline - ngx_current_msec) <= 0;
    }

    mj = ctx->mjpeg;

    if (mj && ngx_http_chrys_mjpeg_over(mj)) {
        /* ends, whether the stream has new pictures or not */
        return 1;
    }

    st = ctx->stream;
    seq = st->pictures.latest_seq;

    if (ctx->busy) {
        /* another request encodes this picture: look again */
        return 1;
    }

    if (ngx_http_chrys_waking(ctx) || ngx_http_chrys_stale(ctx)) {
        return 0;
    }

    if (ctx->endpoint == NGX_HTTP_CHRYS_MJPEG) {
        mj = ctx->mjpeg;

        return seq != mj->cursor
               && (ngx_msec_int_t) (mj->next - ngx_current_msec) <= 0;
    }

    if (ngx_http_chrys_has(ctx, NGX_HTTP_CHRYS_ARG_AFTER)) {
        return seq != (ngx_uint_t) ctx->args[NGX_HTTP_CHRYS_ARG_AFTER]
               || (ngx_msec_int_t) (ctx->deadline - ngx_current_msec) <= 0;
    }

    return seq || (ngx_msec_int_t) (ctx->fresh - ngx_current_msec) <= 0;
}


/*
 * Whether the zone's picture is older than one the decoder holds, which
 * comes with the next frame (for at most NGX_HTTP_CHRYS_FRESH ms).
 */

static ngx_uint_t
ngx_http_chrys_stale(ngx_http_chrys_ctx_t *ctx)
{
    ngx_chrys_stream_t  *st;

    st = ctx->stream;

    return st->pictures.decoded_seq != st->pictures.latest_seq
           && (ngx_msec_int_t) (ctx->fresh - ngx_current_msec) > 0
           && ngx_chrys_stream_publishing(st);
}


/* whether the stream's decoder sleeps, and is worth waiting for */

static ngx_uint_t
ngx_http_chrys_waking(ngx_http_chrys_ctx_t *ctx)
{
    return ngx_chrys_stream_asleep(ctx->stream)
           && (ngx_msec_int_t) (ctx->wake - ngx_current_msec) > 0;
}


static void
ngx_http_chrys_tick(ngx_event_t *ev)
{
    ngx_queue_t            ready, *q;
    ngx_http_chrys_ctx_t  *ctx;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    ngx_queue_init(&ready);

    q = ngx_queue_head(&ngx_http_chrys_waiters);

    while (q != ngx_queue_sentinel(&ngx_http_chrys_waiters)) {
        ctx = ngx_queue_data(q, ngx_http_chrys_ctx_t, wait);
        q = ngx_queue_next(q);

        if (ctx->endpoint != NGX_HTTP_CHRYS_DATA) {
            /* who waits for pictures asks for them all along */
            ngx_chrys_stream_want(ctx->zone, ctx->stream);
        }

        if (!ngx_http_chrys_ready(ctx)) {
            continue;
        }

        ngx_queue_remove(&ctx->wait);
        ngx_queue_insert_tail(&ready, &ctx->wait);
    }

    while (!ngx_queue_empty(&ready)) {
        q = ngx_queue_head(&ready);
        ngx_queue_remove(q);

        ctx = ngx_queue_data(q, ngx_http_chrys_ctx_t, wait);
        ctx->waiting = 0;

        ngx_chrys_zone_clients(ctx->zone, NGX_CHRYS_CLIENTS_WAITING, -1);

        ngx_http_chrys_resume(ctx->request, ctx);
    }

    if ((!ngx_queue_empty(&ngx_http_chrys_waiters) || ngx_http_chrys_tasks)
        && !ev->timer_set)
    {
        ngx_add_timer(ev, NGX_HTTP_CHRYS_POLL);
    }
}


/*
 * An exiting worker (a reload) goes as soon as no timer but cancelable
 * ones is left: the tick's timer, not cancelable, keeps it while requests
 * wait or have tasks in the thread pool.
 */

void
ngx_http_chrys_keep_worker(void)
{
    if (!ngx_http_chrys_timer.timer_set) {
        ngx_add_timer(&ngx_http_chrys_timer, NGX_HTTP_CHRYS_POLL);
    }
}


static void
ngx_http_chrys_resume(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->read_event_handler = ngx_http_block_reading;

    rc = ctx->route->handler(r, ctx);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    ngx_http_run_posted_requests(c);
}


/* the request goes away: out of the waiters and the gauges */

void
ngx_http_chrys_live_cleanup(ngx_http_chrys_ctx_t *ctx)
{
    if (ctx->waiting) {
        ngx_queue_remove(&ctx->wait);
        ctx->waiting = 0;
        ngx_chrys_zone_clients(ctx->zone, NGX_CHRYS_CLIENTS_WAITING, -1);
    }

    if (ctx->counted && ctx->mjpeg) {
        ngx_chrys_zone_clients(ctx->zone, NGX_CHRYS_CLIENTS_MJPEG, -1);
        ctx->counted = 0;
    }
}


void
ngx_http_chrys_live_init(ngx_cycle_t *cycle)
{
    ngx_queue_init(&ngx_http_chrys_waiters);

    ngx_http_chrys_timer.handler = ngx_http_chrys_tick;
    ngx_http_chrys_timer.log = cycle->log;
    ngx_http_chrys_timer.data = &ngx_http_chrys_waiters;

    /*
     * not cancelable: a worker that exits (a reload) keeps it, and the
     * tick then answers every waiting request before the worker goes
     */
    ngx_http_chrys_timer.cancelable = 0;
}
