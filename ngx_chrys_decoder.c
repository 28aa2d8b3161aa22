
/*
 * Copyright (C) chrys authors
 *
 * Live decoding of the published streams, in an nginx thread pool.  One
 * decoder per published stream lives in the worker that holds the
 * publisher; at most one task of it runs at a time, so a stream decodes
 * in order while different streams decode in parallel.  The event loop
 * only queues copied access units and publishes results into the zone.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_chrys_decoder.h"
#include "ngx_chrys_codec.h"
#include "ngx_chrys_image.h"

#include <libavutil/frame.h>


#define NGX_CHRYS_META            64

/* keep-up policy: queued packets older than this are skipped at an IDR */
#define NGX_CHRYS_MAX_LAG         500
#define NGX_CHRYS_QUEUE_MAX       512
#define NGX_CHRYS_QUEUE_BYTES     (64 * 1024 * 1024)

/* how often sleeping decoders look whether they were asked for */
#define NGX_CHRYS_DOZE            5


typedef struct {
    ngx_uint_t                seq;
    int64_t                   pts;
    uint64_t                  time;
    ngx_uint_t                keyframe;
} ngx_chrys_meta_t;


/* a chain of access units, and what it holds */

typedef struct {
    ngx_chrys_au_t           *head;
    ngx_chrys_au_t          **last;
    ngx_uint_t                n;
    size_t                    bytes;
} ngx_chrys_aus_t;


struct ngx_chrys_decoder_s {
    ngx_queue_t               queue;          /* all decoders of a worker */

    ngx_chrys_zone_t         *zone;
    ngx_chrys_stream_t       *st;
    ngx_thread_pool_t        *pool;
    ngx_thread_task_t        *task;
    ngx_log_t                *log;
    ngx_uint_t                claim;          /* the publish it decodes */
    ngx_uint_t                max_width;      /* chrys_max_picture */
    ngx_uint_t                max_height;
    ngx_msec_t                idle;           /* 0: decoded always */
    ngx_uint_t                asked;          /* the zone's, last seen */
    ngx_chrys_au_t           *config;         /* on demand: the newest */

    /* on demand, awake: the decoded access units since the newest IDR */
    ngx_chrys_aus_t           gop;

    /* event loop side */
    ngx_chrys_aus_t           queued;
    size_t                    size_hint;      /* bytes a picture needs */
    unsigned                  running:1;
    unsigned                  closed:1;
    unsigned                  wait_idr:1;
    unsigned                  gap:1;
    unsigned                  zone_full:1;
    unsigned                  asleep:1;

    /* task side: touched only by the running task */
    ngx_chrys_au_t           *batch;
    ngx_int_t                 slot;
    ngx_chrys_codec_t         codec;
    AVFrame                  *best;
    ngx_uint_t                clean_from;     /* 0: waiting for an IDR */
    ngx_chrys_meta_t          meta[NGX_CHRYS_META];
    ngx_chrys_meta_t          best_meta;

    /* task results, read by the completion handler */
    ngx_uint_t                decoded;
    ngx_uint_t                skipped;
    ngx_uint_t                errors;
    ngx_uint_t                usec;
    size_t                    need;
    ngx_chrys_frame_t         out;
    unsigned                  written:1;
    unsigned                  publish:1;      /* copy the picture out */
    unsigned                  held:1;         /* best is newer than that */
    u_char                    error[NGX_CHRYS_ERROR_LEN];
};


static ngx_int_t ngx_chrys_decoder_run(ngx_chrys_decoder_t *dec);
static void ngx_chrys_decoder_reserve(ngx_chrys_decoder_t *dec);
static void ngx_chrys_decoder_trim(ngx_chrys_decoder_t *dec,
    ngx_uint_t wait_idr);
static void ngx_chrys_decoder_trim_batch(ngx_chrys_decoder_t *dec);
static void ngx_chrys_decoder_handler(void *data, ngx_log_t *log);
static void ngx_chrys_decoder_configure(ngx_chrys_decoder_t *dec,
    ngx_chrys_au_t *au);
static void ngx_chrys_decoder_decode(ngx_chrys_decoder_t *dec,
    ngx_chrys_au_t *au);
static void ngx_chrys_decoder_picture(void *data, AVFrame *frame);
static void ngx_chrys_decoder_fail(ngx_chrys_decoder_t *dec, int err,
    const char *what);
