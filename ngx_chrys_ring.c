
/*
 * Copyright (C) chrys authors
 *
 * The ring of a stream: the compressed H.264 access units of its last
 * seconds, in the shared zone, with the sequence headers they need; and
 * events, which keep a ring of their own with the access units around a
 * moment until they are deleted.  Memory follows the stream's bitrate,
 * not its pictures.
 *
 * Functions named *_locked run under the zone's lock; the others take it
 * themselves, a slice at a time: what goes out of a ring (to a request,
 * or into an event) is planned under the lock, then copied NGX_CHRYS_SLICE
 * bytes at a time, each slice finding its access units again by seq.  An
 * access unit that left the ring meanwhile ends the copy.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_zone.h"


/* how far a frame may be shown before one that arrived earlier */
#define NGX_CHRYS_REORDER         32


/* what a copy out of a ring will take: entries [first, last] by seq */

typedef struct {
    ngx_uint_t                    first;
    ngx_uint_t                    last;
    ngx_uint_t                    naus;
    size_t                        size;
    ngx_uint_t                    width;
    ngx_uint_t                    height;
    ngx_uint_t                    audio;      /* of the ring's audio ring */
} ngx_chrys_plan_t;


/* where a clip's walk stands: its next GOP, or that GOP's audio */

typedef struct {
    ngx_uint_t                   *next;       /* seq, the walk's cursor */
    ngx_uint_t                    last;       /* GOP: the clip's last seq */
    ngx_uint_t                   *done;
    int64_t                       from;       /* audio: stream time */
    int64_t                       to;
    uint64_t                      since;      /* arrival, Unix ms */
    ngx_uint_t                    behind;
} ngx_chrys_pick_t;


/* the entries [*from, *to] of a ring that a walk takes next */

typedef ngx_int_t (*ngx_chrys_ring_pick_pt)(ngx_chrys_ring_t *ring,
    ngx_chrys_pick_t *pick, ngx_int_t *from, ngx_int_t *to);


static ngx_uint_t ngx_chrys_ring_evict_gop_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring);
static void ngx_chrys_ring_clear_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring);
static void ngx_chrys_ring_drop_head_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring);
static void ngx_chrys_ring_trim_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring);
static void ngx_chrys_ring_audio_trim_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring);
static ngx_int_t ngx_chrys_ring_audio_setup_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring, ngx_chrys_ring_t *audio, ngx_msec_t span,
    u_char *data, size_t len, ngx_uint_t rate, ngx_uint_t channels);
static ngx_uint_t ngx_chrys_ring_cap(ngx_msec_t span);
static u_char *ngx_chrys_ring_room_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring, size_t len);
static ngx_int_t ngx_chrys_ring_find(ngx_chrys_ring_t *ring, uint64_t value,
    ngx_uint_t by_seq);
static ngx_int_t ngx_chrys_ring_idr_from(ngx_chrys_ring_t *ring,
    ngx_int_t i);
static void ngx_chrys_config_release_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_config_t *config);
static ngx_chrys_ring_t *ngx_chrys_ring_source_locked(
    ngx_chrys_stream_t *st, ngx_uint_t event, ngx_chrys_event_t **evp);
static void ngx_chrys_ring_where(ngx_chrys_ring_t *ring,
    ngx_chrys_range_t *range);
static ngx_uint_t ngx_chrys_ring_check_locked(ngx_chrys_ring_t *ring,
    ngx_chrys_event_t *ev, uint64_t *from, uint64_t *to,
    ngx_chrys_range_t *range);
static void ngx_chrys_ring_plan_locked(ngx_chrys_ring_t *ring,
    ngx_uint_t from, ngx_uint_t to, size_t pad, ngx_chrys_plan_t *plan);
static ngx_chrys_gop_t *ngx_chrys_ring_copy(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t event, ngx_chrys_plan_t *plan,
    size_t pad, ngx_log_t *log);
static ngx_chrys_gop_t *ngx_chrys_ring_take(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t event, ngx_uint_t audio,
    ngx_chrys_ring_pick_pt handler, ngx_chrys_pick_t *pick, size_t pad,
    ngx_log_t *log);
static ngx_int_t ngx_chrys_ring_gop_pick_locked(ngx_chrys_ring_t *ring,
    ngx_chrys_pick_t *pick, ngx_int_t *from, ngx_int_t *to);
static ngx_int_t ngx_chrys_ring_audio_pick_locked(ngx_chrys_ring_t *ring,
    ngx_chrys_pick_t *pick, ngx_int_t *from, ngx_int_t *to);
static ngx_int_t ngx_chrys_ring_audio_publish(ngx_chrys_ring_t *ring,
    uint64_t time);
static ngx_uint_t ngx_chrys_ring_clean_cut(ngx_chrys_ring_t *ring,
    int64_t shown, ngx_uint_t j);
static ngx_chrys_event_t *ngx_chrys_event_find_locked(ngx_chrys_stream_t *st,
    ngx_uint_t id);
static ngx_int_t ngx_chrys_event_fill(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t id);
static ngx_int_t ngx_chrys_event_fill_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_event_t *ev);
static ngx_chrys_ring_t *ngx_chrys_data_source_locked(
    ngx_chrys_stream_t *st, ngx_uint_t event);
static void ngx_chrys_event_data_fill_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_event_t *ev, size_t *slice);
static void ngx_chrys_event_data_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_event_t *ev, ngx_chrys_entry_t *e, u_char *data);
static ngx_uint_t ngx_chrys_event_index_fits_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_event_t *ev);
static ngx_int_t ngx_chrys_event_audio_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_event_t *ev, ngx_chrys_config_t *config);
static void ngx_chrys_event_audio_fill_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_event_t *ev, size_t *slice);
static ngx_int_t ngx_chrys_event_append_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_event_t *ev, ngx_chrys_ring_t *ring, ngx_chrys_entry_t *e,
    u_char *data);
static size_t ngx_chrys_event_bytes(ngx_chrys_event_t *ev);
static void ngx_chrys_event_info_locked(ngx_chrys_event_t *ev,
    ngx_chrys_event_info_t *info, u_char *p);
static void ngx_chrys_event_free_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_event_t *ev);


/*
 * Sets the limits of a ring: "window" ms (0: none) and "max_bytes".  Its
 * index has room for 64 frames a second of "span" ms; beyond that the
 * oldest GOPs go, as with the other limits.
 */

ngx_int_t
ngx_chrys_ring_setup_locked(ngx_chrys_zone_t *zone, ngx_chrys_ring_t *ring,
    ngx_msec_t window, size_t max_bytes, ngx_msec_t span)
{
    ngx_uint_t          cap;
    ngx_chrys_entry_t  *entries;

    cap = ngx_chrys_ring_cap(span);

    ring->window = window;
    ring->max_bytes = max_bytes;

    if (ring->entries && ring->cap == cap) {
        return NGX_OK;
    }

    entries = ngx_slab_calloc_locked(zone->shpool,
                                     cap * sizeof(ngx_chrys_entry_t));
    if (entries == NULL) {
        return NGX_ERROR;
    }

    if (ring->entries) {
        /* the window changed with a reload: start again */
        ngx_chrys_ring_free_locked(zone, ring);
        ring->window = window;
        ring->max_bytes = max_bytes;
    }

    ring->entries = entries;
    ring->cap = cap;
    ring->bytes += cap * sizeof(ngx_chrys_entry_t);

    return NGX_OK;
}


/* the entries of the index of a ring of "span" ms */

static ngx_uint_t
ngx_chrys_ring_cap(ngx_msec_t span)
{
    ngx_uint_t  cap;

    cap = span * 64 / 1000 + 64;

    return ngx_min(cap, 65536);
}


void
ngx_chrys_ring_free_locked(ngx_chrys_zone_t *zone, ngx_chrys_ring_t *ring)
{
    if (ring->audio) {
        ngx_chrys_ring_free_locked(zone, ring->audio);
        ring->audio = NULL;
    }

    while (ring->count) {
        ngx_chrys_ring_drop_head_locked(zone, ring);
    }

    ngx_chrys_ring_trim_locked(zone, ring);

    if (ring->config) {
        ngx_chrys_config_release_locked(zone, ring->config);
    }

    if (ring->entries) {
        ngx_slab_free_locked(zone->shpool, ring->entries);
    }

    ngx_memzero(ring, sizeof(ngx_chrys_ring_t));
}


/* what a ring takes of the zone, its audio included */

size_t
ngx_chrys_ring_bytes(ngx_chrys_ring_t *ring)
{
    return ring->bytes + (ring->audio ? ring->audio->bytes : 0);
}


/*
 * A new sequence header applies to the entries that follow.  Without
 * room for it, the ring has no configuration and takes nothing until it
 * gets one: entries are never appended with a header that is not theirs.
 */

ngx_int_t
ngx_chrys_ring_config_locked(ngx_chrys_zone_t *zone, ngx_chrys_ring_t *ring,
    u_char *data, size_t len, ngx_uint_t width, ngx_uint_t height)
{
    ngx_chrys_config_t  *config;

    config = ring->config;

    if (config && config->len == len
        && ngx_memcmp(config->data, data, len) == 0)
    {
        return NGX_OK;
    }

    if (ring->config) {
        ngx_chrys_config_release_locked(zone, ring->config);
        ring->config = NULL;
    }

    config = ngx_slab_alloc_locked(zone->shpool,
                                   offsetof(ngx_chrys_config_t, data) + len);
    if (config == NULL) {
        return NGX_ERROR;
    }

    config->refs = 1;
    config->width = width;
    config->height = height;
    config->len = len;
    ngx_memcpy(config->data, data, len);

    ring->config = config;

    return NGX_OK;
}


static void
ngx_chrys_config_release_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_config_t *config)
{
    if (--config->refs == 0) {
        ngx_slab_free_locked(zone->shpool, config);
    }
}


