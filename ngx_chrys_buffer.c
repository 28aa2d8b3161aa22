
/*
 * Copyright (C) chrys authors
 *
 * The stream buffer: the compressed H.264 access units of the last seconds
 * of every stream, in the shared zone, with the sequence headers they need;
 * and events, which keep a copy of the access units around a moment until
 * they are deleted.  Memory follows the stream's bitrate, not its pictures.
 * Everything here runs under the zone's slab mutex, except where a
 * function says otherwise.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys.h"

#include <libavcodec/avcodec.h>


static ngx_uint_t ngx_chrys_buf_evict_gop_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_buf_t *buf);
static void ngx_chrys_buf_clear_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_buf_t *buf);
static void ngx_chrys_buf_drop_head_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_buf_t *buf);
static void ngx_chrys_buf_trim_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_buf_t *buf);
static u_char *ngx_chrys_buf_room_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_buf_t *buf, size_t len);
static ngx_int_t ngx_chrys_buf_find(ngx_chrys_buf_t *buf, uint64_t value,
    ngx_uint_t by_seq);
static void ngx_chrys_config_release_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_config_t *config);
static void ngx_chrys_event_free_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_chrys_event_t *ev);


/*
 * Sets the limits of a buffer: "window" ms (0: none) and "max_bytes".  Its
 * index has room for 64 frames a second of "span" ms; beyond that the
 * oldest GOPs go, as with the other limits.
 */

ngx_int_t
ngx_chrys_buf_setup_locked(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf,
    ngx_msec_t window, size_t max_bytes, ngx_msec_t span)
{
    ngx_uint_t          cap;
    ngx_chrys_entry_t  *entries;

    cap = span * 64 / 1000 + 64;

    if (cap > 65536) {
        cap = 65536;
    }

    buf->window = window;
    buf->max_bytes = max_bytes;

    if (buf->entries && buf->cap == cap) {
        return NGX_OK;
    }

    entries = ngx_slab_calloc_locked(zone->shpool,
                                     cap * sizeof(ngx_chrys_entry_t));
    if (entries == NULL) {
        return NGX_ERROR;
    }

    if (buf->entries) {
        /* the window changed with a reload: start again */
        ngx_chrys_buf_free_locked(zone, buf);
        buf->window = window;
        buf->max_bytes = max_bytes;
    }

    buf->entries = entries;
    buf->cap = cap;
    buf->bytes += cap * sizeof(ngx_chrys_entry_t);

    return NGX_OK;
}


void
ngx_chrys_buf_free_locked(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf)
{
    while (buf->count) {
        ngx_chrys_buf_drop_head_locked(zone, buf);
    }

    ngx_chrys_buf_trim_locked(zone, buf);

    if (buf->config) {
        ngx_chrys_config_release_locked(zone, buf->config);
    }

    if (buf->entries) {
        ngx_slab_free_locked(zone->shpool, buf->entries);
    }

    ngx_memzero(buf, sizeof(ngx_chrys_buf_t));
}


/* a new sequence header applies to the entries that follow */