static void ngx_chrys_decoder_write(ngx_chrys_decoder_t *dec);
static void ngx_chrys_decoder_done(ngx_event_t *ev);
static void ngx_chrys_decoder_publish(ngx_chrys_decoder_t *dec);
static void ngx_chrys_decoder_flush(ngx_chrys_decoder_t *dec);
static void ngx_chrys_decoder_end(ngx_chrys_decoder_t *dec);
static void ngx_chrys_decoder_free(ngx_chrys_decoder_t *dec);
static void ngx_chrys_published_none(ngx_chrys_stream_t *st);
static void ngx_chrys_decoder_doze(ngx_chrys_decoder_t *dec);
static void ngx_chrys_decoder_sleep(ngx_chrys_decoder_t *dec);
static void ngx_chrys_decoder_wake(ngx_chrys_decoder_t *dec);
static void ngx_chrys_decoder_keep(ngx_chrys_decoder_t *dec,
    ngx_chrys_au_t *au);
static void ngx_chrys_decoder_remember(ngx_chrys_decoder_t *dec,
    ngx_chrys_au_t *au);
static void ngx_chrys_decoder_gop_add(ngx_chrys_decoder_t *dec,
    ngx_chrys_au_t *au);
static void ngx_chrys_aus_init(ngx_chrys_aus_t *aus);
static void ngx_chrys_aus_add(ngx_chrys_aus_t *aus, ngx_chrys_au_t *au);
static ngx_uint_t ngx_chrys_aus_full(ngx_chrys_aus_t *aus,
    ngx_chrys_au_t *au);
static void ngx_chrys_aus_free(ngx_chrys_aus_t *aus);
static void ngx_chrys_decoder_tick(ngx_event_t *ev);


/* who hears of a new picture in the zone: listeners chain in */
ngx_chrys_published_pt  ngx_chrys_published = ngx_chrys_published_none;


static ngx_queue_t  ngx_chrys_decoders = { &ngx_chrys_decoders,
                                           &ngx_chrys_decoders };

/* sleeping decoders of this worker, and the timer that looks at them */
static ngx_uint_t   ngx_chrys_sleepers;
static ngx_event_t  ngx_chrys_doze_timer;


ngx_chrys_decoder_t *
ngx_chrys_decoder_create(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim, ngx_chrys_decoder_conf_t *conf, ngx_log_t *log)
{
    ngx_chrys_decoder_t  *dec;

    dec = ngx_calloc(sizeof(ngx_chrys_decoder_t), log);
    if (dec == NULL) {
        return NULL;
    }

    dec->task = ngx_calloc(sizeof(ngx_thread_task_t), log);
    dec->best = av_frame_alloc();

    if (dec->task == NULL || dec->best == NULL
        || ngx_chrys_codec_init(&dec->codec) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0, "chrys: out of memory for decoder");
        ngx_chrys_decoder_free(dec);
        return NULL;
    }

    dec->zone = zone;
    dec->st = st;
    dec->claim = claim;
    dec->pool = conf->pool;
    dec->max_width = conf->max_width;
    dec->max_height = conf->max_height;
    dec->idle = conf->idle;
    dec->asked = zone->sh->asked;
    dec->log = ngx_cycle->log;
    dec->slot = -1;

    ngx_chrys_aus_init(&dec->queued);
    ngx_chrys_aus_init(&dec->gop);

    dec->codec.handler = ngx_chrys_decoder_picture;
    dec->codec.data = dec;

    dec->task->ctx = dec;
    dec->task->handler = ngx_chrys_decoder_handler;
    dec->task->event.handler = ngx_chrys_decoder_done;
    dec->task->event.data = dec;
    dec->task->event.log = dec->log;

    ngx_queue_insert_tail(&ngx_chrys_decoders, &dec->queue);

    return dec;
}


/* an access unit of "len" bytes, padded for libavcodec */

ngx_chrys_au_t *
ngx_chrys_au_alloc(size_t len, ngx_log_t *log)
{
    ngx_chrys_au_t  *au;

    au = ngx_alloc(sizeof(ngx_chrys_au_t) + len + NGX_CHRYS_CODEC_PAD, log);
    if (au == NULL) {
        return NULL;
    }

    ngx_memzero(au, sizeof(ngx_chrys_au_t));

    au->len = len;
    au->data = (u_char *) au + sizeof(ngx_chrys_au_t);

    ngx_memzero(au->data + len, NGX_CHRYS_CODEC_PAD);

    return au;
}