/*
 * Appends an access unit (its entry filled but for data and config), then
 * evicts what the window and the byte cap no longer allow.  The GOP being
 * received is never evicted: when it alone fills the index, the byte cap
 * or the zone, the rest of it is left out (NGX_DECLINED, or NGX_ERROR for
 * the zone) and the ring goes on at the next IDR, so that every entry it
 * holds can be decoded from the IDR before it.
 */

ngx_int_t
ngx_chrys_ring_append_locked(ngx_chrys_zone_t *zone, ngx_chrys_ring_t *ring,
    ngx_chrys_entry_t *e, u_char *data)
{
    u_char             *p;
    ngx_uint_t          idr;
    ngx_chrys_entry_t  *last;

    if (ring->entries == NULL || ring->config == NULL) {
        return NGX_DECLINED;
    }

    idr = (e->flags & NGX_CHRYS_AU_IDR) ? 1 : 0;

    if (ring->skip && !idr) {
        return NGX_DECLINED;
    }

    ring->skip = 0;

    if (ring->count == ring->cap
        && !ngx_chrys_ring_evict_gop_locked(zone, ring))
    {
        /* one GOP fills the index */

        if (!idr) {
            ring->skip = 1;
            return NGX_DECLINED;
        }

        ngx_chrys_ring_clear_locked(zone, ring);
    }

    p = ngx_chrys_ring_room_locked(zone, ring, e->size);

    if (p == NULL && idr && ring->count) {
        /* a new GOP starts: it takes the place of the last one */
        ngx_chrys_ring_clear_locked(zone, ring);
        p = ngx_chrys_ring_room_locked(zone, ring, e->size);
    }

    if (p == NULL) {
        ring->skip = 1;
        return NGX_ERROR;
    }

    ngx_memcpy(p, data, e->size);

    last = &ring->entries[(ring->head + ring->count) % ring->cap];
    *last = *e;
    last->data = p;
    last->config = ring->config;
    ring->config->refs++;

    ring->count++;

    while (ngx_chrys_ring_bytes(ring) > ring->max_bytes
           || (ring->window
               && last->time - ring->entries[ring->head].time > ring->window))
    {
        if (!ngx_chrys_ring_evict_gop_locked(zone, ring)) {

            if (ngx_chrys_ring_bytes(ring) > ring->max_bytes) {
                /* the GOP alone is over the cap: cut it short here */
                ring->skip = 1;
            }

            break;
        }
    }

    return NGX_OK;
}


/* room for "len" bytes at the end of the last chunk, or in a new one */

static u_char *
ngx_chrys_ring_room_locked(ngx_chrys_zone_t *zone, ngx_chrys_ring_t *ring,
    size_t len)
{
    size_t              size;
    u_char             *p;
    ngx_chrys_chunk_t  *chunk;

    chunk = ring->last;

    if (chunk && chunk->size - chunk->used >= len) {
        p = (u_char *) (chunk + 1) + chunk->used;
        chunk->used += len;
        return p;
    }

    size = ngx_max(len, NGX_CHRYS_CHUNK - sizeof(ngx_chrys_chunk_t));

    for ( ;; ) {
        chunk = ngx_slab_alloc_locked(zone->shpool,
                                      sizeof(ngx_chrys_chunk_t) + size);
        if (chunk) {
            break;
        }

        /* streams nobody holds go first, then this ring's oldest GOP */

        if (!ngx_chrys_zone_reclaim_locked(zone,
                                           sizeof(ngx_chrys_chunk_t) + size)
            && !ngx_chrys_ring_evict_gop_locked(zone, ring))
        {
            return NULL;
        }
    }

    chunk->next = NULL;
    chunk->size = size;
    chunk->used = len;

    if (ring->last) {
        ring->last->next = chunk;

    } else {
        ring->first = chunk;
    }

    ring->last = chunk;
    ring->bytes += sizeof(ngx_chrys_chunk_t) + size;

    return (u_char *) (chunk + 1);
}


/* drops every entry and chunk, keeping the index and the configuration */

static void
ngx_chrys_ring_clear_locked(ngx_chrys_zone_t *zone, ngx_chrys_ring_t *ring)
{
    while (ring->count) {
        ngx_chrys_ring_drop_head_locked(zone, ring);
    }

    ngx_chrys_ring_trim_locked(zone, ring);
    ngx_chrys_ring_audio_trim_locked(zone, ring);
}


/*
 * Evicts the oldest GOP: the head entry and those after it up to the next
 * IDR.  The GOP of the newest entry stays: then it returns 0.
 */

static ngx_uint_t
ngx_chrys_ring_evict_gop_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring)
{
    ngx_uint_t  i;

    for (i = 1; i < ring->count; i++) {
        if (ngx_chrys_ring_entry(ring, i)->flags & NGX_CHRYS_AU_IDR) {
            break;
        }
    }

    if (i >= ring->count) {
        return 0;
    }

    while (i--) {
        ngx_chrys_ring_drop_head_locked(zone, ring);
    }

    ngx_chrys_ring_trim_locked(zone, ring);
    ngx_chrys_ring_audio_trim_locked(zone, ring);

    return 1;
}


/* the audio that arrived before the oldest video left goes with it */

static void
ngx_chrys_ring_audio_trim_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring)
{
    uint64_t           oldest;
    ngx_chrys_ring_t  *audio;

    audio = ring->audio;

    if (audio == NULL || audio->count == 0) {
        return;
    }

    oldest = ring->count ? ngx_chrys_ring_entry(ring, 0)->time : (uint64_t) -1;

    while (audio->count && audio->entries[audio->head].time < oldest) {
        ngx_chrys_ring_drop_head_locked(zone, audio);
    }

    ngx_chrys_ring_trim_locked(zone, audio);
}


/*
 * Gives a video ring its audio ring, if it has none, with the video
 * ring's limits and an index for "span" ms of AAC frames; then the AAC
 * configuration for the frames that follow.
 */

static ngx_int_t
ngx_chrys_ring_audio_setup_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring, ngx_chrys_ring_t *audio, ngx_msec_t span,
    u_char *data, size_t len, ngx_uint_t rate, ngx_uint_t channels)
{
    if (ring->audio == NULL) {
        if (ngx_chrys_ring_setup_locked(zone, audio, ring->window,
                                        ring->max_bytes, span)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ring->audio = audio;
    }

    return ngx_chrys_ring_config_locked(zone, audio, data, len, rate,
                                        channels);
}


static void
ngx_chrys_ring_drop_head_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring)
{
    ngx_chrys_entry_t  *e;

    e = &ring->entries[ring->head];

    ngx_chrys_config_release_locked(zone, e->config);
    ngx_memzero(e, sizeof(ngx_chrys_entry_t));

    ring->head = (ring->head + 1) % ring->cap;
    ring->count--;
}


/* frees the chunks before the one that holds the head entry */

static void
ngx_chrys_ring_trim_locked(ngx_chrys_zone_t *zone, ngx_chrys_ring_t *ring)
{
    u_char             *head;
    ngx_chrys_chunk_t  *chunk;

    head = ring->count ? ring->entries[ring->head].data : NULL;

    while (ring->first) {
        chunk = ring->first;

        if (head && head >= (u_char *) (chunk + 1)
            && head < (u_char *) (chunk + 1) + chunk->size)
        {
            break;
        }

        ring->first = chunk->next;
        ring->bytes -= sizeof(ngx_chrys_chunk_t) + chunk->size;

        if (ring->last == chunk) {
            ring->last = NULL;
        }

        ngx_slab_free_locked(zone->shpool, chunk);
    }
}


ngx_chrys_entry_t *
ngx_chrys_ring_entry(ngx_chrys_ring_t *ring, ngx_uint_t i)
{
    return &ring->entries[(ring->head + i) % ring->cap];
}


/* the last entry that arrived at or before "time", or -1 */

ngx_int_t
ngx_chrys_ring_find_time(ngx_chrys_ring_t *ring, uint64_t time)
{
    return ngx_chrys_ring_find(ring, time, 0);
}


/* the last entry with a seq at or below "seq", or -1 */

ngx_int_t
ngx_chrys_ring_find_seq(ngx_chrys_ring_t *ring, ngx_uint_t seq)
{
    return ngx_chrys_ring_find(ring, seq, 1);
}


/*
 * The last entry whose arrival time (or seq) is at or below "value", or -1:
 * both rise from the oldest entry to the newest.
 */

static ngx_int_t
ngx_chrys_ring_find(ngx_chrys_ring_t *ring, uint64_t value,
    ngx_uint_t by_seq)
{
    uint64_t            v;
    ngx_uint_t          lo, hi, mid;
    ngx_chrys_entry_t  *e;

    lo = 0;
    hi = ring->count;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        e = ngx_chrys_ring_entry(ring, mid);
        v = by_seq ? (uint64_t) e->seq : e->time;

        if (v <= value) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return (ngx_int_t) lo - 1;
}


/* the IDR at or before entry "i", or -1 */

ngx_int_t
ngx_chrys_ring_gop_start(ngx_chrys_ring_t *ring, ngx_uint_t i)
{
    for ( ;; ) {
        if (ngx_chrys_ring_entry(ring, i)->flags & NGX_CHRYS_AU_IDR) {
            return i;
        }

        if (i == 0) {
            return -1;
        }

        i--;
    }
}


/*
 * Where a range that begins at entry "i" (-1: before the ring) starts to
 * decode: the IDR at or before it, or else the first one after it; the
 * ring's count if there is none.
 */

static ngx_int_t
ngx_chrys_ring_idr_from(ngx_chrys_ring_t *ring, ngx_int_t i)
{
    ngx_int_t  start;

    if (i < 0) {
        i = 0;
    }

    if ((ngx_uint_t) i >= ring->count) {
        return ring->count;
    }

    start = ngx_chrys_ring_gop_start(ring, i);

    if (start >= 0) {
        return start;
    }

    for (start = i; (ngx_uint_t) start < ring->count; start++) {
        if (ngx_chrys_ring_entry(ring, start)->flags & NGX_CHRYS_AU_IDR) {
            break;
        }
    }

    return start;
}


