
/*
 * Copyright (C) chrys authors
 */


#ifndef _NGX_CHRYS_H_INCLUDED_
#define _NGX_CHRYS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_thread_pool.h>


struct AVFrame;
struct SwsContext;


#define NGX_CHRYS_SLOTS           3
#define NGX_CHRYS_JPEGS           8
#define NGX_CHRYS_NAME_MAX        255
#define NGX_CHRYS_ERROR_LEN       96

#define NGX_CHRYS_DEFAULT_ZONE    "chrys"
#define NGX_CHRYS_DEFAULT_SIZE    (128 * 1024 * 1024)

/* a pin older than this is taken to be lost (its worker died) */
#define NGX_CHRYS_PIN_STALE       1000

/* pictures are copied into the zone while asked for within this time */
#define NGX_CHRYS_WANTED          10000

/* an encode that takes longer than this is taken to be lost (worker died) */
#define NGX_CHRYS_JPEG_STALE      2000

/* pixel layouts a slot holds: 8-bit planar YCbCr, as libjpeg-turbo takes */
#define NGX_CHRYS_YUV420          0
#define NGX_CHRYS_YUV422          1
#define NGX_CHRYS_YUV444          2
#define NGX_CHRYS_GRAY            3

/* the stream buffer: compressed access units in chunks of the zone */
#define NGX_CHRYS_CHUNK           (256 * 1024)
#define NGX_CHRYS_ENTRY_KEY       0x01
#define NGX_CHRYS_ENTRY_IDR       0x02
#define NGX_CHRYS_ENTRY_CONFIG    0x04
#define NGX_CHRYS_EVENTS_MAX      64
#define NGX_CHRYS_LABEL_LEN       128
#define NGX_CHRYS_META_MAX        4096

#define NGX_CHRYS_CONFLICT                409
#define NGX_CHRYS_INSUFFICIENT_STORAGE    507

/* what an encode makes: JPEG, or raw pixels */
#define NGX_CHRYS_OUT_JPEG        0
#define NGX_CHRYS_OUT_BGR24       1
#define NGX_CHRYS_OUT_RGB24       2
#define NGX_CHRYS_OUT_GRAY8       3
#define NGX_CHRYS_OUT_YUV420P     4

/* output size limits: no picture past these, nor upscaled past 2x */
#define NGX_CHRYS_MAX_WIDTH       7680
#define NGX_CHRYS_MAX_HEIGHT      4320

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
    ngx_msec_t                    pinned;     /* when it was last pinned */
    u_char                       *data;
    size_t                        size;
    ngx_chrys_frame_t             frame;
} ngx_chrys_slot_t;


/*
 * A variant of a picture: JPEG quality and output size (0: as decoded),
 * in one key, ngx_chrys_variant(quality, width, height).
 */

#define ngx_chrys_variant(q, w, h)                                            \
    ((ngx_uint_t) (q) | ((ngx_uint_t) (w) << 8) | ((ngx_uint_t) (h) << 24))


typedef struct {
    ngx_atomic_uint_t             seq;
    ngx_uint_t                    state;      /* NGX_CHRYS_JPEG_FREE... */
    ngx_uint_t                    variant;
    ngx_uint_t                    token;      /* names the current claim */
    ngx_pid_t                     pid;
    ngx_msec_t                    started;
    u_char                       *data;
    size_t                        len;
} ngx_chrys_jpeg_t;


typedef struct ngx_chrys_chunk_s  ngx_chrys_chunk_t;

struct ngx_chrys_chunk_s {
    ngx_chrys_chunk_t            *next;
    size_t                        size;       /* bytes after the header */
    size_t                        used;
};


/* an AVC sequence header (avcC) shared by the entries it applies to */

typedef struct {
    ngx_uint_t                    refs;
    ngx_uint_t                    width;
    ngx_uint_t                    height;
    size_t                        len;
    u_char                        data[1];
} ngx_chrys_config_t;


