
/*
 * Copyright (C) chrys authors
 *
 * Images out of decoded pictures: scaling and raw pixels (libswscale) and
 * JPEG encoding (libjpeg-turbo), for the live decoder, replays and the
 * HTTP side alike.  Everything here is thread-safe and runs in the thread
 * pool; nothing touches the zone.
 */


#ifndef _NGX_CHRYS_IMAGE_H_INCLUDED_
#define _NGX_CHRYS_IMAGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys.h"


struct AVFrame;


/* the planes of 8-bit planar YCbCr, wherever they lie */

typedef struct {
    u_char                       *planes[3];
    ngx_uint_t                    strides[3];
    ngx_uint_t                    width;
    ngx_uint_t                    height;
    ngx_uint_t                    layout;     /* NGX_CHRYS_YUV420... */
    ngx_uint_t                    full_range;
} ngx_chrys_planes_t;


/* an encoded image of a frame: JPEG (tjFree()) or raw (ngx_free()) */

typedef struct {
    ngx_chrys_frame_t             frame;
    ngx_uint_t                    format;     /* NGX_CHRYS_OUT_... */
    u_char                       *data;
    size_t                        len;
    ngx_uint_t                    stride;     /* raw: bytes a row */
} ngx_chrys_image_t;


/* what is asked of an image: format, JPEG quality, size (0: as it is) */

typedef struct {
    ngx_uint_t                    format;     /* NGX_CHRYS_OUT_... */
    ngx_uint_t                    quality;
    ngx_uint_t                    width;
    ngx_uint_t                    height;
} ngx_chrys_look_t;


ngx_int_t ngx_chrys_planes_of_frame(ngx_chrys_planes_t *pl,
    struct AVFrame *f, u_char **buf, ngx_log_t *log);
void ngx_chrys_planes_packed(ngx_chrys_planes_t *pl, u_char *data,
    ngx_chrys_frame_t *frame);
void ngx_chrys_planes_copy(ngx_chrys_planes_t *pl, u_char *dst);
ngx_int_t ngx_chrys_image_make(ngx_chrys_planes_t *pl,
    ngx_chrys_look_t *look, ngx_chrys_image_t *img, ngx_log_t *log);
void ngx_chrys_image_free(ngx_chrys_image_t *img);
ngx_uint_t ngx_chrys_thread_usec(void);


#endif /* _NGX_CHRYS_IMAGE_H_INCLUDED_ */