/*
 * A new sequence header of the stream: for the access units that follow
 * in its ring.  NGX_ERROR: no room, the ring takes nothing until the next
 * header that fits.
 */

ngx_int_t
ngx_chrys_ring_configure(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    u_char *data, size_t len, ngx_uint_t width, ngx_uint_t height)
{
    ngx_int_t  rc;

    rc = NGX_OK;

    ngx_chrys_zone_lock(zone);

    if (st->ring.entries) {
        rc = ngx_chrys_ring_config_locked(zone, &st->ring, data, len, width,
                                          height);
    }

    ngx_chrys_zone_unlock(zone);

    return rc;
}


/*
 * The publisher's worker hands every access unit here: into the stream's
 * ring, and into the events whose window is still open.
 */

void
ngx_chrys_ring_push(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_au_t *au, ngx_log_t *log)
{
    ngx_int_t           rc;
    ngx_queue_t        *q;
    ngx_chrys_entry_t   e;
    ngx_chrys_event_t  *ev;

    ngx_memzero(&e, sizeof(ngx_chrys_entry_t));

    e.seq = au->seq;
    e.pts = au->pts;
    e.dts = au->dts;
    e.time = au->time;
    e.size = au->len;
    e.flags = au->flags & (NGX_CHRYS_AU_KEY|NGX_CHRYS_AU_IDR);

    ngx_chrys_zone_lock(zone);

    rc = ngx_chrys_ring_append_locked(zone, &st->ring, &e, au->data);

    if (rc == NGX_ERROR && !st->ring_full) {
        st->ring_full = 1;
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "chrys: zone \"%V\" is full, the buffer of \"%V\" "
                      "stops growing; raise the size in \"chrys_zone\"",
                      &zone->shm_zone->shm.name, &st->key);

    } else if (rc == NGX_OK) {
        st->ring_full = 0;
    }

    for (q = ngx_queue_head(&st->events);
         q != ngx_queue_sentinel(&st->events);
         q = ngx_queue_next(q))
    {
        ev = ngx_queue_data(q, ngx_chrys_event_t, queue);

        if (ev->filling || e.time > ev->to || ev->truncated) {
            /* an event being filled takes it from the stream's ring */
            continue;
        }

        if (st->ring.config == NULL) {
            /*
             * the stream's header found no room: nor do its access units,
             * which the event's header would not decode; the event goes
             * on at the next IDR once a header fits
             */
            ev->ring.skip = 1;
            continue;
        }

        if (ngx_chrys_ring_config_locked(zone, &ev->ring,
                                         st->ring.config->data,
                                         st->ring.config->len,
                                         st->ring.config->width,
                                         st->ring.config->height)
            != NGX_OK)
        {
            ev->truncated = 1;
            continue;
        }

        (void) ngx_chrys_event_append_locked(zone, ev, &ev->ring, &e,
                                             au->data);
    }

    ngx_chrys_zone_unlock(zone);
}


/*
 * A packet of the stream was lost before the ring: the ring and the open
 * events skip to the next IDR, so that all they keep decodes.
 */

void
ngx_chrys_ring_gap(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st)
{
    ngx_queue_t        *q;
    ngx_chrys_event_t  *ev;

    ngx_chrys_zone_lock(zone);

    st->ring.skip = 1;

    for (q = ngx_queue_head(&st->events);
         q != ngx_queue_sentinel(&st->events);
         q = ngx_queue_next(q))
    {
        ev = ngx_queue_data(q, ngx_chrys_event_t, queue);
        ev->ring.skip = 1;
    }

    ngx_chrys_zone_unlock(zone);
}


/*
 * A new AAC sequence header of the stream: its frames that follow are
 * kept in the ring's audio ring, made now if need be.  NGX_ERROR: no
 * room, audio is not kept until the next header that fits.
 */

ngx_int_t
ngx_chrys_ring_audio_configure(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, u_char *data, size_t len, ngx_uint_t rate,
    ngx_uint_t channels)
{
    ngx_int_t  rc;

    rc = NGX_DECLINED;

    ngx_chrys_zone_lock(zone);

    if (st->ring.entries) {
        rc = ngx_chrys_ring_audio_setup_locked(zone, &st->ring,
                                               &st->audio_ring,
                                               st->ring.window, data, len,
                                               rate, channels);
    }

    ngx_chrys_zone_unlock(zone);

    return rc;
}


/*
 * An AAC frame of the stream: into the ring's audio ring, if the ring has
 * video it can go with, and into the events whose window is open.  Its
 * bytes count in the ring's cap: over it, the oldest GOPs go, and the
 * audio with them.
 */

void
ngx_chrys_ring_push_audio(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_au_t *au, ngx_log_t *log)
{
    ngx_queue_t        *q;
    ngx_chrys_ring_t   *ring, *audio;
    ngx_chrys_entry_t   e;
    ngx_chrys_event_t  *ev;
    ngx_chrys_config_t *config;

    ngx_memzero(&e, sizeof(ngx_chrys_entry_t));

    e.pts = au->pts;
    e.dts = au->dts;
    e.time = au->time;
    e.size = au->len;
    e.flags = NGX_CHRYS_AU_AUDIO|NGX_CHRYS_AU_KEY|NGX_CHRYS_AU_IDR;

    ngx_chrys_zone_lock(zone);

    ring = &st->ring;
    audio = ring->audio;

    if (audio == NULL || audio->config == NULL || ring->count == 0) {
        ngx_chrys_zone_unlock(zone);
        return;
    }

    config = audio->config;
    e.seq = ++audio->seq;

    if (ngx_chrys_ring_append_locked(zone, audio, &e, au->data) == NGX_OK) {
        while (ngx_chrys_ring_bytes(ring) > ring->max_bytes
               && ngx_chrys_ring_evict_gop_locked(zone, ring))
        {
            /* void */
        }
    }

    for (q = ngx_queue_head(&st->events);
         q != ngx_queue_sentinel(&st->events);
         q = ngx_queue_next(q))
    {
        ev = ngx_queue_data(q, ngx_chrys_event_t, queue);

        if (ev->filling || e.time > ev->to + NGX_CHRYS_AUDIO_LATE
            || ev->truncated || ev->ring.count == 0)
        {
            /* an event being filled takes it from the stream's ring */
            continue;
        }

        if (ngx_chrys_event_audio_locked(zone, ev, config) != NGX_OK) {
            continue;
        }

        (void) ngx_chrys_event_append_locked(zone, ev, &ev->audio, &e,
                                             au->data);
        ev->audio_filled = e.seq;
    }

    ngx_chrys_zone_unlock(zone);
}


/*
 * A data message of the stream ("data" is JSON members: its type and
 * payload) into its data ring, under the buffer's time window and
 * NGX_CHRYS_DATA_BYTES.  NGX_DECLINED: the stream keeps no buffer.
 */

ngx_int_t
ngx_chrys_data_push(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    uint64_t time, int64_t pts, ngx_uint_t posted, u_char *data, size_t len)
{
    ngx_int_t           rc;
    ngx_queue_t        *q;
    ngx_chrys_ring_t   *ring;
    ngx_chrys_entry_t   e;
    ngx_chrys_event_t  *ev;

    ngx_memzero(&e, sizeof(ngx_chrys_entry_t));

    e.pts = pts;
    e.dts = pts;
    e.time = time;
    e.size = len;
    e.flags = NGX_CHRYS_AU_DATA|NGX_CHRYS_AU_KEY|NGX_CHRYS_AU_IDR
              | (posted ? NGX_CHRYS_AU_POSTED : 0);

    ngx_chrys_zone_lock(zone);

    ring = &st->data_ring;

    if (st->ring.entries == NULL) {
        ngx_chrys_zone_unlock(zone);
        return NGX_DECLINED;
    }

    if (ring->entries == NULL
        && (ngx_chrys_ring_setup_locked(zone, ring, st->ring.window,
                                        NGX_CHRYS_DATA_BYTES,
                                        st->ring.window)
            != NGX_OK
            || ngx_chrys_ring_config_locked(zone, ring, (u_char *) "json",
                                            4, 0, 0)
               != NGX_OK))
    {
        ngx_chrys_ring_free_locked(zone, ring);
        ngx_chrys_zone_unlock(zone);
        return NGX_ERROR;
    }

    /* a clock that went back: the message comes right after the last one */

    if (ring->count
        && e.time < ngx_chrys_ring_entry(ring, ring->count - 1)->time)
    {
        e.time = ngx_chrys_ring_entry(ring, ring->count - 1)->time;
    }

    e.seq = ++ring->seq;

    rc = ngx_chrys_ring_append_locked(zone, ring, &e, data);

    /* and into the events whose window it is in */

    for (q = ngx_queue_head(&st->events);
         q != ngx_queue_sentinel(&st->events);
         q = ngx_queue_next(q))
    {
        ev = ngx_queue_data(q, ngx_chrys_event_t, queue);

        if (!ev->filling && e.time >= ev->from && e.time <= ev->to) {
            ngx_chrys_event_data_locked(zone, ev, &e, data);
            ev->data_filled = e.seq;
        }
    }

    ngx_chrys_zone_unlock(zone);

    return rc;
}


/*
 * The data messages that arrived in [from, to] with a seq over "after",
 * as the members of a JSON array in "out", at most NGX_CHRYS_DATA_ANSWER
 * bytes of them; *n of them, the seq of the last in *last.  Planned under
 * the lock, then copied under it again from the seq it found.
 */