void
ngx_chrys_au_free(ngx_chrys_au_t *au)
{
    ngx_free(au);
}


/* the picture size the codec headers announce, before anything decoded */

void
ngx_chrys_decoder_hint(ngx_chrys_decoder_t *dec, ngx_uint_t width,
    ngx_uint_t height)
{
    if (dec->size_hint == 0 && width && height) {
        dec->size_hint = ngx_chrys_frame_size(NGX_CHRYS_YUV420,
                                              width, height);
    }
}


/*
 * Queues an access unit (taking it over) and starts a task if none runs.
 * When decoding falls behind, the queue is cut at the newest IDR instead
 * of growing: skipping ahead keeps the served picture current.
 */

void
ngx_chrys_decoder_push(ngx_chrys_decoder_t *dec, ngx_chrys_au_t *au)
{
    if (dec->idle) {
        if (au->seq == 0) {
            ngx_chrys_decoder_remember(dec, au);
        }

        ngx_chrys_decoder_doze(dec);

        if (dec->asleep) {
            ngx_chrys_decoder_keep(dec, au);
            return;
        }
    }

    if (au->seq) {

        if (dec->wait_idr) {
            if (!(au->flags & NGX_CHRYS_AU_IDR)) {
                ngx_chrys_stream_add(dec->st, skipped, 1);
                ngx_chrys_au_free(au);
                return;
            }

            dec->wait_idr = 0;
        }

        if ((au->flags & NGX_CHRYS_AU_IDR) && dec->queued.head
            && au->time - dec->queued.head->time > NGX_CHRYS_MAX_LAG)
        {
            ngx_chrys_decoder_trim(dec, 0);
        }

        if (ngx_chrys_aus_full(&dec->queued, au)) {
            ngx_log_error(NGX_LOG_WARN, dec->log, 0,
                          "chrys: decoding of \"%V\" is %ui packets behind, "
                          "skipping to the next IDR",
                          &dec->st->key, dec->queued.n);

            ngx_chrys_decoder_trim(dec, !(au->flags & NGX_CHRYS_AU_IDR));

            if (dec->wait_idr) {
                ngx_chrys_stream_add(dec->st, skipped, 1);
                ngx_chrys_au_free(au);
                return;
            }
        }

        if (dec->gap) {
            au->flags |= NGX_CHRYS_AU_GAP;
            dec->gap = 0;
        }
    }

    ngx_chrys_aus_add(&dec->queued, au);

    if (!dec->running) {
        (void) ngx_chrys_decoder_run(dec);
    }
}


/* an access unit was lost before reaching the queue: go on at an IDR */

void
ngx_chrys_decoder_drop(ngx_chrys_decoder_t *dec)
{
    dec->wait_idr = 1;
    dec->gap = 1;
}


/* drops the queued access units, keeping decoder configurations */

static void
ngx_chrys_decoder_trim(ngx_chrys_decoder_t *dec, ngx_uint_t wait_idr)
{
    ngx_uint_t       n;
    ngx_chrys_au_t  *au, *next, **last;

    n = 0;
    last = &dec->queued.head;

    for (au = dec->queued.head; au; au = next) {
        next = au->next;

        if (au->seq == 0) {
            *last = au;
            last = &au->next;
            continue;
        }

        dec->queued.n--;
        dec->queued.bytes -= au->len;
        ngx_chrys_au_free(au);
        n++;
    }

    *last = NULL;
    dec->queued.last = last;

    if (n) {
        ngx_chrys_stream_add(dec->st, skipped, n);
        dec->gap = 1;
    }

    if (wait_idr) {
        dec->wait_idr = 1;
        dec->gap = 1;
    }
}


