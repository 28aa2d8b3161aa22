
/*
 * Copyright (C) chrys authors
 *
 * H.264 decoding with libavcodec and JPEG encoding with libjpeg-turbo, both
 * in an nginx thread pool.  One decoder per published stream lives in the
 * worker that owns the publisher; at most one task of it runs at a time, so
 * a stream decodes in order while different streams decode in parallel.
 * The event loop only queues copied packets and publishes results.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_chrys.h"

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <turbojpeg.h>


#define NGX_CHRYS_META            64

/* keep-up policy: queued packets older than this are skipped at an IDR */
#define NGX_CHRYS_MAX_LAG         500
#define NGX_CHRYS_QUEUE_MAX       512
#define NGX_CHRYS_QUEUE_BYTES     (64 * 1024 * 1024)


typedef struct {
    ngx_uint_t                seq;
    int64_t                   pts;
    uint64_t                  time;
    ngx_uint_t                keyframe;
} ngx_chrys_meta_t;


struct ngx_chrys_decoder_s {
    ngx_queue_t               queue;          /* all decoders of a worker */

    ngx_chrys_zone_t         *zone;
    ngx_chrys_stream_t       *st;
    ngx_thread_pool_t        *pool;
    ngx_thread_task_t        *task;
    ngx_log_t                *log;
    ngx_uint_t                claim;          /* st->publishes of its claim */

    /* event loop side */
    ngx_chrys_packet_t       *head;
    ngx_chrys_packet_t      **last;
    ngx_uint_t                queued;
    size_t                    queued_bytes;
    size_t                    size_hint;      /* bytes a picture needs */
    unsigned                  running:1;
    unsigned                  closed:1;
    unsigned                  wait_idr:1;
    unsigned                  gap:1;
    unsigned                  zone_full:1;

    /* task side: touched only by the running task */
    ngx_chrys_packet_t       *batch;
    ngx_int_t                 slot;
    AVCodecContext           *avctx;
    AVPacket                 *pkt;
    AVFrame                  *frame;
    AVFrame                  *best;
    struct SwsContext        *sws;
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
static void ngx_chrys_decoder_trim(ngx_chrys_decoder_t *dec,
    ngx_uint_t wait_idr);
static void ngx_chrys_decoder_trim_batch(ngx_chrys_decoder_t *dec);
static void ngx_chrys_decoder_handler(void *data, ngx_log_t *log);
static void ngx_chrys_decoder_configure(ngx_chrys_decoder_t *dec,
    ngx_chrys_packet_t *p);
static void ngx_chrys_decoder_decode(ngx_chrys_decoder_t *dec,
    ngx_chrys_packet_t *p);
static void ngx_chrys_decoder_frame(ngx_chrys_decoder_t *dec,
    AVFrame *frame);
static void ngx_chrys_decoder_fail(ngx_chrys_decoder_t *dec, int err,
    const char *what);
static void ngx_chrys_decoder_write(ngx_chrys_decoder_t *dec);
static ngx_int_t ngx_chrys_frame_layout(AVFrame *frame, ngx_uint_t *layout);
static void ngx_chrys_decoder_done(ngx_event_t *ev);
static void ngx_chrys_decoder_flush(ngx_chrys_decoder_t *dec);
static void ngx_chrys_decoder_end(ngx_chrys_decoder_t *dec);
static void ngx_chrys_decoder_free(ngx_chrys_decoder_t *dec);
static ngx_uint_t ngx_chrys_thread_usec(void);
static void ngx_chrys_range_lut(u_char *lut, ngx_uint_t chroma);
static struct SwsContext *ngx_chrys_sws(int sw, int sh,
    enum AVPixelFormat sf, int dw, int dh, enum AVPixelFormat df, int flags);
static void ngx_chrys_picture_sws(struct SwsContext *sws,
    ngx_chrys_picture_t *pic, u_char *dst[4], int stride[4]);
static u_char *ngx_chrys_yuv420_alloc(ngx_uint_t width, ngx_uint_t height,
    u_char *dst[4], int stride[4], ngx_log_t *log);
static void ngx_chrys_sws_key_create(void);
static void ngx_chrys_sws_free(void *data);


static ngx_queue_t  ngx_chrys_decoders = { &ngx_chrys_decoders,
                                           &ngx_chrys_decoders };

/* each pool thread keeps the scaler it used last: making one costs more
 * than scaling a picture */
static pthread_key_t   ngx_chrys_sws_key;
static pthread_once_t  ngx_chrys_sws_once = PTHREAD_ONCE_INIT;


ngx_chrys_decoder_t *
ngx_chrys_decoder_create(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_thread_pool_t *tp, ngx_log_t *log)
{
    ngx_chrys_decoder_t  *dec;

    dec = ngx_calloc(sizeof(ngx_chrys_decoder_t), log);
    if (dec == NULL) {
        return NULL;
    }

    dec->task = ngx_calloc(sizeof(ngx_thread_task_t), log);
    if (dec->task == NULL) {
        ngx_free(dec);
        return NULL;
    }

    dec->pkt = av_packet_alloc();
    dec->frame = av_frame_alloc();
    dec->best = av_frame_alloc();

    if (dec->pkt == NULL || dec->frame == NULL || dec->best == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "chrys: out of memory for decoder");
        ngx_chrys_decoder_free(dec);
        return NULL;
    }