typedef struct {
    ngx_uint_t                    seq;
    int64_t                       pts;        /* ms */
    int64_t                       dts;        /* ms */
    uint64_t                      time;       /* arrival, Unix ms */
    u_char                       *data;
    ngx_chrys_config_t           *config;
    uint32_t                      size;
    uint32_t                      flags;      /* NGX_CHRYS_ENTRY_KEY... */
} ngx_chrys_entry_t;


/*
 * Access units in arrival order: a ring of entries over a list of chunks
 * that fill in the same order, so that evicting from the head frees whole
 * chunks.  Eviction takes whole GOPs, oldest first, and never the newest.
 */

typedef struct {
    ngx_chrys_entry_t            *entries;
    ngx_uint_t                    cap;
    ngx_uint_t                    head;
    ngx_uint_t                    count;
    ngx_chrys_chunk_t            *first;
    ngx_chrys_chunk_t            *last;
    ngx_chrys_config_t           *config;     /* for the next entries */
    size_t                        bytes;      /* chunks and entries */
    size_t                        max_bytes;
    ngx_msec_t                    window;     /* 0: no time limit */
    unsigned                      skip:1;     /* until the next IDR */
} ngx_chrys_buf_t;


typedef struct {
    ngx_queue_t                   queue;
    ngx_uint_t                    id;
    uint64_t                      time;       /* when it was marked */
    uint64_t                      from;
    uint64_t                      to;
    ngx_msec_t                    pre;
    ngx_msec_t                    post;
    unsigned                      truncated:1;
    size_t                        label_len;
    u_char                        label[NGX_CHRYS_LABEL_LEN];
    size_t                        meta_len;
    u_char                       *meta;
    ngx_chrys_buf_t               buf;
} ngx_chrys_event_t;


typedef struct {
    ngx_rbtree_node_t             node;
    ngx_queue_t                   queue;

    ngx_pid_t                     owner;      /* worker decoding it */
    ngx_uint_t                    publishing;
    ngx_uint_t                    closing;    /* last picture on its way */
    ngx_uint_t                    publishes;
    uint64_t                      publish_time;

    /* seq of a frame: its number among all video frames ever received */
    ngx_atomic_t                  received;
    ngx_atomic_t                  latest_seq; /* newest published, 0: none */
    ngx_uint_t                    latest;     /* slot of latest_seq */
    ngx_atomic_t                  decoded_seq; /* newest decoded */
    uint64_t                      decoded_time;
    ngx_msec_t                    wanted;     /* pictures last asked for */

    ngx_atomic_t                  decoded;
    ngx_atomic_t                  skipped;
    ngx_atomic_t                  errors;
    ngx_atomic_t                  bytes;
    ngx_atomic_t                  decode_usec;    /* CPU time */
    ngx_atomic_t                  encodes;
    ngx_atomic_t                  encode_usec;    /* CPU time */
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

    ngx_chrys_buf_t               buf;
    unsigned                      buf_full:1;
    ngx_queue_t                   events;
    ngx_uint_t                    nevents;

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
    ngx_uint_t                    event_ids;
    size_t                        event_bytes;
    size_t                        event_budget;

    /* HTTP clients now, by kind */
    ngx_atomic_t                  clients_mjpeg;
    ngx_atomic_t                  clients_waiting;
    ngx_atomic_t                  clients_walking;
} ngx_chrys_sh_t;


typedef struct {
    ngx_chrys_sh_t               *sh;
    ngx_slab_pool_t              *shpool;
    ngx_shm_zone_t               *shm_zone;
    size_t                        event_budget;
} ngx_chrys_zone_t;


/* access units copied out of a buffer, for decoding or muxing */

typedef struct {
    ngx_uint_t                    seq;        /* 0: a configuration */
    int64_t                       pts;
    int64_t                       dts;
    uint64_t                      time;
    uint32_t                      flags;
    size_t                        len;
    u_char                       *data;       /* padded for libavcodec */
} ngx_chrys_au_t;


