
/*
 * Copyright (C) chrys authors
 *
 * The shared zone of chrys, as a data type: the streams (table,
 * lifecycle, claims of the publisher's worker), the decoded picture slots
 * of each stream and their JPEG cache, the workers that use the zone and
 * what they count.  Every operation here takes and releases the zone's
 * lock itself and answers with nginx's codes; only ngx_chrys_ring.c locks
 * the zone too, through ngx_chrys_zone_lock().
 *
 * References.  A pointer to a stream may be kept outside the lock only by
 * one who holds a reference: a publisher's claim (ngx_chrys_stream_claim()
 * until ngx_chrys_stream_release()), or a reference taken by
 * ngx_chrys_stream_open() and given back by ngx_chrys_stream_close().
 * A stream leaves the zone (ngx_chrys_zone_sweep(), or
 * ngx_chrys_zone_reclaim_locked() when the zone is short of room) only
 * while nobody holds it: no publisher, and no reference of a worker that
 * is alive.  References are counted per worker, so that those of a worker
 * that died count no more, and are dropped when its place is taken again.
 * A stream that still has events keeps them, and its header; its ring,
 * slots and JPEGs go.
 *
 * Slots.  The planes of a slot are read outside the lock only while the
 * slot is pinned (ngx_chrys_jpeg_acquire()/ngx_chrys_slot_unpin()); its
 * memory is not freed or resized while pinned, and the reader checks its
 * seq afterwards (a sequence lock): a picture overwritten meanwhile is
 * thrown away.  A slot is written by one decoder at a time: the one whose
 * claim reserved it, until its worker is gone.
 */


#ifndef _NGX_CHRYS_ZONE_H_INCLUDED_
#define _NGX_CHRYS_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys.h"
#include "ngx_chrys_ring.h"


#define NGX_CHRYS_DEFAULT_ZONE    "chrys"
#define NGX_CHRYS_DEFAULT_SIZE    (128 * 1024 * 1024)

#define NGX_CHRYS_SLOTS           3
#define NGX_CHRYS_JPEGS           8

/* worker processes that may use a zone at once (a reload counts twice) */
#define NGX_CHRYS_WORKERS         64

/* a pin older than this is taken to be lost (its worker died) */
#define NGX_CHRYS_PIN_STALE       1000

/* pictures are copied into the zone while asked for within this time */
#define NGX_CHRYS_WANTED          10000

/* an encode that takes longer than this is taken to be lost (worker died) */
#define NGX_CHRYS_JPEG_STALE      2000

#define NGX_CHRYS_JPEG_FREE       0
#define NGX_CHRYS_JPEG_ENCODING   1
#define NGX_CHRYS_JPEG_READY      2


/*
 * A decoded picture in shared memory.  The decoder writes a slot that is
 * not the latest one; readers check "seq" before and after they read the
 * planes.  "readers" steers the writer away and keeps the memory.
 */

