
/*
 * Copyright (C) chrys authors
 *
 * The ring of a stream: its compressed access units of the last seconds,
 * in the shared zone, with the sequence headers they need; and events,
 * which keep a ring of their own with the access units around a moment.
 * Access units leave a ring whole GOPs at a time, oldest first.
 *
 * Locking: the functions named *_locked run under the zone's lock, taken
 * by their caller; the others take it themselves, and never for longer
 * than it takes to copy NGX_CHRYS_SLICE bytes: what is copied out of a
 * ring goes a slice at a time, and is found again by its seq after each.
 */


#ifndef _NGX_CHRYS_RING_H_INCLUDED_
#define _NGX_CHRYS_RING_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys.h"


#define NGX_CHRYS_CHUNK           (256 * 1024)
/*
 * 64 KB: a slice's copy into new zone pages (their first touch, the
 * chunks and entries it takes) stays near 0.1 ms of CPU; 256 KB took 1 ms
 */
#define NGX_CHRYS_SLICE           (64 * 1024)

/* what an access unit is */
#define NGX_CHRYS_AU_KEY          0x01    /* an FLV keyframe */
#define NGX_CHRYS_AU_IDR          0x02    /* holds an IDR picture */
#define NGX_CHRYS_AU_CONFIG       0x04    /* an AVC sequence header */
#define NGX_CHRYS_AU_GAP          0x08    /* access units were lost before */
#define NGX_CHRYS_AU_AUDIO        0x10    /* an AAC frame */
#define NGX_CHRYS_AU_DATA         0x20    /* a data message, as JSON */
#define NGX_CHRYS_AU_POSTED       0x40    /* data that came over HTTP */

/* timed data: a stream keeps this much of it, a message this much */
#define NGX_CHRYS_DATA_BYTES      (1024 * 1024)
#define NGX_CHRYS_DATA_MAX        4096
/* and one answer lists this much of it */
#define NGX_CHRYS_DATA_ANSWER     (64 * 1024)

#define NGX_CHRYS_EVENTS_MAX      64
#define NGX_CHRYS_LABEL_LEN       128
#define NGX_CHRYS_META_MAX        4096

/*
 * how long after an event's window its audio is still taken (ms): the
 * sound of its last frames arrives a little after them
 */
#define NGX_CHRYS_AUDIO_LATE      200

/* what a range asked of a ring is */
#define NGX_CHRYS_RANGE_OK        0
#define NGX_CHRYS_RANGE_NONE      1       /* no ring, or no such event */
#define NGX_CHRYS_RANGE_EMPTY     2
#define NGX_CHRYS_RANGE_GONE      3       /* no longer in the ring */
#define NGX_CHRYS_RANGE_FUTURE    4       /* not yet in the ring */
#define NGX_CHRYS_RANGE_NO_IDR    5       /* no keyframe to start from */
#define NGX_CHRYS_RANGE_INVERTED  6       /* "from" is after "to" */
#define NGX_CHRYS_RANGE_TOO_MANY  7       /* more frames than the limit */


typedef struct ngx_chrys_chunk_s  ngx_chrys_chunk_t;

struct ngx_chrys_chunk_s {
    ngx_chrys_chunk_t            *next;
    size_t                        size;       /* bytes after the header */
    size_t                        used;
};


/*
 * An AVC sequence header (avcC) shared by the entries it applies to; for
 * audio, an AAC AudioSpecificConfig, "width" its sample rate and "height"
 * its channels.
 */

typedef struct {
    ngx_uint_t                    refs;
    ngx_uint_t                    width;
    ngx_uint_t                    height;
    size_t                        len;
    u_char                        data[1];
} ngx_chrys_config_t;


/* an access unit in a ring */

typedef struct {
    ngx_uint_t                    seq;
    int64_t                       pts;        /* ms */
    int64_t                       dts;        /* ms */
    uint64_t                      time;       /* arrival, Unix ms */
    u_char                       *data;
    ngx_chrys_config_t           *config;
    uint32_t                      size;
    uint32_t                      flags;      /* NGX_CHRYS_AU_KEY... */
} ngx_chrys_entry_t;


/*
 * Access units in arrival order: a ring of entries over a list of chunks
 * that fill in the same order, so that evicting from the head frees whole
 * chunks.  Eviction takes whole GOPs, oldest first, and never the newest.
 * A video ring may have an audio ring: its AAC frames (each one a "GOP"
 * of its own), which go when the video that arrived with them goes, and
 * count in its byte cap.
 */