typedef struct {
    ngx_chrys_au_t               *aus;
    ngx_uint_t                    naus;
    ngx_uint_t                    width;      /* of the first configuration */
    ngx_uint_t                    height;
    size_t                        bytes;
} ngx_chrys_gop_t;


typedef struct ngx_chrys_decoder_s  ngx_chrys_decoder_t;
typedef struct ngx_chrys_packet_s   ngx_chrys_packet_t;


/* one video access unit, or a decoder configuration (seq 0) */

struct ngx_chrys_packet_s {
    ngx_chrys_packet_t           *next;
    ngx_uint_t                    seq;
    int64_t                       pts;
    int64_t                       dts;
    uint64_t                      time;
    unsigned                      keyframe:1;
    unsigned                      idr:1;
    unsigned                      gap:1;      /* packets were lost before */
    size_t                        len;
    u_char                       *data;       /* padded for libavcodec */
};


/* 8-bit planar YCbCr, wherever it lies */

typedef struct {
    u_char                       *planes[3];
    ngx_uint_t                    strides[3];
    ngx_uint_t                    width;
    ngx_uint_t                    height;
    ngx_uint_t                    layout;
    ngx_uint_t                    full_range;
} ngx_chrys_picture_t;


/* a decoded and encoded picture out of a buffer */


typedef struct {
    ngx_chrys_frame_t             frame;
    u_char                       *data;       /* JPEG, tjFree() */
    size_t                        len;
} ngx_chrys_image_t;


/* decoding access units of a buffer, and encoding some of their frames */

typedef struct {
    ngx_chrys_gop_t              *gop;
    ngx_uint_t                   *want;       /* seqs, ascending */
    ngx_uint_t                    nwant;
    ngx_uint_t                    quality;
    ngx_uint_t                    width;      /* output, 0: as decoded */
    ngx_uint_t                    height;
    ngx_chrys_image_t            *images;     /* nwant, display order */
    ngx_uint_t                    nimages;
    ngx_uint_t                    errors;
    ngx_uint_t                    usec;
} ngx_chrys_replay_t;


/* remuxing access units of a buffer into fragmented MP4, step by step */

typedef struct {
    ngx_chrys_gop_t              *gop;
    void                         *fmt;        /* AVFormatContext */
    int64_t                       offset;     /* ms, first dts */
    unsigned                      started:1;
    unsigned                      last:1;
    ngx_int_t                     rc;
    u_char                       *out;        /* this step's bytes */
    size_t                        len;
    size_t                        size;
    ngx_uint_t                    frames;
    u_char                        error[NGX_CHRYS_ERROR_LEN];
} ngx_chrys_mux_t;


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
    ngx_uint_t                    width;      /* output, 0: as decoded */
    ngx_uint_t                    height;
    ngx_uint_t                    format;     /* NGX_CHRYS_OUT_... */
    ngx_int_t                     rc;         /* NGX_DECLINED: overwritten */
    u_char                       *data;       /* JPEG: tjFree(), or raw */
    size_t                        len;
    ngx_uint_t                    stride;     /* raw: bytes a row */
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
    ngx_chrys_stream_t *st, ngx_msec_t window, size_t max_bytes,
    ngx_log_t *log);
void ngx_chrys_stream_config(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    u_char *data, size_t len, ngx_uint_t width, ngx_uint_t height);
void ngx_chrys_stream_closing(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st);
void ngx_chrys_stream_release(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t publish);
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
    ngx_uint_t seq, ngx_uint_t variant);
ngx_chrys_jpeg_t *ngx_chrys_jpeg_claim_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t seq, ngx_uint_t variant);
ngx_int_t ngx_chrys_jpeg_store(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_jpeg_t *jpeg, ngx_uint_t token,
    u_char *data, size_t len);