ngx_int_t
ngx_chrys_data_list(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t event, uint64_t from, uint64_t to, ngx_uint_t after,
    ngx_pool_t *pool, ngx_str_t *out, ngx_uint_t *n, ngx_uint_t *last)
{
    u_char             *p, *end;
    size_t              size, one;
    ngx_int_t           i;
    ngx_uint_t          first;
    ngx_chrys_ring_t   *ring;
    ngx_chrys_entry_t  *e;

    static size_t  head = sizeof("{\"seq\":,\"time\":,\"pts\":,"
                                 "\"source\":\"rtmp\",},")
                          + 3 * NGX_INT64_LEN;

    *n = 0;
    *last = after;
    out->len = 0;
    size = 0;
    first = 0;

    ngx_chrys_zone_lock(zone);

    ring = ngx_chrys_data_source_locked(st, event);

    if (ring == NULL) {
        ngx_chrys_zone_unlock(zone);
        return NGX_DECLINED;
    }

    i = (from == 0) ? 0 : ngx_chrys_ring_find_time(ring, from - 1) + 1;

    for ( /* void */ ; (ngx_uint_t) i < ring->count; i++) {
        e = ngx_chrys_ring_entry(ring, i);

        if (e->time > to) {
            break;
        }

        if (e->seq <= after) {
            continue;
        }

        one = head + e->size;

        if (size + one > NGX_CHRYS_DATA_ANSWER) {
            break;
        }

        if (first == 0) {
            first = e->seq;
        }

        size += one;
    }

    ngx_chrys_zone_unlock(zone);

    if (size == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    end = p + size;

    ngx_chrys_zone_lock(zone);

    ring = ngx_chrys_data_source_locked(st, event);
    i = ring ? ngx_chrys_ring_find_seq(ring, first - 1) + 1 : 0;

    if (ring == NULL) {
        /* the event was deleted meanwhile */
        ngx_chrys_zone_unlock(zone);
        out->len = 0;
        return NGX_OK;
    }

    for ( /* void */ ; (ngx_uint_t) i < ring->count; i++) {
        e = ngx_chrys_ring_entry(ring, i);

        if (e->time > to || (size_t) (end - p) < head + e->size) {
            break;
        }

        if (*n) {
            *p++ = ',';
        }

        p = ngx_sprintf(p, "{\"seq\":%ui,\"time\":%uL,", e->seq, e->time);

        if (e->flags & NGX_CHRYS_AU_POSTED) {
            p = ngx_cpymem(p, "\"pts\":null,\"source\":\"http\",",
                           sizeof("\"pts\":null,\"source\":\"http\",") - 1);

        } else {
            p = ngx_sprintf(p, "\"pts\":%L,\"source\":\"rtmp\",", e->pts);
        }

        p = ngx_cpymem(p, e->data, e->size);
        *p++ = '}';

        *last = e->seq;
        (*n)++;
    }

    ngx_chrys_zone_unlock(zone);

    out->len = p - out->data;

    return NGX_OK;
}


/* the arrival of the last data message at or before "time", or 0 */

uint64_t
ngx_chrys_data_before(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t event, uint64_t time)
{
    uint64_t           t;
    ngx_int_t          i;
    ngx_chrys_ring_t  *ring;

    t = 0;

    ngx_chrys_zone_lock(zone);

    ring = ngx_chrys_data_source_locked(st, event);
    i = ring ? ngx_chrys_ring_find_time(ring, time) : -1;

    if (i >= 0) {
        t = ngx_chrys_ring_entry(ring, i)->time;
    }

    ngx_chrys_zone_unlock(zone);

    return t;
}


/* the data a request reads: the stream's, or one of its events' */

static ngx_chrys_ring_t *
ngx_chrys_data_source_locked(ngx_chrys_stream_t *st, ngx_uint_t event)
{
    ngx_chrys_event_t  *ev;

    if (event == 0) {
        return &st->data_ring;
    }

    ev = ngx_chrys_event_find_locked(st, event);

    return ev ? &ev->data : NULL;
}


/* the ring a request reads: the stream's, or one of its events' */

static ngx_chrys_ring_t *
ngx_chrys_ring_source_locked(ngx_chrys_stream_t *st, ngx_uint_t event,
    ngx_chrys_event_t **evp)
{
    ngx_chrys_event_t  *ev;

    *evp = NULL;

    if (event == 0) {
        return st->ring.entries ? &st->ring : NULL;
    }

    ev = ngx_chrys_event_find_locked(st, event);
    if (ev == NULL) {
        return NULL;
    }

    *evp = ev;

    return &ev->ring;
}


static void
ngx_chrys_ring_where(ngx_chrys_ring_t *ring, ngx_chrys_range_t *range)
{
    range->start = ring->count ? ngx_chrys_ring_entry(ring, 0)->time : 0;
    range->end = ring->count
                 ? ngx_chrys_ring_entry(ring, ring->count - 1)->time : 0;
}


/*
 * The range a request asks of a ring: "from" 0 and "to" -1 are the
 * defaults, the whole ring or an event's window.  Returns 1 if it can be
 * read, else 0 with range->result saying why.
 */

static ngx_uint_t
ngx_chrys_ring_check_locked(ngx_chrys_ring_t *ring, ngx_chrys_event_t *ev,
    uint64_t *from, uint64_t *to, ngx_chrys_range_t *range)
{
    uint64_t  now;

    now = ngx_chrys_unix_msec();

    ngx_chrys_ring_where(ring, range);

    if (*from == 0) {
        *from = ev ? ev->from : (ring->count ? range->start : now);
    }

    if (*to == (uint64_t) -1) {
        *to = ev ? ev->to : now;
    }

    if (*from > now) {
        range->result = NGX_CHRYS_RANGE_FUTURE;
        return 0;
    }

    if (*from > *to) {
        range->result = NGX_CHRYS_RANGE_INVERTED;
        return 0;
    }

    if (ring->count == 0 || *to < range->start) {
        range->result = NGX_CHRYS_RANGE_GONE;
        return 0;
    }

    range->result = NGX_CHRYS_RANGE_OK;

    return 1;
}


/*
 * index.json: the figures of a ring and copies of its entries that
 * arrived in [from, to].  NGX_DECLINED if there is no such ring.
 */

ngx_int_t
ngx_chrys_ring_index(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t event, uint64_t from, uint64_t to, ngx_pool_t *pool,
    ngx_chrys_index_t *ix)
{
    ngx_int_t           first, last, i;
    ngx_uint_t          n, k, per, seq, done;
    ngx_chrys_ring_t   *ring;
    ngx_chrys_event_t  *ev;

    ngx_memzero(ix, sizeof(ngx_chrys_index_t));

    ngx_chrys_zone_lock(zone);

    ring = ngx_chrys_ring_source_locked(st, event, &ev);

    if (ring == NULL) {
        ngx_chrys_zone_unlock(zone);
        return NGX_DECLINED;
    }

    /* entries are in arrival order: [first, last] is the range */

    first = (from == 0) ? 0 : ngx_chrys_ring_find_time(ring, from - 1) + 1;
    last = ngx_chrys_ring_find_time(ring, to);

    n = (last >= first) ? (ngx_uint_t) (last - first + 1) : 0;
    seq = n ? ngx_chrys_ring_entry(ring, first)->seq : 0;

    ix->count = ring->count;
    ix->bytes = ring->bytes;
    ix->window = ring->window;
    ix->max_bytes = ring->max_bytes;
    ngx_chrys_ring_where(ring, &ix->range);

    if (ring->config) {
        ix->width = ring->config->width;
        ix->height = ring->config->height;

    } else {
        ix->width = st->video.width;
        ix->height = st->video.height;
    }

    ix->profile = st->video.profile;
    ix->level = st->video.level;

    if (ring->audio && ring->audio->config) {
        ix->audio_rate = ring->audio->config->width;
        ix->audio_channels = ring->audio->config->height;
        ix->audio_frames = ring->audio->count;
    }

    ix->bytes = ngx_chrys_ring_bytes(ring);

    ngx_chrys_zone_unlock(zone);

    ix->entries = ngx_palloc(pool, ngx_max(n, 1) * sizeof(ngx_chrys_entry_t));
    if (ix->entries == NULL) {
        return NGX_ERROR;
    }

    /* a slice at a time, from where the last one ended */

    per = NGX_CHRYS_SLICE / sizeof(ngx_chrys_entry_t);
    done = 0;

    while (done < n) {
        ngx_chrys_zone_lock(zone);

        ring = ngx_chrys_ring_source_locked(st, event, &ev);
        i = ring ? ngx_chrys_ring_find_seq(ring, seq) : -1;

        if (i < 0 || ngx_chrys_ring_entry(ring, i)->seq != seq) {
            /* the rest left the ring meanwhile */
            ngx_chrys_zone_unlock(zone);
            break;
        }

        for (k = 0; k < per && done < n && (ngx_uint_t) i < ring->count;
             k++)
        {
            ix->entries[done++] = *ngx_chrys_ring_entry(ring, i++);
        }

        seq = ((ngx_uint_t) i < ring->count)
              ? ngx_chrys_ring_entry(ring, i)->seq : 0;

        ngx_chrys_zone_unlock(zone);

        if (seq == 0) {
            break;
        }
    }

    ix->n = done;

    return NGX_OK;
}


/*
 * Plans a copy of entries [from, to] of a ring: the access units, with a
 * configuration before the first and wherever the sequence header
 * changes, and the bytes they take with "pad" bytes after each.
 */

static void
ngx_chrys_ring_plan_locked(ngx_chrys_ring_t *ring, ngx_uint_t from,
    ngx_uint_t to, size_t pad, ngx_chrys_plan_t *plan)
{
    ngx_uint_t           i;
    ngx_chrys_entry_t   *e;
    ngx_chrys_config_t  *config;

    plan->first = ngx_chrys_ring_entry(ring, from)->seq;
    plan->last = ngx_chrys_ring_entry(ring, to)->seq;
    plan->width = ngx_chrys_ring_entry(ring, from)->config->width;
    plan->height = ngx_chrys_ring_entry(ring, from)->config->height;
    plan->naus = 0;
    plan->size = sizeof(ngx_chrys_gop_t);
    plan->audio = 0;

    config = NULL;

    for (i = from; i <= to; i++) {
        e = ngx_chrys_ring_entry(ring, i);

        if (e->config != config) {
            config = e->config;
            plan->size += sizeof(ngx_chrys_au_t) + config->len + pad;
            plan->naus++;
        }

        plan->size += sizeof(ngx_chrys_au_t) + e->size + pad;
        plan->naus++;
    }
}


/*
 * Copies what a plan names out of the zone into one allocation of process
 * memory, a slice at a time.  NULL if an entry of it left the ring
 * meanwhile (or no memory).
 */

static ngx_chrys_gop_t *
ngx_chrys_ring_copy(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t event, ngx_chrys_plan_t *plan, size_t pad, ngx_log_t *log)
{
    u_char              *p, *end;
    size_t               slice;
    ngx_int_t            i;
    ngx_uint_t           seq, n;
    ngx_chrys_au_t      *au;
    ngx_chrys_gop_t     *gop;
    ngx_chrys_ring_t    *ring;
    ngx_chrys_entry_t   *e;
    ngx_chrys_event_t   *ev;
    ngx_chrys_config_t  *config;

    gop = ngx_alloc(plan->size, log);
    if (gop == NULL) {
        return NULL;
    }

    gop->aus = (ngx_chrys_au_t *) (gop + 1);
    gop->naus = 0;
    gop->bytes = plan->size;
    gop->width = plan->width;
    gop->height = plan->height;

    p = (u_char *) (gop->aus + plan->naus);
    end = (u_char *) gop + plan->size;
    au = gop->aus;
    n = 0;
    config = NULL;
    seq = plan->first;

    for ( ;; ) {
        ngx_chrys_zone_lock(zone);

        ring = ngx_chrys_ring_source_locked(st, event, &ev);

        if (ring && plan->audio) {
            ring = ring->audio;
        }

        i = ring ? ngx_chrys_ring_find_seq(ring, seq) : -1;

        if (i < 0 || ngx_chrys_ring_entry(ring, i)->seq != seq) {
            ngx_chrys_zone_unlock(zone);
            goto gone;
        }

        slice = 0;

        while ((ngx_uint_t) i < ring->count && slice < NGX_CHRYS_SLICE) {
            e = ngx_chrys_ring_entry(ring, i);

            if (e->seq > plan->last) {
                break;
            }

            if (e->config != config) {
                config = e->config;

                if (n == plan->naus
                    || (size_t) (end - p) < config->len + pad)
                {
                    /* not what was planned: it changed meanwhile */
                    ngx_chrys_zone_unlock(zone);
                    goto gone;
                }

                ngx_memzero(au, sizeof(ngx_chrys_au_t));
                au->flags = NGX_CHRYS_AU_CONFIG;
                au->len = config->len;
                au->data = p;
                p = ngx_cpymem(p, config->data, config->len);
                ngx_memzero(p, pad);
                p += pad;
                au++;
                n++;
            }

            if (n == plan->naus || (size_t) (end - p) < e->size + pad) {
                ngx_chrys_zone_unlock(zone);
                goto gone;
            }

            au->next = NULL;
            au->seq = e->seq;
            au->pts = e->pts;
            au->dts = e->dts;
            au->time = e->time;
            au->flags = e->flags;
            au->len = e->size;
            au->data = p;
            p = ngx_cpymem(p, e->data, e->size);
            ngx_memzero(p, pad);
            p += pad;
            au++;
            n++;

            slice += e->size;
            i++;
        }

        seq = ((ngx_uint_t) i < ring->count)
              ? ngx_chrys_ring_entry(ring, i)->seq : 0;

        ngx_chrys_zone_unlock(zone);

        if (seq == 0 || seq > plan->last) {
            break;
        }
    }

    gop->naus = n;

    return gop;

gone:

    ngx_free(gop);

    return NULL;
}


void
ngx_chrys_gop_free(ngx_chrys_gop_t *gop)
{
    ngx_free(gop);
}


/*
 * frame.jpg: the access units that decode to one frame, from the IDR
 * before it: the frame of seq "value" (by_seq), or the last that arrived
 * at or before time "value"; with "keyframe", only that IDR.  *seq is
 * the frame's.  NULL with range->result set when there is none.
 */

ngx_chrys_gop_t *
ngx_chrys_ring_frame(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t event, ngx_uint_t by_seq, uint64_t value, ngx_uint_t keyframe,
    size_t pad, ngx_uint_t *seq, ngx_chrys_range_t *range, ngx_log_t *log)
{
    ngx_int_t           i, start;
    ngx_chrys_gop_t    *gop;
    ngx_chrys_plan_t    plan;
    ngx_chrys_ring_t   *ring;
    ngx_chrys_entry_t  *first, *last;
    ngx_chrys_event_t  *ev;

    ngx_memzero(range, sizeof(ngx_chrys_range_t));

    ngx_chrys_zone_lock(zone);

    ring = ngx_chrys_ring_source_locked(st, event, &ev);

    if (ring == NULL) {
        ngx_chrys_zone_unlock(zone);
        range->result = NGX_CHRYS_RANGE_NONE;
        return NULL;
    }

    ngx_chrys_ring_where(ring, range);

    if (ring->count == 0) {
        ngx_chrys_zone_unlock(zone);
        range->result = NGX_CHRYS_RANGE_EMPTY;
        return NULL;
    }

    first = ngx_chrys_ring_entry(ring, 0);
    last = ngx_chrys_ring_entry(ring, ring->count - 1);

    if (by_seq) {
        if (value < first->seq || value > last->seq) {
            ngx_chrys_zone_unlock(zone);
            range->result = (value < first->seq) ? NGX_CHRYS_RANGE_GONE
                                                  : NGX_CHRYS_RANGE_FUTURE;
            return NULL;
        }

        i = ngx_chrys_ring_find_seq(ring, value);

    } else {
        if (value < first->time || value > ngx_chrys_unix_msec()) {
            ngx_chrys_zone_unlock(zone);
            range->result = (value < first->time) ? NGX_CHRYS_RANGE_GONE
                                                   : NGX_CHRYS_RANGE_FUTURE;
            return NULL;
        }

        i = ngx_chrys_ring_find_time(ring, value);
    }

    start = ngx_chrys_ring_gop_start(ring, i);

    if (start < 0) {
        ngx_chrys_zone_unlock(zone);
        range->result = NGX_CHRYS_RANGE_NO_IDR;
        return NULL;
    }

    if (keyframe) {
        i = start;
    }

    ngx_chrys_ring_plan_locked(ring, start, i, pad, &plan);
    *seq = plan.last;

    ngx_chrys_zone_unlock(zone);

    gop = ngx_chrys_ring_copy(zone, st, event, &plan, pad, log);

    if (gop == NULL) {
        range->result = NGX_CHRYS_RANGE_GONE;
    }

    return gop;
}


/*
 * images: the frames of [from, to] in a ring, all of them or the first of
 * each "interval", at most "limit" (0: NGX_CHRYS_RANGE_TOO_MANY past
 * walk->max), as seqs into walk; *width and *height of the pictures.
 * NGX_OK, or NGX_DECLINED with range->result saying why not.
 */

ngx_int_t
ngx_chrys_ring_select(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t event, uint64_t from, uint64_t to, ngx_msec_t interval,
    ngx_uint_t limit, ngx_pool_t *pool, ngx_chrys_walk_t *walk,
    ngx_uint_t *width, ngx_uint_t *height, ngx_chrys_range_t *range)
{
    uint64_t             next;
    ngx_uint_t           i, n, max;
    ngx_chrys_ring_t    *ring;
    ngx_chrys_entry_t   *e;
    ngx_chrys_event_t   *ev;
    ngx_chrys_config_t  *config;

    ngx_memzero(range, sizeof(ngx_chrys_range_t));

    max = limit ? limit : walk->max;

    walk->want = ngx_palloc(pool, (max + 1) * sizeof(ngx_uint_t));
    if (walk->want == NULL) {
        return NGX_ERROR;
    }

    walk->nwant = 0;
    walk->next = 0;

    ngx_chrys_zone_lock(zone);

    ring = ngx_chrys_ring_source_locked(st, event, &ev);

    if (ring == NULL) {
        ngx_chrys_zone_unlock(zone);
        range->result = NGX_CHRYS_RANGE_NONE;
        return NGX_DECLINED;
    }

    if (!ngx_chrys_ring_check_locked(ring, ev, &from, &to, range)) {
        ngx_chrys_zone_unlock(zone);
        return NGX_DECLINED;
    }

    config = ring->config ? ring->config
                          : ngx_chrys_ring_entry(ring, 0)->config;
    *width = config->width;
    *height = config->height;

    /* the frames: all in the range, or the first of each interval */

    n = 0;
    next = from;

    for (i = ngx_max(ngx_chrys_ring_find_time(ring, from - 1), 0);
         i < ring->count;
         i++)
    {
        e = ngx_chrys_ring_entry(ring, i);

        if (e->time > to) {
            break;
        }

        if (e->time < next) {
            continue;
        }

        if (n < max) {
            walk->want[n] = e->seq;
        }

        n++;
        next = interval ? e->time + interval : e->time;
    }

    ngx_chrys_zone_unlock(zone);

    range->frames = n;

    if (n > max && limit == 0) {
        range->result = NGX_CHRYS_RANGE_TOO_MANY;
        return NGX_DECLINED;
    }

    walk->nwant = ngx_min(n, max);

    return NGX_OK;
}


/*
 * Whether a GOP can be cut before entry "j", with every frame after the
 * cut shown after every frame before it ("shown": the latest pts before
 * it): with B-frames, only before some of the reference frames.  Steps of
 * an image series are cut there, so that their images go out in display
 * order.  H.264 reorders within a few frames: only those are looked at.
 */

static ngx_uint_t
ngx_chrys_ring_clean_cut(ngx_chrys_ring_t *ring, int64_t shown, ngx_uint_t j)
{
    ngx_uint_t          i;
    ngx_chrys_entry_t  *e;

    for (i = j; i < ring->count && i < j + NGX_CHRYS_REORDER; i++) {
        e = ngx_chrys_ring_entry(ring, i);

        if (i > j && (e->flags & NGX_CHRYS_AU_IDR)) {
            break;
        }

        if (e->pts <= shown) {
            return 0;
        }
    }

    return 1;
}


/*
 * The next step of an image series: the GOP part that decodes to the next
 * wanted frames still in the ring, at most walk->max of them, cut where
 * display order allows.  NULL when nothing is left.
 */

ngx_chrys_gop_t *
ngx_chrys_ring_step(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t event, ngx_chrys_walk_t *walk, size_t pad, ngx_log_t *log)
{
    int64_t             shown;
    ngx_int_t           i, j, start, end;
    ngx_uint_t          k, found;
    ngx_chrys_plan_t    plan;
    ngx_chrys_ring_t   *ring;
    ngx_chrys_entry_t  *e;
    ngx_chrys_event_t  *ev;

    found = 0;
    walk->taken = 0;

    ngx_chrys_zone_lock(zone);

    ring = ngx_chrys_ring_source_locked(st, event, &ev);

    /* the next wanted frame still in the ring, with its IDR */

    for ( /* void */ ; ring && walk->next < walk->nwant; walk->next++) {
        i = ngx_chrys_ring_find_seq(ring, walk->want[walk->next]);

        if (i < 0
            || ngx_chrys_ring_entry(ring, i)->seq != walk->want[walk->next])
        {
            continue;
        }

        start = ngx_chrys_ring_gop_start(ring, i);

        if (start < 0) {
            continue;
        }

        /* this GOP's wanted frames, up to the next IDR */

        shown = ngx_chrys_ring_entry(ring, start)->pts;

        for (j = start + 1; j <= i; j++) {
            shown = ngx_max(shown, ngx_chrys_ring_entry(ring, j)->pts);
        }

        k = walk->next + 1;
        end = i;

        for (j = i + 1; (ngx_uint_t) j < ring->count && k < walk->nwant;
             j++)
        {
            e = ngx_chrys_ring_entry(ring, j);

            if (e->flags & NGX_CHRYS_AU_IDR) {
                break;
            }

            if (k - walk->next >= walk->max
                && ngx_chrys_ring_clean_cut(ring, shown, j))
            {
                break;
            }

            shown = ngx_max(shown, e->pts);

            if (e->seq == walk->want[k]) {
                end = j;
                k++;
            }
        }

        ngx_chrys_ring_plan_locked(ring, start, end, pad, &plan);

        walk->taken = k - walk->next;
        walk->next = k;
        found = 1;

        break;
    }

    ngx_chrys_zone_unlock(zone);

    if (!found) {
        return NULL;
    }

    /* frames evicted meanwhile are left out: the step is empty */

    return ngx_chrys_ring_copy(zone, st, event, &plan, pad, log);
}


/*
 * clip.mp4: where a clip of [from, to] starts (*first, the IDR at or
 * before "from", or the first one after it) and ends (*last).  NGX_OK,
 * or NGX_DECLINED with range->result saying why not.
 */

ngx_int_t
ngx_chrys_ring_span(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t event, uint64_t from, uint64_t to, ngx_uint_t *first,
    ngx_uint_t *last, ngx_chrys_range_t *range)
{
    ngx_int_t           i, start;
    ngx_chrys_ring_t   *ring;
    ngx_chrys_event_t  *ev;

    ngx_memzero(range, sizeof(ngx_chrys_range_t));

    ngx_chrys_zone_lock(zone);

    ring = ngx_chrys_ring_source_locked(st, event, &ev);

    if (ring == NULL) {
        ngx_chrys_zone_unlock(zone);
        range->result = NGX_CHRYS_RANGE_NONE;
        return NGX_DECLINED;
    }

    if (!ngx_chrys_ring_check_locked(ring, ev, &from, &to, range)) {
        ngx_chrys_zone_unlock(zone);
        return NGX_DECLINED;
    }

    start = ngx_chrys_ring_idr_from(ring, ngx_chrys_ring_find_time(ring,
                                                                   from));
    i = ngx_chrys_ring_find_time(ring, to);

    if ((ngx_uint_t) start >= ring->count || i < start) {
        ngx_chrys_zone_unlock(zone);
        range->result = NGX_CHRYS_RANGE_NO_IDR;
        return NGX_DECLINED;
    }

    *first = ngx_chrys_ring_entry(ring, start)->seq;
    *last = ngx_chrys_ring_entry(ring, i)->seq;

    ngx_chrys_zone_unlock(zone);

    return NGX_OK;
}


/*
 * What a clip's walk takes next out of a ring, or its audio ring: the
 * entries "handler" picks under the lock, copied out of it.  NULL when
 * there are none, or they left meanwhile.
 */

static ngx_chrys_gop_t *
ngx_chrys_ring_take(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t event, ngx_uint_t audio, ngx_chrys_ring_pick_pt handler,
    ngx_chrys_pick_t *pick, size_t pad, ngx_log_t *log)
{
    ngx_int_t           from, to;
    ngx_uint_t          found;
    ngx_chrys_plan_t    plan;
    ngx_chrys_ring_t   *ring;
    ngx_chrys_event_t  *ev;

    found = 0;

    ngx_chrys_zone_lock(zone);

    ring = ngx_chrys_ring_source_locked(st, event, &ev);

    if (ring && audio) {
        ring = ring->audio;
    }

    if (ring && ring->count && handler(ring, pick, &from, &to) == NGX_OK) {
        ngx_chrys_ring_plan_locked(ring, from, to, pad, &plan);
        plan.audio = audio;
        found = 1;
    }

    ngx_chrys_zone_unlock(zone);

    if (!found) {
        return NULL;
    }

    return ngx_chrys_ring_copy(zone, st, event, &plan, pad, log);
}


/*
 * The next GOP of a clip: from *next (or the first IDR after it, if it
 * left the ring) up to the next IDR or "last".  *next is then the seq
 * after it, and *done says whether the clip is complete.  NULL when
 * nothing of it is left.
 */

ngx_chrys_gop_t *
ngx_chrys_ring_gop(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t event, ngx_uint_t *next, ngx_uint_t last, size_t pad,
    ngx_uint_t *done, ngx_log_t *log)
{
    ngx_chrys_pick_t  pick;

    ngx_memzero(&pick, sizeof(ngx_chrys_pick_t));

    pick.next = next;
    pick.last = last;
    pick.done = done;

    *done = 1;

    return ngx_chrys_ring_take(zone, st, event, 0,
                               ngx_chrys_ring_gop_pick_locked, &pick, pad,
                               log);
}


static ngx_int_t
ngx_chrys_ring_gop_pick_locked(ngx_chrys_ring_t *ring,
    ngx_chrys_pick_t *pick, ngx_int_t *from, ngx_int_t *to)
{
    ngx_int_t           i, j;
    ngx_chrys_entry_t  *e;

    i = ngx_chrys_ring_find_seq(ring, *pick->next);

    if (i < 0 || ngx_chrys_ring_entry(ring, i)->seq != *pick->next) {
        /* evicted meanwhile: go on at the next IDR */
        i = ngx_chrys_ring_idr_from(ring, i + 1);

        if ((ngx_uint_t) i < ring->count
            && !(ngx_chrys_ring_entry(ring, i)->flags & NGX_CHRYS_AU_IDR))
        {
            i = ring->count;
        }
    }

    if ((ngx_uint_t) i >= ring->count
        || ngx_chrys_ring_entry(ring, i)->seq > pick->last)
    {
        return NGX_DECLINED;
    }

    /* up to the next IDR, or the end of the range */

    for (j = i + 1; (ngx_uint_t) j < ring->count; j++) {
        e = ngx_chrys_ring_entry(ring, j);

        if ((e->flags & NGX_CHRYS_AU_IDR) || e->seq > pick->last) {
            break;
        }
    }

    *pick->done = ((ngx_uint_t) j >= ring->count
                   || ngx_chrys_ring_entry(ring, j)->seq > pick->last);

    if ((ngx_uint_t) j < ring->count) {
        *pick->next = ngx_chrys_ring_entry(ring, j)->seq;
    }

    *from = i;
    *to = j - 1;

    return NGX_OK;
}


/*
 * The AAC frames of a clip's step: those after seq *next with a stream
 * time in [from, to), the configuration first, up to where the time goes
 * back (the publisher came back: those go with a later step).  The first
 * step ("from" not INT64_MIN) looks in the publish whose frames came when
 * its first frame did ("since").  If the step's video is of a later
 * publish than frame *next ("behind"), the rest of that frame's publish
 * comes first, whatever its time.  *next is then the last one looked at.
 * NULL when there are none, or no audio.
 */

ngx_chrys_gop_t *
ngx_chrys_ring_audio(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t event, ngx_uint_t *next, int64_t from, int64_t to,
    uint64_t since, ngx_uint_t behind, size_t pad, ngx_log_t *log)
{
    ngx_chrys_pick_t  pick;

    ngx_memzero(&pick, sizeof(ngx_chrys_pick_t));

    pick.next = next;
    pick.from = from;
    pick.to = to;
    pick.since = since;
    pick.behind = behind;

    return ngx_chrys_ring_take(zone, st, event, 1,
                               ngx_chrys_ring_audio_pick_locked, &pick, pad,
                               log);
}


static ngx_int_t
ngx_chrys_ring_audio_pick_locked(ngx_chrys_ring_t *ring,
    ngx_chrys_pick_t *pick, ngx_int_t *from, ngx_int_t *to)
{
    int64_t             last;
    ngx_int_t           i, j;
    ngx_uint_t          behind;
    ngx_chrys_entry_t  *e;

    if (pick->from == INT64_MIN) {
        i = ngx_chrys_ring_find_seq(ring, *pick->next) + 1;

        /* the time of the one taken last, if it is still there */
        last = (i > 0) ? ngx_chrys_ring_entry(ring, i - 1)->dts : INT64_MIN;

    } else {
        i = ngx_chrys_ring_audio_publish(ring, pick->since);
        last = INT64_MIN;
    }

    behind = pick->behind && last != INT64_MIN;

    for ( /* void */ ; (ngx_uint_t) i < ring->count; i++) {
        e = ngx_chrys_ring_entry(ring, i);

        if (e->dts >= pick->from) {
            break;
        }

        *pick->next = e->seq;
    }

    for (j = i; (ngx_uint_t) j < ring->count; j++) {
        e = ngx_chrys_ring_entry(ring, j);

        if (e->dts < last) {
            if (!behind) {
                break;
            }

            /* past the previous publish, on to the step's own */
            behind = 0;
        }

        if (!behind && e->dts >= pick->to) {
            break;
        }

        last = e->dts;
        *pick->next = e->seq;
    }

    if (j == i) {
        return NGX_DECLINED;
    }

    *from = i;
    *to = j - 1;

    return NGX_OK;
}


/*
 * The first AAC frame of the publish whose frames came by "time": where
 * its stream time last went back before.  A publish's audio comes with
 * its video, within NGX_CHRYS_AUDIO_LATE.
 */

static ngx_int_t
ngx_chrys_ring_audio_publish(ngx_chrys_ring_t *ring, uint64_t time)
{
    ngx_int_t  i;

    i = ngx_chrys_ring_find_time(ring, time + NGX_CHRYS_AUDIO_LATE);

    while (i > 0
           && ngx_chrys_ring_entry(ring, i - 1)->dts
              <= ngx_chrys_ring_entry(ring, i)->dts)
    {
        i--;
    }

    return ngx_max(i, 0);
}


static ngx_chrys_event_t *
ngx_chrys_event_find_locked(ngx_chrys_stream_t *st, ngx_uint_t id)
{
    ngx_queue_t        *q;
    ngx_chrys_event_t  *ev;

    for (q = ngx_queue_head(&st->events);
         q != ngx_queue_sentinel(&st->events);
         q = ngx_queue_next(q))
    {
        ev = ngx_queue_data(q, ngx_chrys_event_t, queue);

        if (ev->id == id) {
            return ev;
        }
    }

    return NULL;
}


/*
 * Marks "now" on a stream and keeps the access units from now - pre to
 * now + post, within the zone's event budget.  What it will take is
 * reckoned before anything is copied: the event's index, the chunks the
 * pre window's access units will fill, and the post window's bytes at the
 * stream's bitrate.  The pre window is then copied a slice at a time; the
 * access units that come meanwhile are taken from the ring as well.
 * NGX_OK with *id, NGX_BUSY with too many events on the stream,
 * NGX_DECLINED over the budget or out of room.
 */

ngx_int_t
ngx_chrys_event_create(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_str_t *label, ngx_str_t *meta, ngx_msec_t pre, ngx_msec_t post,
    ngx_uint_t *id)
{
    size_t              estimate, room, size;
    uint64_t            now;
    ngx_int_t           i, start;
    ngx_chrys_event_t  *ev;

    now = ngx_chrys_unix_msec();

    ngx_chrys_zone_lock(zone);

    if (st->nevents >= NGX_CHRYS_EVENTS_MAX) {
        ngx_chrys_zone_unlock(zone);
        return NGX_BUSY;
    }

    /* what the pre window holds, and the post window will take */

    estimate = (size_t) st->rate.bitrate / 8 * post / 1000;
    start = st->ring.count;

    if (st->ring.count) {
        start = ngx_chrys_ring_idr_from(&st->ring,
                                        ngx_chrys_ring_find_time(&st->ring,
                                                                 now - pre));

        /* in chunks, filled as ngx_chrys_ring_room_locked() fills them */

        room = 0;

        for (i = start; (ngx_uint_t) i < st->ring.count; i++) {
            size = ngx_chrys_ring_entry(&st->ring, i)->size;

            if (size > room) {
                room = ngx_max(size,
                               NGX_CHRYS_CHUNK - sizeof(ngx_chrys_chunk_t));
                estimate += sizeof(ngx_chrys_chunk_t) + room;
            }

            room -= size;
        }
    }

    if (zone->sh->event_bytes + estimate > zone->sh->event_budget) {
        ngx_chrys_zone_unlock(zone);
        return NGX_DECLINED;
    }

    ev = ngx_slab_calloc_locked(zone->shpool, sizeof(ngx_chrys_event_t));

    /* the budget, not a cap of its own, limits an event's ring */

    if (ev == NULL
        || ngx_chrys_ring_setup_locked(zone, &ev->ring, 0, (size_t) -1,
                                       pre + post + 10000)
           != NGX_OK)
    {
        goto nomem;
    }

    /* and its index */

    if (zone->sh->event_bytes + ev->ring.bytes + estimate
        > zone->sh->event_budget)
    {
        goto nomem;
    }

    if (meta->len) {
        ev->meta = ngx_slab_alloc_locked(zone->shpool, meta->len);
        if (ev->meta == NULL) {
            goto nomem;
        }

        ngx_memcpy(ev->meta, meta->data, meta->len);
        ev->meta_len = meta->len;
    }

    ev->id = ++zone->sh->event_ids;
    ev->time = now;
    ev->from = now - pre;
    ev->to = now + post;
    ev->pre = pre;
    ev->post = post;
    ev->label_len = ngx_min(label->len, NGX_CHRYS_LABEL_LEN);

    if (ev->label_len) {
        /* without a label, label->data is NULL: not for memcpy() */
        ngx_memcpy(ev->label, label->data, ev->label_len);
    }

    /* the first access unit to copy, and those after it */

    ev->filling = ((ngx_uint_t) start < st->ring.count);
    ev->filled = ev->filling ? ngx_chrys_ring_entry(&st->ring, start)->seq - 1
                             : 0;

    zone->sh->event_bytes += ev->ring.bytes;

    ngx_queue_insert_tail(&st->events, &ev->queue);
    st->nevents++;

    *id = ev->id;

    ngx_chrys_zone_unlock(zone);

    return ngx_chrys_event_fill(zone, st, *id);

nomem:

    if (ev) {
        ngx_chrys_ring_free_locked(zone, &ev->ring);

        if (ev->meta) {
            ngx_slab_free_locked(zone->shpool, ev->meta);
        }

        ngx_slab_free_locked(zone->shpool, ev);
    }

    ngx_chrys_zone_unlock(zone);

    return NGX_DECLINED;
}


/* copies an event's pre window out of the stream's ring, slice by slice */

static ngx_int_t
ngx_chrys_event_fill(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t id)
{
    ngx_int_t           rc;
    ngx_chrys_event_t  *ev;

    for ( ;; ) {
        ngx_chrys_zone_lock(zone);

        ev = ngx_chrys_event_find_locked(st, id);

        if (ev == NULL || !ev->filling) {
            /* deleted meanwhile, or done */
            ngx_chrys_zone_unlock(zone);
            return NGX_OK;
        }

        rc = ngx_chrys_event_fill_locked(zone, st, ev);

        ngx_chrys_zone_unlock(zone);

        if (rc == NGX_OK) {
            return NGX_OK;
        }
    }
}


/*
 * One slice of an event's filling: the access units after the one copied
 * last.  NGX_OK when the event has caught up with the stream's ring (it
 * then takes access units as they come), NGX_AGAIN for more.
 */

static ngx_int_t
ngx_chrys_event_fill_locked(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_event_t *ev)
{
    size_t              slice;
    ngx_int_t           i;
    ngx_chrys_entry_t  *e;
    ngx_chrys_ring_t   *ring;

    ring = &st->ring;

    /*
     * the entry after the one copied last; if that one left the ring
     * meanwhile, the event goes on at the next IDR
     */

    i = ngx_chrys_ring_find_seq(ring, ev->filled);

    if (ev->ring.count
        && (i < 0 || ngx_chrys_ring_entry(ring, i)->seq != ev->filled))
    {
        ev->ring.skip = 1;
    }

    i++;

    slice = 0;

    while ((ngx_uint_t) i < ring->count && slice < NGX_CHRYS_SLICE) {
        e = ngx_chrys_ring_entry(ring, i++);

        ev->filled = e->seq;
        slice += e->size;

        if (e->time > ev->to || ev->truncated) {
            continue;
        }

        if (ngx_chrys_ring_config_locked(zone, &ev->ring, e->config->data,
                                         e->config->len, e->config->width,
                                         e->config->height)
            != NGX_OK)
        {
            ev->truncated = 1;
            continue;
        }

        (void) ngx_chrys_event_append_locked(zone, ev, &ev->ring, e,
                                             e->data);
    }

    if ((ngx_uint_t) i < ring->count) {
        return NGX_AGAIN;
    }

    /* the video caught up: the audio that goes with it */

    ngx_chrys_event_audio_fill_locked(zone, st, ev, &slice);
    ngx_chrys_event_data_fill_locked(zone, st, ev, &slice);

    if (slice >= NGX_CHRYS_SLICE) {
        return NGX_AGAIN;
    }

    ev->filling = 0;

    return NGX_OK;
}


/*
 * The stream's AAC frames after the one an event copied last, from the
 * arrival of its first video, a slice at a time ("slice" reaches
 * NGX_CHRYS_SLICE if there is more).
 */

static void
ngx_chrys_event_audio_fill_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_event_t *ev, size_t *slice)
{
    ngx_int_t           i;
    ngx_chrys_ring_t   *audio;
    ngx_chrys_entry_t  *e;

    audio = st->ring.audio;

    if (audio == NULL || audio->count == 0 || ev->ring.count == 0) {
        return;
    }

    i = ngx_chrys_ring_find_seq(audio, ev->audio_filled) + 1;

    while ((ngx_uint_t) i < audio->count) {

        if (*slice >= NGX_CHRYS_SLICE) {
            return;
        }

        e = ngx_chrys_ring_entry(audio, i++);

        ev->audio_filled = e->seq;
        *slice += e->size;

        if (e->time < ngx_chrys_ring_entry(&ev->ring, 0)->time
            || e->time > ev->to + NGX_CHRYS_AUDIO_LATE || ev->truncated)
        {
            continue;
        }

        if (ngx_chrys_event_audio_locked(zone, ev, e->config) != NGX_OK) {
            continue;
        }

        (void) ngx_chrys_event_append_locked(zone, ev, &ev->audio, e,
                                             e->data);
    }
}