typedef struct ngx_chrys_ring_s  ngx_chrys_ring_t;

struct ngx_chrys_ring_s {
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
    ngx_chrys_ring_t             *audio;      /* of a video ring, or NULL */
    ngx_uint_t                    seq;        /* audio: the last appended */
    unsigned                      skip:1;     /* until the next IDR */
};


typedef struct {
    ngx_queue_t                   queue;
    ngx_uint_t                    id;
    uint64_t                      time;       /* when it was marked */
    uint64_t                      from;
    uint64_t                      to;
    ngx_msec_t                    pre;
    ngx_msec_t                    post;
    unsigned                      truncated:1;
    unsigned                      filling:1;  /* the pre window is copied */
    ngx_uint_t                    filled;     /* seq copied last */
    ngx_uint_t                    audio_filled;
    ngx_uint_t                    data_filled;
    size_t                        label_len;
    u_char                        label[NGX_CHRYS_LABEL_LEN];
    size_t                        meta_len;
    u_char                       *meta;
    ngx_chrys_ring_t              ring;
    ngx_chrys_ring_t              audio;
    ngx_chrys_ring_t              data;       /* timed data of its window */
} ngx_chrys_event_t;


/*
 * An access unit in process memory: out of a ring, or on its way to a
 * decoder.  "data" is followed by the padding its copier was told of.
 */

typedef struct ngx_chrys_au_s  ngx_chrys_au_t;

struct ngx_chrys_au_s {
    ngx_chrys_au_t               *next;
    ngx_uint_t                    seq;        /* 0: a configuration */
    int64_t                       pts;
    int64_t                       dts;
    uint64_t                      time;
    uint32_t                      flags;
    size_t                        len;
    u_char                       *data;
};


/* access units copied out of a ring, configurations included */

typedef struct {
    ngx_chrys_au_t               *aus;
    ngx_uint_t                    naus;
    ngx_uint_t                    width;      /* of the first configuration */
    ngx_uint_t                    height;
    size_t                        bytes;
} ngx_chrys_gop_t;


/* where a ring stands, for an answer about a range */

typedef struct {
    ngx_uint_t                    result;     /* NGX_CHRYS_RANGE_... */
    uint64_t                      start;      /* first arrival, 0: empty */
    uint64_t                      end;
    ngx_uint_t                    frames;     /* how many were asked for */
} ngx_chrys_range_t;


/* what index.json tells of a ring */

typedef struct {
    ngx_chrys_range_t             range;
    ngx_uint_t                    count;
    size_t                        bytes;
    ngx_msec_t                    window;
    size_t                        max_bytes;
    ngx_uint_t                    width;
    ngx_uint_t                    height;
    ngx_uint_t                    profile;
    ngx_uint_t                    level;
    ngx_uint_t                    audio_rate; /* 0: no audio kept */
    ngx_uint_t                    audio_channels;
    ngx_uint_t                    audio_frames;
    ngx_uint_t                    n;          /* entries in [from, to] */
    ngx_chrys_entry_t            *entries;    /* copies, data not kept */
} ngx_chrys_index_t;


/* the next step of a walk through wanted frames (images) */

typedef struct {
    ngx_uint_t                   *want;       /* seqs, ascending */
    ngx_uint_t                    nwant;
    ngx_uint_t                    next;       /* first one not done */
    ngx_uint_t                    max;        /* images in this step */
    ngx_uint_t                    taken;      /* out: how many it took */
} ngx_chrys_walk_t;


/* one event as the API tells of it */

typedef struct {
    ngx_uint_t                    id;
    uint64_t                      time;
    uint64_t                      from;
    uint64_t                      to;
    ngx_msec_t                    pre;
    ngx_msec_t                    post;
    ngx_uint_t                    truncated;
    ngx_uint_t                    frames;
    size_t                        bytes;
    uint64_t                      start;
    uint64_t                      end;
    ngx_str_t                     label;      /* JSON, as it came */
    ngx_str_t                     meta;       /* JSON, as it came */
} ngx_chrys_event_info_t;


/* rings, under the lock */

ngx_int_t ngx_chrys_ring_setup_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring, ngx_msec_t window, size_t max_bytes,
    ngx_msec_t span);
