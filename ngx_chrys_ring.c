
/*
 * Copyright (C) chrys authors
 *
 * The shared-memory side of chrys: the stream table, the decoded picture
 * slots of each stream and their JPEG cache.  Everything here runs on the
 * event loop of some worker, under the zone's slab mutex; the master
 * releases that mutex if a worker dies holding it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys.h"


static void ngx_chrys_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_chrys_stream_t *ngx_chrys_stream_lookup_locked(
    ngx_chrys_zone_t *zone, ngx_str_t *key, uint32_t hash);
static ngx_int_t ngx_chrys_make_key(ngx_str_t *key, u_char *buf,
    ngx_str_t *app, ngx_str_t *name);
static ngx_int_t ngx_chrys_slots_alloc_locked(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, size_t size);
static ngx_uint_t ngx_chrys_zone_room_locked(ngx_chrys_zone_t *zone,
    size_t size);
static ngx_uint_t ngx_chrys_valid_utf8(u_char *p, u_char *last);
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
        zone->sh->event_budget = zone->event_budget;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_calloc(zone->shpool, sizeof(ngx_chrys_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;
    zone->sh->event_budget = zone->event_budget;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_chrys_rbtree_insert_value);

    ngx_queue_init(&zone->sh->streams);

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


static void
ngx_chrys_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t   **p;
    ngx_chrys_stream_t   *st, *stt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            st = (ngx_chrys_stream_t *) node;
            stt = (ngx_chrys_stream_t *) temp;

            p = (ngx_memn2cmp(st->key, stt->key,
                              st->app_len + 1 + st->name_len,
                              stt->app_len + 1 + stt->name_len)
                 < 0) ? &temp->left : &temp->right;
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

        rc = ngx_memn2cmp(key->data, st->key, key->len,
                          st->app_len + 1 + st->name_len);

        if (rc == 0) {
            return st;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


ngx_chrys_stream_t *
ngx_chrys_stream_find(ngx_chrys_zone_t *zone, ngx_str_t *app,
    ngx_str_t *name)
{
    u_char               buf[2 * NGX_CHRYS_NAME_MAX + 1];
    uint32_t             hash;
    ngx_str_t            key;
    ngx_chrys_stream_t  *st;

    if (ngx_chrys_make_key(&key, buf, app, name) != NGX_OK) {
        return NULL;
    }

    hash = ngx_crc32_short(key.data, key.len);

    ngx_shmtx_lock(&zone->shpool->mutex);
    st = ngx_chrys_stream_lookup_locked(zone, &key, hash);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    return st;
}


/*
 * Finds or creates the stream "app/name".  Streams are never removed, so
 * the pointer stays valid for the life of the zone.
 */

ngx_chrys_stream_t *
ngx_chrys_stream_get(ngx_chrys_zone_t *zone, ngx_str_t *app,
    ngx_str_t *name, ngx_log_t *log)
{
    u_char               buf[2 * NGX_CHRYS_NAME_MAX + 1];
    size_t               size;
    uint32_t             hash;
    ngx_str_t            key;
    ngx_uint_t           i;
    ngx_chrys_stream_t  *st;

    if (ngx_chrys_make_key(&key, buf, app, name) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "chrys: stream name \"%V/%V\" is empty or longer "
                      "than %d bytes", app, name, NGX_CHRYS_NAME_MAX);
        return NULL;
    }

    hash = ngx_crc32_short(key.data, key.len);
    size = offsetof(ngx_chrys_stream_t, key) + key.len;

    ngx_shmtx_lock(&zone->shpool->mutex);

    st = ngx_chrys_stream_lookup_locked(zone, &key, hash);
    if (st) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return st;
    }

    st = NULL;

    if (ngx_chrys_zone_room_locked(zone, size)) {
        st = ngx_slab_calloc_locked(zone->shpool, size);
    }

    if (st == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "chrys: zone \"%V\" is full, stream \"%V\" refused; "
                      "raise the size in \"chrys_zone\"",
                      &zone->shm_zone->shm.name, &key);
        return NULL;
    }

    st->node.key = hash;
    st->app_len = app->len;
    st->name_len = name->len;
    ngx_memcpy(st->key, key.data, key.len);

    for (i = 0; i < NGX_CHRYS_SLOTS; i++) {
        st->slots[i].seq = 0;
    }

    ngx_queue_init(&st->events);

    ngx_rbtree_insert(&zone->sh->rbtree, &st->node);
    ngx_queue_insert_tail(&zone->sh->streams, &st->queue);
    zone->sh->nstreams++;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return st;
}


