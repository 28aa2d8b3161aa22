
/*
 * Copyright (C) chrys authors
 */


#ifndef _NGX_CHRYS_H_INCLUDED_
#define _NGX_CHRYS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_thread_pool.h>


#define NGX_CHRYS_SLOTS           3
#define NGX_CHRYS_JPEGS           8
#define NGX_CHRYS_NAME_MAX        255
#define NGX_CHRYS_ERROR_LEN       96

#define NGX_CHRYS_DEFAULT_ZONE    "chrys"
#define NGX_CHRYS_DEFAULT_SIZE    (128 * 1024 * 1024)

/* an encode that takes longer than this is taken to be lost (worker died) */
#define NGX_CHRYS_JPEG_STALE      2000

/* pixel layouts a slot holds: 8-bit planar YCbCr, as libjpeg-turbo takes */
#define NGX_CHRYS_YUV420          0
#define NGX_CHRYS_YUV422          1
#define NGX_CHRYS_YUV444          2
#define NGX_CHRYS_GRAY            3

#define NGX_CHRYS_JPEG_FREE       0
#define NGX_CHRYS_JPEG_ENCODING   1
#define NGX_CHRYS_JPEG_READY      2


typedef struct {
    ngx_atomic_uint_t             seq;
    int64_t                       pts;        /* stream time, ms */
    uint64_t                      time;       /* arrival, Unix ms */
    ngx_uint_t                    width;
    ngx_uint_t                    height;
    ngx_uint_t                    layout;     /* NGX_CHRYS_YUV420... */
    unsigned                      keyframe:1;
    unsigned                      full_range:1;
} ngx_chrys_frame_t;


/*
 * A decoded picture in shared memory.  The decoder writes a slot that is
 * not the latest one; readers check "seq" before and after they read the
 * planes (a sequence lock), so a reader never uses a picture that was
 * overwritten under it.  "readers" only steers the writer away.
 */

typedef struct {
    ngx_atomic_t                  seq;        /* 0 while being written */
    ngx_atomic_t                  readers;
    u_char                       *data;
    size_t                        size;
    ngx_chrys_frame_t             frame;
} ngx_chrys_slot_t;


typedef struct {
    ngx_atomic_uint_t             seq;
    ngx_uint_t                    state;      /* NGX_CHRYS_JPEG_FREE... */
    ngx_uint_t                    quality;
    ngx_uint_t                    token;      /* names the current claim */
    ngx_pid_t                     pid;
    ngx_msec_t                    started;
    u_char                       *data;
    size_t                        len;
} ngx_chrys_jpeg_t;


typedef struct {
    ngx_rbtree_node_t             node;
    ngx_queue_t                   queue;

    ngx_pid_t                     owner;      /* worker decoding it */
    ngx_uint_t                    publishing;
    ngx_uint_t                    publishes;
    uint64_t                      publish_time;

    /* seq of a frame: its number among all video frames ever received */
    ngx_atomic_t                  received;
    ngx_atomic_t                  latest_seq; /* newest decoded, 0: none */
    ngx_uint_t                    latest;     /* slot of latest_seq */

    ngx_atomic_t                  decoded;
    ngx_atomic_t                  skipped;
    ngx_atomic_t                  errors;
    ngx_atomic_t                  bytes;
    ngx_atomic_t                  decode_usec;    /* CPU time */
    ngx_atomic_t                  encodes;
    ngx_atomic_t                  cache_hits;
    uint64_t                      last_time;  /* last packet, Unix ms */

    ngx_msec_t                    window_start;
    ngx_uint_t                    window_frames;
    ngx_uint_t                    window_bytes;
    ngx_uint_t                    fps;        /* frames per 100 s */
    ngx_uint_t                    bitrate;    /* bits per second */

    ngx_uint_t                    codec;      /* FLV codec id */
    ngx_uint_t                    width;
    ngx_uint_t                    height;
    ngx_uint_t                    profile;
    ngx_uint_t                    level;
    u_char                        error[NGX_CHRYS_ERROR_LEN];

    ngx_chrys_slot_t              slots[NGX_CHRYS_SLOTS];
    ngx_chrys_jpeg_t              jpegs[NGX_CHRYS_JPEGS];

    size_t                        app_len;
    size_t                        name_len;
    u_char                        key[1];     /* app "/" name */
} ngx_chrys_stream_t;


typedef struct {
    ngx_rbtree_t                  rbtree;
    ngx_rbtree_node_t             sentinel;
    ngx_queue_t                   streams;
    ngx_uint_t                    nstreams;
    ngx_uint_t                    tokens;
} ngx_chrys_sh_t;


typedef struct {
    ngx_chrys_sh_t               *sh;
    ngx_slab_pool_t              *shpool;
    ngx_shm_zone_t               *shm_zone;
} ngx_chrys_zone_t;