ngx_int_t
ngx_chrys_buf_config_locked(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf,
    u_char *data, size_t len, ngx_uint_t width, ngx_uint_t height)
{
    ngx_chrys_config_t  *config;

    config = buf->config;

    if (config && config->len == len
        && ngx_memcmp(config->data, data, len) == 0)
    {
        return NGX_OK;
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

    if (buf->config) {
        ngx_chrys_config_release_locked(zone, buf->config);
    }

    buf->config = config;

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
 * the zone) and the buffer goes on at the next IDR, so that every entry it
 * holds can be decoded from the IDR before it.
 */

ngx_int_t
ngx_chrys_buf_append_locked(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf,
    ngx_chrys_entry_t *e, u_char *data)
{
    u_char             *p;
    ngx_uint_t          idr;
    ngx_chrys_entry_t  *last;

    if (buf->entries == NULL || buf->config == NULL) {
        return NGX_DECLINED;
    }

    idr = (e->flags & NGX_CHRYS_ENTRY_IDR) ? 1 : 0;

    if (buf->skip && !idr) {
        return NGX_DECLINED;
    }

    buf->skip = 0;

    if (buf->count == buf->cap && !ngx_chrys_buf_evict_gop_locked(zone, buf))
    {
        /* one GOP fills the index */

        if (!idr) {
            buf->skip = 1;
            return NGX_DECLINED;
        }

        ngx_chrys_buf_clear_locked(zone, buf);
    }

    p = ngx_chrys_buf_room_locked(zone, buf, e->size);

    if (p == NULL && idr && buf->count) {
        /* a new GOP starts: it takes the place of the last one */
        ngx_chrys_buf_clear_locked(zone, buf);
        p = ngx_chrys_buf_room_locked(zone, buf, e->size);
    }

    if (p == NULL) {
        buf->skip = 1;
        return NGX_ERROR;
    }

    ngx_memcpy(p, data, e->size);

    last = &buf->entries[(buf->head + buf->count) % buf->cap];
    *last = *e;
    last->data = p;
    last->config = buf->config;
    buf->config->refs++;

    buf->count++;

    while (buf->bytes > buf->max_bytes
           || (buf->window
               && last->time - buf->entries[buf->head].time > buf->window))
    {
        if (!ngx_chrys_buf_evict_gop_locked(zone, buf)) {

            if (buf->bytes > buf->max_bytes) {
                /* the GOP alone is over the cap: cut it short here */
                buf->skip = 1;
            }

            break;
        }
    }

    return NGX_OK;
}


/* room for "len" bytes at the end of the last chunk, or in a new one */

static u_char *
ngx_chrys_buf_room_locked(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf,
    size_t len)
{
    size_t              size;
    u_char             *p;
    ngx_chrys_chunk_t  *chunk;

    chunk = buf->last;

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

        if (!ngx_chrys_buf_evict_gop_locked(zone, buf)) {
            return NULL;
        }
    }

    chunk->next = NULL;
    chunk->size = size;
    chunk->used = len;

    if (buf->last) {
        buf->last->next = chunk;

    } else {
        buf->first = chunk;
    }

    buf->last = chunk;
    buf->bytes += sizeof(ngx_chrys_chunk_t) + size;

    return (u_char *) (chunk + 1);
}


/* drops every entry and chunk, keeping the index and the configuration */

static void
ngx_chrys_buf_clear_locked(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf)
{
    while (buf->count) {
        ngx_chrys_buf_drop_head_locked(zone, buf);
    }

    ngx_chrys_buf_trim_locked(zone, buf);
}


/*
 * Evicts the oldest GOP: the head entry and those after it up to the next
 * IDR.  The GOP of the newest entry stays: then it returns 0.
 */

static ngx_uint_t
ngx_chrys_buf_evict_gop_locked(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf)
{
    ngx_uint_t  i;

    for (i = 1; i < buf->count; i++) {
        if (buf->entries[(buf->head + i) % buf->cap].flags
            & NGX_CHRYS_ENTRY_IDR)
        {
            break;
        }
    }

    if (i >= buf->count) {
        return 0;
    }

    while (i--) {
        ngx_chrys_buf_drop_head_locked(zone, buf);
    }

    ngx_chrys_buf_trim_locked(zone, buf);

    return 1;
}


static void
ngx_chrys_buf_drop_head_locked(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf)
{
    ngx_chrys_entry_t  *e;

    e = &buf->entries[buf->head];

    ngx_chrys_config_release_locked(zone, e->config);
    ngx_memzero(e, sizeof(ngx_chrys_entry_t));

    buf->head = (buf->head + 1) % buf->cap;
    buf->count--;
}


/* frees the chunks before the one that holds the head entry */

