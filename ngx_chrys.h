
/*
 * Copyright (C) chrys authors
 *
 * What every part of chrys shares: names of the units that point at each
 * other, the limits of names, the description of a frame, pixel layouts
 * and output formats.  Each unit has a header of its own:
 *
 *     ngx_chrys_zone.h      the shared zone: streams, picture slots, JPEGs
 *     ngx_chrys_ring.h      the ring of access units of a stream, events
 *     ngx_chrys_image.h     scaling, raw pixels and JPEG encoding
 *     ngx_chrys_codec.h     an H.264 decoder of access units (libavcodec)
 *     ngx_chrys_decoder.h   live decoding of a published stream
 *     ngx_chrys_replay.h    decoding and remuxing what a ring holds
 *     ngx_chrys_avc.h       FLV and H.264 framing
 *     ngx_chrys_query.h     the API's paths, query strings and names
 *     ngx_chrys_json.h      the JSON bodies of the API
 *     ngx_chrys_http.h      the HTTP side
 */


#ifndef _NGX_CHRYS_H_INCLUDED_
#define _NGX_CHRYS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_CHRYS_NAME_MAX        255
#define NGX_CHRYS_ERROR_LEN       96

/* pixel layouts of a decoded picture: 8-bit planar YCbCr */
#define NGX_CHRYS_YUV420          0
#define NGX_CHRYS_YUV422          1
#define NGX_CHRYS_YUV444          2
#define NGX_CHRYS_GRAY            3

/* what an encode makes: JPEG, or raw pixels */
#define NGX_CHRYS_OUT_JPEG        0
#define NGX_CHRYS_OUT_BGR24       1
#define NGX_CHRYS_OUT_RGB24       2
#define NGX_CHRYS_OUT_GRAY8       3
#define NGX_CHRYS_OUT_YUV420P     4

/* output size limits: no picture past these, nor upscaled past 2x */
#define NGX_CHRYS_MAX_WIDTH       7680
#define NGX_CHRYS_MAX_HEIGHT      4320


typedef struct ngx_chrys_zone_s     ngx_chrys_zone_t;
typedef struct ngx_chrys_stream_s   ngx_chrys_stream_t;


/* a frame as the API tells of it: in headers, JSON and MJPEG parts */

typedef struct {
    ngx_atomic_uint_t             seq;        /* arrival number */
    int64_t                       pts;        /* stream time, ms */
    uint64_t                      time;       /* arrival, Unix ms */
    ngx_uint_t                    width;
    ngx_uint_t                    height;
    ngx_uint_t                    layout;     /* NGX_CHRYS_YUV420... */
    uint64_t                      data_time;  /* timed data before, 0: none */
    unsigned                      keyframe:1;
    unsigned                      full_range:1;
} ngx_chrys_frame_t;


size_t ngx_chrys_frame_size(ngx_uint_t layout, ngx_uint_t width,
    ngx_uint_t height);
uint64_t ngx_chrys_unix_msec(void);


#endif /* _NGX_CHRYS_H_INCLUDED_ */