/*
 * Makes this worker the one that decodes the stream, and sets up its
 * buffer ("window" 0: none).  A stream whose publisher has left but whose
 * last picture is still being decoded can be claimed: the new publisher
 * takes over at once.
 */

ngx_int_t
ngx_chrys_stream_claim(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_msec_t window, size_t max_bytes, ngx_log_t *log)
{
    ngx_shmtx_lock(&zone->shpool->mutex);

    if (ngx_chrys_stream_publishing(st) && !st->closing) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_BUSY;
    }

    if (window == 0) {
        ngx_chrys_buf_free_locked(zone, &st->buf);

    } else if (ngx_chrys_buf_setup_locked(zone, &st->buf, window, max_bytes,
                                          window)
               != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "chrys: zone \"%V\" is full, stream \"%*s\" has no "
                      "buffer; raise the size in \"chrys_zone\"",
                      &zone->shm_zone->shm.name,
                      st->app_len + 1 + st->name_len, st->key);
    }

    st->owner = ngx_pid;
    st->publishing = 1;
    st->closing = 0;
    st->publishes++;
    st->publish_time = ngx_chrys_unix_msec();
    st->error[0] = '\0';
    st->window_start = ngx_current_msec;
    st->window_frames = 0;
    st->window_bytes = 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