typedef struct {
    ngx_atomic_t                  seq;        /* 0 while being written */
    ngx_atomic_t                  readers;
    ngx_msec_t                    pinned;     /* when it was last pinned */
    ngx_uint_t                    writer;     /* claim writing it, 0: none */
    ngx_pid_t                     writer_pid; /* the worker of that claim */
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


/* a JPEG of the newest picture in a variant, encoded by one worker */

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


/* the parts of a stream */

typedef struct {
    ngx_pid_t                     owner;      /* worker decoding it */
    ngx_uint_t                    publishing;
    ngx_uint_t                    closing;    /* last picture on its way */
    ngx_uint_t                    claims;     /* publishes so far */
    uint64_t                      time;       /* when the last one began */
} ngx_chrys_publisher_t;


typedef struct {
    ngx_atomic_t                  received;   /* video frames, the seq */
    ngx_atomic_t                  decoded;
    ngx_atomic_t                  skipped;
    ngx_atomic_t                  errors;
    ngx_atomic_t                  bytes;
    ngx_atomic_t                  decode_usec;    /* CPU time */
    ngx_atomic_t                  encodes;
    ngx_atomic_t                  encode_usec;    /* CPU time */
    ngx_atomic_t                  cache_hits;
} ngx_chrys_counters_t;


/* fps and bitrate over the last second, written by the publisher only */

typedef struct {
    uint64_t                      last;       /* last packet, Unix ms */
    ngx_msec_t                    start;
    ngx_uint_t                    frames;
    ngx_uint_t                    bytes;
    ngx_uint_t                    fps;        /* frames per 100 s */
    ngx_uint_t                    bitrate;    /* bits per second */
} ngx_chrys_rate_t;


typedef struct {
    ngx_uint_t                    codec;      /* FLV codec id */
    ngx_uint_t                    width;
    ngx_uint_t                    height;
    ngx_uint_t                    profile;
    ngx_uint_t                    level;
} ngx_chrys_video_t;


/* what the publisher's audio is; only AAC is kept */

typedef struct {
    ngx_uint_t                    codec;      /* FLV SoundFormat + 1 */
    ngx_uint_t                    rate;
    ngx_uint_t                    channels;
} ngx_chrys_audio_t;


typedef struct {
    ngx_atomic_t                  latest_seq; /* newest published, 0: none */
    ngx_uint_t                    latest;     /* slot of latest_seq */
    ngx_atomic_t                  decoded_seq; /* newest decoded */
    uint64_t                      decoded_time;
    ngx_msec_t                    wanted;     /* pictures last asked for */
    ngx_uint_t                    asleep;     /* on demand: not decoded */
    ngx_chrys_slot_t              slots[NGX_CHRYS_SLOTS];
    ngx_chrys_jpeg_t              jpegs[NGX_CHRYS_JPEGS];
} ngx_chrys_pictures_t;


struct ngx_chrys_stream_s {
    ngx_rbtree_node_t             node;
    ngx_queue_t                   queue;      /* in the order they came */
    ngx_queue_t                   lru;        /* least recently used first */

    uint64_t                      id;         /* never the same twice */
    uint32_t                      refs[NGX_CHRYS_WORKERS];
    ngx_msec_t                    used;       /* last asked or published */
    ngx_msec_t                    idle;       /* leaves after, 0: never */

    ngx_str_t                     key;        /* "app/name" */
    ngx_str_t                     app;
    ngx_str_t                     name;

    ngx_chrys_publisher_t         publisher;
    ngx_chrys_counters_t          counters;
    ngx_chrys_rate_t              rate;
    ngx_chrys_video_t             video;
    ngx_chrys_audio_t             audio;
    ngx_chrys_pictures_t          pictures;
    u_char                        error[NGX_CHRYS_ERROR_LEN];

    ngx_chrys_ring_t              ring;
    ngx_chrys_ring_t              audio_ring; /* the ring's, when AAC came */
    ngx_chrys_ring_t              data_ring;  /* timed data, as JSON */
    unsigned                      ring_full:1;
    ngx_queue_t                   events;
    ngx_uint_t                    nevents;

    u_char                        data[1];    /* the key's bytes */
};


/* a worker that uses the zone, and its HTTP clients by kind */

typedef struct {
    ngx_pid_t                     pid;        /* 0: a free place */
    ngx_atomic_t                  clients_mjpeg;
    ngx_atomic_t                  clients_waiting;
    ngx_atomic_t                  clients_walking;
} ngx_chrys_worker_t;


typedef struct {
    ngx_rbtree_t                  rbtree;
    ngx_rbtree_node_t             sentinel;
    ngx_queue_t                   streams;
    ngx_queue_t                   lru;
    uint64_t                      layout;     /* of the build that made it */
    ngx_msec_t                    swept;
    ngx_uint_t                    nstreams;
    uint64_t                      ids;
    ngx_uint_t                    tokens;
    ngx_uint_t                    event_ids;
    size_t                        event_bytes;
    size_t                        event_budget;

    /*
     * the longest a worker held the lock, and holds over 1 ms, by the
     * clock; and the most CPU time a hold took (the clock counts too the
     * times the kernel ran something else meanwhile)
     */
    ngx_atomic_t                  lock_max_usec;
    ngx_atomic_t                  lock_slow;
    ngx_atomic_t                  lock_max_cpu_usec;

    /* moves when a sleeping stream is asked for: its decoder wakes */
    ngx_atomic_t                  asked;

    ngx_chrys_worker_t            workers[NGX_CHRYS_WORKERS];
} ngx_chrys_sh_t;


/* a zone as each process sees it */

struct ngx_chrys_zone_s {
    ngx_chrys_sh_t               *sh;
    ngx_slab_pool_t              *shpool;
    ngx_shm_zone_t               *shm_zone;
    size_t                        event_budget;
    ngx_uint_t                    worker;     /* this process's place */
    uint64_t                      locked;     /* when it took the lock, us */
    uint64_t                      locked_cpu; /* its thread's CPU time then */
};


/* what a publisher's application says of its stream */

typedef struct {
    ngx_msec_t                    window;     /* of its ring, 0: none */
    size_t                        max_bytes;
    ngx_msec_t                    idle;       /* leaves after, 0: never */
} ngx_chrys_stream_conf_t;


/* what a stream looks like, copied out for status, metrics and the UI */

typedef struct {
    ngx_str_t                     app;
    ngx_str_t                     name;
    ngx_uint_t                    publishing;
    ngx_uint_t                    decoding;
    ngx_chrys_video_t             video;
    ngx_chrys_audio_t             audio;
    ngx_uint_t                    fps;
    ngx_uint_t                    bitrate;
    ngx_uint_t                    received;
    ngx_uint_t                    decoded;
    ngx_uint_t                    skipped;
    ngx_uint_t                    errors;
    ngx_uint_t                    decode_usec;
    ngx_uint_t                    encodes;
    ngx_uint_t                    encode_usec;
    ngx_uint_t                    cache_hits;
    ngx_uint_t                    last_seq;   /* the decoder's newest */
    uint64_t                      last_time;
    uint64_t                      publish_time;
    ngx_uint_t                    publishes;
    size_t                        ring_bytes;
    uint64_t                      ring_span;  /* ms */
    ngx_uint_t                    nevents;
    u_char                        error[NGX_CHRYS_ERROR_LEN];
    u_char                        names[2 * NGX_CHRYS_NAME_MAX + 1];
} ngx_chrys_snapshot_t;


/* what the zone as a whole looks like */

typedef struct {
    ngx_uint_t                    nstreams;
    size_t                        size;
    size_t                        free;
    size_t                        event_bytes;
    size_t                        event_budget;
    ngx_uint_t                    clients_mjpeg;
    ngx_uint_t                    clients_waiting;
    ngx_uint_t                    clients_walking;
    ngx_uint_t                    lock_max_usec;
    ngx_uint_t                    lock_slow;
    ngx_uint_t                    lock_max_cpu_usec;
} ngx_chrys_zone_stats_t;


/*
 * A request for the newest picture in a variant: what it asks for, and
 * what ngx_chrys_jpeg_acquire() answers with.
 */

typedef struct {
    ngx_uint_t                    variant;    /* in */
    ngx_uint_t                    raw;        /* in: pixels, no JPEG */
    ngx_chrys_frame_t             frame;      /* out */
    ngx_chrys_slot_t             *slot;       /* out: pinned */
    u_char                       *planes;     /* out: the slot's */
    ngx_chrys_jpeg_t             *jpeg;       /* out: claimed */
    ngx_uint_t                    token;
    u_char                       *data;       /* out: cached, ngx_alloc() */
    size_t                        len;
} ngx_chrys_want_t;


/* the zone */

ngx_shm_zone_t *ngx_chrys_zone_add(ngx_conf_t *cf, ngx_str_t *name,
    size_t size);
ngx_int_t ngx_chrys_zone_init(ngx_shm_zone_t *shm_zone, void *data);
ngx_int_t ngx_chrys_zone_attach(ngx_chrys_zone_t *zone, ngx_log_t *log);
void ngx_chrys_zone_detach(ngx_chrys_zone_t *zone);
void ngx_chrys_zone_lock(ngx_chrys_zone_t *zone);
void ngx_chrys_zone_unlock(ngx_chrys_zone_t *zone);
void ngx_chrys_zone_stats(ngx_chrys_zone_t *zone,
    ngx_chrys_zone_stats_t *stats);
ngx_int_t ngx_chrys_zone_snapshot(ngx_chrys_zone_t *zone, ngx_pool_t *pool,
    ngx_array_t *streams);
void ngx_chrys_zone_clients(ngx_chrys_zone_t *zone, ngx_uint_t kind,
    ngx_int_t n);
ngx_uint_t ngx_chrys_zone_sweep(ngx_chrys_zone_t *zone, ngx_log_t *log);
ngx_uint_t ngx_chrys_zone_reclaim_locked(ngx_chrys_zone_t *zone,
    size_t size);

#define NGX_CHRYS_CLIENTS_MJPEG     0
#define NGX_CHRYS_CLIENTS_WAITING   1
#define NGX_CHRYS_CLIENTS_WALKING   2


/* streams */

ngx_int_t ngx_chrys_stream_open(ngx_chrys_zone_t *zone, ngx_str_t *app,
    ngx_str_t *name, ngx_chrys_stream_t **stp);
void ngx_chrys_stream_close(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st);
ngx_int_t ngx_chrys_stream_claim(ngx_chrys_zone_t *zone, ngx_str_t *app,
    ngx_str_t *name, ngx_chrys_stream_conf_t *conf,
    ngx_chrys_stream_t **stp, ngx_uint_t *claim, ngx_log_t *log);
void ngx_chrys_stream_closing(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim);
void ngx_chrys_stream_release(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim);
void ngx_chrys_stream_abandon(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim);
ngx_uint_t ngx_chrys_stream_publishing(ngx_chrys_stream_t *st);
ngx_uint_t ngx_chrys_stream_current(ngx_chrys_stream_t *st,
    ngx_uint_t claim);
void ngx_chrys_stream_set_error(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, const char *fmt, ...);
void ngx_chrys_stream_set_video(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_video_t *video);
void ngx_chrys_stream_set_audio(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_audio_t *audio);
void ngx_chrys_stream_count(ngx_chrys_stream_t *st, size_t len);
void ngx_chrys_stream_decoded(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t claim, ngx_uint_t seq, uint64_t time);
void ngx_chrys_stream_want(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st);
ngx_uint_t ngx_chrys_stream_wanted(ngx_chrys_stream_t *st);
ngx_uint_t ngx_chrys_stream_asked(ngx_chrys_stream_t *st, ngx_msec_t idle);
ngx_uint_t ngx_chrys_zone_asked(ngx_chrys_zone_t *zone, ngx_uint_t *seen);
void ngx_chrys_stream_sleep(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim);
ngx_uint_t ngx_chrys_stream_asleep(ngx_chrys_stream_t *st);
void ngx_chrys_stream_snapshot(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_snapshot_t *snap);
ngx_int_t ngx_chrys_stream_latest(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_frame_t *frame);

#define ngx_chrys_stream_add(st, counter, n)                                 \
    (void) ngx_atomic_fetch_add(&(st)->counters.counter, (n))


/* picture slots */

ngx_int_t ngx_chrys_slot_reserve(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t claim, size_t size);
ngx_int_t ngx_chrys_slot_publish(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t claim, ngx_uint_t n,
    ngx_chrys_frame_t *frame);
void ngx_chrys_slot_abort(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim, ngx_uint_t n);
ngx_uint_t ngx_chrys_slot_unpin(ngx_chrys_zone_t *zone,
    ngx_chrys_slot_t *slot, ngx_uint_t seq);


/* the JPEG cache */

ngx_int_t ngx_chrys_jpeg_acquire(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_want_t *want, ngx_log_t *log);
ngx_int_t ngx_chrys_jpeg_store(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_want_t *want, u_char *data,
    size_t len);
void ngx_chrys_jpeg_abort(ngx_chrys_zone_t *zone, ngx_chrys_want_t *want);


#endif /* _NGX_CHRYS_ZONE_H_INCLUDED_ */