/*
 * The stream's data messages of an event's window after the one it
 * copied last, a slice at a time, as its audio.
 */

static void
ngx_chrys_event_data_fill_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_event_t *ev, size_t *slice)
{
    ngx_int_t           i;
    ngx_chrys_ring_t   *ring;
    ngx_chrys_entry_t  *e;

    ring = &st->data_ring;

    i = ngx_chrys_ring_find_seq(ring, ev->data_filled) + 1;

    while ((ngx_uint_t) i < ring->count && *slice < NGX_CHRYS_SLICE) {
        e = ngx_chrys_ring_entry(ring, i++);

        ev->data_filled = e->seq;
        *slice += e->size;

        if (e->time >= ev->from && e->time <= ev->to) {
            ngx_chrys_event_data_locked(zone, ev, e, e->data);
        }
    }
}


/*
 * A data message into an event's data ring, made when the first comes:
 * within NGX_CHRYS_DATA_BYTES, counted in the zone's event budget (its
 * index too, reckoned before it is made).
 */

static void
ngx_chrys_event_data_locked(ngx_chrys_zone_t *zone, ngx_chrys_event_t *ev,
    ngx_chrys_entry_t *e, u_char *data)
{
    size_t              before, need;
    ngx_chrys_ring_t   *ring;
    ngx_chrys_chunk_t  *chunk;

    ring = &ev->data;
    before = ring->bytes;

    if (ring->entries == NULL && !ngx_chrys_event_index_fits_locked(zone, ev))
    {
        return;
    }

    if (ring->entries == NULL
        && (ngx_chrys_ring_setup_locked(zone, ring, 0, NGX_CHRYS_DATA_BYTES,
                                        ev->pre + ev->post + 10000)
            != NGX_OK
            || ngx_chrys_ring_config_locked(zone, ring, (u_char *) "json",
                                            4, 0, 0)
               != NGX_OK))
    {
        ngx_chrys_ring_free_locked(zone, ring);
        return;
    }

    /* what a new chunk takes, if it does not fit in the last one */

    chunk = ring->last;
    need = 0;

    if (chunk == NULL || chunk->size - chunk->used < e->size) {
        need = ngx_max(sizeof(ngx_chrys_chunk_t) + e->size, NGX_CHRYS_CHUNK);
    }

    if (zone->sh->event_bytes + need <= zone->sh->event_budget) {
        (void) ngx_chrys_ring_append_locked(zone, ring, e, data);
    }

    zone->sh->event_bytes += ring->bytes - before;
}