void
ngx_chrys_stream_config(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    u_char *data, size_t len, ngx_uint_t width, ngx_uint_t height)
{
    ngx_shmtx_lock(&zone->shpool->mutex);

    if (st->buf.entries) {
        (void) ngx_chrys_buf_config_locked(zone, &st->buf, data, len, width,
                                           height);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * The publisher has left; the stream stays "publishing" until its last
 * picture is out (ngx_chrys_stream_release()), so that a stream shown as
 * not publishing has its last picture in place.
 */

void
ngx_chrys_stream_closing(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st)
{
    ngx_shmtx_lock(&zone->shpool->mutex);

    if (st->owner == ngx_pid) {
        st->closing = 1;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Ends the publish that was claimed as number "publish" (st->publishes
 * after its claim), unless the stream has been claimed since.
 */

void
ngx_chrys_stream_release(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t publish)
{
    ngx_shmtx_lock(&zone->shpool->mutex);

    if (st->owner == ngx_pid && st->publishes == publish) {
        st->owner = 0;
        st->publishing = 0;
        st->closing = 0;
        st->fps = 0;
        st->bitrate = 0;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * A stream name or application name that can be addressed in a URL path
 * segment: 1 to 255 bytes of UTF-8, not ".", no "/", no "..", no control
 * characters.
 */

ngx_int_t
ngx_chrys_valid_name(ngx_str_t *name)
{
    size_t  i;

    if (name->len == 0 || name->len > NGX_CHRYS_NAME_MAX
        || (name->len == 1 && name->data[0] == '.'))
    {
        return NGX_ERROR;
    }

    /* names go into JSON and metrics as they are */

    if (!ngx_chrys_valid_utf8(name->data, name->data + name->len)) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {

        if (name->data[i] < 0x20 || name->data[i] == 0x7f
            || name->data[i] == '/')
        {
            return NGX_ERROR;
        }

        if (name->data[i] == '.' && i + 1 < name->len
            && name->data[i + 1] == '.')
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Well-formed UTF-8 (RFC 3629): the shortest form of a code point up to
 * U+10FFFF that is not a surrogate.  ngx_utf8_decode() lets overlong forms,
 * surrogates and any byte above 0x7f as a continuation through, and a JSON
 * parser refuses those.
 */

static ngx_uint_t
ngx_chrys_valid_utf8(u_char *p, u_char *last)
{
    u_char    c;
    size_t    n;
    uint32_t  u, min;

    while (p < last) {
        c = *p++;

        if (c < 0x80) {
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            u = c & 0x1f;
            min = 0x80;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            u = c & 0x0f;
            min = 0x800;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            u = c & 0x07;
            min = 0x10000;

        } else {
            return 0;
        }

        if ((size_t) (last - p) < n) {
            return 0;
        }

        while (n--) {
            c = *p++;

            if ((c & 0xc0) != 0x80) {
                return 0;
            }

            u = (u << 6) | (c & 0x3f);
        }

        if (u < min || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}


void
ngx_chrys_stream_set_error(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (fmt == NULL) {
        st->error[0] = '\0';

    } else {
        va_start(args, fmt);
        p = ngx_vslprintf(st->error, st->error + NGX_CHRYS_ERROR_LEN - 1,
                          fmt, args);
        va_end(args);
        *p = '\0';
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


ngx_uint_t
ngx_chrys_stream_publishing(ngx_chrys_stream_t *st)
{
    ngx_pid_t  pid;

    pid = st->owner;

    if (!st->publishing || pid == 0) {
        return 0;
    }

    /* a worker killed by a signal leaves its streams marked */

    if (pid != ngx_pid && kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH) {
        return 0;
    }

    return 1;
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
 * Picks a slot for the decoder to write a picture of "size" bytes into:
 * never the latest one, nor one a reader pinned lately.  A stream gets all
 * its slots at once, the first time, if the zone has room for them.
 * Returns the slot index, NGX_BUSY when every other slot is being read
 * (that picture is then not published), or NGX_ERROR when the zone has no
 * room.
 */

ngx_int_t
ngx_chrys_slot_reserve(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    size_t size)
{
    ngx_int_t          n;
    ngx_uint_t         i;
    ngx_chrys_slot_t  *slot;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < NGX_CHRYS_SLOTS; i++) {
        if (st->slots[i].data) {
            break;
        }
    }

    if (i == NGX_CHRYS_SLOTS
        && ngx_chrys_slots_alloc_locked(zone, st, size) != NGX_OK)
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_ERROR;
    }

    n = -1;

    for (i = 0; i < NGX_CHRYS_SLOTS; i++) {

        if (st->latest_seq && i == st->latest) {
            continue;
        }

        if (st->slots[i].readers
            && ngx_current_msec - st->slots[i].pinned < NGX_CHRYS_PIN_STALE)
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
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_BUSY;
    }

    slot = &st->slots[n];

    if (slot->size < size || slot->size > 2 * size) {
        /* the picture size changed */

        if (slot->data) {
            ngx_slab_free_locked(zone->shpool, slot->data);
        }

        slot->data = ngx_slab_alloc_locked(zone->shpool, size);
        slot->size = slot->data ? size : 0;
        slot->seq = 0;

        if (slot->data == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_ERROR;
        }
    }

    slot->seq = 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return n;
}


static ngx_int_t
ngx_chrys_slots_alloc_locked(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    size_t size)
{
    ngx_uint_t  i;

    if (!ngx_chrys_zone_room_locked(zone, NGX_CHRYS_SLOTS * size)) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_CHRYS_SLOTS; i++) {
        st->slots[i].data = ngx_slab_alloc_locked(zone->shpool, size);

        if (st->slots[i].data == NULL) {
            while (i--) {
                ngx_slab_free_locked(zone->shpool, st->slots[i].data);
                st->slots[i].data = NULL;
                st->slots[i].size = 0;
            }

            return NGX_ERROR;
        }

        st->slots[i].size = size;
    }

    return NGX_OK;
}


void
ngx_chrys_slot_publish(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t n, ngx_chrys_frame_t *frame)
{
    ngx_uint_t         i;
    ngx_chrys_jpeg_t  *jpeg;
    ngx_chrys_slot_t  *slot;

    slot = &st->slots[n];

    ngx_shmtx_lock(&zone->shpool->mutex);

    slot->frame = *frame;
    ngx_memory_barrier();
    slot->seq = frame->seq;

    st->latest = n;
    st->latest_seq = frame->seq;
    st->width = frame->width;
    st->height = frame->height;

    /* pictures of older frames are not served any more */

    for (i = 0; i < NGX_CHRYS_JPEGS; i++) {
        jpeg = &st->jpegs[i];

        if (jpeg->state == NGX_CHRYS_JPEG_READY && jpeg->seq != frame->seq) {
            ngx_chrys_jpeg_free_locked(zone, jpeg);
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Pins the latest picture of a stream for reading outside the lock;
 * returns NULL if there is none.  The reader must check
 * ngx_chrys_slot_unpin() before it trusts what it read.
 */

ngx_chrys_slot_t *
ngx_chrys_slot_pin_latest(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st)
{
    ngx_chrys_slot_t  *slot;

    ngx_shmtx_lock(&zone->shpool->mutex);
    slot = ngx_chrys_slot_pin_latest_locked(st);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    return slot;
}


ngx_chrys_slot_t *
ngx_chrys_slot_pin_latest_locked(ngx_chrys_stream_t *st)
{
    ngx_chrys_slot_t  *slot;

    if (st->latest_seq == 0) {
        return NULL;
    }

    slot = &st->slots[st->latest];
    (void) ngx_atomic_fetch_add(&slot->readers, 1);
    slot->pinned = ngx_current_msec;

    return slot;
}


/* returns 1 if the picture "seq" was not touched while it was read */

ngx_uint_t
ngx_chrys_slot_unpin(ngx_chrys_slot_t *slot, ngx_uint_t seq)
{
    ngx_memory_barrier();

    (void) ngx_atomic_fetch_add(&slot->readers, -1);

    return slot->seq == seq;
}


ngx_chrys_jpeg_t *
ngx_chrys_jpeg_lookup_locked(ngx_chrys_stream_t *st, ngx_uint_t seq,
    ngx_uint_t variant)
{
    ngx_uint_t         i;
    ngx_chrys_jpeg_t  *jpeg;

    for (i = 0; i < NGX_CHRYS_JPEGS; i++) {
        jpeg = &st->jpegs[i];

        if (jpeg->state != NGX_CHRYS_JPEG_FREE
            && jpeg->seq == seq && jpeg->variant == variant)
        {
            return jpeg;
        }
    }

    return NULL;
}


/*
 * Claims a cache entry for the JPEG of frame "seq" in "variant", which the
 * caller then encodes; the entry's token names this claim.  A stale claim
 * (its worker died, or took too long) is taken over, the one for the same
 * picture first.  Returns NULL when every entry is busy encoding.
 */

ngx_chrys_jpeg_t *
ngx_chrys_jpeg_claim_locked(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t seq, ngx_uint_t variant)
{
    ngx_uint_t         i;
    ngx_chrys_jpeg_t  *jpeg, *found;

    found = NULL;

    for (i = 0; i < NGX_CHRYS_JPEGS; i++) {
        jpeg = &st->jpegs[i];

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
 * Stores an encoded picture into the entry claimed for it.  Returns
 * NGX_DECLINED if the claim was taken over or the frame is no longer the
 * latest (the caller serves its own copy and nothing is cached), and
 * NGX_ERROR if the zone has no room.
 */

ngx_int_t
ngx_chrys_jpeg_store(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_chrys_jpeg_t *jpeg, ngx_uint_t token, u_char *data, size_t len)
{
    ngx_int_t  rc;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (jpeg->state != NGX_CHRYS_JPEG_ENCODING || jpeg->token != token) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    if (jpeg->seq != st->latest_seq) {
        ngx_chrys_jpeg_free_locked(zone, jpeg);
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    rc = NGX_ERROR;

    jpeg->data = ngx_slab_alloc_locked(zone->shpool, len);

    if (jpeg->data) {
        ngx_memcpy(jpeg->data, data, len);
        jpeg->len = len;
        jpeg->state = NGX_CHRYS_JPEG_READY;
        rc = NGX_OK;

    } else {
        ngx_chrys_jpeg_free_locked(zone, jpeg);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


void
ngx_chrys_jpeg_abort(ngx_chrys_zone_t *zone, ngx_chrys_jpeg_t *jpeg,
    ngx_uint_t token)
{
    ngx_shmtx_lock(&zone->shpool->mutex);

    if (jpeg->state == NGX_CHRYS_JPEG_ENCODING && jpeg->token == token) {
        ngx_chrys_jpeg_free_locked(zone, jpeg);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
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
