
/*
 * Copyright (C) chrys authors
 *
 * What a ring holds, on demand, in the thread pool: access units copied
 * out of it decoded into images of the frames asked for, or remuxed into
 * fragmented MP4 without re-encoding.  Neither touches the zone: they work
 * on their private copy (ngx_chrys_gop_t).
 */


#ifndef _NGX_CHRYS_REPLAY_H_INCLUDED_
#define _NGX_CHRYS_REPLAY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_ring.h"
#include "ngx_chrys_image.h"


/* decoding access units of a ring, and encoding some of their frames */

typedef struct {
    ngx_chrys_gop_t              *gop;
    ngx_uint_t                   *want;       /* seqs, ascending */
    ngx_uint_t                    nwant;
    ngx_chrys_look_t              look;
    ngx_chrys_image_t            *images;     /* nwant, display order */
    ngx_uint_t                    nimages;
    ngx_uint_t                    errors;
    ngx_uint_t                    usec;
} ngx_chrys_replay_t;


/*
 * A track's clock: stream time to clip time, going on where the stream's
 * goes back (a publisher that came back starts its timestamps again).
 */

typedef struct {
    int64_t                       offset;     /* ms, stream to clip time */
    int64_t                       last;       /* ms, stream time, the last */
    int64_t                       last_dts;   /* ms, clip time, -1: none */
    int64_t                       step;       /* ms, the last frame's */
    ngx_uint_t                    restarts;   /* times it went back */
    unsigned                      seen:1;
} ngx_chrys_mux_clock_t;


/* remuxing access units of a ring into fragmented MP4, step by step */

typedef struct {
    ngx_chrys_gop_t              *gop;
    ngx_chrys_gop_t              *audio;      /* AAC frames of the step */
    void                         *fmt;        /* AVFormatContext */
    ngx_chrys_mux_clock_t         video_clock;
    ngx_chrys_mux_clock_t         audio_clock;    /* follows the video's */
    ngx_int_t                     audio_index;    /* -1: no audio track */
    unsigned                      started:1;
    unsigned                      last:1;
    ngx_int_t                     rc;
    u_char                       *out;        /* this step's bytes */
    size_t                        len;
    size_t                        size;
    ngx_uint_t                    frames;
    u_char                        error[NGX_CHRYS_ERROR_LEN];
} ngx_chrys_mux_t;


void ngx_chrys_replay_handler(void *data, ngx_log_t *log);
void ngx_chrys_replay_free(ngx_chrys_replay_t *rp);
void ngx_chrys_mux_handler(void *data, ngx_log_t *log);
void ngx_chrys_mux_free(ngx_chrys_mux_t *mux);


#endif /* _NGX_CHRYS_REPLAY_H_INCLUDED_ */