static ngx_int_t
ngx_chrys_decoder_run(ngx_chrys_decoder_t *dec)
{
    if (dec->queued.head == NULL) {
        return NGX_OK;
    }

    /*
     * Pictures are copied into the zone (a memory copy as big as the
     * picture) only while somebody asked for one lately; the first request
     * after a quiet time waits for the next frame.
     */

    dec->publish = ngx_chrys_stream_wanted(dec->st);
    dec->slot = -1;

    if (dec->size_hint && dec->publish) {
        ngx_chrys_decoder_reserve(dec);
    }

    dec->batch = dec->queued.head;
    ngx_chrys_aus_init(&dec->queued);

    if (ngx_thread_task_post(dec->pool, dec->task) != NGX_OK) {
        /* the pool's queue is full: these access units are lost */
        ngx_chrys_decoder_trim_batch(dec);

        if (dec->slot >= 0) {
            ngx_chrys_slot_abort(dec->zone, dec->st, dec->claim, dec->slot);
            dec->slot = -1;
        }

        return NGX_ERROR;
    }

    dec->running = 1;

    return NGX_OK;
}


/* a slot for the picture of the next batch */

static void
ngx_chrys_decoder_reserve(ngx_chrys_decoder_t *dec)
{
    ngx_int_t  n;

    n = ngx_chrys_slot_reserve(dec->zone, dec->st, dec->claim,
                               dec->size_hint);

    if (n >= 0) {
        if (dec->zone_full) {
            dec->zone_full = 0;
            ngx_chrys_stream_set_error(dec->zone, dec->st, NULL);
        }

        dec->slot = n;
        return;
    }

    if (n != NGX_ERROR || dec->zone_full) {
        /* the readers are slow, or another publish took over */
        return;
    }

    dec->zone_full = 1;

    ngx_log_error(NGX_LOG_ERR, dec->log, 0,
                  "chrys: zone \"%V\" is full, no room for pictures of "
                  "stream \"%V\"; raise the size in \"chrys_zone\"",
                  &dec->zone->shm_zone->shm.name, &dec->st->key);

    ngx_chrys_stream_set_error(dec->zone, dec->st,
                               "zone full: no room for pictures");
}


static void
ngx_chrys_decoder_trim_batch(ngx_chrys_decoder_t *dec)
{
    ngx_uint_t       n;
    ngx_chrys_au_t  *au, *next;

    n = 0;

    for (au = dec->batch; au; au = next) {
        next = au->next;
        n += (au->seq != 0);
        ngx_chrys_au_free(au);
    }

    dec->batch = NULL;

    ngx_chrys_stream_add(dec->st, skipped, n);

    /* a lost configuration is sent again by the next sequence header */
    dec->wait_idr = 1;
    dec->gap = 1;
}


/* runs in a pool thread */

static void
ngx_chrys_decoder_handler(void *data, ngx_log_t *log)
{
    ngx_chrys_decoder_t  *dec = data;

    ngx_uint_t       start;
    ngx_chrys_au_t  *au;

    start = ngx_chrys_thread_usec();

    dec->decoded = 0;
    dec->skipped = 0;
    dec->errors = 0;
    dec->need = 0;
    dec->written = 0;
    dec->error[0] = '\0';

    for (au = dec->batch; au; au = au->next) {
        if (au->seq == 0) {
            ngx_chrys_decoder_configure(dec, au);

        } else {
            ngx_chrys_decoder_decode(dec, au);
        }
    }

    if (dec->best->buf[0]) {
        if (dec->publish) {
            ngx_chrys_decoder_write(dec);
            av_frame_unref(dec->best);
            dec->held = 0;

        } else {
            /* kept, in case the stream ends before it is asked for */
            dec->held = 1;
        }
    }

    dec->usec = ngx_chrys_thread_usec() - start;
}


static void
ngx_chrys_decoder_configure(ngx_chrys_decoder_t *dec, ngx_chrys_au_t *au)
{
    if (ngx_chrys_codec_same(&dec->codec, au->data, au->len)) {
        /* the same sequence header again, as on a republish */
        return;
    }

    dec->clean_from = 0;

    if (ngx_chrys_codec_open(&dec->codec, au->data, au->len) != NGX_OK) {
        ngx_chrys_decoder_fail(dec, dec->codec.err,
                               "bad AVC sequence header");
    }
}


