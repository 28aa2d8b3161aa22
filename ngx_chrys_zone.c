
/*
 * Copyright (C) chrys authors
 *
 * The shared zone: the stream table and each stream's lifecycle, picture
 * slots and JPEG cache, and the workers that use the zone.  Every
 * function that is not named *_locked takes the zone's lock itself, and
 * answers with nginx's codes; see ngx_chrys_zone.h for the rules of
 * references and pins.  Everything here runs on the event loop of some
 * worker; the master releases the lock if a worker dies holding it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_zone.h"


/* what a zone made by this build looks like: a reload keeps only that */
#define NGX_CHRYS_ZONE_MAGIC      0x63687279730a0002ULL

/* a lock held longer than this is counted as slow */
#define NGX_CHRYS_LOCK_SLOW       1000


static void ngx_chrys_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_chrys_zone_check(ngx_shm_zone_t *shm_zone,
    ngx_chrys_zone_t *zone);
static uint64_t ngx_chrys_zone_layout(void);
static uint64_t ngx_chrys_usec(clockid_t clock);
static ngx_uint_t ngx_chrys_pid_alive(ngx_pid_t pid);
static void ngx_chrys_worker_clear_locked(ngx_chrys_zone_t *zone,
    ngx_uint_t w);
static ngx_uint_t ngx_chrys_stream_held_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st);
static void ngx_chrys_stream_strip_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st);
static void ngx_chrys_stream_remove_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st);
static void ngx_chrys_stream_spare_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st);
static ngx_int_t ngx_chrys_make_key(ngx_str_t *key, u_char *buf,
    ngx_str_t *app, ngx_str_t *name);
static ngx_chrys_stream_t *ngx_chrys_stream_lookup_locked(
    ngx_chrys_zone_t *zone, ngx_str_t *key, uint32_t hash);
static ngx_chrys_stream_t *ngx_chrys_stream_create_locked(
    ngx_chrys_zone_t *zone, ngx_str_t *app, ngx_str_t *name,
    ngx_str_t *key, uint32_t hash);
static ngx_uint_t ngx_chrys_zone_room_locked(ngx_chrys_zone_t *zone,
    size_t size);
static ngx_int_t ngx_chrys_slots_alloc_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, size_t size);
static ngx_chrys_slot_t *ngx_chrys_slot_pin_latest_locked(
    ngx_chrys_stream_t *st);
static ngx_chrys_jpeg_t *ngx_chrys_jpeg_lookup_locked(ngx_chrys_stream_t *st,
    ngx_uint_t seq, ngx_uint_t variant);
static ngx_chrys_jpeg_t *ngx_chrys_jpeg_claim_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t seq, ngx_uint_t variant);
static void ngx_chrys_jpeg_free_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_jpeg_t *jpeg);


extern ngx_module_t  ngx_chrys_module;


ngx_shm_zone_t *
ngx_chrys_zone_add(ngx_conf_t *cf, ngx_str_t *name, size_t size)
{
    ngx_shm_zone_t    *shm_zone;
    ngx_chrys_zone_t  *zone;

    shm_zone = ngx_shared_memory_add(cf, name, size, &ngx_chrys_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data == NULL) {
        zone = ngx_pcalloc(cf->pool, sizeof(ngx_chrys_zone_t));
        if (zone == NULL) {
            return NULL;
        }

        zone->shm_zone = shm_zone;
        zone->worker = NGX_CHRYS_WORKERS;

        shm_zone->init = ngx_chrys_zone_init;
        shm_zone->data = zone;
    }

    return shm_zone;
}