static void
ngx_chrys_buf_trim_locked(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf)
{
    u_char             *head;
    ngx_chrys_chunk_t  *chunk;

    head = buf->count ? buf->entries[buf->head].data : NULL;

    while (buf->first) {
        chunk = buf->first;

        if (head && head >= (u_char *) (chunk + 1)
            && head < (u_char *) (chunk + 1) + chunk->size)
        {
            break;
        }

        buf->first = chunk->next;
        buf->bytes -= sizeof(ngx_chrys_chunk_t) + chunk->size;

        if (buf->last == chunk) {
            buf->last = NULL;
        }

        ngx_slab_free_locked(zone->shpool, chunk);
    }
}


ngx_chrys_entry_t *
ngx_chrys_buf_entry(ngx_chrys_buf_t *buf, ngx_uint_t i)
{
    return &buf->entries[(buf->head + i) % buf->cap];
}


/* the last entry that arrived at or before "time", or -1 */

ngx_int_t
ngx_chrys_buf_find_time(ngx_chrys_buf_t *buf, uint64_t time)
{
    return ngx_chrys_buf_find(buf, time, 0);
}


/* the last entry with a seq at or below "seq", or -1 */

ngx_int_t
ngx_chrys_buf_find_seq(ngx_chrys_buf_t *buf, ngx_uint_t seq)
{
    return ngx_chrys_buf_find(buf, seq, 1);
}


/*
 * The last entry whose arrival time (or seq) is at or below "value", or -1:
 * both rise from the oldest entry to the newest.
 */