static void
ngx_chrys_decoder_decode(ngx_chrys_decoder_t *dec, ngx_chrys_au_t *au)
{
    ngx_chrys_meta_t  *m;

    if (dec->codec.avctx == NULL) {
        dec->skipped++;
        return;
    }

    if (au->flags & NGX_CHRYS_AU_GAP) {
        ngx_chrys_codec_flush(&dec->codec);
        dec->clean_from = 0;
    }

    if (dec->clean_from == 0) {
        if (!(au->flags & NGX_CHRYS_AU_IDR)) {
            /* nothing decodes cleanly before the next IDR */
            dec->skipped++;
            return;
        }

        dec->clean_from = au->seq;
    }

    m = &dec->meta[au->seq % NGX_CHRYS_META];
    m->seq = au->seq;
    m->pts = au->pts;
    m->time = au->time;
    m->keyframe = (au->flags & NGX_CHRYS_AU_KEY) ? 1 : 0;

    if (ngx_chrys_codec_decode(&dec->codec, au) != NGX_OK) {
        ngx_chrys_decoder_fail(dec, dec->codec.err, "decoding");
    }
}


/*
 * A decoded picture is kept only if it comes from an unbroken chain of
 * references that starts at an IDR decoded after the last error.
 */

static void
ngx_chrys_decoder_picture(void *data, AVFrame *frame)
{
    ngx_chrys_decoder_t  *dec = data;

    ngx_uint_t         seq;
    ngx_chrys_meta_t  *m;

    if (frame->decode_error_flags || (frame->flags & AV_FRAME_FLAG_CORRUPT)) {
        ngx_chrys_decoder_fail(dec, 0, "corrupt picture");
        return;
    }

    if ((ngx_uint_t) frame->width > dec->max_width
        || (ngx_uint_t) frame->height > dec->max_height)
    {
        /* an in-band SPS changed the size: not one picture of it */
        ngx_chrys_decoder_fail(dec, 0, "picture over chrys_max_picture");
        return;
    }

    seq = (ngx_uint_t) frame->pts;
    m = &dec->meta[seq % NGX_CHRYS_META];

    if (frame->pts == AV_NOPTS_VALUE || m->seq != seq
        || dec->clean_from == 0 || seq < dec->clean_from)
    {
        dec->skipped++;
        return;
    }

    dec->decoded++;

    av_frame_unref(dec->best);
    av_frame_move_ref(dec->best, frame);
    dec->best_meta = *m;
}


static void
ngx_chrys_decoder_fail(ngx_chrys_decoder_t *dec, int err, const char *what)
{
    u_char  *p, *last, msg[NGX_CHRYS_ERROR_LEN];

    dec->errors++;
    dec->clean_from = 0;

    last = dec->error + NGX_CHRYS_ERROR_LEN - 1;

    if (err) {
        p = ngx_slprintf(dec->error, last, "%s: %s", what,
                         ngx_chrys_codec_strerror(err, msg, sizeof(msg)));

    } else {
        p = ngx_slprintf(dec->error, last, "%s", what);
    }

    *p = '\0';
}


/* copies the newest clean picture of the batch into the reserved slot */

static void
ngx_chrys_decoder_write(ngx_chrys_decoder_t *dec)
{
    u_char              *buf;
    size_t               size;
    ngx_chrys_slot_t    *slot;
    ngx_chrys_planes_t   pl;

    buf = NULL;

    if (ngx_chrys_planes_of_frame(&pl, dec->best, &buf, dec->log) != NGX_OK) {
        ngx_chrys_decoder_fail(dec, 0, "unsupported pixel format");
        return;
    }

    size = ngx_chrys_frame_size(pl.layout, pl.width, pl.height);
    dec->need = size;

    if (dec->slot < 0) {
        goto done;
    }

    /* the slot is this decoder's until it is published or aborted */

    slot = &dec->st->pictures.slots[dec->slot];

    if (slot->size < size) {
        /* the completion handler reserves a bigger slot next time */
        goto done;
    }

    ngx_chrys_planes_copy(&pl, slot->data);

    dec->out.seq = dec->best_meta.seq;
    dec->out.pts = dec->best_meta.pts;
    dec->out.time = dec->best_meta.time;
    dec->out.keyframe = dec->best_meta.keyframe;
    dec->out.width = pl.width;
    dec->out.height = pl.height;
    dec->out.layout = pl.layout;
    dec->out.full_range = pl.full_range;

    dec->written = 1;

done:

    if (buf) {
        ngx_free(buf);
    }
}


/* the task is over: back on the event loop */