ngx_int_t
ngx_chrys_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_chrys_zone_t  *ozone = data;

    size_t             len;
    ngx_chrys_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* reload: the streams and their pictures live on */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        if (ngx_chrys_zone_check(shm_zone, zone) != NGX_OK) {
            return NGX_ERROR;
        }

        zone->sh->event_budget = zone->event_budget;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return ngx_chrys_zone_check(shm_zone, zone);
    }

    zone->sh = ngx_slab_calloc(zone->shpool, sizeof(ngx_chrys_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;
    zone->sh->layout = ngx_chrys_zone_layout();
    zone->sh->event_budget = zone->event_budget;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_chrys_rbtree_insert_value);

    ngx_queue_init(&zone->sh->streams);
    ngx_queue_init(&zone->sh->lru);

    len = sizeof(" in chrys zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in chrys zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* running out of room is handled and logged by chrys itself */
    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * A zone kept over a reload was made by the module then loaded: one of
 * another build (its structures laid out otherwise) is not taken over,
 * as limit_req refuses a zone of another key.
 */

static ngx_int_t
ngx_chrys_zone_check(ngx_shm_zone_t *shm_zone, ngx_chrys_zone_t *zone)
{
    if (zone->sh->layout == ngx_chrys_zone_layout()) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "chrys zone \"%V\" was made by another build of the "
                  "chrys module; restart nginx instead of reloading it",
                  &shm_zone->shm.name);

    return NGX_ERROR;
}


static uint64_t
ngx_chrys_zone_layout(void)
{
    return NGX_CHRYS_ZONE_MAGIC
           ^ ((uint64_t) sizeof(ngx_chrys_sh_t) << 16)
           ^ ((uint64_t) sizeof(ngx_chrys_stream_t) << 32)
           ^ ((uint64_t) sizeof(ngx_chrys_event_t) << 48);
}


/*
 * A worker takes a place among the zone's workers: its references and
 * gauges are counted there.  A place whose worker died is taken over,
 * with what that worker counted dropped.
 */

ngx_int_t
ngx_chrys_zone_attach(ngx_chrys_zone_t *zone, ngx_log_t *log)
{
    ngx_pid_t   pid;
    ngx_uint_t  w, found;

    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    found = NGX_CHRYS_WORKERS;

    ngx_chrys_zone_lock(zone);

    for (w = 0; w < NGX_CHRYS_WORKERS; w++) {
        pid = zone->sh->workers[w].pid;

        if (pid == 0 || pid == ngx_pid || !ngx_chrys_pid_alive(pid)) {
            found = w;
            break;
        }
    }

    if (found < NGX_CHRYS_WORKERS) {
        ngx_chrys_worker_clear_locked(zone, found);
        zone->sh->workers[found].pid = ngx_pid;
    }

    ngx_chrys_zone_unlock(zone);

    zone->worker = found;

    if (found == NGX_CHRYS_WORKERS) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "chrys zone \"%V\" has room for %d workers, all "
                      "taken: this one serves no stream; lower "
                      "\"worker_processes\"",
                      &zone->shm_zone->shm.name, NGX_CHRYS_WORKERS);
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_chrys_zone_detach(ngx_chrys_zone_t *zone)
{
    if (zone->sh == NULL || zone->worker >= NGX_CHRYS_WORKERS) {
        return;
    }

    ngx_chrys_zone_lock(zone);

    if (zone->sh->workers[zone->worker].pid == ngx_pid) {
        ngx_chrys_worker_clear_locked(zone, zone->worker);
    }

    ngx_chrys_zone_unlock(zone);

    zone->worker = NGX_CHRYS_WORKERS;
}


/* drops what worker place "w" held: references, gauges */

static void
ngx_chrys_worker_clear_locked(ngx_chrys_zone_t *zone, ngx_uint_t w)
{
    ngx_queue_t         *q;
    ngx_chrys_stream_t  *st;

    for (q = ngx_queue_head(&zone->sh->streams);
         q != ngx_queue_sentinel(&zone->sh->streams);
         q = ngx_queue_next(q))
    {
        st = ngx_queue_data(q, ngx_chrys_stream_t, queue);
        st->refs[w] = 0;
    }

    ngx_memzero(&zone->sh->workers[w], sizeof(ngx_chrys_worker_t));
}


static ngx_uint_t
ngx_chrys_pid_alive(ngx_pid_t pid)
{
    return !(kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH);
}


/*
 * The zone's lock.  How long it is held is measured: the longest hold
 * and the number of holds over a millisecond are in the metrics.
 */

void
ngx_chrys_zone_lock(ngx_chrys_zone_t *zone)
{
    ngx_shmtx_lock(&zone->shpool->mutex);

    zone->locked = ngx_chrys_usec(CLOCK_MONOTONIC);
    zone->locked_cpu = ngx_chrys_usec(CLOCK_THREAD_CPUTIME_ID);
}


void
ngx_chrys_zone_unlock(ngx_chrys_zone_t *zone)
{
    uint64_t  held, cpu;

    held = ngx_chrys_usec(CLOCK_MONOTONIC) - zone->locked;
    cpu = ngx_chrys_usec(CLOCK_THREAD_CPUTIME_ID) - zone->locked_cpu;

    if (held > zone->sh->lock_max_usec) {
        zone->sh->lock_max_usec = held;
    }

    if (cpu > zone->sh->lock_max_cpu_usec) {
        zone->sh->lock_max_cpu_usec = cpu;
    }

    if (held > NGX_CHRYS_LOCK_SLOW) {
        zone->sh->lock_slow++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


static uint64_t
ngx_chrys_usec(clockid_t clock)
{
    struct timespec  ts;

    (void) clock_gettime(clock, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static void
ngx_chrys_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;
    ngx_chrys_stream_t  *st, *stt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            st = (ngx_chrys_stream_t *) node;
            stt = (ngx_chrys_stream_t *) temp;

            p = (ngx_memn2cmp(st->key.data, stt->key.data, st->key.len,
                              stt->key.len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_int_t
ngx_chrys_make_key(ngx_str_t *key, u_char *buf, ngx_str_t *app,
    ngx_str_t *name)
{
    u_char  *p;

    if (app->len == 0 || app->len > NGX_CHRYS_NAME_MAX
        || name->len == 0 || name->len > NGX_CHRYS_NAME_MAX)
    {
        return NGX_ERROR;
    }

    p = ngx_cpymem(buf, app->data, app->len);
    *p++ = '/';
    p = ngx_cpymem(p, name->data, name->len);

    key->data = buf;
    key->len = p - buf;

    return NGX_OK;
}


static ngx_chrys_stream_t *
ngx_chrys_stream_lookup_locked(ngx_chrys_zone_t *zone, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t            rc;
    ngx_rbtree_node_t   *node, *sentinel;
    ngx_chrys_stream_t  *st;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        st = (ngx_chrys_stream_t *) node;

        rc = ngx_memn2cmp(key->data, st->key.data, key->len, st->key.len);

        if (rc == 0) {
            return st;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * Finds the stream "app/name" and takes a reference to it for this
 * worker: NGX_OK, or NGX_DECLINED if there is none (or this worker has
 * no place in the zone).
 */

ngx_int_t
ngx_chrys_stream_open(ngx_chrys_zone_t *zone, ngx_str_t *app,
    ngx_str_t *name, ngx_chrys_stream_t **stp)
{
    u_char               buf[2 * NGX_CHRYS_NAME_MAX + 1];
    ngx_str_t            key;
    ngx_chrys_stream_t  *st;

    *stp = NULL;

    if (zone->worker >= NGX_CHRYS_WORKERS
        || ngx_chrys_make_key(&key, buf, app, name) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    ngx_chrys_zone_lock(zone);

    st = ngx_chrys_stream_lookup_locked(zone, &key,
                                        ngx_crc32_short(key.data, key.len));
    if (st) {
        st->refs[zone->worker]++;
        st->used = ngx_current_msec;

        ngx_queue_remove(&st->lru);
        ngx_queue_insert_tail(&zone->sh->lru, &st->lru);
    }

    ngx_chrys_zone_unlock(zone);

    if (st == NULL) {
        return NGX_DECLINED;
    }

    *stp = st;

    return NGX_OK;
}


/*
 * Gives back a reference of this worker.  Only this worker writes its
 * count, so no lock is needed: a stream is taken out of the zone only
 * under the lock, after it sees every count of a live worker at zero.
 * The time of its last use is a hint, written without the lock too.
 */

void
ngx_chrys_stream_close(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st)
{
    /* it was asked for until now */
    st->used = ngx_current_msec;

    ngx_memory_barrier();

    if (zone->worker < NGX_CHRYS_WORKERS && st->refs[zone->worker]) {
        st->refs[zone->worker]--;
    }
}


static ngx_chrys_stream_t *
ngx_chrys_stream_create_locked(ngx_chrys_zone_t *zone, ngx_str_t *app,
    ngx_str_t *name, ngx_str_t *key, uint32_t hash)
{
    size_t               size;
    ngx_chrys_stream_t  *st;

    size = offsetof(ngx_chrys_stream_t, data) + key->len;

    if (!ngx_chrys_zone_room_locked(zone, size)
        && !ngx_chrys_zone_reclaim_locked(zone, size))
    {
        return NULL;
    }

    st = ngx_slab_calloc_locked(zone->shpool, size);
    if (st == NULL) {
        return NULL;
    }

    st->node.key = hash;
    st->id = ++zone->sh->ids;

    ngx_memcpy(st->data, key->data, key->len);

    st->key.data = st->data;
    st->key.len = key->len;
    st->app.data = st->data;
    st->app.len = app->len;
    st->name.data = st->data + app->len + 1;
    st->name.len = name->len;

    ngx_queue_init(&st->events);

    ngx_rbtree_insert(&zone->sh->rbtree, &st->node);
    ngx_queue_insert_tail(&zone->sh->streams, &st->queue);
    ngx_queue_insert_tail(&zone->sh->lru, &st->lru);
    zone->sh->nstreams++;

    return st;
}


/*
 * Makes this worker the one that decodes the stream "app/name", which is
 * made if it is new, and sets up its ring ("window" 0: none).  A stream
 * whose publisher has left but whose last picture is still being decoded
 * can be claimed: the new publisher takes over at once, and the claims
 * tell the two decoders apart.  Returns NGX_OK with the stream and the
 * claim's number, NGX_BUSY if another publisher holds it, NGX_DECLINED
 * if the zone has no room for it, NGX_ERROR for a bad name.
 */

ngx_int_t
ngx_chrys_stream_claim(ngx_chrys_zone_t *zone, ngx_str_t *app,
    ngx_str_t *name, ngx_chrys_stream_conf_t *conf,
    ngx_chrys_stream_t **stp, ngx_uint_t *claim, ngx_log_t *log)
{
    u_char               buf[2 * NGX_CHRYS_NAME_MAX + 1];
    uint32_t             hash;
    ngx_str_t            key;
    ngx_chrys_stream_t  *st;

    *stp = NULL;

    if (ngx_chrys_make_key(&key, buf, app, name) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "chrys: stream name \"%V/%V\" is empty or longer "
                      "than %d bytes", app, name, NGX_CHRYS_NAME_MAX);
        return NGX_ERROR;
    }

    hash = ngx_crc32_short(key.data, key.len);

    ngx_chrys_zone_lock(zone);

    st = ngx_chrys_stream_lookup_locked(zone, &key, hash);

    if (st == NULL) {
        st = ngx_chrys_stream_create_locked(zone, app, name, &key, hash);

        if (st == NULL) {
            ngx_chrys_zone_unlock(zone);

            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "chrys: zone \"%V\" is full, stream \"%V\" "
                          "refused; raise the size in \"chrys_zone\"",
                          &zone->shm_zone->shm.name, &key);
            return NGX_DECLINED;
        }

    } else if (ngx_chrys_stream_publishing(st) && !st->publisher.closing) {
        *stp = st;
        ngx_chrys_zone_unlock(zone);
        return NGX_BUSY;
    }

    if (conf->window == 0) {
        ngx_chrys_ring_free_locked(zone, &st->ring);

    } else if (ngx_chrys_ring_setup_locked(zone, &st->ring, conf->window,
                                           conf->max_bytes, conf->window)
               != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "chrys: zone \"%V\" is full, stream \"%V\" has no "
                      "buffer; raise the size in \"chrys_zone\"",
                      &zone->shm_zone->shm.name, &st->key);
    }

    st->idle = conf->idle;
    st->used = ngx_current_msec;

    st->pictures.asleep = 0;
    st->publisher.owner = ngx_pid;
    st->publisher.publishing = 1;
    st->publisher.closing = 0;
    st->publisher.claims++;
    st->publisher.time = ngx_chrys_unix_msec();
    st->error[0] = '\0';
    st->rate.start = ngx_current_msec;
    st->rate.frames = 0;
    st->rate.bytes = 0;

    *claim = st->publisher.claims;
    *stp = st;

    ngx_chrys_zone_unlock(zone);

    return NGX_OK;
}


/*
 * The publisher of claim "claim" has left; the stream stays "publishing"
 * until its last picture is out (ngx_chrys_stream_release()), so that a
 * stream shown as not publishing has its last picture in place.
 */

void
ngx_chrys_stream_closing(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim)
{
    ngx_chrys_zone_lock(zone);

    if (ngx_chrys_stream_current(st, claim)) {
        st->publisher.closing = 1;
    }

    ngx_chrys_zone_unlock(zone);
}


/* ends the publish of claim "claim", unless the stream was claimed since */

void
ngx_chrys_stream_release(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim)
{
    ngx_chrys_zone_lock(zone);

    if (ngx_chrys_stream_current(st, claim)) {
        st->publisher.owner = 0;
        st->publisher.publishing = 0;
        st->publisher.closing = 0;
        st->pictures.asleep = 0;
        st->rate.fps = 0;
        st->rate.bitrate = 0;
        st->used = ngx_current_msec;

        ngx_chrys_stream_spare_locked(zone, st);
    }

    ngx_chrys_zone_unlock(zone);
}


/*
 * A stream without a publisher keeps its last picture and its ring: the
 * other slots and the JPEGs go back to the zone at once.  A slot being
 * read or written stays.
 */

static void
ngx_chrys_stream_spare_locked(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st)
{
    ngx_uint_t             i;
    ngx_chrys_slot_t      *slot;
    ngx_chrys_pictures_t  *pics;

    pics = &st->pictures;

    for (i = 0; i < NGX_CHRYS_SLOTS; i++) {
        slot = &pics->slots[i];

        if ((pics->latest_seq && i == pics->latest) || slot->data == NULL
            || slot->writer || slot->readers)
        {
            continue;
        }

        ngx_slab_free_locked(zone->shpool, slot->data);
        slot->data = NULL;
        slot->size = 0;
        slot->seq = 0;
    }

    for (i = 0; i < NGX_CHRYS_JPEGS; i++) {
        if (pics->jpegs[i].state == NGX_CHRYS_JPEG_READY) {
            ngx_chrys_jpeg_free_locked(zone, &pics->jpegs[i]);
        }
    }
}


/*
 * A worker that exits stops publishing its streams at once, whatever its
 * decoders were doing.  Called from exit_process, outside the event loop:
 * the lock is not taken, as the dying worker may hold it.
 */

void
ngx_chrys_stream_abandon(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim)
{
    if (ngx_chrys_stream_current(st, claim)) {
        st->publisher.publishing = 0;
        st->publisher.owner = 0;
    }
}


/* whether claim "claim" of this worker is still the stream's publisher */

ngx_uint_t
ngx_chrys_stream_current(ngx_chrys_stream_t *st, ngx_uint_t claim)
{
    return st->publisher.owner == ngx_pid && st->publisher.claims == claim;
}


ngx_uint_t
ngx_chrys_stream_publishing(ngx_chrys_stream_t *st)
{
    ngx_pid_t  pid;

    pid = st->publisher.owner;

    if (!st->publisher.publishing || pid == 0) {
        return 0;
    }

    /* a worker killed by a signal leaves its streams marked */

    if (pid != ngx_pid && !ngx_chrys_pid_alive(pid)) {
        return 0;
    }

    return 1;
}


void
ngx_chrys_stream_set_error(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    ngx_chrys_zone_lock(zone);

    if (fmt == NULL) {
        st->error[0] = '\0';

    } else {
        va_start(args, fmt);
        p = ngx_vslprintf(st->error, st->error + NGX_CHRYS_ERROR_LEN - 1,
                          fmt, args);
        va_end(args);
        *p = '\0';
    }

    ngx_chrys_zone_unlock(zone);
}


/*
 * What the codec headers say of the video.  The picture size they give
 * stands until a picture is published (a stream decoded on demand may
 * have none for long); pictures set it from then on.
 */

void
ngx_chrys_stream_set_video(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_video_t *video)
{
    ngx_chrys_zone_lock(zone);

    st->video.codec = video->codec;

    if (video->profile) {
        st->video.profile = video->profile;
        st->video.level = video->level;
    }

    if (st->video.width == 0 && video->width && video->height) {
        st->video.width = video->width;
        st->video.height = video->height;
    }

    ngx_chrys_zone_unlock(zone);
}


/* what the audio headers say; only the publisher's worker writes it */

void
ngx_chrys_stream_set_audio(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_audio_t *audio)
{
    ngx_chrys_zone_lock(zone);

    st->audio = *audio;

    ngx_chrys_zone_unlock(zone);
}


/*
 * Counts a received video frame: its seq, and the fps and bitrate window.
 * Only the publisher's worker writes these; readers take them as they
 * find them.
 */

void
ngx_chrys_stream_count(ngx_chrys_stream_t *st, size_t len)
{
    ngx_msec_t         elapsed;
    ngx_chrys_rate_t  *rate;

    ngx_chrys_stream_add(st, received, 1);
    ngx_chrys_stream_add(st, bytes, len);

    rate = &st->rate;

    rate->last = ngx_chrys_unix_msec();
    rate->frames++;
    rate->bytes += len;

    elapsed = ngx_current_msec - rate->start;

    if (elapsed >= 1000) {
        rate->fps = rate->frames * 100000 / elapsed;
        rate->bitrate = rate->bytes * 8000 / elapsed;
        rate->start = ngx_current_msec;
        rate->frames = 0;
        rate->bytes = 0;
    }
}


/* the decoder of claim "claim" decoded frame "seq" (maybe not published) */

void
ngx_chrys_stream_decoded(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim, ngx_uint_t seq, uint64_t time)
{
    ngx_chrys_zone_lock(zone);

    if (st->publisher.claims == claim) {
        st->pictures.decoded_time = time;
        st->pictures.decoded_seq = seq;
    }

    ngx_chrys_zone_unlock(zone);
}


/* somebody asks for pictures of the stream now */

void
ngx_chrys_stream_want(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st)
{
    st->pictures.wanted = ngx_current_msec;

    if (st->pictures.asleep) {
        /* its decoder looks at the stream at its next tick */
        (void) ngx_atomic_fetch_add(&zone->sh->asked, 1);
    }
}


/* whether pictures were asked for in the last "idle" ms */

ngx_uint_t
ngx_chrys_stream_asked(ngx_chrys_stream_t *st, ngx_msec_t idle)
{
    return ngx_current_msec - st->pictures.wanted < idle;
}


/* whether a sleeping stream was asked for since "seen", which it updates */

ngx_uint_t
ngx_chrys_zone_asked(ngx_chrys_zone_t *zone, ngx_uint_t *seen)
{
    ngx_uint_t  asked;

    asked = zone->sh->asked;

    if (asked == *seen) {
        return 0;
    }

    *seen = asked;

    return 1;
}


/*
 * The decoder of claim "claim" stops decoding until pictures are asked
 * for: the stream's pictures and JPEGs go back to the zone (a slot being
 * read stays until its reader lets go), and readers wait for the picture
 * that waking up decodes.
 */

void
ngx_chrys_stream_sleep(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim)
{
    ngx_chrys_pictures_t  *pics;

    ngx_chrys_zone_lock(zone);

    if (ngx_chrys_stream_current(st, claim)) {
        pics = &st->pictures;

        pics->asleep = 1;
        pics->latest_seq = 0;
        pics->decoded_seq = 0;
        pics->decoded_time = 0;

        ngx_chrys_stream_spare_locked(zone, st);
    }

    ngx_chrys_zone_unlock(zone);
}


/* whether the stream is published but not decoded now */

ngx_uint_t
ngx_chrys_stream_asleep(ngx_chrys_stream_t *st)
{
    return st->pictures.asleep && ngx_chrys_stream_publishing(st);
}


/* whether pictures were asked for lately, or none is there yet */

ngx_uint_t
ngx_chrys_stream_wanted(ngx_chrys_stream_t *st)
{
    return ngx_current_msec - st->pictures.wanted < NGX_CHRYS_WANTED
           || st->pictures.latest_seq == 0;
}


/* the frame of the newest picture: NGX_DECLINED if there is none */

ngx_int_t
ngx_chrys_stream_latest(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_frame_t *frame)
{
    ngx_int_t  rc;

    ngx_chrys_zone_lock(zone);

    if (st->pictures.latest_seq == 0) {
        rc = NGX_DECLINED;

    } else {
        *frame = st->pictures.slots[st->pictures.latest].frame;
        rc = NGX_OK;
    }

    ngx_chrys_zone_unlock(zone);

    return rc;
}


/*
 * Streams nobody publishes or asks for leave the zone: those idle for
 * their "chrys_stream_idle" time.  Every worker calls this every second;
 * one of them a second does the work.  Returns how many left.
 */

ngx_uint_t
ngx_chrys_zone_sweep(ngx_chrys_zone_t *zone, ngx_log_t *log)
{
    ngx_uint_t           n;
    ngx_queue_t         *q, *next;
    ngx_chrys_stream_t  *st;

    n = 0;

    ngx_chrys_zone_lock(zone);

    if (ngx_current_msec - zone->sh->swept < 1000) {
        ngx_chrys_zone_unlock(zone);
        return 0;
    }

    zone->sh->swept = ngx_current_msec;

    /* least recently used first: the rest were used after them */

    for (q = ngx_queue_head(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru);
         q = next)
    {
        next = ngx_queue_next(q);
        st = ngx_queue_data(q, ngx_chrys_stream_t, lru);

        if (st->idle == 0 || ngx_current_msec - st->used < st->idle) {
            continue;
        }

        if (ngx_chrys_stream_held_locked(zone, st)) {
            continue;
        }

        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "chrys: stream \"%V\" left the zone, idle for "
                      "%M ms", &st->key, ngx_current_msec - st->used);

        ngx_chrys_stream_remove_locked(zone, st);
        n++;
    }

    ngx_chrys_zone_unlock(zone);

    return n;
}


/*
 * The zone is short of "size" bytes, or of that many in one piece: streams
 * that nobody publishes or holds leave it, the least recently used first,
 * one at least, then until there is room.  Returns 1 if pages were freed,
 * so that a caller that tries again gets further each time.
 */

ngx_uint_t
ngx_chrys_zone_reclaim_locked(ngx_chrys_zone_t *zone, size_t size)
{
    ngx_uint_t           pfree, n;
    ngx_queue_t         *q, *next;
    ngx_chrys_stream_t  *st;

    pfree = zone->shpool->pfree;
    n = 0;

    for (q = ngx_queue_head(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru)
         && (n == 0 || !ngx_chrys_zone_room_locked(zone, size));
         q = next)
    {
        next = ngx_queue_next(q);
        st = ngx_queue_data(q, ngx_chrys_stream_t, lru);

        if (!ngx_chrys_stream_held_locked(zone, st)) {
            ngx_chrys_stream_remove_locked(zone, st);
            n++;
        }
    }

    return zone->shpool->pfree > pfree;
}


/* whether a publisher, or a worker alive, holds the stream */

static ngx_uint_t
ngx_chrys_stream_held_locked(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st)
{
    ngx_uint_t  w;

    if (ngx_chrys_stream_publishing(st) || st->publisher.closing) {
        return 1;
    }

    for (w = 0; w < NGX_CHRYS_WORKERS; w++) {
        if (st->refs[w] && zone->sh->workers[w].pid
            && ngx_chrys_pid_alive(zone->sh->workers[w].pid))
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Takes a stream nobody holds out of the zone, with everything it has;
 * one with events keeps them (and so its header) until they are deleted.
 */

static void
ngx_chrys_stream_remove_locked(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st)
{
    ngx_chrys_stream_strip_locked(zone, st);

    if (st->nevents) {
        return;
    }

    ngx_rbtree_delete(&zone->sh->rbtree, &st->node);
    ngx_queue_remove(&st->queue);
    ngx_queue_remove(&st->lru);
    zone->sh->nstreams--;

    ngx_slab_free_locked(zone->shpool, st);
}


/* the ring, the picture slots and the JPEGs of a stream go */

static void
ngx_chrys_stream_strip_locked(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st)
{
    ngx_uint_t             i;
    ngx_chrys_pictures_t  *pics;

    pics = &st->pictures;

    ngx_chrys_ring_free_locked(zone, &st->ring);
    ngx_chrys_ring_free_locked(zone, &st->data_ring);

    for (i = 0; i < NGX_CHRYS_JPEGS; i++) {
        ngx_chrys_jpeg_free_locked(zone, &pics->jpegs[i]);
    }

    for (i = 0; i < NGX_CHRYS_SLOTS; i++) {
        if (pics->slots[i].data) {
            ngx_slab_free_locked(zone->shpool, pics->slots[i].data);
        }
    }

    ngx_memzero(pics, sizeof(ngx_chrys_pictures_t));
}


static void
ngx_chrys_snapshot_locked(ngx_chrys_stream_t *st, ngx_chrys_snapshot_t *snap,
    u_char *names)
{
    ngx_uint_t             seq;
    ngx_chrys_ring_t      *ring;
    ngx_chrys_pictures_t  *pics;

    pics = &st->pictures;
    ring = &st->ring;

    ngx_memcpy(names, st->key.data, st->key.len);

    snap->app.data = names;
    snap->app.len = st->app.len;
    snap->name.data = names + st->app.len + 1;
    snap->name.len = st->name.len;

    snap->publishing = ngx_chrys_stream_publishing(st);
    snap->decoding = snap->publishing && !pics->asleep;
    snap->video = st->video;
    snap->audio = st->audio;
    snap->fps = st->rate.fps;
    snap->bitrate = st->rate.bitrate;

    if (ngx_chrys_unix_msec() - st->rate.last > 2000) {
        /* the measuring window has gone stale */
        snap->fps = 0;
        snap->bitrate = 0;
    }

    snap->received = st->counters.received;
    snap->decoded = st->counters.decoded;
    snap->skipped = st->counters.skipped;
    snap->errors = st->counters.errors;
    snap->decode_usec = st->counters.decode_usec;
    snap->encodes = st->counters.encodes;
    snap->encode_usec = st->counters.encode_usec;
    snap->cache_hits = st->counters.cache_hits;

    /* the decoder's newest picture: with B-frames its seq can be lower */

    seq = pics->decoded_seq ? pics->decoded_seq : pics->latest_seq;

    snap->last_seq = seq;
    snap->last_time = (seq && seq == pics->latest_seq)
                      ? pics->slots[pics->latest].frame.time
                      : (seq ? pics->decoded_time : 0);

    snap->publish_time = st->publisher.time;
    snap->publishes = st->publisher.claims;
    snap->ring_bytes = ngx_chrys_ring_bytes(ring);
    snap->ring_span = ring->count
                      ? ngx_chrys_ring_entry(ring, ring->count - 1)->time
                        - ngx_chrys_ring_entry(ring, 0)->time
                      : 0;
    snap->nevents = st->nevents;

    ngx_memcpy(snap->error, st->error, NGX_CHRYS_ERROR_LEN);
}


/* a copy of what the stream is now */

void
ngx_chrys_stream_snapshot(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_snapshot_t *snap)
{
    ngx_chrys_zone_lock(zone);
    ngx_chrys_snapshot_locked(st, snap, snap->names);
    ngx_chrys_zone_unlock(zone);
}


/* copies of every stream, into an array of ngx_chrys_snapshot_t */

ngx_int_t
ngx_chrys_zone_snapshot(ngx_chrys_zone_t *zone, ngx_pool_t *pool,
    ngx_array_t *streams)
{
    ngx_uint_t             n;
    ngx_queue_t           *q;
    ngx_chrys_stream_t    *st;
    ngx_chrys_snapshot_t  *snap;

    ngx_chrys_zone_lock(zone);

    n = zone->sh->nstreams;

    if (ngx_array_init(streams, pool, ngx_max(n, 1),
                       sizeof(ngx_chrys_snapshot_t))
        != NGX_OK)
    {
        ngx_chrys_zone_unlock(zone);
        return NGX_ERROR;
    }

    for (q = ngx_queue_head(&zone->sh->streams);
         q != ngx_queue_sentinel(&zone->sh->streams);
         q = ngx_queue_next(q))
    {
        st = ngx_queue_data(q, ngx_chrys_stream_t, queue);

        /* room for every stream was made above: no allocation here */
        snap = ngx_array_push(streams);
        ngx_chrys_snapshot_locked(st, snap, snap->names);
    }

    ngx_chrys_zone_unlock(zone);

    return NGX_OK;
}


void
ngx_chrys_zone_stats(ngx_chrys_zone_t *zone, ngx_chrys_zone_stats_t *stats)
{
    ngx_uint_t           w;
    ngx_chrys_sh_t      *sh;
    ngx_chrys_worker_t  *wk;

    sh = zone->sh;

    ngx_memzero(stats, sizeof(ngx_chrys_zone_stats_t));

    ngx_chrys_zone_lock(zone);

    stats->nstreams = sh->nstreams;
    stats->size = zone->shpool->end - (u_char *) zone->shpool;
    stats->free = zone->shpool->pfree << ngx_pagesize_shift;
    stats->event_bytes = sh->event_bytes;
    stats->event_budget = sh->event_budget;
    stats->lock_max_usec = sh->lock_max_usec;
    stats->lock_slow = sh->lock_slow;
    stats->lock_max_cpu_usec = sh->lock_max_cpu_usec;

    /* the gauges of the workers alive */

    for (w = 0; w < NGX_CHRYS_WORKERS; w++) {
        wk = &sh->workers[w];

        if (wk->pid == 0 || !ngx_chrys_pid_alive(wk->pid)) {
            continue;
        }

        stats->clients_mjpeg += wk->clients_mjpeg;
        stats->clients_waiting += wk->clients_waiting;
        stats->clients_walking += wk->clients_walking;
    }

    ngx_chrys_zone_unlock(zone);
}


/* counts HTTP clients of this worker by kind, up or down */

void
ngx_chrys_zone_clients(ngx_chrys_zone_t *zone, ngx_uint_t kind, ngx_int_t n)
{
    ngx_chrys_worker_t  *wk;

    if (zone->worker >= NGX_CHRYS_WORKERS) {
        return;
    }

    wk = &zone->sh->workers[zone->worker];

    switch (kind) {

    case NGX_CHRYS_CLIENTS_MJPEG:
        (void) ngx_atomic_fetch_add(&wk->clients_mjpeg, n);
        break;

    case NGX_CHRYS_CLIENTS_WAITING:
        (void) ngx_atomic_fetch_add(&wk->clients_waiting, n);
        break;

    default: /* NGX_CHRYS_CLIENTS_WALKING */
        (void) ngx_atomic_fetch_add(&wk->clients_walking, n);
        break;
    }
}


/*
 * A new stream gets its first picture slots only while one eighth of the
 * zone stays free afterwards, so that the streams already running keep
 * room for their JPEG caches and resolution changes.
 */

static ngx_uint_t
ngx_chrys_zone_room_locked(ngx_chrys_zone_t *zone, size_t size)
{
    size_t  free, reserve;

    free = zone->shpool->pfree << ngx_pagesize_shift;
    reserve = (zone->shpool->end - (u_char *) zone->shpool) / 8;

    return free > size + reserve;
}


size_t
ngx_chrys_frame_size(ngx_uint_t layout, ngx_uint_t width, ngx_uint_t height)
{
    size_t  luma, cw, ch;

    luma = width * height;

    switch (layout) {

    case NGX_CHRYS_GRAY:
        return luma;

    case NGX_CHRYS_YUV444:
        return 3 * luma;

    case NGX_CHRYS_YUV422:
        cw = (width + 1) / 2;
        ch = height;
        break;

    default: /* NGX_CHRYS_YUV420 */
        cw = (width + 1) / 2;
        ch = (height + 1) / 2;
        break;
    }

    return luma + 2 * cw * ch;
}


/*
 * Picks a slot for the decoder of claim "claim" to write a picture of
 * "size" bytes into: never the latest one, nor one a reader pinned
 * lately, nor one another decoder writes (unless that decoder's worker
 * died, or exited, while it wrote).  A stream gets all its slots at
 * once, the first time, if the zone has room for them.  Returns the
 * slot's index; NGX_BUSY when every other slot is being read or written
 * (that picture is then not published); NGX_DECLINED when the claim is
 * no longer the stream's; NGX_ERROR when the zone has no room.
 */

ngx_int_t
ngx_chrys_slot_reserve(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim, size_t size)
{
    ngx_int_t              n;
    ngx_uint_t             i;
    ngx_chrys_slot_t      *slot;
    ngx_chrys_pictures_t  *pics;

    pics = &st->pictures;

    ngx_chrys_zone_lock(zone);

    if (st->publisher.claims != claim) {
        ngx_chrys_zone_unlock(zone);
        return NGX_DECLINED;
    }

    for (i = 0; i < NGX_CHRYS_SLOTS; i++) {
        if (pics->slots[i].data) {
            break;
        }
    }

    if (i == NGX_CHRYS_SLOTS
        && ngx_chrys_slots_alloc_locked(zone, st, size) != NGX_OK)
    {
        ngx_chrys_zone_unlock(zone);
        return NGX_ERROR;
    }

    n = -1;

    for (i = 0; i < NGX_CHRYS_SLOTS; i++) {
        slot = &pics->slots[i];

        if (pics->latest_seq && i == pics->latest) {
            continue;
        }

        if (slot->writer && slot->writer != claim
            && ngx_chrys_pid_alive(slot->writer_pid))
        {
            /* an earlier publish's decoder still writes it */
            continue;
        }

        if (slot->readers
            && ngx_current_msec - slot->pinned < NGX_CHRYS_PIN_STALE)
        {
            /* being read: a picture overwritten now would be lost */
            continue;
        }

        if (n == -1) {
            n = i;
        }
    }

    if (n == -1) {
        /* every other slot is read: this picture is not published */
        ngx_chrys_zone_unlock(zone);
        return NGX_BUSY;
    }

    slot = &pics->slots[n];
    slot->seq = 0;

    if (slot->size < size || slot->size > 2 * size) {
        /* the picture size changed */

        if (slot->data) {
            ngx_slab_free_locked(zone->shpool, slot->data);
        }

        slot->data = ngx_slab_alloc_locked(zone->shpool, size);

        if (slot->data == NULL && ngx_chrys_zone_reclaim_locked(zone, size)) {
            slot->data = ngx_slab_alloc_locked(zone->shpool, size);
        }

        slot->size = slot->data ? size : 0;

        if (slot->data == NULL) {
            ngx_chrys_zone_unlock(zone);
            return NGX_ERROR;
        }
    }

    slot->writer = claim;
    slot->writer_pid = ngx_pid;

    ngx_chrys_zone_unlock(zone);

    return n;
}


static ngx_int_t
ngx_chrys_slots_alloc_locked(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    size_t size)
{
    ngx_uint_t         i;
    ngx_chrys_slot_t  *slots;

    slots = st->pictures.slots;

    if (!ngx_chrys_zone_room_locked(zone, NGX_CHRYS_SLOTS * size)
        && !ngx_chrys_zone_reclaim_locked(zone, NGX_CHRYS_SLOTS * size))
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_CHRYS_SLOTS; i++) {
        slots[i].data = ngx_slab_alloc_locked(zone->shpool, size);

        if (slots[i].data == NULL) {
            while (i--) {
                ngx_slab_free_locked(zone->shpool, slots[i].data);
                slots[i].data = NULL;
                slots[i].size = 0;
            }

            return NGX_ERROR;
        }

        slots[i].size = size;
    }

    return NGX_OK;
}


/*
 * The decoder of claim "claim" wrote slot "n": its picture becomes the
 * latest, and JPEGs of older pictures go.  NGX_DECLINED if the stream was
 * claimed by another publisher meanwhile: the picture is dropped.
 */

ngx_int_t
ngx_chrys_slot_publish(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim, ngx_uint_t n, ngx_chrys_frame_t *frame)
{
    ngx_uint_t             i;
    ngx_chrys_jpeg_t      *jpeg;
    ngx_chrys_slot_t      *slot;
    ngx_chrys_pictures_t  *pics;

    pics = &st->pictures;
    slot = &pics->slots[n];

    ngx_chrys_zone_lock(zone);

    if (slot->writer != claim || st->publisher.claims != claim) {
        if (slot->writer == claim) {
            slot->writer = 0;
        }

        ngx_chrys_zone_unlock(zone);
        return NGX_DECLINED;
    }

    slot->writer = 0;
    slot->frame = *frame;
    ngx_memory_barrier();
    slot->seq = frame->seq;

    pics->latest = n;
    pics->latest_seq = frame->seq;
    pics->asleep = 0;
    st->video.width = frame->width;
    st->video.height = frame->height;

    /* pictures of older frames are not served any more */

    for (i = 0; i < NGX_CHRYS_JPEGS; i++) {
        jpeg = &pics->jpegs[i];

        if (jpeg->state == NGX_CHRYS_JPEG_READY && jpeg->seq != frame->seq) {
            ngx_chrys_jpeg_free_locked(zone, jpeg);
        }
    }

    ngx_chrys_zone_unlock(zone);

    return NGX_OK;
}


/* the decoder of claim "claim" gives back slot "n" without a picture */

void
ngx_chrys_slot_abort(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim, ngx_uint_t n)
{
    ngx_chrys_zone_lock(zone);

    if (st->pictures.slots[n].writer == claim) {
        st->pictures.slots[n].writer = 0;
    }

    ngx_chrys_zone_unlock(zone);
}


static ngx_chrys_slot_t *
ngx_chrys_slot_pin_latest_locked(ngx_chrys_stream_t *st)
{
    ngx_chrys_slot_t  *slot;

    if (st->pictures.latest_seq == 0) {
        return NULL;
    }

    slot = &st->pictures.slots[st->pictures.latest];
    (void) ngx_atomic_fetch_add(&slot->readers, 1);
    slot->pinned = ngx_current_msec;

    return slot;
}


/* returns 1 if the picture "seq" was not touched while it was read */

ngx_uint_t
ngx_chrys_slot_unpin(ngx_chrys_zone_t *zone, ngx_chrys_slot_t *slot,
    ngx_uint_t seq)
{
    ngx_memory_barrier();

    (void) ngx_atomic_fetch_add(&slot->readers, -1);

    return slot->seq == seq;
}


static ngx_chrys_jpeg_t *
ngx_chrys_jpeg_lookup_locked(ngx_chrys_stream_t *st, ngx_uint_t seq,
    ngx_uint_t variant)
{
    ngx_uint_t         i;
    ngx_chrys_jpeg_t  *jpeg;

    for (i = 0; i < NGX_CHRYS_JPEGS; i++) {
        jpeg = &st->pictures.jpegs[i];

        if (jpeg->state != NGX_CHRYS_JPEG_FREE
            && jpeg->seq == seq && jpeg->variant == variant)
        {
            return jpeg;
        }
    }

    return NULL;
}


/*
 * The newest picture of the stream in the variant "want" asks for, the
 * JPEG claim protocol in one place:
 *
 *     NGX_OK        the JPEG was cached: a copy is in want->data
 *                   (ngx_alloc(), for the caller to free);
 *     NGX_AGAIN     the caller encodes it: the slot is pinned (want->slot,
 *                   want->planes) and, for a JPEG, an entry claimed
 *                   (want->jpeg, want->token); then ngx_chrys_slot_unpin()
 *                   and ngx_chrys_jpeg_store() or ngx_chrys_jpeg_abort();
 *     NGX_BUSY      another request encodes it: look again later;
 *     NGX_DECLINED  there is no picture (yet, or any more);
 *     NGX_ERROR     no memory for the copy.
 *
 * want->frame is the picture's in every case but NGX_DECLINED.
 */

ngx_int_t
ngx_chrys_jpeg_acquire(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_want_t *want, ngx_log_t *log)
{
    ngx_uint_t             seq;
    ngx_chrys_jpeg_t      *jpeg;
    ngx_chrys_slot_t      *slot;
    ngx_chrys_pictures_t  *pics;

    pics = &st->pictures;

    want->slot = NULL;
    want->planes = NULL;
    want->jpeg = NULL;
    want->token = 0;
    want->data = NULL;
    want->len = 0;

    ngx_chrys_zone_lock(zone);

    seq = pics->latest_seq;

    if (seq == 0) {
        ngx_chrys_zone_unlock(zone);
        return NGX_DECLINED;
    }

    slot = &pics->slots[pics->latest];
    want->frame = slot->frame;

    if (want->raw) {
        /* raw pixels are made by each worker that serves them */
        want->slot = ngx_chrys_slot_pin_latest_locked(st);
        want->planes = slot->data;
        ngx_chrys_zone_unlock(zone);
        return NGX_AGAIN;
    }

    jpeg = ngx_chrys_jpeg_lookup_locked(st, seq, want->variant);

    if (jpeg && jpeg->state == NGX_CHRYS_JPEG_READY) {
        want->data = ngx_alloc(jpeg->len, log);

        if (want->data) {
            want->len = jpeg->len;
            ngx_memcpy(want->data, jpeg->data, jpeg->len);
        }

        ngx_chrys_zone_unlock(zone);

        if (want->data == NULL) {
            return NGX_ERROR;
        }

        ngx_chrys_stream_add(st, cache_hits, 1);

        return NGX_OK;
    }

    if (jpeg && ngx_current_msec - jpeg->started < NGX_CHRYS_JPEG_STALE) {
        /* another request encodes this picture: wait for its result */
        ngx_chrys_zone_unlock(zone);
        return NGX_BUSY;
    }

    jpeg = ngx_chrys_jpeg_claim_locked(zone, st, seq, want->variant);

    if (jpeg == NULL) {
        /* every entry is being encoded */
        ngx_chrys_zone_unlock(zone);
        return NGX_BUSY;
    }

    want->jpeg = jpeg;
    want->token = jpeg->token;
    want->slot = ngx_chrys_slot_pin_latest_locked(st);
    want->planes = slot->data;

    ngx_chrys_zone_unlock(zone);

    return NGX_AGAIN;
}


/*
 * Claims a cache entry for the JPEG of frame "seq" in "variant", which the
 * caller then encodes; the entry's token names this claim.  A stale claim
 * (its worker died, or took too long) is taken over, the one for the same
 * picture first.  Returns NULL when every entry is busy encoding.
 */

static ngx_chrys_jpeg_t *
ngx_chrys_jpeg_claim_locked(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t seq, ngx_uint_t variant)
{
    ngx_uint_t         i;
    ngx_chrys_jpeg_t  *jpeg, *found;

    found = NULL;

    for (i = 0; i < NGX_CHRYS_JPEGS; i++) {
        jpeg = &st->pictures.jpegs[i];

        if (jpeg->state == NGX_CHRYS_JPEG_ENCODING
            && ngx_current_msec - jpeg->started < NGX_CHRYS_JPEG_STALE)
        {
            continue;
        }

        if (jpeg->state != NGX_CHRYS_JPEG_FREE
            && jpeg->seq == seq && jpeg->variant == variant)
        {
            found = jpeg;
            break;
        }

        if (found == NULL
            || jpeg->state == NGX_CHRYS_JPEG_FREE
            || (found->state != NGX_CHRYS_JPEG_FREE && jpeg->seq < found->seq))
        {
            found = jpeg;
        }
    }

    if (found == NULL) {
        return NULL;
    }

    ngx_chrys_jpeg_free_locked(zone, found);

    found->seq = seq;
    found->variant = variant;
    found->state = NGX_CHRYS_JPEG_ENCODING;
    found->token = ++zone->sh->tokens;
    found->pid = ngx_pid;
    found->started = ngx_current_msec;

    return found;
}


/*
 * Stores the JPEG encoded for a claim of ngx_chrys_jpeg_acquire().
 * Returns NGX_DECLINED if the claim was taken over or the frame is no
 * longer the latest (the caller serves its own copy and nothing is
 * cached), and NGX_ERROR if the zone has no room.
 */

ngx_int_t
ngx_chrys_jpeg_store(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_want_t *want, u_char *data, size_t len)
{
    ngx_int_t          rc;
    ngx_chrys_jpeg_t  *jpeg;

    jpeg = want->jpeg;
    want->jpeg = NULL;

    ngx_chrys_zone_lock(zone);

    if (jpeg->state != NGX_CHRYS_JPEG_ENCODING
        || jpeg->token != want->token)
    {
        ngx_chrys_zone_unlock(zone);
        return NGX_DECLINED;
    }

    if (jpeg->seq != st->pictures.latest_seq) {
        ngx_chrys_jpeg_free_locked(zone, jpeg);
        ngx_chrys_zone_unlock(zone);
        return NGX_DECLINED;
    }

    rc = NGX_ERROR;

    jpeg->data = ngx_slab_alloc_locked(zone->shpool, len);

    if (jpeg->data == NULL && ngx_chrys_zone_reclaim_locked(zone, len)) {
        jpeg->data = ngx_slab_alloc_locked(zone->shpool, len);
    }

    if (jpeg->data) {
        ngx_memcpy(jpeg->data, data, len);
        jpeg->len = len;
        jpeg->state = NGX_CHRYS_JPEG_READY;
        rc = NGX_OK;

    } else {
        ngx_chrys_jpeg_free_locked(zone, jpeg);
    }

    ngx_chrys_zone_unlock(zone);

    return rc;
}


void
ngx_chrys_jpeg_abort(ngx_chrys_zone_t *zone, ngx_chrys_want_t *want)
{
    ngx_chrys_jpeg_t  *jpeg;

    jpeg = want->jpeg;

    if (jpeg == NULL) {
        return;
    }

    want->jpeg = NULL;

    ngx_chrys_zone_lock(zone);

    if (jpeg->state == NGX_CHRYS_JPEG_ENCODING && jpeg->token == want->token)
    {
        ngx_chrys_jpeg_free_locked(zone, jpeg);
    }

    ngx_chrys_zone_unlock(zone);
}


static void
ngx_chrys_jpeg_free_locked(ngx_chrys_zone_t *zone, ngx_chrys_jpeg_t *jpeg)
{
    if (jpeg->data) {
        ngx_slab_free_locked(zone->shpool, jpeg->data);
    }

    jpeg->data = NULL;
    jpeg->len = 0;
    jpeg->seq = 0;
    jpeg->token = 0;
    jpeg->pid = 0;
    jpeg->state = NGX_CHRYS_JPEG_FREE;
}


uint64_t
ngx_chrys_unix_msec(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}