void ngx_chrys_ring_free_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring);
size_t ngx_chrys_ring_bytes(ngx_chrys_ring_t *ring);
ngx_int_t ngx_chrys_ring_config_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring, u_char *data, size_t len, ngx_uint_t width,
    ngx_uint_t height);
ngx_int_t ngx_chrys_ring_append_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring, ngx_chrys_entry_t *e, u_char *data);
ngx_chrys_entry_t *ngx_chrys_ring_entry(ngx_chrys_ring_t *ring,
    ngx_uint_t i);
ngx_int_t ngx_chrys_ring_find_time(ngx_chrys_ring_t *ring, uint64_t time);
ngx_int_t ngx_chrys_ring_find_seq(ngx_chrys_ring_t *ring, ngx_uint_t seq);
ngx_int_t ngx_chrys_ring_gop_start(ngx_chrys_ring_t *ring, ngx_uint_t i);
void ngx_chrys_stream_events_free_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st);


/* a stream's ring and events, from the publisher's worker */

ngx_int_t ngx_chrys_ring_configure(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, u_char *data, size_t len, ngx_uint_t width,
    ngx_uint_t height);
void ngx_chrys_ring_push(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_au_t *au, ngx_log_t *log);
void ngx_chrys_ring_gap(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st);
ngx_int_t ngx_chrys_ring_audio_configure(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, u_char *data, size_t len, ngx_uint_t rate,
    ngx_uint_t channels);
void ngx_chrys_ring_push_audio(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_au_t *au, ngx_log_t *log);


/* reading a ring (event 0: the stream's, else that event's) */

ngx_int_t ngx_chrys_ring_index(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t event, uint64_t from, uint64_t to,
    ngx_pool_t *pool, ngx_chrys_index_t *ix);
ngx_chrys_gop_t *ngx_chrys_ring_frame(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t event, ngx_uint_t by_seq,
    uint64_t value, ngx_uint_t keyframe, size_t pad, ngx_uint_t *seq,
    ngx_chrys_range_t *range, ngx_log_t *log);
ngx_int_t ngx_chrys_ring_select(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t event, uint64_t from, uint64_t to,
    ngx_msec_t interval, ngx_uint_t limit, ngx_pool_t *pool,
    ngx_chrys_walk_t *walk, ngx_uint_t *width, ngx_uint_t *height,
    ngx_chrys_range_t *range);
ngx_chrys_gop_t *ngx_chrys_ring_step(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t event, ngx_chrys_walk_t *walk,
    size_t pad, ngx_log_t *log);
ngx_int_t ngx_chrys_ring_span(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t event, uint64_t from, uint64_t to,
    ngx_uint_t *first, ngx_uint_t *last, ngx_chrys_range_t *range);
ngx_chrys_gop_t *ngx_chrys_ring_gop(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t event, ngx_uint_t *next,
    ngx_uint_t last, size_t pad, ngx_uint_t *done, ngx_log_t *log);
/* the seq of a stream's newest data message, read without the lock */
#define ngx_chrys_data_seq(st)                                              \
    (*(volatile ngx_uint_t *) &(st)->data_ring.seq)

ngx_int_t ngx_chrys_data_push(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, uint64_t time, int64_t pts, ngx_uint_t posted,
    u_char *data, size_t len);
ngx_int_t ngx_chrys_data_list(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t event, uint64_t from, uint64_t to, ngx_uint_t after,
    ngx_pool_t *pool, ngx_str_t *out, ngx_uint_t *n, ngx_uint_t *last);
uint64_t ngx_chrys_data_before(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t event, uint64_t time);
ngx_chrys_gop_t *ngx_chrys_ring_audio(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t event, ngx_uint_t *next,
    int64_t from, int64_t to, uint64_t since, ngx_uint_t behind, size_t pad,
    ngx_log_t *log);
void ngx_chrys_gop_free(ngx_chrys_gop_t *gop);


/* events */

ngx_int_t ngx_chrys_event_create(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_str_t *label, ngx_str_t *meta,
    ngx_msec_t pre, ngx_msec_t post, ngx_uint_t *id);
ngx_int_t ngx_chrys_event_info(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t id, ngx_pool_t *pool,
    ngx_chrys_event_info_t *info);
ngx_int_t ngx_chrys_event_list(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_pool_t *pool, ngx_array_t *events);
ngx_int_t ngx_chrys_event_delete(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t id);


#endif /* _NGX_CHRYS_RING_H_INCLUDED_ */