static ngx_int_t
ngx_chrys_buf_find(ngx_chrys_buf_t *buf, uint64_t value, ngx_uint_t by_seq)
{
    uint64_t            v;
    ngx_uint_t          lo, hi, mid;
    ngx_chrys_entry_t  *e;

    lo = 0;
    hi = buf->count;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        e = ngx_chrys_buf_entry(buf, mid);
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
ngx_chrys_buf_gop_start(ngx_chrys_buf_t *buf, ngx_uint_t i)
{
    for ( ;; ) {
        if (ngx_chrys_buf_entry(buf, i)->flags & NGX_CHRYS_ENTRY_IDR) {
            return i;
        }

        if (i == 0) {
            return -1;
        }

        i--;
    }
}


/*
 * Copies entries "from" to "to" out of the zone, into one allocation of
 * process memory, with a configuration before the first and wherever the
 * sequence header changes.
 */

ngx_chrys_gop_t *
ngx_chrys_buf_copy_locked(ngx_chrys_buf_t *buf, ngx_uint_t from,
    ngx_uint_t to, ngx_log_t *log)
{
    u_char              *p;
    size_t               size;
    ngx_uint_t           i, n;
    ngx_chrys_au_t      *au;
    ngx_chrys_gop_t     *gop;
    ngx_chrys_entry_t   *e;
    ngx_chrys_config_t  *config;

    size = sizeof(ngx_chrys_gop_t);
    config = NULL;
    n = 0;

    for (i = from; i <= to; i++) {
        e = ngx_chrys_buf_entry(buf, i);

        if (e->config != config) {
            config = e->config;
            size += sizeof(ngx_chrys_au_t) + config->len
                    + AV_INPUT_BUFFER_PADDING_SIZE;
            n++;
        }

        size += sizeof(ngx_chrys_au_t) + e->size
                + AV_INPUT_BUFFER_PADDING_SIZE;
        n++;
    }

    gop = ngx_alloc(size, log);
    if (gop == NULL) {
        return NULL;
    }

    gop->aus = (ngx_chrys_au_t *) (gop + 1);
    gop->naus = n;
    gop->bytes = size;
    gop->width = ngx_chrys_buf_entry(buf, from)->config->width;
    gop->height = ngx_chrys_buf_entry(buf, from)->config->height;

    p = (u_char *) (gop->aus + n);
    au = gop->aus;
    config = NULL;

    for (i = from; i <= to; i++) {
        e = ngx_chrys_buf_entry(buf, i);

        if (e->config != config) {
            config = e->config;

            ngx_memzero(au, sizeof(ngx_chrys_au_t));
            au->flags = NGX_CHRYS_ENTRY_CONFIG;
            au->len = config->len;
            au->data = p;
            p = ngx_cpymem(p, config->data, config->len);
            ngx_memzero(p, AV_INPUT_BUFFER_PADDING_SIZE);
            p += AV_INPUT_BUFFER_PADDING_SIZE;
            au++;
        }

        au->seq = e->seq;
        au->pts = e->pts;
        au->dts = e->dts;
        au->time = e->time;
        au->flags = e->flags;
        au->len = e->size;
        au->data = p;
        p = ngx_cpymem(p, e->data, e->size);
        ngx_memzero(p, AV_INPUT_BUFFER_PADDING_SIZE);
        p += AV_INPUT_BUFFER_PADDING_SIZE;
        au++;
    }

    return gop;
}


void
ngx_chrys_gop_free(ngx_chrys_gop_t *gop)
{
    ngx_free(gop);
}


/*
 * Copies the entries of "src" from the IDR at or before time "from" on
 * into "dst" (an event's buffer): they outlive the stream's window there.
 */

ngx_int_t
ngx_chrys_buf_copy_range_locked(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *dst,
    ngx_chrys_buf_t *src, uint64_t from)
{
    ngx_int_t           i, start;
    ngx_chrys_entry_t  *e;

    if (src->count == 0) {
        return NGX_OK;
    }

    i = ngx_chrys_buf_find_time(src, from);
    start = ngx_chrys_buf_gop_start(src, i < 0 ? 0 : i);

    if (start < 0) {
        /* no IDR before "from": start at the first one after it */
        for (start = i < 0 ? 0 : i; (ngx_uint_t) start < src->count;
             start++)
        {
            if (ngx_chrys_buf_entry(src, start)->flags
                & NGX_CHRYS_ENTRY_IDR)
            {
                break;
            }
        }
    }

    for (i = start; (ngx_uint_t) i < src->count; i++) {
        e = ngx_chrys_buf_entry(src, i);

        if (dst->config != e->config
            && ngx_chrys_buf_config_locked(zone, dst, e->config->data,
                                           e->config->len, e->config->width,
                                           e->config->height)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_chrys_buf_append_locked(zone, dst, e, e->data) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The publisher's worker hands every access unit here: into the stream's
 * buffer, and into the events whose window is still open.  Takes the lock.
 */

void
ngx_chrys_stream_buffer(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_packet_t *pkt, ngx_log_t *log)
{
    size_t              before;
    ngx_int_t           rc;
    ngx_queue_t        *q;
    ngx_chrys_entry_t   e;
    ngx_chrys_event_t  *ev;

    ngx_memzero(&e, sizeof(ngx_chrys_entry_t));

    e.seq = pkt->seq;
    e.pts = pkt->pts;
    e.dts = pkt->dts;
    e.time = pkt->time;
    e.size = pkt->len;
    e.flags = (pkt->keyframe ? NGX_CHRYS_ENTRY_KEY : 0)
              | (pkt->idr ? NGX_CHRYS_ENTRY_IDR : 0);

    ngx_shmtx_lock(&zone->shpool->mutex);

    rc = ngx_chrys_buf_append_locked(zone, &st->buf, &e, pkt->data);

    if (rc == NGX_ERROR && !st->buf_full) {
        st->buf_full = 1;
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "chrys: zone \"%V\" is full, the buffer of \"%*s\" "
                      "stops growing; raise the size in \"chrys_zone\"",
                      &zone->shm_zone->shm.name,
                      st->app_len + 1 + st->name_len, st->key);

    } else if (rc == NGX_OK) {
        st->buf_full = 0;
    }

    for (q = ngx_queue_head(&st->events);
         q != ngx_queue_sentinel(&st->events);
         q = ngx_queue_next(q))
    {
        ev = ngx_queue_data(q, ngx_chrys_event_t, queue);

        if (e.time > ev->to || ev->truncated) {
            continue;
        }

        before = ev->buf.bytes;

        if (ev->buf.config != st->buf.config && st->buf.config
            && ngx_chrys_buf_config_locked(zone, &ev->buf,
                                           st->buf.config->data,
                                           st->buf.config->len,
                                           st->buf.config->width,
                                           st->buf.config->height)
               != NGX_OK)
        {
            ev->truncated = 1;
            continue;
        }

        /* a new chunk may come with it: count it in */

        if (zone->sh->event_bytes + e.size + NGX_CHRYS_CHUNK
            > zone->sh->event_budget
            || ngx_chrys_buf_append_locked(zone, &ev->buf, &e, pkt->data)
               == NGX_ERROR)
        {
            ev->truncated = 1;
        }

        zone->sh->event_bytes += ev->buf.bytes - before;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * A packet of the stream was lost before the buffer: the buffer and the
 * open events skip to the next IDR, so that all they keep decodes.
 */

void
ngx_chrys_stream_gap(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st)
{
    ngx_queue_t        *q;
    ngx_chrys_event_t  *ev;

    ngx_shmtx_lock(&zone->shpool->mutex);

    st->buf.skip = 1;

    for (q = ngx_queue_head(&st->events);
         q != ngx_queue_sentinel(&st->events);
         q = ngx_queue_next(q))
    {
        ev = ngx_queue_data(q, ngx_chrys_event_t, queue);
        ev->buf.skip = 1;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Marks "now" on a stream and keeps the access units from now - pre to
 * now + post, within the zone's event budget.  On failure *status says
 * why: 507 over budget, 409 too many events on the stream.
 */

ngx_chrys_event_t *
ngx_chrys_event_create(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_str_t *label, ngx_str_t *meta, ngx_msec_t pre, ngx_msec_t post,
    ngx_uint_t *status)
{
    size_t              estimate;
    uint64_t            now;
    ngx_chrys_event_t  *ev;

    now = ngx_chrys_unix_msec();

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (st->nevents >= NGX_CHRYS_EVENTS_MAX) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        *status = NGX_CHRYS_CONFLICT;
        return NULL;
    }

    /* what the post window will take, at the stream's bitrate */
    estimate = (size_t) st->bitrate / 8 * post / 1000;

    if (zone->sh->event_bytes + estimate > zone->sh->event_budget) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        *status = NGX_CHRYS_INSUFFICIENT_STORAGE;
        return NULL;
    }

    ev = ngx_slab_calloc_locked(zone->shpool, sizeof(ngx_chrys_event_t));

    /* the budget, not a cap of its own, limits an event's buffer */

    if (ev == NULL
        || ngx_chrys_buf_setup_locked(zone, &ev->buf, 0, (size_t) -1,
                                      pre + post + 10000)
           != NGX_OK)
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

    if (ngx_chrys_buf_copy_range_locked(zone, &ev->buf, &st->buf, ev->from)
        != NGX_OK
        || zone->sh->event_bytes + ev->buf.bytes + estimate
           > zone->sh->event_budget)
    {
        goto nomem;
    }

    zone->sh->event_bytes += ev->buf.bytes;

    ngx_queue_insert_tail(&st->events, &ev->queue);
    st->nevents++;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return ev;

nomem:

    if (ev) {
        ngx_chrys_buf_free_locked(zone, &ev->buf);

        if (ev->meta) {
            ngx_slab_free_locked(zone->shpool, ev->meta);
        }

        ngx_slab_free_locked(zone->shpool, ev);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    *status = NGX_CHRYS_INSUFFICIENT_STORAGE;

    return NULL;
}


ngx_chrys_event_t *
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


ngx_int_t
ngx_chrys_event_delete(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t id)
{
    ngx_chrys_event_t  *ev;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ev = ngx_chrys_event_find_locked(st, id);

    if (ev == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    ngx_chrys_event_free_locked(zone, st, ev);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


static void
ngx_chrys_event_free_locked(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_event_t *ev)
{
    zone->sh->event_bytes -= ev->buf.bytes;

    ngx_queue_remove(&ev->queue);
    st->nevents--;

    ngx_chrys_buf_free_locked(zone, &ev->buf);

    if (ev->meta) {
        ngx_slab_free_locked(zone->shpool, ev->meta);
    }

    ngx_slab_free_locked(zone->shpool, ev);
}