static void
ngx_chrys_decoder_done(ngx_event_t *ev)
{
    ngx_chrys_decoder_t  *dec = ev->data;

    ngx_chrys_au_t      *au, *next;
    ngx_chrys_stream_t  *st;

    st = dec->st;

    dec->running = 0;

    for (au = dec->batch; au; au = next) {
        next = au->next;

        if (dec->idle && au->seq) {
            /* what the decoder would catch up with, should it sleep */
            ngx_chrys_decoder_gop_add(dec, au);

        } else {
            ngx_chrys_au_free(au);
        }
    }

    dec->batch = NULL;

    if (dec->decoded) {
        ngx_chrys_stream_decoded(dec->zone, st, dec->claim,
                                 dec->best_meta.seq, dec->best_meta.time);
    }

    ngx_chrys_stream_add(st, decoded, dec->decoded);
    ngx_chrys_stream_add(st, skipped, dec->skipped);
    ngx_chrys_stream_add(st, errors, dec->errors);
    ngx_chrys_stream_add(st, decode_usec, dec->usec);

    if (dec->error[0]) {
        ngx_log_error(NGX_LOG_INFO, dec->log, 0, "chrys: stream \"%V\": %s",
                      &st->key, dec->error);

        ngx_chrys_stream_set_error(dec->zone, st, "%s", dec->error);

    } else if (dec->written && st->error[0] && !dec->zone_full) {
        ngx_chrys_stream_set_error(dec->zone, st, NULL);
    }

    if (dec->need) {
        dec->size_hint = dec->need;
    }

    ngx_chrys_decoder_publish(dec);

    if (dec->closed) {
        ngx_chrys_decoder_end(dec);
        return;
    }

    (void) ngx_chrys_decoder_run(dec);
}


/* the written picture becomes the stream's latest, or the slot goes back */

static void
ngx_chrys_decoder_publish(ngx_chrys_decoder_t *dec)
{
    if (dec->slot < 0) {
        return;
    }

    if (!dec->written) {
        ngx_chrys_slot_abort(dec->zone, dec->st, dec->claim, dec->slot);

    } else if (ngx_chrys_slot_publish(dec->zone, dec->st, dec->claim,
                                      dec->slot, &dec->out)
               == NGX_OK)
    {
        ngx_chrys_published(dec->st);
    }

    dec->slot = -1;
    dec->written = 0;
}


/*
 * The stream ends: a picture decoded but not copied out while nobody
 * looked is copied now, so that the last picture is the one served.
 */

static void
ngx_chrys_decoder_flush(ngx_chrys_decoder_t *dec)
{
    if (!dec->held || dec->best->buf[0] == NULL
        || dec->best_meta.seq == dec->st->pictures.latest_seq)
    {
        return;
    }

    ngx_chrys_decoder_reserve(dec);

    if (dec->slot >= 0) {
        dec->written = 0;
        ngx_chrys_decoder_write(dec);
        ngx_chrys_decoder_publish(dec);
    }

    dec->held = 0;
}


/*
 * The publisher has left: the stream is released once its last picture
 * is out, now or when the running task is over.
 */

void
ngx_chrys_decoder_close(ngx_chrys_decoder_t *dec)
{
    if (dec->asleep) {
        /* what it kept is decoded now: the last picture stays */
        ngx_chrys_decoder_wake(dec);
    }

    if (dec->running) {
        /* the completion handler ends it */
        ngx_chrys_stream_closing(dec->zone, dec->st, dec->claim);
        dec->closed = 1;
        return;
    }

    ngx_chrys_decoder_end(dec);
}


static void
ngx_chrys_decoder_end(ngx_chrys_decoder_t *dec)
{
    ngx_chrys_decoder_flush(dec);
    ngx_chrys_stream_release(dec->zone, dec->st, dec->claim);
    ngx_chrys_decoder_free(dec);
}


static void
ngx_chrys_decoder_free(ngx_chrys_decoder_t *dec)
{
    ngx_chrys_aus_free(&dec->queued);
    ngx_chrys_aus_free(&dec->gop);

    if (dec->queue.next) {
        ngx_queue_remove(&dec->queue);
    }

    if (dec->asleep) {
        ngx_chrys_sleepers--;
    }

    if (dec->config) {
        ngx_chrys_au_free(dec->config);
    }

    ngx_chrys_codec_free(&dec->codec);
    av_frame_free(&dec->best);

    if (dec->task) {
        ngx_free(dec->task);
    }

    ngx_free(dec);
}