typedef struct ngx_chrys_decoder_s  ngx_chrys_decoder_t;
typedef struct ngx_chrys_packet_s   ngx_chrys_packet_t;


/* one video access unit, or a decoder configuration (seq 0) */

struct ngx_chrys_packet_s {
    ngx_chrys_packet_t           *next;
    ngx_uint_t                    seq;
    int64_t                       pts;
    uint64_t                      time;
    unsigned                      keyframe:1;
    unsigned                      idr:1;
    unsigned                      gap:1;      /* packets were lost before */
    size_t                        len;
    u_char                       *data;       /* padded for libavcodec */
};


/*
 * A JPEG encode of a slot, as a thread task context.  The picture and its
 * address are taken under the zone lock: if the decoder reuses the slot
 * meanwhile, the encoder still reads inside the zone, and the result is
 * dropped by the seq check.
 */

typedef struct {
    ngx_chrys_slot_t             *slot;
    u_char                       *planes;
    ngx_chrys_frame_t             frame;
    ngx_uint_t                    seq;
    ngx_uint_t                    quality;
    ngx_int_t                     rc;         /* NGX_DECLINED: overwritten */
    u_char                       *data;
    size_t                        len;
    ngx_uint_t                    usec;
} ngx_chrys_encode_t;


/* ngx_chrys_ring.c: streams, picture slots and JPEG cache in the zone */

ngx_int_t ngx_chrys_zone_init(ngx_shm_zone_t *shm_zone, void *data);
ngx_shm_zone_t *ngx_chrys_zone_add(ngx_conf_t *cf, ngx_str_t *name,
    size_t size);

ngx_chrys_stream_t *ngx_chrys_stream_find(ngx_chrys_zone_t *zone,
    ngx_str_t *app, ngx_str_t *name);
ngx_chrys_stream_t *ngx_chrys_stream_get(ngx_chrys_zone_t *zone,
    ngx_str_t *app, ngx_str_t *name, ngx_log_t *log);
ngx_int_t ngx_chrys_stream_claim(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st);
void ngx_chrys_stream_release(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st);
ngx_int_t ngx_chrys_valid_name(ngx_str_t *name);
void ngx_chrys_stream_set_error(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, const char *fmt, ...);
ngx_uint_t ngx_chrys_stream_publishing(ngx_chrys_stream_t *st);

ngx_int_t ngx_chrys_slot_reserve(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, size_t size);
void ngx_chrys_slot_publish(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t n, ngx_chrys_frame_t *frame);
ngx_chrys_slot_t *ngx_chrys_slot_pin_latest(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st);
ngx_chrys_slot_t *ngx_chrys_slot_pin_latest_locked(ngx_chrys_stream_t *st);
ngx_uint_t ngx_chrys_slot_unpin(ngx_chrys_slot_t *slot, ngx_uint_t seq);

ngx_chrys_jpeg_t *ngx_chrys_jpeg_lookup_locked(ngx_chrys_stream_t *st,
    ngx_uint_t seq, ngx_uint_t quality);
ngx_chrys_jpeg_t *ngx_chrys_jpeg_claim_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t seq, ngx_uint_t quality);
ngx_int_t ngx_chrys_jpeg_store(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_jpeg_t *jpeg, ngx_uint_t token,
    u_char *data, size_t len);
void ngx_chrys_jpeg_abort(ngx_chrys_zone_t *zone, ngx_chrys_jpeg_t *jpeg,
    ngx_uint_t token);

size_t ngx_chrys_frame_size(ngx_uint_t layout, ngx_uint_t width,
    ngx_uint_t height);
uint64_t ngx_chrys_unix_msec(void);


/* ngx_chrys_decoder.c: decoding and encoding in the thread pool */

ngx_chrys_decoder_t *ngx_chrys_decoder_create(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_thread_pool_t *tp, ngx_log_t *log);
ngx_chrys_packet_t *ngx_chrys_packet_alloc(size_t len, ngx_log_t *log);
void ngx_chrys_packet_free(ngx_chrys_packet_t *pkt);
void ngx_chrys_decoder_push(ngx_chrys_decoder_t *dec,
    ngx_chrys_packet_t *pkt);
void ngx_chrys_decoder_hint(ngx_chrys_decoder_t *dec, ngx_uint_t width,
    ngx_uint_t height);
void ngx_chrys_decoder_drop(ngx_chrys_decoder_t *dec);
void ngx_chrys_decoder_close(ngx_chrys_decoder_t *dec);
void ngx_chrys_decoder_exit_process(void);

void ngx_chrys_encode_handler(void *data, ngx_log_t *log);
void ngx_chrys_encode_free(ngx_chrys_encode_t *enc);


/* ngx_chrys_http.c */

void ngx_chrys_http_wake(void);


#endif /* _NGX_CHRYS_H_INCLUDED_ */