/*
 * An event's audio ring, for frames of the AAC configuration "config";
 * its index is made only within the zone's event budget (else the event
 * takes nothing more, as when an access unit does not fit).
 */

static ngx_int_t
ngx_chrys_event_audio_locked(ngx_chrys_zone_t *zone, ngx_chrys_event_t *ev,
    ngx_chrys_config_t *config)
{
    size_t      before;
    ngx_int_t   rc;
    ngx_msec_t  span;

    span = ev->pre + ev->post + 10000;

    if (ev->ring.audio == NULL && !ngx_chrys_event_index_fits_locked(zone, ev))
    {
        ev->truncated = 1;
        return NGX_DECLINED;
    }

    before = ngx_chrys_ring_bytes(&ev->ring);

    rc = ngx_chrys_ring_audio_setup_locked(zone, &ev->ring, &ev->audio, span,
                                           config->data, config->len,
                                           config->width, config->height);

    zone->sh->event_bytes += ngx_chrys_ring_bytes(&ev->ring) - before;

    return rc;
}


/* whether the index of one of an event's rings fits in the event budget */

static ngx_uint_t
ngx_chrys_event_index_fits_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_event_t *ev)
{
    size_t  need;

    need = ngx_chrys_ring_cap(ev->pre + ev->post + 10000)
           * sizeof(ngx_chrys_entry_t);

    return zone->sh->event_bytes + need <= zone->sh->event_budget;
}