/* a worker that exits stops publishing its streams */

void
ngx_chrys_decoder_exit_process(void)
{
    ngx_queue_t          *q;
    ngx_chrys_decoder_t  *dec;

    for (q = ngx_queue_head(&ngx_chrys_decoders);
         q != ngx_queue_sentinel(&ngx_chrys_decoders);
         q = ngx_queue_next(q))
    {
        dec = ngx_queue_data(q, ngx_chrys_decoder_t, queue);
        ngx_chrys_stream_abandon(dec->zone, dec->st, dec->claim);
    }
}


static void
ngx_chrys_published_none(ngx_chrys_stream_t *st)
{
}


/*
 * On demand: a decoder nobody asked pictures of for "idle" ms goes to
 * sleep once its task is over; one asked for wakes.
 */

static void
ngx_chrys_decoder_doze(ngx_chrys_decoder_t *dec)
{
    ngx_uint_t  asked;

    asked = ngx_chrys_stream_asked(dec->st, dec->idle);

    if (dec->asleep) {
        if (asked) {
            ngx_chrys_decoder_wake(dec);
        }

        return;
    }

    if (!asked && !dec->running && !dec->closed) {
        ngx_chrys_decoder_sleep(dec);
    }
}


static void
ngx_chrys_decoder_sleep(ngx_chrys_decoder_t *dec)
{
    ngx_log_debug1(NGX_LOG_DEBUG_CORE, dec->log, 0,
                   "chrys: stream \"%V\" sleeps", &dec->st->key);

    /* it keeps the GOP decoded so far, and goes on with it */

    ngx_chrys_aus_free(&dec->queued);

    dec->queued = dec->gop;

    if (dec->queued.head == NULL) {
        dec->queued.last = &dec->queued.head;
    }

    ngx_chrys_aus_init(&dec->gop);

    /* the codec's pictures go back to the heap, the zone's to the zone */

    ngx_chrys_codec_close(&dec->codec);
    av_frame_unref(dec->best);

    dec->held = 0;
    dec->clean_from = 0;
    dec->asleep = 1;

    /* what it keeps begins at an IDR */
    dec->wait_idr = (dec->queued.head == NULL);
    dec->gap = 0;

    ngx_chrys_stream_sleep(dec->zone, dec->st, dec->claim);

    ngx_chrys_sleepers++;

    if (!ngx_chrys_doze_timer.timer_set) {
        ngx_chrys_doze_timer.handler = ngx_chrys_decoder_tick;
        ngx_chrys_doze_timer.log = ngx_cycle->log;
        ngx_chrys_doze_timer.data = (void *) ngx_cycle;
        ngx_chrys_doze_timer.cancelable = 1;

        ngx_add_timer(&ngx_chrys_doze_timer, NGX_CHRYS_DOZE);
    }
}


/*
 * Decodes what the sleeping decoder kept, from the newest IDR through the
 * newest access unit, behind the newest codec configuration: the first
 * picture asked for is the newest one.
 */

static void
ngx_chrys_decoder_wake(ngx_chrys_decoder_t *dec)
{
    ngx_chrys_au_t  *au;

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, dec->log, 0,
                   "chrys: stream \"%V\" wakes", &dec->st->key);

    dec->asleep = 0;
    ngx_chrys_sleepers--;

    if (dec->config) {
        au = ngx_chrys_au_alloc(dec->config->len, dec->log);

        if (au == NULL) {
            /* the next sequence header configures the codec */
            ngx_chrys_aus_free(&dec->queued);
            dec->wait_idr = 1;
            return;
        }

        ngx_memcpy(au->data, dec->config->data, au->len);

        /* first in the queue */

        au->next = dec->queued.head;
        dec->queued.head = au;

        if (au->next == NULL) {
            dec->queued.last = &au->next;
        }

        dec->queued.n++;
        dec->queued.bytes += au->len;
    }

    if (!dec->running) {
        (void) ngx_chrys_decoder_run(dec);
    }
}


/* a sleeping decoder keeps the access units since the newest IDR */