void ngx_chrys_jpeg_abort(ngx_chrys_zone_t *zone, ngx_chrys_jpeg_t *jpeg,
    ngx_uint_t token);

size_t ngx_chrys_frame_size(ngx_uint_t layout, ngx_uint_t width,
    ngx_uint_t height);
uint64_t ngx_chrys_unix_msec(void);


/* ngx_chrys_buffer.c: the stream buffer and events */

ngx_int_t ngx_chrys_buf_setup_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_buf_t *buf, ngx_msec_t window, size_t max_bytes,
    ngx_msec_t span);
void ngx_chrys_buf_free_locked(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf);
ngx_int_t ngx_chrys_buf_config_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_buf_t *buf, u_char *data, size_t len, ngx_uint_t width,
    ngx_uint_t height);
ngx_int_t ngx_chrys_buf_append_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_buf_t *buf, ngx_chrys_entry_t *e, u_char *data);
ngx_chrys_entry_t *ngx_chrys_buf_entry(ngx_chrys_buf_t *buf, ngx_uint_t i);
ngx_int_t ngx_chrys_buf_find_time(ngx_chrys_buf_t *buf, uint64_t time);
ngx_int_t ngx_chrys_buf_find_seq(ngx_chrys_buf_t *buf, ngx_uint_t seq);
ngx_int_t ngx_chrys_buf_gop_start(ngx_chrys_buf_t *buf, ngx_uint_t i);
ngx_chrys_gop_t *ngx_chrys_buf_copy_locked(ngx_chrys_buf_t *buf,
    ngx_uint_t from, ngx_uint_t to, ngx_log_t *log);
void ngx_chrys_gop_free(ngx_chrys_gop_t *gop);
ngx_int_t ngx_chrys_buf_copy_range_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_buf_t *dst, ngx_chrys_buf_t *src, uint64_t from);

void ngx_chrys_stream_buffer(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_packet_t *pkt, ngx_log_t *log);
void ngx_chrys_stream_gap(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st);
ngx_chrys_event_t *ngx_chrys_event_create(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_str_t *label, ngx_str_t *meta,
    ngx_msec_t pre, ngx_msec_t post, ngx_uint_t *status);
ngx_chrys_event_t *ngx_chrys_event_find_locked(ngx_chrys_stream_t *st,
    ngx_uint_t id);
ngx_int_t ngx_chrys_event_delete(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t id);


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
ngx_int_t ngx_chrys_jpeg_compress(ngx_chrys_picture_t *pic,
    ngx_uint_t quality, u_char **data, size_t *len, ngx_log_t *log);
ngx_int_t ngx_chrys_picture_set(ngx_chrys_picture_t *pic, struct AVFrame *f,
    struct SwsContext **sws, u_char **buf, ngx_log_t *log);
ngx_int_t ngx_chrys_picture_scale(ngx_chrys_picture_t *pic,
    ngx_uint_t width, ngx_uint_t height, u_char **buf, ngx_log_t *log);
ngx_int_t ngx_chrys_picture_raw(ngx_chrys_picture_t *pic, ngx_uint_t width,
    ngx_uint_t height, ngx_uint_t format, u_char **data, size_t *len,
    ngx_uint_t *stride, ngx_log_t *log);
void ngx_chrys_out_free(ngx_uint_t format, u_char *data);


/* ngx_chrys_replay.c: buffers decoded and remuxed on demand */

void ngx_chrys_replay_handler(void *data, ngx_log_t *log);
void ngx_chrys_replay_free(ngx_chrys_replay_t *rp);
void ngx_chrys_mux_handler(void *data, ngx_log_t *log);
void ngx_chrys_mux_free(ngx_chrys_mux_t *mux);


/* ngx_chrys_http.c */

void ngx_chrys_http_wake(void);


#endif /* _NGX_CHRYS_H_INCLUDED_ */