/* an access unit into an event's ring, within the zone's event budget */

static ngx_int_t
ngx_chrys_event_append_locked(ngx_chrys_zone_t *zone, ngx_chrys_event_t *ev,
    ngx_chrys_ring_t *ring, ngx_chrys_entry_t *e, u_char *data)
{
    size_t              before, need;
    ngx_int_t           rc;
    ngx_chrys_chunk_t  *chunk;

    before = ngx_chrys_ring_bytes(&ev->ring);
    rc = NGX_ERROR;

    /* what a new chunk takes, if it does not fit in the last one */

    chunk = ring->last;
    need = 0;

    if (chunk == NULL || chunk->size - chunk->used < e->size) {
        need = ngx_max(sizeof(ngx_chrys_chunk_t) + e->size, NGX_CHRYS_CHUNK);
    }

    if (zone->sh->event_bytes + need <= zone->sh->event_budget) {
        rc = ngx_chrys_ring_append_locked(zone, ring, e, data);
    }

    if (rc == NGX_ERROR) {
        ev->truncated = 1;
    }

    zone->sh->event_bytes += ngx_chrys_ring_bytes(&ev->ring) - before;

    return rc;
}


/* what an event counts against the budget: video, audio and data */

static size_t
ngx_chrys_event_bytes(ngx_chrys_event_t *ev)
{
    return ngx_chrys_ring_bytes(&ev->ring) + ev->data.bytes;
}