static void
ngx_chrys_decoder_keep(ngx_chrys_decoder_t *dec, ngx_chrys_au_t *au)
{
    if (au->seq == 0) {
        /* remembered: it goes first when the decoder wakes */
        ngx_chrys_au_free(au);
        return;
    }

    if (au->flags & NGX_CHRYS_AU_IDR) {
        ngx_chrys_aus_free(&dec->queued);
        dec->wait_idr = 0;

    } else if (dec->wait_idr) {
        ngx_chrys_au_free(au);
        return;
    }

    if (ngx_chrys_aus_full(&dec->queued, au)) {
        /* a GOP too long to keep: waking waits for the next IDR */
        ngx_chrys_aus_free(&dec->queued);
        ngx_chrys_au_free(au);
        dec->wait_idr = 1;
        return;
    }

    ngx_chrys_aus_add(&dec->queued, au);
}


/*
 * On demand, awake: a decoded access unit joins the GOP kept for a sleep
 * to come; an IDR starts a new one, a gap or a GOP too long ends it.
 */

static void
ngx_chrys_decoder_gop_add(ngx_chrys_decoder_t *dec, ngx_chrys_au_t *au)
{
    if (au->flags & NGX_CHRYS_AU_IDR) {
        ngx_chrys_aus_free(&dec->gop);

    } else if (dec->gop.head == NULL || (au->flags & NGX_CHRYS_AU_GAP)
               || ngx_chrys_aus_full(&dec->gop, au))
    {
        ngx_chrys_aus_free(&dec->gop);
        ngx_chrys_au_free(au);
        return;
    }

    ngx_chrys_aus_add(&dec->gop, au);
}


/* a copy of the newest codec configuration, to reopen the codec with */

static void
ngx_chrys_decoder_remember(ngx_chrys_decoder_t *dec, ngx_chrys_au_t *au)
{
    ngx_chrys_au_t  *copy;

    copy = ngx_chrys_au_alloc(au->len, dec->log);
    if (copy == NULL) {
        return;
    }

    ngx_memcpy(copy->data, au->data, au->len);

    if (dec->config) {
        ngx_chrys_au_free(dec->config);
    }

    dec->config = copy;
}


static void
ngx_chrys_aus_init(ngx_chrys_aus_t *aus)
{
    aus->head = NULL;
    aus->last = &aus->head;
    aus->n = 0;
    aus->bytes = 0;
}


static void
ngx_chrys_aus_add(ngx_chrys_aus_t *aus, ngx_chrys_au_t *au)
{
    au->next = NULL;
    *aus->last = au;
    aus->last = &au->next;
    aus->n++;
    aus->bytes += au->len;
}


/* whether the chain has no room for one more: the decoder's bounds */

static ngx_uint_t
ngx_chrys_aus_full(ngx_chrys_aus_t *aus, ngx_chrys_au_t *au)
{
    return aus->n >= NGX_CHRYS_QUEUE_MAX
           || aus->bytes + au->len > NGX_CHRYS_QUEUE_BYTES;
}


static void
ngx_chrys_aus_free(ngx_chrys_aus_t *aus)
{
    ngx_chrys_au_t  *au, *next;

    for (au = aus->head; au; au = next) {
        next = au->next;
        ngx_chrys_au_free(au);
    }

    ngx_chrys_aus_init(aus);
}


/*
 * Every NGX_CHRYS_DOZE ms while some decoder of this worker sleeps: when
 * a sleeping stream of a zone was asked for, its decoder looks whether it
 * is the one, without waiting for its next packet.
 */

static void
ngx_chrys_decoder_tick(ngx_event_t *ev)
{
    ngx_queue_t          *q;
    ngx_chrys_decoder_t  *dec;

    for (q = ngx_queue_head(&ngx_chrys_decoders);
         q != ngx_queue_sentinel(&ngx_chrys_decoders);
         q = ngx_queue_next(q))
    {
        dec = ngx_queue_data(q, ngx_chrys_decoder_t, queue);

        if (dec->asleep && ngx_chrys_zone_asked(dec->zone, &dec->asked)
            && ngx_chrys_stream_asked(dec->st, dec->idle))
        {
            ngx_chrys_decoder_wake(dec);
        }
    }

    if (ngx_chrys_sleepers) {
        ngx_add_timer(ev, NGX_CHRYS_DOZE);
    }
}
