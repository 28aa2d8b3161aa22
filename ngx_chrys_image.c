
/*
 * Copyright (C) chrys authors
 *
 * Images out of decoded pictures, in the thread pool: the planes of a
 * decoded frame or of a slot, scaled with libswscale, as JPEG (encoded
 * by libjpeg-turbo straight from the YCbCr planes) or raw pixels.  Each
 * pool thread keeps the scaler it used last.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_image.h"

#include <libavutil/frame.h>
#include <libswscale/swscale.h>
#include <turbojpeg.h>


static ngx_int_t ngx_chrys_frame_layout(AVFrame *frame, ngx_uint_t *layout);
static ngx_int_t ngx_chrys_planes_scale(ngx_chrys_planes_t *pl,
    ngx_uint_t width, ngx_uint_t height, u_char **buf, ngx_log_t *log);
static ngx_int_t ngx_chrys_image_raw(ngx_chrys_planes_t *pl,
    ngx_uint_t width, ngx_uint_t height, ngx_uint_t format, u_char **data,
    size_t *len, ngx_uint_t *stride, ngx_log_t *log);
static ngx_int_t ngx_chrys_image_jpeg(ngx_chrys_planes_t *pl,
    ngx_uint_t quality, u_char **data, size_t *len, ngx_log_t *log);
static enum AVPixelFormat ngx_chrys_sws_format(ngx_chrys_planes_t *pl);
static void ngx_chrys_planes_sws(struct SwsContext *sws,
    ngx_chrys_planes_t *pl, u_char *dst[4], int stride[4]);
static u_char *ngx_chrys_yuv420_alloc(ngx_uint_t width, ngx_uint_t height,
    u_char *dst[4], int stride[4], ngx_log_t *log);
static struct SwsContext *ngx_chrys_sws(int sw, int sh,
    enum AVPixelFormat sf, int dw, int dh, enum AVPixelFormat df, int flags);
static void ngx_chrys_sws_key_create(void);
static void ngx_chrys_sws_free(void *data);
static void ngx_chrys_range_lut(u_char *lut, ngx_uint_t chroma);


/* each pool thread keeps the scaler it used last: making one costs more
 * than scaling a picture */
static pthread_key_t   ngx_chrys_sws_key;
static pthread_once_t  ngx_chrys_sws_once = PTHREAD_ONCE_INIT;


/*
 * Describes a decoded frame as planes libjpeg-turbo takes.  Other pixel
 * formats (10 bit, ...) are converted to 4:2:0 into *buf, which the caller
 * frees.
 */