static void
ngx_chrys_event_info_locked(ngx_chrys_event_t *ev,
    ngx_chrys_event_info_t *info, u_char *p)
{
    ngx_chrys_range_t  range;

    ngx_chrys_ring_where(&ev->ring, &range);

    info->id = ev->id;
    info->time = ev->time;
    info->from = ev->from;
    info->to = ev->to;
    info->pre = ev->pre;
    info->post = ev->post;
    info->truncated = ev->truncated;
    info->frames = ev->ring.count;
    info->bytes = ngx_chrys_event_bytes(ev);
    info->start = range.start;
    info->end = range.end;

    info->label.data = p;
    info->label.len = ev->label_len;
    p = ngx_cpymem(p, ev->label, ev->label_len);

    info->meta.data = p;
    info->meta.len = ev->meta_len;

    if (ev->meta_len) {
        ngx_memcpy(p, ev->meta, ev->meta_len);
    }
}


/* one event, copied out: NGX_DECLINED if there is no such event */

ngx_int_t
ngx_chrys_event_info(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t id, ngx_pool_t *pool, ngx_chrys_event_info_t *info)
{
    u_char             *p;
    ngx_chrys_event_t  *ev;

    p = ngx_pnalloc(pool, NGX_CHRYS_LABEL_LEN + NGX_CHRYS_META_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_chrys_zone_lock(zone);

    ev = ngx_chrys_event_find_locked(st, id);

    if (ev) {
        ngx_chrys_event_info_locked(ev, info, p);
    }

    ngx_chrys_zone_unlock(zone);

    return ev ? NGX_OK : NGX_DECLINED;
}


/* every event of a stream, copied out into an array of event infos */

ngx_int_t
ngx_chrys_event_list(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_pool_t *pool, ngx_array_t *events)
{
    u_char                  *p;
    ngx_uint_t               n;
    ngx_queue_t             *q;
    ngx_chrys_event_t       *ev;
    ngx_chrys_event_info_t  *info;

    /* room for the most a stream may have, before the lock */

    if (ngx_array_init(events, pool, NGX_CHRYS_EVENTS_MAX,
                       sizeof(ngx_chrys_event_info_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, NGX_CHRYS_EVENTS_MAX
                          * (NGX_CHRYS_LABEL_LEN + NGX_CHRYS_META_MAX));
    if (p == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    ngx_chrys_zone_lock(zone);

    for (q = ngx_queue_head(&st->events);
         q != ngx_queue_sentinel(&st->events) && n < NGX_CHRYS_EVENTS_MAX;
         q = ngx_queue_next(q))
    {
        ev = ngx_queue_data(q, ngx_chrys_event_t, queue);

        info = ngx_array_push(events);
        ngx_chrys_event_info_locked(ev, info, p);
        p += NGX_CHRYS_LABEL_LEN + NGX_CHRYS_META_MAX;
        n++;
    }

    ngx_chrys_zone_unlock(zone);

    return NGX_OK;
}


ngx_int_t
ngx_chrys_event_delete(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t id)
{
    ngx_chrys_event_t  *ev;

    ngx_chrys_zone_lock(zone);

    ev = ngx_chrys_event_find_locked(st, id);

    if (ev == NULL) {
        ngx_chrys_zone_unlock(zone);
        return NGX_DECLINED;
    }

    ngx_chrys_event_free_locked(zone, st, ev);

    ngx_chrys_zone_unlock(zone);

    return NGX_OK;
}


static void
ngx_chrys_event_free_locked(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_event_t *ev)
{
    zone->sh->event_bytes -= ngx_chrys_event_bytes(ev);

    ngx_queue_remove(&ev->queue);
    st->nevents--;

    ngx_chrys_ring_free_locked(zone, &ev->ring);
    ngx_chrys_ring_free_locked(zone, &ev->data);

    if (ev->meta) {
        ngx_slab_free_locked(zone->shpool, ev->meta);
    }

    ngx_slab_free_locked(zone->shpool, ev);
}


/* every event of a stream that leaves the zone */

void
ngx_chrys_stream_events_free_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st)
{
    ngx_chrys_event_t  *ev;

    while (!ngx_queue_empty(&st->events)) {
        ev = ngx_queue_data(ngx_queue_head(&st->events), ngx_chrys_event_t,
                            queue);
        ngx_chrys_event_free_locked(zone, st, ev);
    }
}