    dec->zone = zone;
    dec->st = st;
    dec->claim = st->publishes;
    dec->pool = tp;
    dec->log = ngx_cycle->log;
    dec->last = &dec->head;
    dec->slot = -1;

    dec->task->ctx = dec;
    dec->task->handler = ngx_chrys_decoder_handler;
    dec->task->event.handler = ngx_chrys_decoder_done;
    dec->task->event.data = dec;
    dec->task->event.log = dec->log;

    ngx_queue_insert_tail(&ngx_chrys_decoders, &dec->queue);

    return dec;
}


ngx_chrys_packet_t *
ngx_chrys_packet_alloc(size_t len, ngx_log_t *log)
{
    ngx_chrys_packet_t  *pkt;

    pkt = ngx_alloc(sizeof(ngx_chrys_packet_t) + len
                    + AV_INPUT_BUFFER_PADDING_SIZE, log);
    if (pkt == NULL) {
        return NULL;
    }

    ngx_memzero(pkt, sizeof(ngx_chrys_packet_t));

    pkt->len = len;
    pkt->data = (u_char *) pkt + sizeof(ngx_chrys_packet_t);

    ngx_memzero(pkt->data + len, AV_INPUT_BUFFER_PADDING_SIZE);

    return pkt;
}


void
ngx_chrys_packet_free(ngx_chrys_packet_t *pkt)
{
    ngx_free(pkt);
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
 * Queues a packet (taking it over) and starts a task if none runs.  When
 * decoding falls behind, the queue is cut at the newest IDR instead of
 * growing: skipping ahead keeps the served picture current.
 */

void
ngx_chrys_decoder_push(ngx_chrys_decoder_t *dec, ngx_chrys_packet_t *pkt)
{
    if (pkt->seq) {

        if (dec->wait_idr) {
            if (!pkt->idr) {
                (void) ngx_atomic_fetch_add(&dec->st->skipped, 1);
                ngx_chrys_packet_free(pkt);
                return;
            }

            dec->wait_idr = 0;
        }

        if (pkt->idr && dec->head
            && pkt->time - dec->head->time > NGX_CHRYS_MAX_LAG)
        {
            ngx_chrys_decoder_trim(dec, 0);
        }

        if (dec->queued >= NGX_CHRYS_QUEUE_MAX
            || dec->queued_bytes + pkt->len > NGX_CHRYS_QUEUE_BYTES)
        {
            ngx_log_error(NGX_LOG_WARN, dec->log, 0,
                          "chrys: decoding of \"%*s\" is %ui packets behind, "
                          "skipping to the next IDR",
                          dec->st->app_len + 1 + dec->st->name_len,
                          dec->st->key, dec->queued);

            ngx_chrys_decoder_trim(dec, !pkt->idr);

            if (dec->wait_idr) {
                (void) ngx_atomic_fetch_add(&dec->st->skipped, 1);
                ngx_chrys_packet_free(pkt);
                return;
            }
        }

        if (dec->gap) {
            pkt->gap = 1;
            dec->gap = 0;
        }
    }

    *dec->last = pkt;
    dec->last = &pkt->next;
    dec->queued++;
    dec->queued_bytes += pkt->len;

    if (!dec->running) {
        (void) ngx_chrys_decoder_run(dec);
    }
}


/* a packet was lost before reaching the queue: resume at the next IDR */

void
ngx_chrys_decoder_drop(ngx_chrys_decoder_t *dec)
{
    dec->wait_idr = 1;
    dec->gap = 1;
}


/* drops the queued video packets, keeping decoder configurations */

static void
ngx_chrys_decoder_trim(ngx_chrys_decoder_t *dec, ngx_uint_t wait_idr)
{
    ngx_uint_t           n;
    ngx_chrys_packet_t  *p, *next, **last;

    n = 0;
    last = &dec->head;

    for (p = dec->head; p; p = next) {
        next = p->next;

        if (p->seq == 0) {
            *last = p;
            last = &p->next;
            continue;
        }

        dec->queued--;
        dec->queued_bytes -= p->len;
        ngx_chrys_packet_free(p);
        n++;
    }

    *last = NULL;
    dec->last = last;

    if (n) {
        (void) ngx_atomic_fetch_add(&dec->st->skipped, n);
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
    ngx_int_t  n;

    if (dec->head == NULL) {
        return NGX_OK;
    }

    dec->slot = -1;

    /*
     * Pictures are copied into the zone (a memory copy as big as the
     * picture) only while somebody asked for one lately; the first request
     * after a quiet time waits for the next frame.
     */

    dec->publish = (ngx_current_msec - dec->st->wanted < NGX_CHRYS_WANTED
                    || dec->st->latest_seq == 0);

    if (dec->size_hint && dec->publish) {
        n = ngx_chrys_slot_reserve(dec->zone, dec->st, dec->size_hint);

        if (n == NGX_BUSY) {
            /* the readers are slow: the next picture then */

        } else if (n == NGX_ERROR) {
            if (!dec->zone_full) {
                dec->zone_full = 1;

                ngx_log_error(NGX_LOG_ERR, dec->log, 0,
                              "chrys: zone \"%V\" is full, no room for "
                              "pictures of stream \"%*s\"; raise the size "
                              "in \"chrys_zone\"",
                              &dec->zone->shm_zone->shm.name,
                              dec->st->app_len + 1 + dec->st->name_len,
                              dec->st->key);

                ngx_chrys_stream_set_error(dec->zone, dec->st,
                                           "zone full: no room for pictures");
            }

        } else {
            if (dec->zone_full) {
                dec->zone_full = 0;
                ngx_chrys_stream_set_error(dec->zone, dec->st, NULL);
            }

            dec->slot = n;
        }
    }

    dec->batch = dec->head;
    dec->head = NULL;
    dec->last = &dec->head;
    dec->queued = 0;
    dec->queued_bytes = 0;

    if (ngx_thread_task_post(dec->pool, dec->task) != NGX_OK) {
        /* the pool's queue is full: these packets are lost */
        ngx_chrys_decoder_trim_batch(dec);
        return NGX_ERROR;
    }

    dec->running = 1;

    return NGX_OK;
}


static void
ngx_chrys_decoder_trim_batch(ngx_chrys_decoder_t *dec)
{
    ngx_uint_t           n;
    ngx_chrys_packet_t  *p, *next;

    n = 0;

    for (p = dec->batch; p; p = next) {
        next = p->next;
        n += (p->seq != 0);
        ngx_chrys_packet_free(p);
    }

    dec->batch = NULL;

    (void) ngx_atomic_fetch_add(&dec->st->skipped, n);

    /* a lost configuration is sent again by the next sequence header */
    dec->wait_idr = 1;
    dec->gap = 1;
}


/* runs in a pool thread */

static void
ngx_chrys_decoder_handler(void *data, ngx_log_t *log)
{
    ngx_chrys_decoder_t  *dec = data;

    ngx_uint_t           start;
    ngx_chrys_packet_t  *p;

    start = ngx_chrys_thread_usec();

    dec->decoded = 0;
    dec->skipped = 0;
    dec->errors = 0;
    dec->need = 0;
    dec->written = 0;
    dec->error[0] = '\0';

    for (p = dec->batch; p; p = p->next) {
        if (p->seq == 0) {
            ngx_chrys_decoder_configure(dec, p);

        } else {
            ngx_chrys_decoder_decode(dec, p);
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
ngx_chrys_decoder_configure(ngx_chrys_decoder_t *dec, ngx_chrys_packet_t *p)
{
    int              rc;
    const AVCodec   *codec;
    AVCodecContext  *avctx;

    avctx = dec->avctx;

    if (avctx && (size_t) avctx->extradata_size == p->len
        && ngx_memcmp(avctx->extradata, p->data, p->len) == 0)
    {
        /* the same sequence header again, as on a republish */
        return;
    }

    if (avctx) {
        avcodec_free_context(&dec->avctx);
    }

    dec->clean_from = 0;

    codec = avcodec_find_decoder(AV_CODEC_ID_H264);
    if (codec == NULL) {
        ngx_chrys_decoder_fail(dec, 0, "no H.264 decoder in libavcodec");
        return;
    }

    avctx = avcodec_alloc_context3(codec);
    if (avctx == NULL) {
        ngx_chrys_decoder_fail(dec, AVERROR(ENOMEM), "decoder allocation");
        return;
    }

    avctx->extradata = av_mallocz(p->len + AV_INPUT_BUFFER_PADDING_SIZE);
    if (avctx->extradata == NULL) {
        avcodec_free_context(&avctx);
        ngx_chrys_decoder_fail(dec, AVERROR(ENOMEM), "decoder allocation");
        return;
    }

    ngx_memcpy(avctx->extradata, p->data, p->len);
    avctx->extradata_size = p->len;
    avctx->thread_count = 1;
    /*
     * every error libavcodec can see is an error, not something to
     * conceal; "compliant" and "aggressive" would refuse cameras that
     * bend the standard in harmless ways
     */
    avctx->err_recognition = AV_EF_EXPLODE|AV_EF_BITSTREAM|AV_EF_CRCCHECK
                             |AV_EF_BUFFER|AV_EF_CAREFUL;

    rc = avcodec_open2(avctx, codec, NULL);
    if (rc < 0) {
        avcodec_free_context(&avctx);
        ngx_chrys_decoder_fail(dec, rc, "bad AVC sequence header");
        return;
    }

    dec->avctx = avctx;
}


static void
ngx_chrys_decoder_decode(ngx_chrys_decoder_t *dec, ngx_chrys_packet_t *p)
{
    int                rc;
    ngx_chrys_meta_t  *m;

    if (dec->avctx == NULL) {
        dec->skipped++;
        return;
    }

    if (p->gap) {
        avcodec_flush_buffers(dec->avctx);
        dec->clean_from = 0;
    }

    if (dec->clean_from == 0) {
        if (!p->idr) {
            /* nothing decodes cleanly before the next IDR */
            dec->skipped++;
            return;
        }

        dec->clean_from = p->seq;
    }

    m = &dec->meta[p->seq % NGX_CHRYS_META];
    m->seq = p->seq;
    m->pts = p->pts;
    m->time = p->time;
    m->keyframe = p->keyframe;

    dec->pkt->data = p->data;
    dec->pkt->size = p->len;
    dec->pkt->pts = p->seq;
    dec->pkt->dts = AV_NOPTS_VALUE;
    dec->pkt->flags = p->keyframe ? AV_PKT_FLAG_KEY : 0;

    rc = avcodec_send_packet(dec->avctx, dec->pkt);

    if (rc < 0 && rc != AVERROR(EAGAIN)) {
        ngx_chrys_decoder_fail(dec, rc, "decoding");
        return;
    }

    for ( ;; ) {
        rc = avcodec_receive_frame(dec->avctx, dec->frame);

        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) {
            break;
        }

        if (rc < 0) {
            ngx_chrys_decoder_fail(dec, rc, "decoding");
            break;
        }

        ngx_chrys_decoder_frame(dec, dec->frame);
        av_frame_unref(dec->frame);
    }
}


/*
 * A decoded picture is kept only if it comes from an unbroken chain of
 * references that starts at an IDR decoded after the last error.
 */

static void
ngx_chrys_decoder_frame(ngx_chrys_decoder_t *dec, AVFrame *frame)
{
    ngx_uint_t         seq;
    ngx_chrys_meta_t  *m;

    if (frame->decode_error_flags || (frame->flags & AV_FRAME_FLAG_CORRUPT)) {
        ngx_chrys_decoder_fail(dec, 0, "corrupt picture");
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
    u_char  *p, *last;
    char     msg[AV_ERROR_MAX_STRING_SIZE];

    dec->errors++;
    dec->clean_from = 0;

    last = dec->error + NGX_CHRYS_ERROR_LEN - 1;

    if (err) {
        av_strerror(err, msg, sizeof(msg));
        p = ngx_slprintf(dec->error, last, "%s: %s", what, msg);

    } else {
        p = ngx_slprintf(dec->error, last, "%s", what);
    }

    *p = '\0';
}


/* copies the newest clean picture of the batch into the reserved slot */

static void
ngx_chrys_decoder_write(ngx_chrys_decoder_t *dec)
{
    u_char               *dst, *buf;
    size_t                size;
    ngx_uint_t            i, y, planes, pw, ph;
    ngx_chrys_slot_t     *slot;
    ngx_chrys_picture_t   pic;

    buf = NULL;

    if (ngx_chrys_picture_set(&pic, dec->best, &dec->sws, &buf, dec->log)
        != NGX_OK)
    {
        ngx_chrys_decoder_fail(dec, 0, "unsupported pixel format");
        return;
    }

    size = ngx_chrys_frame_size(pic.layout, pic.width, pic.height);
    dec->need = size;

    if (dec->slot < 0) {
        goto done;
    }

    slot = &dec->st->slots[dec->slot];

    if (slot->size < size) {
        /* the completion handler reserves a bigger slot next time */
        goto done;
    }

    planes = (pic.layout == NGX_CHRYS_GRAY) ? 1 : 3;
    dst = slot->data;

    for (i = 0; i < planes; i++) {
        pw = i ? (pic.layout == NGX_CHRYS_YUV444 ? pic.width
                                                  : (pic.width + 1) / 2)
               : pic.width;
        ph = (i && pic.layout == NGX_CHRYS_YUV420) ? (pic.height + 1) / 2
                                                    : pic.height;

        for (y = 0; y < ph; y++) {
            dst = ngx_cpymem(dst, pic.planes[i] + y * pic.strides[i], pw);
        }
    }

    dec->out.seq = dec->best_meta.seq;
    dec->out.pts = dec->best_meta.pts;
    dec->out.time = dec->best_meta.time;
    dec->out.keyframe = dec->best_meta.keyframe;
    dec->out.width = pic.width;
    dec->out.height = pic.height;
    dec->out.layout = pic.layout;
    dec->out.full_range = pic.full_range;

    dec->written = 1;

done:

    if (buf) {
        ngx_free(buf);
    }
}


/*
 * Describes a decoded frame as planes libjpeg-turbo takes.  Other pixel
 * formats (10 bit, ...) are converted to 4:2:0 into *buf, which the caller
 * frees.
 */

ngx_int_t
ngx_chrys_picture_set(ngx_chrys_picture_t *pic, AVFrame *f,
    struct SwsContext **sws, u_char **buf, ngx_log_t *log)
{
    int         dst_stride[4];
    u_char     *dst[4];
    ngx_uint_t  i, w, h;

    w = f->width;
    h = f->height;

    pic->width = w;
    pic->height = h;
    pic->full_range = (f->color_range == AVCOL_RANGE_JPEG
                       || f->format == AV_PIX_FMT_YUVJ420P
                       || f->format == AV_PIX_FMT_YUVJ422P
                       || f->format == AV_PIX_FMT_YUVJ444P);

    if (ngx_chrys_frame_layout(f, &pic->layout) == NGX_OK) {
        for (i = 0; i < 3; i++) {
            pic->planes[i] = f->data[i];
            pic->strides[i] = f->linesize[i];
        }

        return NGX_OK;
    }

    *sws = sws_getCachedContext(*sws, w, h, f->format, w, h,
                                AV_PIX_FMT_YUV420P, SWS_BILINEAR,
                                NULL, NULL, NULL);
    if (*sws == NULL) {
        return NGX_ERROR;
    }

    *buf = ngx_chrys_yuv420_alloc(w, h, dst, dst_stride, log);
    if (*buf == NULL) {
        return NGX_ERROR;
    }

    sws_scale(*sws, (const uint8_t * const *) f->data, f->linesize, 0, h,
              dst, dst_stride);

    pic->layout = NGX_CHRYS_YUV420;
    pic->full_range = 0;

    for (i = 0; i < 3; i++) {
        pic->planes[i] = dst[i];
        pic->strides[i] = dst_stride[i];
    }

    return NGX_OK;
}


static ngx_int_t
ngx_chrys_frame_layout(AVFrame *frame, ngx_uint_t *layout)
{
    switch (frame->format) {

    case AV_PIX_FMT_YUV420P:
    case AV_PIX_FMT_YUVJ420P:
        *layout = NGX_CHRYS_YUV420;
        return NGX_OK;

    case AV_PIX_FMT_YUV422P:
    case AV_PIX_FMT_YUVJ422P:
        *layout = NGX_CHRYS_YUV422;
        return NGX_OK;

    case AV_PIX_FMT_YUV444P:
    case AV_PIX_FMT_YUVJ444P:
        *layout = NGX_CHRYS_YUV444;
        return NGX_OK;

    case AV_PIX_FMT_GRAY8:
        *layout = NGX_CHRYS_GRAY;
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* the task is over: back on the event loop */

static void
ngx_chrys_decoder_done(ngx_event_t *ev)
{
    ngx_chrys_decoder_t  *dec = ev->data;

    ngx_chrys_stream_t  *st;
    ngx_chrys_packet_t  *p, *next;

    st = dec->st;

    dec->running = 0;

    for (p = dec->batch; p; p = next) {
        next = p->next;
        ngx_chrys_packet_free(p);
    }

    dec->batch = NULL;

    if (dec->decoded) {
        st->decoded_time = dec->best_meta.time;
        st->decoded_seq = dec->best_meta.seq;
    }

    (void) ngx_atomic_fetch_add(&st->decoded, dec->decoded);
    (void) ngx_atomic_fetch_add(&st->skipped, dec->skipped);
    (void) ngx_atomic_fetch_add(&st->errors, dec->errors);
    (void) ngx_atomic_fetch_add(&st->decode_usec, dec->usec);

    if (dec->error[0]) {
        ngx_log_error(NGX_LOG_INFO, dec->log, 0,
                      "chrys: stream \"%*s\": %s",
                      st->app_len + 1 + st->name_len, st->key, dec->error);

        ngx_chrys_stream_set_error(dec->zone, st, "%s", dec->error);

    } else if (dec->written && st->error[0] && !dec->zone_full) {
        ngx_chrys_stream_set_error(dec->zone, st, NULL);
    }

    if (dec->need) {
        dec->size_hint = dec->need;
    }

    if (dec->written) {
        ngx_chrys_slot_publish(dec->zone, st, dec->slot, &dec->out);
        ngx_chrys_http_wake();
    }

    dec->slot = -1;
    dec->written = 0;

    if (dec->closed) {
        ngx_chrys_decoder_end(dec);
        return;
    }

    (void) ngx_chrys_decoder_run(dec);
}


/*
 * The stream ends: a picture decoded but not copied out while nobody
 * looked is copied now, so that the last picture is the one served.
 */

static void
ngx_chrys_decoder_flush(ngx_chrys_decoder_t *dec)
{
    ngx_int_t  n;

    if (!dec->held || dec->best->buf[0] == NULL
        || dec->best_meta.seq == dec->st->latest_seq)
    {
        return;
    }

    n = ngx_chrys_slot_reserve(dec->zone, dec->st, dec->size_hint);
    if (n < 0) {
        return;
    }

    dec->slot = n;
    dec->written = 0;

    ngx_chrys_decoder_write(dec);

    if (dec->written) {
        ngx_chrys_slot_publish(dec->zone, dec->st, dec->slot, &dec->out);
        ngx_chrys_http_wake();
    }

    dec->held = 0;
    dec->written = 0;
    dec->slot = -1;
}


/*
 * The publisher has left: the stream is released once its last picture
 * is out, now or when the running task is over.
 */

void
ngx_chrys_decoder_close(ngx_chrys_decoder_t *dec)
{
    if (dec->running) {
        /* the completion handler ends it */
        ngx_chrys_stream_closing(dec->zone, dec->st);
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
    ngx_chrys_packet_t  *p, *next;

    for (p = dec->head; p; p = next) {
        next = p->next;
        ngx_chrys_packet_free(p);
    }

    if (dec->queue.next) {
        ngx_queue_remove(&dec->queue);
    }

    avcodec_free_context(&dec->avctx);
    av_packet_free(&dec->pkt);
    av_frame_free(&dec->frame);
    av_frame_free(&dec->best);
    sws_freeContext(dec->sws);

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

        if (dec->st->owner == ngx_pid) {
            dec->st->publishing = 0;
            dec->st->owner = 0;
        }
    }
}


static ngx_uint_t
ngx_chrys_thread_usec(void)
{
    struct timespec  ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == -1) {
        return 0;
    }

    return (ngx_uint_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/*
 * JPEG encoding of a slot, in a pool thread.  The slot was pinned by the
 * caller; if the decoder overwrote it meanwhile the result is thrown away
 * (rc NGX_DECLINED) and the caller tries again with the newer picture.
 */

void
ngx_chrys_encode_handler(void *data, ngx_log_t *log)
{
    ngx_chrys_encode_t  *enc = data;

    u_char               *buf;
    ngx_uint_t            start, w, h;
    ngx_chrys_picture_t   pic;

    start = ngx_chrys_thread_usec();

    enc->rc = NGX_ERROR;
    enc->data = NULL;
    enc->len = 0;

    if (enc->slot->seq != enc->seq) {
        enc->rc = NGX_DECLINED;
        return;
    }

    w = enc->frame.width;
    h = enc->frame.height;

    pic.width = w;
    pic.height = h;
    pic.layout = enc->frame.layout;
    pic.full_range = enc->frame.full_range;
    pic.planes[0] = enc->planes;
    pic.strides[0] = w;
    pic.strides[1] = (pic.layout == NGX_CHRYS_YUV444) ? w : (w + 1) / 2;
    pic.strides[2] = pic.strides[1];
    pic.planes[1] = pic.planes[0] + w * h;
    pic.planes[2] = pic.planes[1]
                    + pic.strides[1] * ((pic.layout == NGX_CHRYS_YUV420)
                                        ? (h + 1) / 2 : h);

    buf = NULL;

    if (enc->format != NGX_CHRYS_OUT_JPEG) {
        enc->rc = ngx_chrys_picture_raw(&pic, enc->width, enc->height,
                                        enc->format, &enc->data, &enc->len,
                                        &enc->stride, log);

    } else if (ngx_chrys_picture_scale(&pic, enc->width, enc->height, &buf,
                                       log)
               == NGX_OK)
    {
        enc->rc = ngx_chrys_jpeg_compress(&pic, enc->quality, &enc->data,
                                          &enc->len, log);
    }

    if (buf) {
        ngx_free(buf);
    }

    if (enc->rc == NGX_OK && enc->slot->seq != enc->seq) {
        enc->rc = NGX_DECLINED;
    }

    enc->usec = ngx_chrys_thread_usec() - start;
}


void
ngx_chrys_encode_free(ngx_chrys_encode_t *enc)
{
    if (enc->data) {
        ngx_chrys_out_free(enc->format, enc->data);
        enc->data = NULL;
    }
}


void
ngx_chrys_out_free(ngx_uint_t format, u_char *data)
{
    if (format == NGX_CHRYS_OUT_JPEG) {
        tjFree(data);

    } else {
        ngx_free(data);
    }
}


/* the libswscale pixel format of a picture's layout */

static enum AVPixelFormat
ngx_chrys_sws_format(ngx_chrys_picture_t *pic)
{
    switch (pic->layout) {

    case NGX_CHRYS_YUV422:
        return AV_PIX_FMT_YUV422P;

    case NGX_CHRYS_YUV444:
        return AV_PIX_FMT_YUV444P;

    case NGX_CHRYS_GRAY:
        return AV_PIX_FMT_GRAY8;

    default:
        return AV_PIX_FMT_YUV420P;
    }
}


/* sws_scale() of the whole of a picture */

static void
ngx_chrys_picture_sws(struct SwsContext *sws, ngx_chrys_picture_t *pic,
    u_char *dst[4], int stride[4])
{
    int            src_stride[4];
    ngx_uint_t     i;
    const u_char  *src[4];

    for (i = 0; i < 3; i++) {
        src[i] = pic->planes[i];
        src_stride[i] = pic->strides[i];
    }

    src[3] = NULL;
    src_stride[3] = 0;

    sws_scale(sws, src, src_stride, 0, pic->height, dst, stride);
}


/*
 * A width x height 4:2:0 picture, its planes one after the other as
 * ngx_chrys_frame_size() counts them; dst and stride point at them, as
 * sws_scale() takes them.  ngx_free() it.
 */

static u_char *
ngx_chrys_yuv420_alloc(ngx_uint_t width, ngx_uint_t height, u_char *dst[4],
    int stride[4], ngx_log_t *log)
{
    u_char      *buf;
    ngx_uint_t   cw;

    buf = ngx_alloc(ngx_chrys_frame_size(NGX_CHRYS_YUV420, width, height),
                    log);
    if (buf == NULL) {
        return NULL;
    }

    cw = (width + 1) / 2;

    dst[0] = buf;
    dst[1] = dst[0] + width * height;
    dst[2] = dst[1] + cw * ((height + 1) / 2);
    dst[3] = NULL;
    stride[0] = width;
    stride[1] = cw;
    stride[2] = cw;
    stride[3] = 0;

    return buf;
}


/*
 * Scales a picture to width x height (0: leave it) as 4:2:0 in the same
 * sample range, into *buf (ngx_free() it); *pic then describes the result.
 */

ngx_int_t
ngx_chrys_picture_scale(ngx_chrys_picture_t *pic, ngx_uint_t width,
    ngx_uint_t height, u_char **buf, ngx_log_t *log)
{
    int                 dst_stride[4];
    u_char             *dst[4];
    ngx_uint_t          i;
    struct SwsContext  *sws;

    if (width == 0 || (width == pic->width && height == pic->height)) {
        return NGX_OK;
    }

    sws = ngx_chrys_sws(pic->width, pic->height, ngx_chrys_sws_format(pic),
                        width, height,
                        (pic->layout == NGX_CHRYS_GRAY) ? AV_PIX_FMT_GRAY8
                                                        : AV_PIX_FMT_YUV420P,
                        SWS_BILINEAR);
    if (sws == NULL) {
        return NGX_ERROR;
    }

    *buf = ngx_chrys_yuv420_alloc(width, height, dst, dst_stride, log);
    if (*buf == NULL) {
        return NGX_ERROR;
    }

    ngx_chrys_picture_sws(sws, pic, dst, dst_stride);

    pic->width = width;
    pic->height = height;

    if (pic->layout != NGX_CHRYS_GRAY) {
        pic->layout = NGX_CHRYS_YUV420;
    }

    for (i = 0; i < 3; i++) {
        pic->planes[i] = dst[i];
        pic->strides[i] = dst_stride[i];
    }

    return NGX_OK;
}


/*
 * Raw pixels of a picture at width x height (0: as decoded): packed BGR or
 * RGB and gray in full range (BT.601, as JPEG), or the decoder's own 4:2:0
 * planes one after the other.  *data is ngx_alloc()ed.
 */

ngx_int_t
ngx_chrys_picture_raw(ngx_chrys_picture_t *pic, ngx_uint_t width,
    ngx_uint_t height, ngx_uint_t format, u_char **data, size_t *len,
    ngx_uint_t *stride, ngx_log_t *log)
{
    int                  dst_stride[4], range;
    u_char              *dst[4];
    size_t               size;
    struct SwsContext   *sws;
    enum AVPixelFormat   fmt;

    if (width == 0) {
        width = pic->width;
        height = pic->height;
    }

    ngx_memzero(dst, sizeof(dst));
    ngx_memzero(dst_stride, sizeof(dst_stride));

    switch (format) {

    case NGX_CHRYS_OUT_BGR24:
    case NGX_CHRYS_OUT_RGB24:
        fmt = (format == NGX_CHRYS_OUT_BGR24) ? AV_PIX_FMT_BGR24
                                               : AV_PIX_FMT_RGB24;
        size = width * height * 3;
        *stride = width * 3;
        range = 1;
        break;

    case NGX_CHRYS_OUT_GRAY8:
        fmt = AV_PIX_FMT_GRAY8;
        size = width * height;
        *stride = width;
        range = 1;
        break;

    default: /* NGX_CHRYS_OUT_YUV420P */
        fmt = AV_PIX_FMT_YUV420P;
        size = ngx_chrys_frame_size(NGX_CHRYS_YUV420, width, height);
        *stride = width;
        range = pic->full_range;
        break;
    }

    if (format == NGX_CHRYS_OUT_YUV420P) {
        *data = ngx_chrys_yuv420_alloc(width, height, dst, dst_stride, log);

    } else {
        *data = ngx_alloc(size, log);
        dst[0] = *data;
        dst_stride[0] = *stride;
    }

    if (*data == NULL) {
        return NGX_ERROR;
    }

    /* unscaled, chroma is repeated as ffmpeg's own conversion does */
    sws = ngx_chrys_sws(pic->width, pic->height, ngx_chrys_sws_format(pic),
                        width, height, fmt, SWS_BILINEAR);
    if (sws == NULL) {
        ngx_free(*data);
        *data = NULL;
        return NGX_ERROR;
    }

    (void) sws_setColorspaceDetails(sws, sws_getCoefficients(SWS_CS_ITU601),
                                    pic->full_range,
                                    sws_getCoefficients(SWS_CS_ITU601),
                                    range, 0, 1 << 16, 1 << 16);

    ngx_chrys_picture_sws(sws, pic, dst, dst_stride);

    *len = size;

    return NGX_OK;
}


/*
 * Encodes 8-bit planar YCbCr straight from its planes, as libjpeg-turbo
 * takes them: studio-range samples are expanded to JPEG's full range on
 * the way.  *data is freed with tjFree().  Thread-safe.
 */

ngx_int_t
ngx_chrys_jpeg_compress(ngx_chrys_picture_t *pic, ngx_uint_t quality,
    u_char **data, size_t *len, ngx_log_t *log)
{
    int             subsamp, strides[3];
    u_char         *scratch, *p, *src, lut[2][256];
    size_t          size;
    tjhandle        tj;
    ngx_int_t       rc;
    ngx_uint_t      i, x, y, planes, pw[3], ph[3];
    unsigned long   out;
    const u_char   *in[3];

    switch (pic->layout) {
    case NGX_CHRYS_YUV422:
        subsamp = TJSAMP_422;
        break;
    case NGX_CHRYS_YUV444:
        subsamp = TJSAMP_444;
        break;
    case NGX_CHRYS_GRAY:
        subsamp = TJSAMP_GRAY;
        break;
    default:
        subsamp = TJSAMP_420;
        break;
    }

    planes = (pic->layout == NGX_CHRYS_GRAY) ? 1 : 3;

    pw[0] = pic->width;
    ph[0] = pic->height;
    pw[1] = (pic->layout == NGX_CHRYS_YUV444) ? pic->width
                                               : (pic->width + 1) / 2;
    ph[1] = (pic->layout == NGX_CHRYS_YUV420) ? (pic->height + 1) / 2
                                               : pic->height;
    pw[2] = pw[1];
    ph[2] = ph[1];

    scratch = NULL;

    for (i = 0; i < planes; i++) {
        in[i] = pic->planes[i];
        strides[i] = pic->strides[i];
    }

    if (!pic->full_range) {
        /* JPEG is full range: expand studio-range H.264 samples */

        size = ngx_chrys_frame_size(pic->layout, pic->width, pic->height);

        scratch = ngx_alloc(size, log);
        if (scratch == NULL) {
            return NGX_ERROR;
        }

        p = scratch;

        ngx_chrys_range_lut(lut[0], 0);
        ngx_chrys_range_lut(lut[1], 1);

        for (i = 0; i < planes; i++) {
            in[i] = p;
            strides[i] = pw[i];

            for (y = 0; y < ph[i]; y++) {
                src = pic->planes[i] + y * pic->strides[i];

                for (x = 0; x < pw[i]; x++) {
                    p[x] = lut[i > 0][src[x]];
                }

                p += pw[i];
            }
        }
    }

    rc = NGX_ERROR;
    *data = NULL;
    *len = 0;

    tj = tjInitCompress();

    if (tj == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "chrys: tjInitCompress() failed");

    } else {
        out = 0;

        if (tjCompressFromYUVPlanes(tj, in, pic->width, strides, pic->height,
                                    subsamp, data, &out, quality, 0)
            == 0)
        {
            *len = out;
            rc = NGX_OK;

        } else {
            ngx_log_error(NGX_LOG_ERR, log, 0, "chrys: JPEG encoding: %s",
                          tjGetErrorStr2(tj));
            if (*data) {
                tjFree(*data);
                *data = NULL;
            }
        }

        tjDestroy(tj);
    }

    if (scratch) {
        ngx_free(scratch);
    }

    return rc;
}


/* the scaler of this thread, made again only when the job changes */

static struct SwsContext *
ngx_chrys_sws(int sw, int sh, enum AVPixelFormat sf, int dw, int dh,
    enum AVPixelFormat df, int flags)
{
    struct SwsContext  *sws, *cached;

    (void) pthread_once(&ngx_chrys_sws_once, ngx_chrys_sws_key_create);

    cached = pthread_getspecific(ngx_chrys_sws_key);

    sws = sws_getCachedContext(cached, sw, sh, sf, dw, dh, df, flags,
                               NULL, NULL, NULL);

    if (sws != cached) {
        /* sws_getCachedContext() freed the old one, if it had to */
        (void) pthread_setspecific(ngx_chrys_sws_key, sws);
    }

    return sws;
}


static void
ngx_chrys_sws_key_create(void)
{
    (void) pthread_key_create(&ngx_chrys_sws_key, ngx_chrys_sws_free);
}


static void
ngx_chrys_sws_free(void *data)
{
    sws_freeContext(data);
}


/*
 * Studio range (Y 16..235, C 16..240) to full range (0..255), in 8.8 fixed
 * point: Y' = (Y - 16) * 255 / 219, C' = (C - 128) * 255 / 224 + 128, as
 * a table: a lookup a sample is twice as fast as computing it.
 */

static void
ngx_chrys_range_lut(u_char *lut, ngx_uint_t chroma)
{
    int         v, mul, off, add;
    ngx_uint_t  i;

    if (chroma) {
        mul = 291;          /* 255 / 224 * 256 */
        off = 128;
        add = 128 * 256 + 128;

    } else {
        mul = 298;          /* 255 / 219 * 256 */
        off = 16;
        add = 128;
    }

    for (i = 0; i < 256; i++) {
        v = (((int) i - off) * mul + add) >> 8;
        lut[i] = (u_char) (v < 0 ? 0 : (v > 255 ? 255 : v));
    }
}