ngx_int_t
ngx_chrys_planes_of_frame(ngx_chrys_planes_t *pl, AVFrame *f, u_char **buf,
    ngx_log_t *log)
{
    int                 dst_stride[4];
    u_char             *dst[4];
    ngx_uint_t          i, w, h;
    struct SwsContext  *sws;

    w = f->width;
    h = f->height;

    pl->width = w;
    pl->height = h;
    pl->full_range = (f->color_range == AVCOL_RANGE_JPEG
                       || f->format == AV_PIX_FMT_YUVJ420P
                       || f->format == AV_PIX_FMT_YUVJ422P
                       || f->format == AV_PIX_FMT_YUVJ444P);

    if (ngx_chrys_frame_layout(f, &pl->layout) == NGX_OK) {
        for (i = 0; i < 3; i++) {
            pl->planes[i] = f->data[i];
            pl->strides[i] = f->linesize[i];
        }

        return NGX_OK;
    }

    sws = ngx_chrys_sws(w, h, f->format, w, h, AV_PIX_FMT_YUV420P,
                        SWS_BILINEAR);
    if (sws == NULL) {
        return NGX_ERROR;
    }

    *buf = ngx_chrys_yuv420_alloc(w, h, dst, dst_stride, log);
    if (*buf == NULL) {
        return NGX_ERROR;
    }

    sws_scale(sws, (const uint8_t * const *) f->data, f->linesize, 0, h,
              dst, dst_stride);

    pl->layout = NGX_CHRYS_YUV420;
    pl->full_range = 0;

    for (i = 0; i < 3; i++) {
        pl->planes[i] = dst[i];
        pl->strides[i] = dst_stride[i];
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

/* the planes of a picture packed one after the other, as a slot holds it */

void
ngx_chrys_planes_packed(ngx_chrys_planes_t *pl, u_char *data,
    ngx_chrys_frame_t *frame)
{
    ngx_uint_t  w, h;

    w = frame->width;
    h = frame->height;

    pl->width = w;
    pl->height = h;
    pl->layout = frame->layout;
    pl->full_range = frame->full_range;
    pl->planes[0] = data;
    pl->strides[0] = w;
    pl->strides[1] = (pl->layout == NGX_CHRYS_YUV444) ? w : (w + 1) / 2;
    pl->strides[2] = pl->strides[1];
    pl->planes[1] = pl->planes[0] + w * h;
    pl->planes[2] = pl->planes[1]
                    + pl->strides[1] * ((pl->layout == NGX_CHRYS_YUV420)
                                        ? (h + 1) / 2 : h);
}


/*
 * Copies the planes packed one after the other into "dst", which has
 * ngx_chrys_frame_size() bytes of them.
 */

void
ngx_chrys_planes_copy(ngx_chrys_planes_t *pl, u_char *dst)
{
    ngx_uint_t  i, y, planes, pw, ph;

    planes = (pl->layout == NGX_CHRYS_GRAY) ? 1 : 3;

    for (i = 0; i < planes; i++) {
        pw = i ? (pl->layout == NGX_CHRYS_YUV444 ? pl->width
                                                  : (pl->width + 1) / 2)
               : pl->width;
        ph = (i && pl->layout == NGX_CHRYS_YUV420) ? (pl->height + 1) / 2
                                                    : pl->height;

        for (y = 0; y < ph; y++) {
            dst = ngx_cpymem(dst, pl->planes[i] + y * pl->strides[i], pw);
        }
    }
}


/*
 * The image "look" asks for, of the picture in "pl": JPEG or raw pixels,
 * scaled if asked.  img->frame gets the output's size; its other fields
 * are the caller's.  Free it with ngx_chrys_image_free().
 */

ngx_int_t
ngx_chrys_image_make(ngx_chrys_planes_t *pl, ngx_chrys_look_t *look,
    ngx_chrys_image_t *img, ngx_log_t *log)
{
    u_char              *buf;
    ngx_int_t            rc;
    ngx_chrys_planes_t   out;

    img->format = look->format;
    img->data = NULL;
    img->len = 0;
    img->stride = 0;

    if (look->format != NGX_CHRYS_OUT_JPEG) {
        rc = ngx_chrys_image_raw(pl, look->width, look->height, look->format,
                                 &img->data, &img->len, &img->stride, log);

        img->frame.width = look->width ? look->width : pl->width;
        img->frame.height = look->width ? look->height : pl->height;

        return rc;
    }

    out = *pl;
    buf = NULL;

    rc = ngx_chrys_planes_scale(&out, look->width, look->height, &buf, log);

    if (rc == NGX_OK) {
        rc = ngx_chrys_image_jpeg(&out, look->quality, &img->data, &img->len,
                                  log);
    }

    if (buf) {
        ngx_free(buf);
    }

    img->frame.width = out.width;
    img->frame.height = out.height;
    img->frame.layout = out.layout;

    return rc;
}


void
ngx_chrys_image_free(ngx_chrys_image_t *img)
{
    if (img->data == NULL) {
        return;
    }

    if (img->format == NGX_CHRYS_OUT_JPEG) {
        tjFree(img->data);

    } else {
        ngx_free(img->data);
    }

    img->data = NULL;
}



ngx_uint_t
ngx_chrys_thread_usec(void)
{
    struct timespec  ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == -1) {
        return 0;
    }

    return (ngx_uint_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/* the libswscale pixel format of a picture's layout */

static enum AVPixelFormat
ngx_chrys_sws_format(ngx_chrys_planes_t *pl)
{
    switch (pl->layout) {

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
ngx_chrys_planes_sws(struct SwsContext *sws, ngx_chrys_planes_t *pl,
    u_char *dst[4], int stride[4])
{
    int            src_stride[4];
    ngx_uint_t     i;
    const u_char  *src[4];

    for (i = 0; i < 3; i++) {
        src[i] = pl->planes[i];
        src_stride[i] = pl->strides[i];
    }

    src[3] = NULL;
    src_stride[3] = 0;

    sws_scale(sws, src, src_stride, 0, pl->height, dst, stride);
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
 * sample range, into *buf (ngx_free() it); *pl then describes the result.
 */

static ngx_int_t
ngx_chrys_planes_scale(ngx_chrys_planes_t *pl, ngx_uint_t width,
    ngx_uint_t height, u_char **buf, ngx_log_t *log)
{
    int                 dst_stride[4];
    u_char             *dst[4];
    ngx_uint_t          i;
    struct SwsContext  *sws;

    if (width == 0 || (width == pl->width && height == pl->height)) {
        return NGX_OK;
    }

    sws = ngx_chrys_sws(pl->width, pl->height, ngx_chrys_sws_format(pl),
                        width, height,
                        (pl->layout == NGX_CHRYS_GRAY) ? AV_PIX_FMT_GRAY8
                                                        : AV_PIX_FMT_YUV420P,
                        SWS_BILINEAR);
    if (sws == NULL) {
        return NGX_ERROR;
    }

    *buf = ngx_chrys_yuv420_alloc(width, height, dst, dst_stride, log);
    if (*buf == NULL) {
        return NGX_ERROR;
    }

    ngx_chrys_planes_sws(sws, pl, dst, dst_stride);

    pl->width = width;
    pl->height = height;

    if (pl->layout != NGX_CHRYS_GRAY) {
        pl->layout = NGX_CHRYS_YUV420;
    }

    for (i = 0; i < 3; i++) {
        pl->planes[i] = dst[i];
        pl->strides[i] = dst_stride[i];
    }

    return NGX_OK;
}


/*
 * Raw pixels of a picture at width x height (0: as decoded): packed BGR or
 * RGB and gray in full range (BT.601, as JPEG), or the decoder's own 4:2:0
 * planes one after the other.  *data is ngx_alloc()ed.
 */

static ngx_int_t
ngx_chrys_image_raw(ngx_chrys_planes_t *pl, ngx_uint_t width,
    ngx_uint_t height, ngx_uint_t format, u_char **data, size_t *len,
    ngx_uint_t *stride, ngx_log_t *log)
{
    int                  dst_stride[4], range;
    u_char              *dst[4];
    size_t               size;
    struct SwsContext   *sws;
    enum AVPixelFormat   fmt;

    if (width == 0) {
        width = pl->width;
        height = pl->height;
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
        range = pl->full_range;
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
    sws = ngx_chrys_sws(pl->width, pl->height, ngx_chrys_sws_format(pl),
                        width, height, fmt, SWS_BILINEAR);
    if (sws == NULL) {
        ngx_free(*data);
        *data = NULL;
        return NGX_ERROR;
    }

    (void) sws_setColorspaceDetails(sws, sws_getCoefficients(SWS_CS_ITU601),
                                    pl->full_range,
                                    sws_getCoefficients(SWS_CS_ITU601),
                                    range, 0, 1 << 16, 1 << 16);

    ngx_chrys_planes_sws(sws, pl, dst, dst_stride);

    *len = size;

    return NGX_OK;
}


/*
 * Encodes 8-bit planar YCbCr straight from its planes, as libjpeg-turbo
 * takes them: studio-range samples are expanded to JPEG's full range on
 * the way.  *data is freed with tjFree().  Thread-safe.
 */

static ngx_int_t
ngx_chrys_image_jpeg(ngx_chrys_planes_t *pl, ngx_uint_t quality,
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

    switch (pl->layout) {
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

    planes = (pl->layout == NGX_CHRYS_GRAY) ? 1 : 3;

    pw[0] = pl->width;
    ph[0] = pl->height;
    pw[1] = (pl->layout == NGX_CHRYS_YUV444) ? pl->width
                                               : (pl->width + 1) / 2;
    ph[1] = (pl->layout == NGX_CHRYS_YUV420) ? (pl->height + 1) / 2
                                               : pl->height;
    pw[2] = pw[1];
    ph[2] = ph[1];

    scratch = NULL;

    for (i = 0; i < planes; i++) {
        in[i] = pl->planes[i];
        strides[i] = pl->strides[i];
    }

    if (!pl->full_range) {
        /* JPEG is full range: expand studio-range H.264 samples */

        size = ngx_chrys_frame_size(pl->layout, pl->width, pl->height);

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
                src = pl->planes[i] + y * pl->strides[i];

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

        if (tjCompressFromYUVPlanes(tj, in, pl->width, strides, pl->height,
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
