
/*
 * Copyright (C) chrys authors
 *
 * Unit tests of ngx_chrys_ring.c: the ring of a stream (access units over
 * chunks of the zone, evicted by whole GOPs), the copies that go out of it
 * a slice at a time (ngx_chrys_ring_frame(), _step(), _gop()), and events,
 * whose pre window is filled a slice at a time, in a zone made the way
 * nginx makes a shared zone, with nginx's own slab allocator.  The tests
 * play the publisher's worker (claim, sequence header, access units) and
 * the HTTP side (copies, events) the way ngx_chrys_module.c and
 * ngx_chrys_http_buffer.c do.  This program's ngx_chrys_zone_lock() wraps
 * the real one (scripts/unit.sh links it with --wrap): it counts the holds
 * of the lock, and can have the publisher act between two slices.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys.h"
#include "ngx_chrys_zone.h"
#include "ngx_chrys_ring.h"
#include "ngx_chrys_codec.h"
#include "ngx_unit.h"
#include "ngx_unit_zone.h"


/* entry "seq" arrives at ngx_unit_time(seq); every tenth is an IDR */
#define NGX_UNIT_GOP          10
#define NGX_UNIT_FRAME        40
#define NGX_UNIT_T0           1000000
#define NGX_UNIT_AU           1000

#define ngx_unit_time(seq)    (NGX_UNIT_T0 + ((seq) - 1) * NGX_UNIT_FRAME)
#define ngx_unit_idr(seq)     (((seq) - 1) % NGX_UNIT_GOP == 0)

/* a sequence header that takes a slab page of its own */
#define NGX_UNIT_BIG_CONFIG   3000
#define NGX_UNIT_CONFIG_MAX   4096

/* the padding the decoder asks copies for */
#define NGX_UNIT_PAD          NGX_CHRYS_CODEC_PAD

/* an operation under the zone lock that has not returned by then hangs */
#define NGX_UNIT_HANG         3


void __real_ngx_chrys_zone_lock(ngx_chrys_zone_t *zone);
void __wrap_ngx_chrys_zone_lock(ngx_chrys_zone_t *zone);

static void ngx_unit_setup(ngx_chrys_zone_t *zone, ngx_chrys_ring_t *ring,
    ngx_msec_t window, size_t max_bytes, ngx_msec_t span);
static void ngx_unit_free(ngx_chrys_zone_t *zone, ngx_chrys_ring_t *ring);
static ngx_int_t ngx_unit_config(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring, u_char tag, size_t len, ngx_uint_t width,
    ngx_uint_t height);
static ngx_int_t ngx_unit_append(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring, ngx_uint_t seq, uint64_t time, size_t size,
    ngx_uint_t idr);
static ngx_int_t ngx_unit_frames(ngx_chrys_zone_t *zone,
    ngx_chrys_ring_t *ring, ngx_uint_t first, ngx_uint_t last, size_t size);
static ngx_uint_t ngx_unit_entry_holds(ngx_chrys_entry_t *e);
static ngx_uint_t ngx_unit_ring_holds(ngx_chrys_ring_t *ring,
    ngx_uint_t first, ngx_uint_t last);
static ngx_uint_t ngx_unit_decodable(ngx_chrys_ring_t *ring);
static void ngx_unit_fill(u_char *p, size_t len, ngx_uint_t seq);
static ngx_uint_t ngx_unit_filled(u_char *p, size_t len, ngx_uint_t seq);
static ngx_uint_t ngx_unit_all(u_char *p, size_t len, u_char c);
static ngx_uint_t ngx_unit_gop_holds(ngx_chrys_zone_t *zone,
    ngx_chrys_gop_t *gop);
static ngx_chrys_stream_t *ngx_unit_ring(ngx_chrys_zone_t *zone,
    char *name, ngx_msec_t window, size_t max_bytes, ngx_uint_t *claim);
static void ngx_unit_configure(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, u_char tag, size_t len, ngx_uint_t width,
    ngx_uint_t height);
static void ngx_unit_au(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t seq, uint64_t time, size_t size, ngx_uint_t idr);
static void ngx_unit_aus(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t first, ngx_uint_t last, uint64_t base, size_t size);
static ngx_int_t ngx_unit_au_returns(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t seq, uint64_t time, size_t size,
    ngx_uint_t idr);
static ngx_int_t ngx_unit_event(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_msec_t pre, ngx_msec_t post,
    ngx_uint_t *id);
static ngx_chrys_event_t *ngx_unit_event_find(ngx_chrys_stream_t *st,
    ngx_uint_t id);
static void ngx_unit_publish_between(ngx_uint_t hold,
    ngx_chrys_stream_t *st, ngx_uint_t seq, uint64_t time);
static void ngx_unit_publish(ngx_chrys_zone_t *zone);
static uint64_t ngx_unit_now(void);


/* the holds of the zone lock so far, and what to do before one of them */

static ngx_uint_t           ngx_unit_holds;
static ngx_uint_t           ngx_unit_hook_at;
static void               (*ngx_unit_hook)(ngx_chrys_zone_t *zone);

/* the access unit ngx_unit_publish() hands the stream */

static ngx_chrys_stream_t  *ngx_unit_hook_stream;
static ngx_uint_t           ngx_unit_hook_seq;
static uint64_t             ngx_unit_hook_time;


static void
test_ring_setup_sizes_entries_from_span(void)
{
    ngx_uint_t          pfree;
    ngx_chrys_ring_t    ring;
    ngx_chrys_zone_t   *zone;
    ngx_chrys_entry_t  *entries;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&ring, sizeof(ngx_chrys_ring_t));
    pfree = zone->shpool->pfree;

    /* 64 entries a second of the span, and 64 more */

    ngx_unit_setup(zone, &ring, 1000, 1024 * 1024, 1000);

    ngx_unit_check(ring.entries != NULL);
    ngx_unit_check(ring.cap == 128);
    ngx_unit_check(ring.count == 0);
    ngx_unit_check(ring.window == 1000);
    ngx_unit_check(ring.max_bytes == 1024 * 1024);
    ngx_unit_check(ring.bytes == 128 * sizeof(ngx_chrys_entry_t));
    ngx_unit_check(zone->shpool->pfree
                   == pfree - ngx_unit_pages(128 * sizeof(ngx_chrys_entry_t)));

    /* the same span keeps the index, with the new limits */

    entries = ring.entries;

    ngx_unit_setup(zone, &ring, 1500, 2 * 1024 * 1024, 1000);

    ngx_unit_check(ring.entries == entries);
    ngx_unit_check(ring.window == 1500);
    ngx_unit_check(ring.max_bytes == 2 * 1024 * 1024);
    ngx_unit_check(ring.bytes == 128 * sizeof(ngx_chrys_entry_t));

    /* another span makes another index */

    ngx_unit_setup(zone, &ring, 30000, 2 * 1024 * 1024, 30000);

    ngx_unit_check(ring.cap == 1984);
    ngx_unit_check(ring.window == 30000);
    ngx_unit_check(ring.bytes == 1984 * sizeof(ngx_chrys_entry_t));
    ngx_unit_check(zone->shpool->pfree
                   == pfree
                      - ngx_unit_pages(1984 * sizeof(ngx_chrys_entry_t)));

    /* no span: 64 entries; an hour: no more than 65536 */

    ngx_unit_setup(zone, &ring, 0, 1024 * 1024, 0);
    ngx_unit_check(ring.cap == 64);

    ngx_unit_setup(zone, &ring, 3600000, 1024 * 1024, 3600000);
    ngx_unit_check(ring.cap == 65536);
    ngx_unit_check(ring.bytes == 65536 * sizeof(ngx_chrys_entry_t));

    ngx_unit_free(zone, &ring);

    ngx_unit_check(ring.entries == NULL);
    ngx_unit_check(ring.cap == 0);
    ngx_unit_check(ring.bytes == 0);
    ngx_unit_check(zone->shpool->pfree == pfree);

    ngx_unit_zone_destroy(zone);
}


static void
test_ring_bytes_count_index_and_chunks(void)
{
    size_t             index;
    ngx_chrys_ring_t   ring;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&ring, sizeof(ngx_chrys_ring_t));
    ngx_unit_setup(zone, &ring, 0, 64 * 1024 * 1024, 10000);
    (void) ngx_unit_config(zone, &ring, 'a', 40, 320, 240);

    index = ring.cap * sizeof(ngx_chrys_entry_t);

    ngx_unit_check(ring.bytes == index);

    /* the first access unit takes a chunk, the next ones fill it */

    ngx_unit_check(ngx_unit_frames(zone, &ring, 1, 1, NGX_UNIT_AU) == NGX_OK);
    ngx_unit_check(ring.first != NULL && ring.first == ring.last);
    ngx_unit_check(ring.bytes == index + NGX_CHRYS_CHUNK);

    ngx_unit_check(ngx_unit_frames(zone, &ring, 2, 200, NGX_UNIT_AU)
                   == NGX_OK);
    ngx_unit_check(ring.first == ring.last);
    ngx_unit_check(ring.last->used == 200 * NGX_UNIT_AU);
    ngx_unit_check(ring.bytes == index + NGX_CHRYS_CHUNK);

    /* those that do not fit go into the next */

    ngx_unit_check(ngx_unit_frames(zone, &ring, 201, 300, NGX_UNIT_AU)
                   == NGX_OK);
    ngx_unit_check(ring.first != ring.last);
    ngx_unit_check(ring.first->next == ring.last);
    ngx_unit_check(ring.bytes == index + 2 * NGX_CHRYS_CHUNK);
    ngx_unit_check(ring.count == 300);
    ngx_unit_check(ngx_unit_ring_holds(&ring, 1, 300));

    ngx_unit_zone_destroy(zone);
}


static void
test_ring_free_returns_every_page(void)
{
    ngx_uint_t         pfree;
    ngx_chrys_ring_t   ring;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&ring, sizeof(ngx_chrys_ring_t));
    pfree = zone->shpool->pfree;

    ngx_unit_setup(zone, &ring, 0, 64 * 1024 * 1024, 10000);
    (void) ngx_unit_config(zone, &ring, 'a', NGX_UNIT_BIG_CONFIG, 320, 240);
    (void) ngx_unit_frames(zone, &ring, 1, 300, NGX_UNIT_AU);
    (void) ngx_unit_config(zone, &ring, 'b', 40, 640, 480);
    (void) ngx_unit_frames(zone, &ring, 301, 310, 300 * 1024);

    ngx_unit_check(ring.count == 310);
    ngx_unit_check(zone->shpool->pfree < pfree);

    ngx_unit_free(zone, &ring);

    ngx_unit_check(zone->shpool->pfree == pfree);
    ngx_unit_check(ring.entries == NULL);
    ngx_unit_check(ring.count == 0);
    ngx_unit_check(ring.first == NULL && ring.last == NULL);
    ngx_unit_check(ring.config == NULL);
    ngx_unit_check(ring.bytes == 0);

    /* an empty ring, and one that was never set up */

    ngx_unit_setup(zone, &ring, 1000, 1024 * 1024, 1000);
    ngx_unit_free(zone, &ring);
    ngx_unit_free(zone, &ring);

    ngx_unit_check(zone->shpool->pfree == pfree);

    ngx_unit_zone_destroy(zone);
}


static void
test_ring_append_needs_config(void)
{
    ngx_chrys_ring_t   ring;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&ring, sizeof(ngx_chrys_ring_t));

    /* no ring */

    ngx_unit_check(ngx_unit_append(zone, &ring, 1, NGX_UNIT_T0, NGX_UNIT_AU,
                                   1)
                   == NGX_DECLINED);

    /* no sequence header yet: nothing is kept, no chunk is taken */

    ngx_unit_setup(zone, &ring, 1000, 1024 * 1024, 1000);

    ngx_unit_check(ngx_unit_append(zone, &ring, 1, NGX_UNIT_T0, NGX_UNIT_AU,
                                   1)
                   == NGX_DECLINED);
    ngx_unit_check(ring.count == 0);
    ngx_unit_check(ring.first == NULL);

    ngx_unit_check(ngx_unit_config(zone, &ring, 'a', 40, 320, 240) == NGX_OK);

    ngx_unit_check(ngx_unit_append(zone, &ring, 1, NGX_UNIT_T0, NGX_UNIT_AU,
                                   1)
                   == NGX_OK);
    ngx_unit_check(ring.count == 1);
    ngx_unit_check(ngx_chrys_ring_entry(&ring, 0)->config == ring.config);
    ngx_unit_check(ngx_unit_ring_holds(&ring, 1, 1));

    ngx_unit_zone_destroy(zone);
}


static void
test_ring_entries_hold_config_refs(void)
{
    ngx_uint_t           pfree, before;
    ngx_chrys_ring_t     ring;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_config_t  *a, *b;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&ring, sizeof(ngx_chrys_ring_t));
    pfree = zone->shpool->pfree;

    ngx_unit_setup(zone, &ring, 1000, 64 * 1024 * 1024, 1000);

    ngx_unit_check(ngx_unit_config(zone, &ring, 'a', NGX_UNIT_BIG_CONFIG,
                                   320, 240)
                   == NGX_OK);

    a = ring.config;

    ngx_unit_check(a != NULL);
    ngx_unit_check(a && a->refs == 1 && a->len == NGX_UNIT_BIG_CONFIG);
    ngx_unit_check(a && a->width == 320 && a->height == 240);

    (void) ngx_unit_frames(zone, &ring, 1, 3, NGX_UNIT_AU);

    ngx_unit_check(a->refs == 4);
    ngx_unit_check(ngx_chrys_ring_entry(&ring, 2)->config == a);

    /* the same header again changes nothing */

    ngx_unit_check(ngx_unit_config(zone, &ring, 'a', NGX_UNIT_BIG_CONFIG,
                                   320, 240)
                   == NGX_OK);
    ngx_unit_check(ring.config == a);
    ngx_unit_check(a->refs == 4);

    /* another one is another object, for the entries that follow */

    ngx_unit_check(ngx_unit_config(zone, &ring, 'b', NGX_UNIT_BIG_CONFIG,
                                   640, 480)
                   == NGX_OK);

    b = ring.config;

    ngx_unit_check(b != a);
    ngx_unit_check(a->refs == 3);
    ngx_unit_check(b->refs == 1 && b->width == 640);

    (void) ngx_unit_frames(zone, &ring, 11, 12, NGX_UNIT_AU);

    ngx_unit_check(b->refs == 3);
    ngx_unit_check(ngx_chrys_ring_entry(&ring, 2)->config == a);
    ngx_unit_check(ngx_chrys_ring_entry(&ring, 3)->config == b);

    /* the window passes the first GOP: its header goes with it */

    before = zone->shpool->pfree;

    (void) ngx_unit_frames(zone, &ring, 30, 30, NGX_UNIT_AU);

    ngx_unit_check(ring.count == 3);
    ngx_unit_check(ngx_chrys_ring_entry(&ring, 0)->seq == 11);
    ngx_unit_check(ngx_chrys_ring_entry(&ring, 0)->config == b);
    ngx_unit_check(b->refs == 4);
    ngx_unit_check(zone->shpool->pfree == before + 1);

    ngx_unit_free(zone, &ring);

    ngx_unit_check(zone->shpool->pfree == pfree);

    ngx_unit_zone_destroy(zone);
}


static void
test_ring_window_evicts_oldest_gop(void)
{
    ngx_uint_t          seq, count, heads, within, gops;
    ngx_chrys_ring_t    ring;
    ngx_chrys_zone_t   *zone;
    ngx_chrys_entry_t  *head, *last;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&ring, sizeof(ngx_chrys_ring_t));
    ngx_unit_setup(zone, &ring, 1000, 64 * 1024 * 1024, 1000);
    (void) ngx_unit_config(zone, &ring, 'a', 40, 320, 240);

    heads = 1;
    within = 1;
    gops = 1;

    for (seq = 1; seq <= 100; seq++) {
        count = ring.count;

        ngx_unit_check(ngx_unit_frames(zone, &ring, seq, seq, NGX_UNIT_AU)
                       == NGX_OK);

        head = ngx_chrys_ring_entry(&ring, 0);
        last = ngx_chrys_ring_entry(&ring, ring.count - 1);

        if (!(head->flags & NGX_CHRYS_AU_IDR)) {
            heads = 0;
        }

        if (last->seq != seq || last->time - head->time > ring.window) {
            within = 0;
        }

        /* one GOP at a time: GOPs are shorter than the window */

        if (ring.count != count + 1 && ring.count != count + 1 - NGX_UNIT_GOP)
        {
            gops = 0;
        }

        if (seq == 27) {
            /* 1040 ms after entry 1: the GOP of entries 1 to 10 goes */
            ngx_unit_check(count == 26 && ring.count == 17);
            ngx_unit_check(head->seq == 11);
        }
    }

    ngx_unit_check(heads);
    ngx_unit_check(within);
    ngx_unit_check(gops);

    /* entry 71 came 1160 ms before entry 100, entry 81 760 ms */

    ngx_unit_check(ngx_chrys_ring_entry(&ring, 0)->seq == 81);
    ngx_unit_check(ring.count == 20);
    ngx_unit_check(ngx_unit_ring_holds(&ring, 81, 100));

    ngx_unit_zone_destroy(zone);
}


static void
test_ring_byte_cap_evicts_oldest_gops(void)
{
    size_t             max;
    ngx_uint_t         seq, below, heads;
    ngx_chrys_ring_t   ring;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&ring, sizeof(ngx_chrys_ring_t));

    /* the index and three chunks; a GOP of 20000-byte units is 200000 */

    max = 704 * sizeof(ngx_chrys_entry_t) + 3 * NGX_CHRYS_CHUNK;

    ngx_unit_setup(zone, &ring, 0, max, 10000);
    (void) ngx_unit_config(zone, &ring, 'a', 40, 320, 240);

    ngx_unit_check(ring.cap == 704);

    below = 1;
    heads = 1;

    for (seq = 1; seq <= 100; seq++) {
        ngx_unit_check(ngx_unit_frames(zone, &ring, seq, seq, 20000)
                       == NGX_OK);

        if (ring.bytes > max) {
            below = 0;
        }

        if (!(ngx_chrys_ring_entry(&ring, 0)->flags & NGX_CHRYS_AU_IDR)) {
            heads = 0;
        }
    }

    ngx_unit_check(below);
    ngx_unit_check(heads);
    ngx_unit_check(ngx_chrys_ring_entry(&ring, 0)->seq > 1);
    ngx_unit_check(ngx_chrys_ring_entry(&ring, ring.count - 1)->seq == 100);
    ngx_unit_check(ngx_unit_ring_holds(&ring,
                                       ngx_chrys_ring_entry(&ring, 0)->seq,
                                       100));

    ngx_unit_zone_destroy(zone);
}


static void
test_ring_full_index_evicts_a_gop(void)
{
    ngx_chrys_ring_t   ring;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&ring, sizeof(ngx_chrys_ring_t));
    ngx_unit_setup(zone, &ring, 0, 64 * 1024 * 1024, 0);
    (void) ngx_unit_config(zone, &ring, 'a', 40, 320, 240);

    ngx_unit_check(ngx_unit_frames(zone, &ring, 1, 64, NGX_UNIT_AU)
                   == NGX_OK);
    ngx_unit_check(ring.count == ring.cap);

    ngx_unit_check(ngx_unit_frames(zone, &ring, 65, 65, NGX_UNIT_AU)
                   == NGX_OK);
    ngx_unit_check(ring.count == 64 - NGX_UNIT_GOP + 1);
    ngx_unit_check(ring.head == NGX_UNIT_GOP);
    ngx_unit_check(ngx_chrys_ring_entry(&ring, 0)->seq == 11);
    ngx_unit_check(ngx_unit_ring_holds(&ring, 11, 65));

    ngx_unit_zone_destroy(zone);
}


static void
test_ring_keeps_gop_of_newest_entry_over_window(void)
{
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 1000, 64 * 1024 * 1024, NULL);

    /* a GOP that goes on for longer than the window */

    ngx_unit_aus(zone, st, 1, 5, NGX_UNIT_T0, NGX_UNIT_AU);

    ngx_unit_check(ngx_unit_au_returns(zone, st, 6, NGX_UNIT_T0 + 5000,
                                       NGX_UNIT_AU, 0)
                   == NGX_OK);
    ngx_unit_check(st->ring.count == 6);
    ngx_unit_check(ngx_chrys_ring_entry(&st->ring, 0)->seq == 1);

    /* the next IDR ends it, and the window takes it */

    ngx_unit_check(ngx_unit_au_returns(zone, st, 7, NGX_UNIT_T0 + 5040,
                                       NGX_UNIT_AU, 1)
                   == NGX_OK);
    ngx_unit_check(st->ring.count == 1);
    ngx_unit_check(ngx_chrys_ring_entry(&st->ring, 0)->seq == 7);

    ngx_unit_zone_destroy(zone);
}


static void
test_ring_keeps_gop_of_newest_entry_over_byte_cap(void)
{
    ngx_uint_t           seq, returned;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    /* "chrys_buffer 10s 1m;" and a GOP of a megabyte */

    st = ngx_unit_ring(zone, "cam1", 10000, 1024 * 1024, NULL);

    returned = 0;

    for (seq = 1; seq <= 10; seq++) {
        if (ngx_unit_au_returns(zone, st, seq, ngx_unit_time(seq),
                                100 * 1024, seq == 1)
            == NGX_OK)
        {
            returned++;
        }
    }

    /*
     * every call returns; the GOP is kept, but cut short once it alone is
     * over the cap: what is kept still decodes from its IDR
     */

    ngx_unit_check(returned == 10);
    ngx_unit_check(st->ring.count >= 6 && st->ring.count < 10);
    ngx_unit_check(st->ring.skip == 1);
    ngx_unit_check(st->ring.bytes > st->ring.max_bytes);
    ngx_unit_check(st->ring.bytes
                   <= st->ring.max_bytes + NGX_CHRYS_CHUNK + 100 * 1024);
    ngx_unit_check(ngx_chrys_ring_entry(&st->ring, 0)->seq == 1);

    /* the next IDR starts a GOP that takes the place of that one */

    ngx_unit_check(ngx_unit_au_returns(zone, st, 11, ngx_unit_time(11),
                                       100 * 1024, 1)
                   == NGX_OK);
    ngx_unit_check(st->ring.skip == 0);
    ngx_unit_check(st->ring.count == 1);
    ngx_unit_check(ngx_chrys_ring_entry(&st->ring, 0)->seq == 11);
    ngx_unit_check(st->ring.bytes <= st->ring.max_bytes);

    ngx_unit_zone_destroy(zone);
}


static void
test_ring_full_index_of_one_gop(void)
{
    ngx_uint_t         i, ascending;
    ngx_chrys_ring_t   ring;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    /* as an event's ring: no window; one GOP of more entries than fit */

    ngx_memzero(&ring, sizeof(ngx_chrys_ring_t));
    ngx_unit_setup(zone, &ring, 0, 64 * 1024 * 1024, 0);
    (void) ngx_unit_config(zone, &ring, 'a', 40, 320, 240);

    for (i = 1; i <= 70; i++) {
        (void) ngx_unit_append(zone, &ring, i, ngx_unit_time(i), NGX_UNIT_AU,
                               i == 1);
    }

    ngx_unit_check(ring.count <= ring.cap);

    ascending = 1;

    for (i = 1; i < ngx_min(ring.count, ring.cap); i++) {
        if (ngx_chrys_ring_entry(&ring, i)->seq
            <= ngx_chrys_ring_entry(&ring, i - 1)->seq)
        {
            ascending = 0;
        }
    }

    ngx_unit_check(ascending);

    if (ring.count <= ring.cap) {
        ngx_unit_check(ring.config->refs == ring.count + 1);
        ngx_unit_free(zone, &ring);
    }

    ngx_unit_zone_destroy(zone);
}


static void
test_ring_big_au_gets_its_own_chunk(void)
{
    size_t              big;
    ngx_uint_t          pfree, chunk, own;
    ngx_chrys_ring_t    ring;
    ngx_chrys_zone_t   *zone;
    ngx_chrys_chunk_t  *a, *b, *c;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&ring, sizeof(ngx_chrys_ring_t));
    ngx_unit_setup(zone, &ring, 250, 64 * 1024 * 1024, 1000);
    (void) ngx_unit_config(zone, &ring, 'a', 40, 320, 240);

    big = 300 * 1024;
    chunk = ngx_unit_pages(NGX_CHRYS_CHUNK);
    own = ngx_unit_pages(sizeof(ngx_chrys_chunk_t) + big);

    pfree = zone->shpool->pfree;

    (void) ngx_unit_append(zone, &ring, 1, NGX_UNIT_T0, NGX_UNIT_AU, 1);
    a = ring.last;

    (void) ngx_unit_append(zone, &ring, 2, NGX_UNIT_T0 + 100, big, 1);
    b = ring.last;

    ngx_unit_check(a != b);
    ngx_unit_check(b->size == big && b->used == big);
    ngx_unit_check(zone->shpool->pfree == pfree - chunk - own);
    ngx_unit_check(ring.bytes == ring.cap * sizeof(ngx_chrys_entry_t)
                                + NGX_CHRYS_CHUNK
                                + sizeof(ngx_chrys_chunk_t) + big);

    /* the big chunk is full: the next unit starts another */

    (void) ngx_unit_append(zone, &ring, 3, NGX_UNIT_T0 + 200, NGX_UNIT_AU, 1);
    c = ring.last;

    ngx_unit_check(c != b && a->next == b && b->next == c);
    ngx_unit_check(ring.count == 3);
    ngx_unit_check(ngx_unit_ring_holds(&ring, 1, 3));

    pfree = zone->shpool->pfree;

    /* the window passes entry 1, then entry 2: their chunks go */

    (void) ngx_unit_append(zone, &ring, 4, NGX_UNIT_T0 + 300, NGX_UNIT_AU, 0);

    ngx_unit_check(ngx_chrys_ring_entry(&ring, 0)->seq == 2);
    ngx_unit_check(ring.first == b);
    ngx_unit_check(zone->shpool->pfree == pfree + chunk);

    (void) ngx_unit_append(zone, &ring, 5, NGX_UNIT_T0 + 400, NGX_UNIT_AU, 0);

    ngx_unit_check(ngx_chrys_ring_entry(&ring, 0)->seq == 3);
    ngx_unit_check(ring.first == c && ring.last == c);
    ngx_unit_check(zone->shpool->pfree == pfree + chunk + own);
    ngx_unit_check(ring.bytes == ring.cap * sizeof(ngx_chrys_entry_t)
                                + NGX_CHRYS_CHUNK);
    ngx_unit_check(ngx_unit_ring_holds(&ring, 3, 5));

    ngx_unit_zone_destroy(zone);
}


static void
test_ring_zone_full_evicts_own_gops(void)
{
    ngx_int_t          rc;
    ngx_uint_t         seq, ok;
    ngx_chrys_ring_t   ring;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_SMALL_ZONE);

    /* no limits of its own: only the zone's size */

    ngx_memzero(&ring, sizeof(ngx_chrys_ring_t));
    ngx_unit_setup(zone, &ring, 0, 64 * 1024 * 1024, 1000);
    (void) ngx_unit_config(zone, &ring, 'a', 40, 320, 240);

    /* GOPs of two 100 KB units, four megabytes of them */

    ok = 0;

    for (seq = 1; seq <= 40; seq++) {
        if (ngx_unit_append(zone, &ring, seq, ngx_unit_time(seq), 100 * 1024,
                            seq % 2 == 1)
            == NGX_OK)
        {
            ok++;
        }
    }

    ngx_unit_check(ok == 40);
    ngx_unit_check(ngx_chrys_ring_entry(&ring, 0)->seq > 1);
    ngx_unit_check(ngx_chrys_ring_entry(&ring, 0)->flags & NGX_CHRYS_AU_IDR);
    ngx_unit_check(ngx_chrys_ring_entry(&ring, ring.count - 1)->seq == 40);
    ngx_unit_check(ngx_unit_ring_holds(&ring,
                                       ngx_chrys_ring_entry(&ring, 0)->seq,
                                       40));

    /* a GOP that does not end: the older ones go, then it stops growing */

    rc = NGX_OK;

    for (seq = 41; seq <= 60; seq++) {
        rc = ngx_unit_append(zone, &ring, seq, ngx_unit_time(seq), 100 * 1024,
                             seq == 41);
        if (rc != NGX_OK) {
            break;
        }
    }

    ngx_unit_check(rc == NGX_ERROR);
    ngx_unit_check(seq > 43 && seq <= 60);
    ngx_unit_check(ngx_chrys_ring_entry(&ring, 0)->seq == 41);
    ngx_unit_check(ngx_chrys_ring_entry(&ring, ring.count - 1)->seq
                   == seq - 1);
    ngx_unit_check(ngx_unit_ring_holds(&ring, 41, seq - 1));
    ngx_unit_check(zone->shpool->log_nomem == 0);

    ngx_unit_zone_destroy(zone);
}


static void
test_ring_find_time_seq_and_gop_across_wrap(void)
{
    ngx_uint_t         i, ordered;
    ngx_chrys_ring_t   ring;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&ring, sizeof(ngx_chrys_ring_t));
    ngx_unit_setup(zone, &ring, 0, 64 * 1024 * 1024, 0);
    (void) ngx_unit_config(zone, &ring, 'a', 40, 320, 240);

    ngx_unit_check(ngx_chrys_ring_find_time(&ring, ngx_unit_time(1)) == -1);
    ngx_unit_check(ngx_chrys_ring_find_seq(&ring, 1) == -1);

    /* 64 entries: entries 21 to 80 are left, from slot 20 round to 15 */

    (void) ngx_unit_frames(zone, &ring, 1, 80, NGX_UNIT_AU);

    ngx_unit_check(ring.head == 20);
    ngx_unit_check(ring.count == 60);
    ngx_unit_check(ring.head + ring.count > ring.cap);

    ordered = 1;

    for (i = 0; i < ring.count; i++) {
        if (ngx_chrys_ring_entry(&ring, i) != &ring.entries[(20 + i) % 64]
            || ngx_chrys_ring_entry(&ring, i)->seq != 21 + i)
        {
            ordered = 0;
        }
    }

    ngx_unit_check(ordered);
    ngx_unit_check(ngx_unit_ring_holds(&ring, 21, 80));

    /* the last entry at or before a time */

    ngx_unit_check(ngx_chrys_ring_find_time(&ring, 0) == -1);
    ngx_unit_check(ngx_chrys_ring_find_time(&ring, ngx_unit_time(21) - 1)
                   == -1);
    ngx_unit_check(ngx_chrys_ring_find_time(&ring, ngx_unit_time(21)) == 0);
    ngx_unit_check(ngx_chrys_ring_find_time(&ring, ngx_unit_time(50)) == 29);
    ngx_unit_check(ngx_chrys_ring_find_time(&ring, ngx_unit_time(50) + 39)
                   == 29);
    ngx_unit_check(ngx_chrys_ring_find_time(&ring, ngx_unit_time(64)) == 43);
    ngx_unit_check(ngx_chrys_ring_find_time(&ring, ngx_unit_time(65)) == 44);
    ngx_unit_check(ngx_chrys_ring_find_time(&ring, ngx_unit_time(80)) == 59);
    ngx_unit_check(ngx_chrys_ring_find_time(&ring, (uint64_t) -1) == 59);

    /* the last entry at or below a seq */

    ngx_unit_check(ngx_chrys_ring_find_seq(&ring, 0) == -1);
    ngx_unit_check(ngx_chrys_ring_find_seq(&ring, 20) == -1);
    ngx_unit_check(ngx_chrys_ring_find_seq(&ring, 21) == 0);
    ngx_unit_check(ngx_chrys_ring_find_seq(&ring, 50) == 29);
    ngx_unit_check(ngx_chrys_ring_find_seq(&ring, 65) == 44);
    ngx_unit_check(ngx_chrys_ring_find_seq(&ring, 1000) == 59);

    /* the IDR at or before an entry */

    ngx_unit_check(ngx_chrys_ring_gop_start(&ring, 0) == 0);
    ngx_unit_check(ngx_chrys_ring_gop_start(&ring, 9) == 0);
    ngx_unit_check(ngx_chrys_ring_gop_start(&ring, 29) == 20);
    ngx_unit_check(ngx_chrys_ring_gop_start(&ring, 40) == 40);
    ngx_unit_check(ngx_chrys_ring_gop_start(&ring, 49) == 40);
    ngx_unit_check(ngx_chrys_ring_gop_start(&ring, 59) == 50);

    ngx_unit_zone_destroy(zone);
}


static void
test_ring_gop_start_without_idr(void)
{
    ngx_chrys_ring_t   ring;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    /* a stream taken up in the middle of a GOP */

    ngx_memzero(&ring, sizeof(ngx_chrys_ring_t));
    ngx_unit_setup(zone, &ring, 0, 64 * 1024 * 1024, 1000);
    (void) ngx_unit_config(zone, &ring, 'a', 40, 320, 240);

    (void) ngx_unit_append(zone, &ring, 1, ngx_unit_time(1), NGX_UNIT_AU, 0);
    (void) ngx_unit_append(zone, &ring, 2, ngx_unit_time(2), NGX_UNIT_AU, 0);
    (void) ngx_unit_append(zone, &ring, 3, ngx_unit_time(3), NGX_UNIT_AU, 0);
    (void) ngx_unit_append(zone, &ring, 4, ngx_unit_time(4), NGX_UNIT_AU, 1);
    (void) ngx_unit_append(zone, &ring, 5, ngx_unit_time(5), NGX_UNIT_AU, 0);

    ngx_unit_check(ring.count == 5);
    ngx_unit_check(ngx_chrys_ring_gop_start(&ring, 0) == -1);
    ngx_unit_check(ngx_chrys_ring_gop_start(&ring, 2) == -1);
    ngx_unit_check(ngx_chrys_ring_gop_start(&ring, 3) == 3);
    ngx_unit_check(ngx_chrys_ring_gop_start(&ring, 4) == 3);

    ngx_unit_zone_destroy(zone);
}


/*
 * frame.jpg's copy: the access units from the IDR before a frame to it,
 * with the sequence headers they need where they change, each followed
 * by the decoder's padding, in process memory.
 */

static void
test_ring_frame_has_configs_and_padding(void)
{
    u_char              *addr;
    ngx_int_t            i;
    ngx_uint_t           k, seq, same, padded, outside;
    ngx_chrys_au_t      *au;
    ngx_chrys_gop_t     *gop;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_range_t    range;
    ngx_chrys_entry_t   *e;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 60000, 64 * 1024 * 1024, NULL);

    ngx_unit_configure(zone, st, 'a', 40, 320, 240);
    ngx_unit_au(zone, st, 1, ngx_unit_time(1), 1001, 1);
    ngx_unit_au(zone, st, 2, ngx_unit_time(2), 1002, 0);
    ngx_unit_au(zone, st, 3, ngx_unit_time(3), 1003, 0);

    /* the resolution changes within the GOP, and a GOP follows */

    ngx_unit_configure(zone, st, 'b', 50, 640, 480);
    ngx_unit_au(zone, st, 4, ngx_unit_time(4), 1004, 0);
    ngx_unit_au(zone, st, 5, ngx_unit_time(5), 1005, 0);
    ngx_unit_au(zone, st, 6, ngx_unit_time(6), 1006, 1);
    ngx_unit_au(zone, st, 7, ngx_unit_time(7), 1007, 0);

    ngx_unit_check(st->ring.count == 7);

    seq = 0;
    gop = ngx_chrys_ring_frame(zone, st, 0, 1, 5, 0, NGX_UNIT_PAD, &seq,
                               &range, ngx_cycle->log);

    ngx_unit_check(gop != NULL);

    if (gop == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(seq == 5);
    ngx_unit_check(range.result == NGX_CHRYS_RANGE_OK);
    ngx_unit_check(range.start == ngx_unit_time(1));
    ngx_unit_check(range.end == ngx_unit_time(7));

    addr = zone->shm_zone->shm.addr;
    outside = ((u_char *) gop + gop->bytes <= addr
               || (u_char *) gop >= addr + zone->shm_zone->shm.size);

    ngx_unit_check(outside);
    ngx_unit_check(gop->naus == 7);
    ngx_unit_check(gop->width == 320 && gop->height == 240);

    au = gop->aus;

    ngx_unit_check(au[0].flags == NGX_CHRYS_AU_CONFIG && au[0].seq == 0);
    ngx_unit_check(au[0].len == 40 && ngx_unit_all(au[0].data, 40, 'a'));
    ngx_unit_check(au[4].flags == NGX_CHRYS_AU_CONFIG && au[4].seq == 0);
    ngx_unit_check(au[4].len == 50 && ngx_unit_all(au[4].data, 50, 'b'));

    same = 1;
    padded = 1;

    for (k = 0; k < gop->naus; k++) {
        if (!ngx_unit_all(au[k].data + au[k].len, NGX_UNIT_PAD, 0)) {
            padded = 0;
        }

        if (k == 0 || k == 4) {
            continue;
        }

        i = ngx_chrys_ring_find_seq(&st->ring, au[k].seq);
        e = ngx_chrys_ring_entry(&st->ring, i < 0 ? 0 : i);

        if (i < 0 || au[k].seq != e->seq || au[k].len != e->size
            || au[k].len != 1000 + au[k].seq
            || au[k].pts != e->pts || au[k].dts != e->dts
            || au[k].time != e->time || au[k].flags != e->flags
            || au[k].data == e->data
            || !ngx_unit_filled(au[k].data, au[k].len, au[k].seq))
        {
            same = 0;
        }
    }

    ngx_unit_check(au[1].seq == 1 && au[3].seq == 3);
    ngx_unit_check(au[5].seq == 4 && au[6].seq == 5);
    ngx_unit_check(au[1].flags & NGX_CHRYS_AU_IDR);
    ngx_unit_check(same);
    ngx_unit_check(padded);

    ngx_chrys_gop_free(gop);

    /* by time: the last frame at or before it, in the second header's part */

    gop = ngx_chrys_ring_frame(zone, st, 0, 0, ngx_unit_time(7) + 39, 0,
                               NGX_UNIT_PAD, &seq, &range, ngx_cycle->log);

    ngx_unit_check(gop && gop->naus == 3 && seq == 7);
    ngx_unit_check(gop && gop->width == 640 && gop->height == 480);
    ngx_unit_check(gop && gop->aus[0].flags == NGX_CHRYS_AU_CONFIG
                   && gop->aus[0].len == 50);
    ngx_unit_check(gop && gop->aus[1].seq == 6 && gop->aus[2].seq == 7);
    ngx_unit_check(gop && ngx_unit_gop_holds(zone, gop));

    if (gop) {
        ngx_chrys_gop_free(gop);
    }

    /* the keyframe alone */

    gop = ngx_chrys_ring_frame(zone, st, 0, 1, 3, 1, NGX_UNIT_PAD, &seq,
                               &range, ngx_cycle->log);

    ngx_unit_check(gop && gop->naus == 2 && seq == 1);
    ngx_unit_check(gop && gop->aus[0].len == 40 && gop->aus[1].seq == 1);

    if (gop) {
        ngx_chrys_gop_free(gop);
    }

    ngx_unit_zone_destroy(zone);
}


/* why a frame cannot be had */

static void
test_ring_frame_range_results(void)
{
    ngx_uint_t           seq;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_range_t    range;
    ngx_chrys_stream_t  *st, *none, *mid;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 60000, 64 * 1024 * 1024, NULL);
    none = ngx_unit_stream(zone, "cam2", NULL);
    mid = ngx_unit_ring(zone, "cam3", 60000, 64 * 1024 * 1024, NULL);

    /* no ring, no such event, nothing in the ring */

    ngx_unit_check(ngx_chrys_ring_frame(zone, none, 0, 1, 1, 0,
                                        NGX_UNIT_PAD, &seq, &range,
                                        ngx_cycle->log)
                   == NULL);
    ngx_unit_check(range.result == NGX_CHRYS_RANGE_NONE);

    ngx_unit_check(ngx_chrys_ring_frame(zone, st, 7, 1, 1, 0, NGX_UNIT_PAD,
                                        &seq, &range, ngx_cycle->log)
                   == NULL);
    ngx_unit_check(range.result == NGX_CHRYS_RANGE_NONE);

    ngx_unit_check(ngx_chrys_ring_frame(zone, st, 0, 1, 1, 0, NGX_UNIT_PAD,
                                        &seq, &range, ngx_cycle->log)
                   == NULL);
    ngx_unit_check(range.result == NGX_CHRYS_RANGE_EMPTY);

    /* frames 11 to 30, from 400 ms after entry 1 */

    ngx_unit_aus(zone, st, 11, 30, NGX_UNIT_T0, NGX_UNIT_AU);

    ngx_unit_check(ngx_chrys_ring_frame(zone, st, 0, 1, 10, 0, NGX_UNIT_PAD,
                                        &seq, &range, ngx_cycle->log)
                   == NULL);
    ngx_unit_check(range.result == NGX_CHRYS_RANGE_GONE);
    ngx_unit_check(range.start == ngx_unit_time(11));
    ngx_unit_check(range.end == ngx_unit_time(30));

    ngx_unit_check(ngx_chrys_ring_frame(zone, st, 0, 1, 31, 0, NGX_UNIT_PAD,
                                        &seq, &range, ngx_cycle->log)
                   == NULL);
    ngx_unit_check(range.result == NGX_CHRYS_RANGE_FUTURE);

    ngx_unit_check(ngx_chrys_ring_frame(zone, st, 0, 0,
                                        ngx_unit_time(11) - 1, 0,
                                        NGX_UNIT_PAD, &seq, &range,
                                        ngx_cycle->log)
                   == NULL);
    ngx_unit_check(range.result == NGX_CHRYS_RANGE_GONE);

    ngx_unit_check(ngx_chrys_ring_frame(zone, st, 0, 0,
                                        ngx_unit_now() + 10000, 0,
                                        NGX_UNIT_PAD, &seq, &range,
                                        ngx_cycle->log)
                   == NULL);
    ngx_unit_check(range.result == NGX_CHRYS_RANGE_FUTURE);

    /* a ring taken up in the middle of a GOP */

    ngx_unit_au(zone, mid, 1, ngx_unit_time(1), NGX_UNIT_AU, 0);
    ngx_unit_au(zone, mid, 2, ngx_unit_time(2), NGX_UNIT_AU, 0);
    ngx_unit_au(zone, mid, 3, ngx_unit_time(3), NGX_UNIT_AU, 1);

    ngx_unit_check(ngx_chrys_ring_frame(zone, mid, 0, 1, 2, 0,
                                        NGX_UNIT_PAD, &seq, &range,
                                        ngx_cycle->log)
                   == NULL);
    ngx_unit_check(range.result == NGX_CHRYS_RANGE_NO_IDR);

    ngx_unit_zone_destroy(zone);
}


/*
 * clip.mp4 and images: a range's span and its GOPs one at a time, and a
 * walk through the wanted frames in steps; index.json's entries.
 */

static void
test_ring_gop_step_and_index(void)
{
    ngx_uint_t           first, last, next, done, width, height;
    ngx_pool_t          *pool;
    ngx_chrys_gop_t     *gop;
    ngx_chrys_walk_t     walk;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_index_t    ix;
    ngx_chrys_range_t    range;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    pool = ngx_create_pool(4096, ngx_cycle->log);
    st = ngx_unit_ring(zone, "cam1", 60000, 64 * 1024 * 1024, NULL);

    /* GOPs of entries 1 to 5 (a new header at 4) and 6 to 7 */

    ngx_unit_configure(zone, st, 'a', 40, 320, 240);
    ngx_unit_au(zone, st, 1, ngx_unit_time(1), NGX_UNIT_AU, 1);
    ngx_unit_au(zone, st, 2, ngx_unit_time(2), NGX_UNIT_AU, 0);
    ngx_unit_au(zone, st, 3, ngx_unit_time(3), NGX_UNIT_AU, 0);
    ngx_unit_configure(zone, st, 'b', 50, 640, 480);
    ngx_unit_au(zone, st, 4, ngx_unit_time(4), NGX_UNIT_AU, 0);
    ngx_unit_au(zone, st, 5, ngx_unit_time(5), NGX_UNIT_AU, 0);
    ngx_unit_au(zone, st, 6, ngx_unit_time(6), NGX_UNIT_AU, 1);
    ngx_unit_au(zone, st, 7, ngx_unit_time(7), NGX_UNIT_AU, 0);

    /* a clip from entry 2: from the IDR before it, a GOP at a time */

    ngx_unit_check(ngx_chrys_ring_span(zone, st, 0, ngx_unit_time(2),
                                       ngx_unit_time(7), &first, &last,
                                       &range)
                   == NGX_OK);
    ngx_unit_check(first == 1 && last == 7);

    next = first;

    gop = ngx_chrys_ring_gop(zone, st, 0, &next, last, NGX_UNIT_PAD, &done,
                             ngx_cycle->log);

    ngx_unit_check(gop && gop->naus == 7);
    ngx_unit_check(gop && gop->aus[0].len == 40 && gop->aus[1].seq == 1);
    ngx_unit_check(gop && gop->aus[4].len == 50 && gop->aus[6].seq == 5);
    ngx_unit_check(gop && ngx_unit_gop_holds(zone, gop));
    ngx_unit_check(next == 6 && !done);

    if (gop) {
        ngx_chrys_gop_free(gop);
    }

    gop = ngx_chrys_ring_gop(zone, st, 0, &next, last, NGX_UNIT_PAD, &done,
                             ngx_cycle->log);

    ngx_unit_check(gop && gop->naus == 3);
    ngx_unit_check(gop && gop->aus[1].seq == 6 && gop->aus[2].seq == 7);
    ngx_unit_check(done);

    if (gop) {
        ngx_chrys_gop_free(gop);
    }

    /* images: entries 1, 3, 5 and 7, one each 80 ms, two a step */

    ngx_memzero(&walk, sizeof(ngx_chrys_walk_t));
    walk.max = 2;

    ngx_unit_check(ngx_chrys_ring_select(zone, st, 0, ngx_unit_time(1),
                                         ngx_unit_time(7), 80, 10, pool,
                                         &walk, &width, &height, &range)
                   == NGX_OK);
    ngx_unit_check(walk.nwant == 4 && range.frames == 4);
    ngx_unit_check(walk.want[0] == 1 && walk.want[1] == 3
                   && walk.want[2] == 5 && walk.want[3] == 7);

    gop = ngx_chrys_ring_step(zone, st, 0, &walk, NGX_UNIT_PAD,
                              ngx_cycle->log);

    ngx_unit_check(gop && gop->naus == 4 && walk.taken == 2);
    ngx_unit_check(gop && gop->aus[1].seq == 1 && gop->aus[3].seq == 3);

    if (gop) {
        ngx_chrys_gop_free(gop);
    }

    /* entry 5 decodes from entry 1, across the new header */

    gop = ngx_chrys_ring_step(zone, st, 0, &walk, NGX_UNIT_PAD,
                              ngx_cycle->log);

    ngx_unit_check(gop && gop->naus == 7 && walk.taken == 1);
    ngx_unit_check(gop && gop->aus[6].seq == 5);

    if (gop) {
        ngx_chrys_gop_free(gop);
    }

    gop = ngx_chrys_ring_step(zone, st, 0, &walk, NGX_UNIT_PAD,
                              ngx_cycle->log);

    ngx_unit_check(gop && gop->naus == 3 && walk.taken == 1);
    ngx_unit_check(gop && gop->aus[0].len == 50 && gop->aus[2].seq == 7);

    if (gop) {
        ngx_chrys_gop_free(gop);
    }

    ngx_unit_check(ngx_chrys_ring_step(zone, st, 0, &walk, NGX_UNIT_PAD,
                                       ngx_cycle->log)
                   == NULL);

    /* index.json: the entries of a range, and the ring's figures */

    ngx_unit_check(ngx_chrys_ring_index(zone, st, 0, ngx_unit_time(2),
                                        ngx_unit_time(5), pool, &ix)
                   == NGX_OK);
    ngx_unit_check(ix.count == 7 && ix.n == 4);
    ngx_unit_check(ix.entries[0].seq == 2 && ix.entries[3].seq == 5);
    ngx_unit_check(ix.width == 640 && ix.height == 480);
    ngx_unit_check(ix.window == 60000);
    ngx_unit_check(ix.bytes == st->ring.bytes);
    ngx_unit_check(ix.range.start == ngx_unit_time(1)
                   && ix.range.end == ngx_unit_time(7));

    ngx_destroy_pool(pool);
    ngx_unit_zone_destroy(zone);
}


/*
 * A copy bigger than a slice goes out of the zone a slice at a time, one
 * hold of the lock for each, and comes out whole.
 */

static void
test_ring_frame_copies_gop_bigger_than_a_slice(void)
{
    size_t               size;
    ngx_uint_t           seq, holds;
    ngx_chrys_gop_t     *gop;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_range_t    range;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 60000, 64 * 1024 * 1024, NULL);

    /* a GOP of a megabyte, and the next IDR */

    size = 100 * 1024;

    ngx_unit_aus(zone, st, 1, 11, NGX_UNIT_T0, size);

    ngx_unit_check(st->ring.count == 11);

    ngx_unit_holds = 0;

    gop = ngx_chrys_ring_frame(zone, st, 0, 1, 10, 0, NGX_UNIT_PAD, &seq,
                               &range, ngx_cycle->log);

    holds = ngx_unit_holds;

    ngx_unit_check(gop != NULL);
    ngx_unit_check(range.result == NGX_CHRYS_RANGE_OK);

    /* one to plan it, then one a slice (less than a slice and an AU) */

    ngx_unit_check(holds >= 1 + 10 * size / (NGX_CHRYS_SLICE + size));

    if (gop) {
        ngx_unit_check(gop->naus == 11 && seq == 10);
        ngx_unit_check(gop->aus[0].flags == NGX_CHRYS_AU_CONFIG);
        ngx_unit_check(gop->aus[10].seq == 10);
        ngx_unit_check(ngx_unit_gop_holds(zone, gop));

        ngx_chrys_gop_free(gop);
    }

    ngx_unit_zone_destroy(zone);
}


/*
 * The access units a copy has planned leave the ring before its next
 * slice: the copy is given up, and says they are gone.
 */

static void
test_ring_frame_of_entries_gone_between_slices(void)
{
    size_t               size;
    ngx_uint_t           seq, hold;
    ngx_chrys_gop_t     *gop;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_range_t    range;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    size = 100 * 1024;

    /* before the first slice (the second hold), and before the second */

    for (hold = 2; hold <= 3; hold++) {
        st = ngx_unit_ring(zone, "cam1", 1000, 64 * 1024 * 1024, NULL);

        ngx_unit_aus(zone, st, 1, 10, NGX_UNIT_T0, size);

        ngx_unit_check(ngx_chrys_ring_entry(&st->ring, 0)->seq == 1);

        /* a new GOP 2 s later: the window takes the first one */

        ngx_unit_publish_between(hold, st, 11, ngx_unit_time(10) + 2000);

        seq = 0;
        gop = ngx_chrys_ring_frame(zone, st, 0, 1, 10, 0, NGX_UNIT_PAD, &seq,
                                   &range, ngx_cycle->log);

        /* the publisher acted meanwhile, and is not to act later */

        ngx_unit_check(ngx_unit_hook == NULL);
        ngx_unit_hook = NULL;

        ngx_unit_check(gop == NULL);
        ngx_unit_check(range.result == NGX_CHRYS_RANGE_GONE);
        ngx_unit_check(st->ring.count == 1);
        ngx_unit_check(ngx_chrys_ring_entry(&st->ring, 0)->seq == 11);

        if (gop) {
            ngx_chrys_gop_free(gop);
        }

        /* and a copy of what is no longer there is not even begun */

        ngx_unit_holds = 0;

        ngx_unit_check(ngx_chrys_ring_frame(zone, st, 0, 1, 10, 0,
                                            NGX_UNIT_PAD, &seq, &range,
                                            ngx_cycle->log)
                       == NULL);
        ngx_unit_check(range.result == NGX_CHRYS_RANGE_GONE);
        ngx_unit_check(ngx_unit_holds == 1);

        /* the next round starts from an empty ring */

        ngx_chrys_stream_release(zone, st, st->publisher.claims);
        ngx_unit_check(ngx_unit_stream(zone, "cam1", NULL) == st);
    }

    ngx_unit_zone_destroy(zone);
}


static void
test_stream_claim_sets_up_ring(void)
{
    ngx_uint_t           pfree, claim;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_entry_t   *entries;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", NULL);

    ngx_unit_check(ngx_queue_empty(&st->events));
    ngx_unit_check(st->nevents == 0);
    ngx_unit_check(st->ring.entries == NULL);

    pfree = zone->shpool->pfree;

    ngx_unit_check(ngx_unit_ring(zone, "cam1", 2000, 1024 * 1024, &claim)
                   == st);
    ngx_unit_check(st->ring.entries != NULL);
    ngx_unit_check(st->ring.cap == 2000 * 64 / 1000 + 64);
    ngx_unit_check(st->ring.window == 2000);
    ngx_unit_check(st->ring.max_bytes == 1024 * 1024);

    ngx_unit_aus(zone, st, 1, 20, NGX_UNIT_T0, NGX_UNIT_AU);

    ngx_unit_check(st->ring.count == 20);

    /* the next publisher of the same name goes on with the ring */

    entries = st->ring.entries;

    ngx_chrys_stream_release(zone, st, claim);

    ngx_unit_check(ngx_unit_ring(zone, "cam1", 2000, 1024 * 1024, &claim)
                   == st);
    ngx_unit_check(st->ring.entries == entries);
    ngx_unit_check(st->ring.count == 20);

    /* a publisher without a ring gives it all back */

    ngx_chrys_stream_release(zone, st, claim);

    ngx_unit_check(ngx_unit_stream(zone, "cam1", &claim) == st);
    ngx_unit_check(st->ring.entries == NULL);
    ngx_unit_check(st->ring.count == 0);
    ngx_unit_check(zone->shpool->pfree == pfree);

    /* and what it sends is not kept */

    ngx_unit_check(ngx_chrys_ring_configure(zone, st, (u_char *) "avcC", 4,
                                            320, 240)
                   == NGX_OK);
    ngx_unit_aus(zone, st, 21, 30, NGX_UNIT_T0, NGX_UNIT_AU);

    ngx_unit_check(st->ring.config == NULL);
    ngx_unit_check(st->ring.count == 0);
    ngx_unit_check(zone->shpool->pfree == pfree);

    ngx_unit_zone_destroy(zone);
}


static void
test_stream_ring_full_zone_is_logged(void)
{
    ngx_uint_t           seq;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_SMALL_ZONE);
    st = ngx_unit_ring(zone, "cam1", 60000, 64 * 1024 * 1024, NULL);

    /* one GOP of two megabytes */

    for (seq = 1; seq <= 20 && !st->ring_full; seq++) {
        ngx_unit_au(zone, st, seq, ngx_unit_time(seq), 100 * 1024,
                    seq == 1);
    }

    ngx_unit_check(st->ring_full);
    ngx_unit_check(ngx_strstr(ngx_unit_log_last, "stops growing") != NULL);
    ngx_unit_check(ngx_strstr(ngx_unit_log_last, "live/cam1") != NULL);
    ngx_unit_check(ngx_chrys_ring_entry(&st->ring, 0)->seq == 1);

    ngx_unit_zone_destroy(zone);
}


/*
 * An event keeps the access units from the IDR at or before now - pre:
 * they outlive the stream's window there, in memory of the event's own.
 */

static void
test_event_copies_from_idr_before_pre_window(void)
{
    uint64_t             now;
    ngx_uint_t           i, id, own, pfree;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 10000, 64 * 1024 * 1024, NULL);

    /* entries 1 to 30, entry 30 40 ms ago */

    now = ngx_unit_now();
    ngx_unit_aus(zone, st, 1, 30, now - 30 * NGX_UNIT_FRAME, NGX_UNIT_AU);

    pfree = zone->shpool->pfree;

    /* from entry 13 (720 ms ago): the GOP of entry 11 on */

    ngx_unit_check(ngx_unit_event(zone, st, 720, 0, &id) == NGX_OK);

    ev = ngx_unit_event_find(st, id);

    ngx_unit_check(ev != NULL);

    if (ev == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(ev->ring.count == 20);
    ngx_unit_check(ngx_chrys_ring_entry(&ev->ring, 0)->seq == 11);
    ngx_unit_check(ngx_chrys_ring_entry(&ev->ring, 0)->flags
                   & NGX_CHRYS_AU_IDR);
    ngx_unit_check(ngx_unit_ring_holds(&ev->ring, 11, 30));

    /* in memory of its own, with a header of its own */

    own = 1;

    for (i = 0; i < ev->ring.count; i++) {
        if (ngx_chrys_ring_entry(&ev->ring, i)->data
            == ngx_chrys_ring_entry(&st->ring, 10 + i)->data
            || ngx_chrys_ring_entry(&ev->ring, i)->config != ev->ring.config)
        {
            own = 0;
        }
    }

    ngx_unit_check(own);
    ngx_unit_check(ev->ring.config != st->ring.config);
    ngx_unit_check(ev->ring.config->len == 4 && ev->ring.config->refs == 21);
    ngx_unit_check(ngx_memcmp(ev->ring.config->data, "avcC", 4) == 0);
    ngx_unit_check(ev->ring.config->width == 320
                   && ev->ring.config->height == 240);

    ngx_unit_check(ngx_chrys_event_delete(zone, st, id) == NGX_OK);
    ngx_unit_check(zone->shpool->pfree == pfree);

    /* from an IDR (400 ms ago): from there */

    ngx_unit_check(ngx_unit_event(zone, st, 400, 0, &id) == NGX_OK);

    ev = ngx_unit_event_find(st, id);

    ngx_unit_check(ev && ev->ring.count == 10);
    ngx_unit_check(ev && ngx_unit_ring_holds(&ev->ring, 21, 30));

    (void) ngx_chrys_event_delete(zone, st, id);

    /* from before the first entry: all of them */

    ngx_unit_check(ngx_unit_event(zone, st, 5000, 0, &id) == NGX_OK);

    ev = ngx_unit_event_find(st, id);

    ngx_unit_check(ev && ev->ring.count == 30);
    ngx_unit_check(ev && ngx_unit_ring_holds(&ev->ring, 1, 30));

    (void) ngx_chrys_event_delete(zone, st, id);

    ngx_unit_check(zone->shpool->pfree == pfree);
    ngx_unit_check(zone->sh->event_bytes == 0);

    ngx_unit_zone_destroy(zone);
}


static void
test_event_without_idr_before_pre_window(void)
{
    uint64_t             now;
    ngx_uint_t           id;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 10000, 64 * 1024 * 1024, NULL);

    /* taken up in the middle of a GOP: the first IDR is entry 4 */

    now = ngx_unit_now();

    ngx_unit_au(zone, st, 1, now - 200, NGX_UNIT_AU, 0);
    ngx_unit_au(zone, st, 2, now - 160, NGX_UNIT_AU, 0);
    ngx_unit_au(zone, st, 3, now - 120, NGX_UNIT_AU, 0);
    ngx_unit_au(zone, st, 4, now - 80, NGX_UNIT_AU, 1);
    ngx_unit_au(zone, st, 5, now - 40, NGX_UNIT_AU, 0);

    ngx_unit_check(st->ring.count == 5);

    /* from entry 2 */

    ngx_unit_check(ngx_unit_event(zone, st, 160, 0, &id) == NGX_OK);

    ev = ngx_unit_event_find(st, id);

    ngx_unit_check(ev && ev->ring.count == 2);
    ngx_unit_check(ev && ngx_unit_ring_holds(&ev->ring, 4, 5));

    ngx_unit_zone_destroy(zone);
}


static void
test_event_create_copies_pre_window(void)
{
    uint64_t                 now;
    ngx_uint_t               id;
    ngx_pool_t              *pool;
    ngx_array_t              events;
    ngx_chrys_zone_t        *zone;
    ngx_chrys_event_t       *ev;
    ngx_chrys_stream_t      *st;
    ngx_chrys_event_info_t   info, *list;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    pool = ngx_create_pool(4096, ngx_cycle->log);
    st = ngx_unit_ring(zone, "cam1", 10000, 32 * 1024 * 1024, NULL);

    /* the last 4 seconds; entry 100 came 40 ms ago */

    now = ngx_unit_now();
    ngx_unit_aus(zone, st, 1, 100, now - 4000, NGX_UNIT_AU);

    /* 1900 ms before now is entry 53: its GOP starts at entry 51 */

    id = 0;

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &id) == NGX_OK);

    ev = ngx_unit_event_find(st, id);

    ngx_unit_check(ev != NULL);

    if (ev == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(id == 1 && ev->id == 1);
    ngx_unit_check(ev->time == now);
    ngx_unit_check(ev->from == now - 1900 && ev->to == now + 1000);
    ngx_unit_check(ev->pre == 1900 && ev->post == 1000);
    ngx_unit_check(ev->label_len == 6
                   && ngx_memcmp(ev->label, "person", 6) == 0);
    ngx_unit_check(ev->meta_len == 8
                   && ngx_memcmp(ev->meta, "{\"x\": 1}", 8) == 0);
    ngx_unit_check(!ev->truncated);
    ngx_unit_check(!ev->filling);

    ngx_unit_check(ev->ring.count == 50);
    ngx_unit_check(ngx_chrys_ring_entry(&ev->ring, 0)->flags
                   & NGX_CHRYS_AU_IDR);
    ngx_unit_check(ngx_unit_ring_holds(&ev->ring, 51, 100));
    ngx_unit_check(ev->ring.config != st->ring.config);
    ngx_unit_check(ev->ring.config->len == 4
                   && ngx_memcmp(ev->ring.config->data, "avcC", 4) == 0);

    ngx_unit_check(zone->sh->event_bytes == ev->ring.bytes);
    ngx_unit_check(st->nevents == 1);

    /* what the API tells of it, copied out */

    ngx_unit_check(ngx_chrys_event_info(zone, st, id, pool, &info)
                   == NGX_OK);
    ngx_unit_check(info.id == id && info.time == now);
    ngx_unit_check(info.from == now - 1900 && info.to == now + 1000);
    ngx_unit_check(info.frames == 50 && info.bytes == ev->ring.bytes);
    ngx_unit_check(info.start == now - 4000 + 50 * NGX_UNIT_FRAME);
    ngx_unit_check(info.end == now - 40);
    ngx_unit_check(!info.truncated);
    ngx_unit_check(info.label.len == 6
                   && ngx_memcmp(info.label.data, "person", 6) == 0
                   && info.label.data != ev->label);
    ngx_unit_check(info.meta.len == 8
                   && ngx_memcmp(info.meta.data, "{\"x\": 1}", 8) == 0
                   && info.meta.data != ev->meta);

    ngx_unit_check(ngx_chrys_event_info(zone, st, id + 1, pool, &info)
                   == NGX_DECLINED);

    ngx_unit_check(ngx_chrys_event_list(zone, st, pool, &events) == NGX_OK);
    ngx_unit_check(events.nelts == 1);

    if (events.nelts == 1) {
        list = events.elts;
        ngx_unit_check(list[0].id == id && list[0].frames == 50);
    }

    ngx_destroy_pool(pool);
    ngx_unit_zone_destroy(zone);
}


static void
test_event_takes_aus_until_its_end(void)
{
    uint64_t             now;
    ngx_uint_t           id;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 10000, 32 * 1024 * 1024, NULL);

    now = ngx_unit_now();
    ngx_unit_aus(zone, st, 1, 100, now - 4000, NGX_UNIT_AU);

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &id) == NGX_OK);

    ev = ngx_unit_event_find(st, id);

    ngx_unit_check(ev != NULL);

    if (ev == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    /* entry 101 comes now, entry 126 at its end, entry 127 after */

    ngx_unit_aus(zone, st, 101, 150, now - 4000, NGX_UNIT_AU);

    ngx_unit_check(ev->ring.count == 76);
    ngx_unit_check(ngx_unit_ring_holds(&ev->ring, 51, 126));
    ngx_unit_check(!ev->truncated);
    ngx_unit_check(zone->sh->event_bytes == ev->ring.bytes);

    ngx_unit_check(ngx_chrys_ring_entry(&st->ring, st->ring.count - 1)->seq
                   == 150);

    ngx_unit_zone_destroy(zone);
}


static void
test_event_outlives_stream_window(void)
{
    uint64_t             now;
    ngx_uint_t           id;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 10000, 32 * 1024 * 1024, NULL);

    now = ngx_unit_now();
    ngx_unit_aus(zone, st, 1, 100, now - 4000, NGX_UNIT_AU);

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &id) == NGX_OK);

    ev = ngx_unit_event_find(st, id);

    ngx_unit_check(ev != NULL);

    if (ev == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    /* 12 seconds on: the stream's 10 s window is past the event */

    ngx_unit_aus(zone, st, 101, 400, now - 4000, NGX_UNIT_AU);

    ngx_unit_check(ngx_chrys_ring_entry(&st->ring, 0)->seq > 126);
    ngx_unit_check(ev->ring.count == 76);
    ngx_unit_check(ngx_unit_ring_holds(&ev->ring, 51, 126));

    ngx_unit_zone_destroy(zone);
}


static void
test_event_delete_frees_everything(void)
{
    uint64_t             now;
    ngx_uint_t           pfree, first, second, claim;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_event_t   *ev1, *ev2;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", NULL);

    pfree = zone->shpool->pfree;

    (void) ngx_unit_ring(zone, "cam1", 10000, 32 * 1024 * 1024, &claim);

    now = ngx_unit_now();
    ngx_unit_aus(zone, st, 1, 100, now - 4000, NGX_UNIT_AU);

    first = 0;
    second = 0;

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &first) == NGX_OK);
    ngx_unit_check(ngx_unit_event(zone, st, 500, 2000, &second) == NGX_OK);

    ev1 = ngx_unit_event_find(st, first);
    ev2 = ngx_unit_event_find(st, second);

    ngx_unit_check(ev1 != NULL && ev2 != NULL);

    if (ev1 == NULL || ev2 == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_aus(zone, st, 101, 200, now - 4000, NGX_UNIT_AU);

    ngx_unit_check(first != second);
    ngx_unit_check(st->nevents == 2);
    ngx_unit_check(zone->sh->event_bytes
                   == ev1->ring.bytes + ev2->ring.bytes);

    /* each event's bytes go back with it */

    ngx_unit_check(ngx_chrys_event_delete(zone, st, first) == NGX_OK);
    ngx_unit_check(zone->sh->event_bytes == ev2->ring.bytes);
    ngx_unit_check(st->nevents == 1);
    ngx_unit_check(ngx_chrys_event_delete(zone, st, first) == NGX_DECLINED);

    ngx_unit_check(ngx_chrys_event_delete(zone, st, second) == NGX_OK);
    ngx_unit_check(zone->sh->event_bytes == 0);
    ngx_unit_check(st->nevents == 0);
    ngx_unit_check(ngx_queue_empty(&st->events));
    ngx_unit_check(ngx_unit_event_find(st, second) == NULL);

    /* with the stream's ring gone too, the zone is as it was */

    ngx_chrys_stream_release(zone, st, claim);
    ngx_unit_check(ngx_unit_stream(zone, "cam1", NULL) == st);

    ngx_unit_check(st->ring.entries == NULL);
    ngx_unit_check(zone->shpool->pfree == pfree);

    ngx_unit_zone_destroy(zone);
}


static void
test_event_over_budget_is_refused(void)
{
    size_t               bytes;
    uint64_t             now;
    ngx_int_t            rc;
    ngx_uint_t           n, id, pfree;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 10000, 32 * 1024 * 1024, NULL);

    now = ngx_unit_now();
    ngx_unit_aus(zone, st, 1, 100, now - 4000, NGX_UNIT_AU);

    /* events of some 300 KB (an index and a chunk) in a budget of 2 MB */

    ngx_unit_check(zone->sh->event_budget == 2 * 1024 * 1024);

    rc = NGX_OK;

    for (n = 0; n < 10; n++) {
        rc = ngx_unit_event(zone, st, 1900, 1000, &id);

        if (rc != NGX_OK) {
            break;
        }
    }

    ngx_unit_check(n == 6);
    ngx_unit_check(rc == NGX_DECLINED);
    ngx_unit_check(st->nevents == 6);
    ngx_unit_check(zone->sh->event_bytes <= zone->sh->event_budget);

    /* those it took are whole */

    for (n = 1; n <= st->nevents; n++) {
        ev = ngx_unit_event_find(st, n);

        ngx_unit_check(ev && !ev->truncated
                       && ngx_unit_ring_holds(&ev->ring, 51, 100));
    }

    /* a refused event leaves nothing behind */

    pfree = zone->shpool->pfree;
    bytes = zone->sh->event_bytes;

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &id)
                   == NGX_DECLINED);
    ngx_unit_check(zone->shpool->pfree == pfree);
    ngx_unit_check(zone->sh->event_bytes == bytes);
    ngx_unit_check(st->nevents == 6);

    while (!ngx_queue_empty(&st->events)) {
        ev = ngx_queue_data(ngx_queue_head(&st->events), ngx_chrys_event_t,
                            queue);
        (void) ngx_chrys_event_delete(zone, st, ev->id);
    }

    ngx_unit_check(zone->sh->event_bytes == 0);

    pfree = zone->shpool->pfree;

    /* what the post window takes at the stream's bitrate counts too */

    st->rate.bitrate = 24000000;

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &id)
                   == NGX_DECLINED);

    /* 2 MB for the post window fits, with the pre window it does not */

    st->rate.bitrate = 16000000;

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &id)
                   == NGX_DECLINED);
    ngx_unit_check(zone->shpool->pfree == pfree);
    ngx_unit_check(st->nevents == 0);

    /* and the event's index: that of an hour is over the budget alone */

    st->rate.bitrate = 0;

    ngx_unit_check(ngx_unit_event(zone, st, 0, 3600000, &id)
                   == NGX_DECLINED);
    ngx_unit_check(zone->shpool->pfree == pfree);
    ngx_unit_check(zone->sh->event_bytes == 0);

    st->rate.bitrate = 8000000;

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &id) == NGX_OK);

    ngx_unit_zone_destroy(zone);
}


static void
test_event_too_many_on_a_stream(void)
{
    ngx_int_t            rc;
    ngx_uint_t           n, id;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st, *other;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 10000, 32 * 1024 * 1024, NULL);
    other = ngx_unit_ring(zone, "cam2", 10000, 32 * 1024 * 1024, NULL);

    /* nothing in the ring: an event is its index, 40 KB */

    zone->sh->event_budget = 6 * 1024 * 1024;

    (void) ngx_unit_now();

    rc = NGX_OK;

    for (n = 0; n < NGX_CHRYS_EVENTS_MAX + 1; n++) {
        rc = ngx_unit_event(zone, st, 0, 0, &id);

        if (rc != NGX_OK) {
            break;
        }
    }

    ngx_unit_check(n == NGX_CHRYS_EVENTS_MAX);
    ngx_unit_check(rc == NGX_BUSY);
    ngx_unit_check(st->nevents == NGX_CHRYS_EVENTS_MAX);

    /* the limit is a stream's */

    ngx_unit_check(ngx_unit_event(zone, other, 0, 0, &id) == NGX_OK);

    ngx_unit_zone_destroy(zone);
}


/*
 * The stream's new sequence header finds no room: the stream's ring takes
 * nothing until one fits, and neither do its events, which must not keep
 * access units under the header before (they would not decode).
 */

static void
test_event_takes_nothing_without_the_streams_header(void)
{
    void               **page, *pages;
    u_char               data[NGX_UNIT_BIG_CONFIG];
    uint64_t             now;
    ngx_uint_t           i, id, theirs;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_entry_t   *e;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 10000, 32 * 1024 * 1024, NULL);

    now = ngx_unit_now();
    ngx_unit_aus(zone, st, 1, 10, now - 400, NGX_UNIT_AU);

    ngx_unit_check(ngx_unit_event(zone, st, 1000, 10000, &id) == NGX_OK);

    ev = ngx_unit_event_find(st, id);

    ngx_unit_check(ev && ngx_unit_ring_holds(&ev->ring, 1, 10));

    if (ev == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    /* the rest of the zone is taken, by other streams say */

    pages = NULL;

    for ( ;; ) {
        page = ngx_slab_alloc(zone->shpool, ngx_pagesize);

        if (page == NULL) {
            break;
        }

        *page = pages;
        pages = page;
    }

    /* a new header, of a page, and the IDR after it */

    ngx_memset(data, 'b', sizeof(data));

    ngx_unit_check(ngx_chrys_ring_configure(zone, st, data, sizeof(data),
                                            640, 480)
                   == NGX_ERROR);
    ngx_unit_check(st->ring.config == NULL);

    ngx_unit_au(zone, st, 11, now, NGX_UNIT_AU, 1);

    ngx_unit_check(ngx_chrys_ring_entry(&st->ring, st->ring.count - 1)->seq
                   == 10);

    /* room again: the header fits, the GOP goes on */

    while (pages) {
        page = pages;
        pages = *page;
        ngx_slab_free(zone->shpool, page);
    }

    ngx_unit_check(ngx_chrys_ring_configure(zone, st, data, sizeof(data),
                                            640, 480)
                   == NGX_OK);

    ngx_unit_au(zone, st, 12, now + 40, NGX_UNIT_AU, 0);
    ngx_unit_au(zone, st, 13, now + 80, NGX_UNIT_AU, 1);
    ngx_unit_au(zone, st, 14, now + 120, NGX_UNIT_AU, 0);

    /* the event has all it holds under the header of each */

    ngx_unit_check(ngx_unit_decodable(&ev->ring));

    theirs = 1;

    for (i = 0; i < ev->ring.count; i++) {
        e = ngx_chrys_ring_entry(&ev->ring, i);

        if (e->config->len != (e->seq <= 10 ? 4 : NGX_UNIT_BIG_CONFIG)) {
            theirs = 0;
        }
    }

    ngx_unit_check(theirs);
    ngx_unit_check(ngx_chrys_ring_entry(&ev->ring, ev->ring.count - 1)->seq
                   == 14);

    ngx_unit_zone_destroy(zone);
}

/*
 * An event's pre window of a megabyte is copied a slice at a time, one
 * hold of the lock each; when it is done, the event is no longer filling
 * and holds what one copy of them would have: the same access units.
 */

static void
test_event_fill_copies_pre_window_in_slices(void)
{
    size_t               size;
    uint64_t             now;
    ngx_uint_t           i, id, holds, same;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_entry_t   *a, *b;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 10000, 32 * 1024 * 1024, NULL);

    size = 20 * 1024;

    now = ngx_unit_now();
    ngx_unit_aus(zone, st, 1, 100, now - 4000, size);

    ngx_unit_holds = 0;

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &id) == NGX_OK);

    holds = ngx_unit_holds;

    ev = ngx_unit_event_find(st, id);

    ngx_unit_check(ev != NULL);

    if (ev == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    /* one to make it, then one a slice (less than a slice and an AU) */

    ngx_unit_check(holds >= 1 + 50 * size / (NGX_CHRYS_SLICE + size));

    ngx_unit_check(!ev->filling);
    ngx_unit_check(ev->filled == 100);
    ngx_unit_check(!ev->truncated);
    ngx_unit_check(ngx_unit_ring_holds(&ev->ring, 51, 100));

    same = 1;

    for (i = 0; i < ev->ring.count; i++) {
        a = ngx_chrys_ring_entry(&ev->ring, i);
        b = ngx_chrys_ring_entry(&st->ring,
                                 ngx_chrys_ring_find_seq(&st->ring, a->seq));

        if (a->seq != b->seq || a->pts != b->pts || a->dts != b->dts
            || a->time != b->time || a->flags != b->flags
            || a->size != b->size
            || ngx_memcmp(a->data, b->data, a->size) != 0)
        {
            same = 0;
        }
    }

    ngx_unit_check(same);
    ngx_unit_check(zone->sh->event_bytes == ev->ring.bytes);

    /* the access units that come next go straight in */

    ngx_unit_aus(zone, st, 101, 110, now - 4000, size);

    ngx_unit_check(ngx_unit_ring_holds(&ev->ring, 51, 110));

    ngx_unit_zone_destroy(zone);
}


/*
 * The stream's window passes what an event still had to copy, between two
 * slices: the event goes on at the next IDR, and all it holds decodes.
 */

static void
test_event_fill_goes_on_at_next_idr(void)
{
    size_t               size;
    uint64_t             now;
    ngx_uint_t           i, id, gap;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_entry_t   *e;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 10000, 32 * 1024 * 1024, NULL);

    size = 20 * 1024;

    now = ngx_unit_now();
    ngx_unit_aus(zone, st, 1, 100, now - 4000, size);

    /*
     * before the second slice, an IDR 10.2 s after entry 61 (and 9.8 s
     * after entry 71): the window takes the GOPs up to entry 70
     */

    ngx_unit_publish_between(3, st, 101, now - 4000 + 60 * NGX_UNIT_FRAME
                                         + 10200);

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &id) == NGX_OK);

    /* the publisher acted meanwhile, and is not to act later */

    ngx_unit_check(ngx_unit_hook == NULL);
    ngx_unit_hook = NULL;

    ngx_unit_check(ngx_chrys_ring_entry(&st->ring, 0)->seq == 71);

    ev = ngx_unit_event_find(st, id);

    ngx_unit_check(ev != NULL);

    if (ev == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(!ev->filling);
    ngx_unit_check(ngx_unit_decodable(&ev->ring));

    /* the first slice, from entry 51, then the rest from entry 71 */

    gap = 0;

    for (i = 1; i < ev->ring.count; i++) {
        e = ngx_chrys_ring_entry(&ev->ring, i);

        if (e->seq != ngx_chrys_ring_entry(&ev->ring, i - 1)->seq + 1) {
            gap = i;
        }
    }

    ngx_unit_check(gap > 0);
    ngx_unit_check(ngx_chrys_ring_entry(&ev->ring, 0)->seq == 51);
    ngx_unit_check(ngx_chrys_ring_entry(&ev->ring, gap - 1)->seq < 70);
    ngx_unit_check(ngx_chrys_ring_entry(&ev->ring, gap)->seq == 71);
    ngx_unit_check(ngx_chrys_ring_entry(&ev->ring, ev->ring.count - 1)->seq
                   == 100);

    for (i = 0; i < ev->ring.count; i++) {
        ngx_unit_check(ngx_unit_entry_holds(ngx_chrys_ring_entry(&ev->ring,
                                                                 i)));
    }

    ngx_unit_zone_destroy(zone);
}


/* locks the zone for a call of ngx_chrys_ring_setup_locked() */

static void
ngx_unit_setup(ngx_chrys_zone_t *zone, ngx_chrys_ring_t *ring,
    ngx_msec_t window, size_t max_bytes, ngx_msec_t span)
{
    ngx_int_t  rc;

    ngx_chrys_zone_lock(zone);
    rc = ngx_chrys_ring_setup_locked(zone, ring, window, max_bytes, span);
    ngx_chrys_zone_unlock(zone);

    ngx_unit_check(rc == NGX_OK);
}


static void
ngx_unit_free(ngx_chrys_zone_t *zone, ngx_chrys_ring_t *ring)
{
    ngx_chrys_zone_lock(zone);
    ngx_chrys_ring_free_locked(zone, ring);
    ngx_chrys_zone_unlock(zone);
}


/* a sequence header of "len" bytes "tag" */

static ngx_int_t
ngx_unit_config(ngx_chrys_zone_t *zone, ngx_chrys_ring_t *ring, u_char tag,
    size_t len, ngx_uint_t width, ngx_uint_t height)
{
    u_char     data[NGX_UNIT_CONFIG_MAX];
    ngx_int_t  rc;

    ngx_memset(data, tag, len);

    ngx_chrys_zone_lock(zone);
    rc = ngx_chrys_ring_config_locked(zone, ring, data, len, width, height);
    ngx_chrys_zone_unlock(zone);

    return rc;
}


/* an access unit of "size" bytes that tell its seq, as the module makes */

static ngx_int_t
ngx_unit_append(ngx_chrys_zone_t *zone, ngx_chrys_ring_t *ring,
    ngx_uint_t seq, uint64_t time, size_t size, ngx_uint_t idr)
{
    u_char             *data;
    ngx_int_t           rc;
    ngx_chrys_entry_t   e;

    data = malloc(size + 1);
    if (data == NULL) {
        return NGX_ERROR;
    }

    ngx_unit_fill(data, size, seq);

    ngx_memzero(&e, sizeof(ngx_chrys_entry_t));

    e.seq = seq;
    e.dts = seq * NGX_UNIT_FRAME;
    e.pts = e.dts + 2 * NGX_UNIT_FRAME;
    e.time = time;
    e.size = size;
    e.flags = idr ? (NGX_CHRYS_AU_KEY|NGX_CHRYS_AU_IDR) : 0;

    ngx_chrys_zone_lock(zone);
    rc = ngx_chrys_ring_append_locked(zone, ring, &e, data);
    ngx_chrys_zone_unlock(zone);

    free(data);

    return rc;
}


/* entries "first" to "last" at their usual times, an IDR every GOP */

static ngx_int_t
ngx_unit_frames(ngx_chrys_zone_t *zone, ngx_chrys_ring_t *ring,
    ngx_uint_t first, ngx_uint_t last, size_t size)
{
    ngx_int_t   rc;
    ngx_uint_t  seq;

    for (seq = first; seq <= last; seq++) {
        rc = ngx_unit_append(zone, ring, seq, ngx_unit_time(seq), size,
                             ngx_unit_idr(seq));
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_unit_entry_holds(ngx_chrys_entry_t *e)
{
    return e->data != NULL && e->config != NULL && e->config->refs > 0
           && ngx_unit_filled(e->data, e->size, e->seq);
}


/* the ring holds entries "first" to "last", in order, intact */

static ngx_uint_t
ngx_unit_ring_holds(ngx_chrys_ring_t *ring, ngx_uint_t first,
    ngx_uint_t last)
{
    ngx_uint_t          i;
    ngx_chrys_entry_t  *e;

    if (ring->count != last - first + 1 || ring->count > ring->cap) {
        return 0;
    }

    for (i = 0; i < ring->count; i++) {
        e = ngx_chrys_ring_entry(ring, i);

        if (e->seq != first + i || !ngx_unit_entry_holds(e)) {
            return 0;
        }
    }

    return 1;
}


/*
 * Every entry of the ring decodes: it is an IDR, or the access unit right
 * after the entry before it.
 */

static ngx_uint_t
ngx_unit_decodable(ngx_chrys_ring_t *ring)
{
    ngx_uint_t          i;
    ngx_chrys_entry_t  *e;

    for (i = 0; i < ring->count; i++) {
        e = ngx_chrys_ring_entry(ring, i);

        if (e->flags & NGX_CHRYS_AU_IDR) {
            continue;
        }

        if (i == 0 || ngx_chrys_ring_entry(ring, i - 1)->seq + 1 != e->seq) {
            return 0;
        }
    }

    return 1;
}


static void
ngx_unit_fill(u_char *p, size_t len, ngx_uint_t seq)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        p[i] = (u_char) (seq * 7 + i);
    }
}


static ngx_uint_t
ngx_unit_filled(u_char *p, size_t len, ngx_uint_t seq)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] != (u_char) (seq * 7 + i)) {
            return 0;
        }
    }

    return 1;
}


/* "len" bytes "c", as of a sequence header or the padding */

static ngx_uint_t
ngx_unit_all(u_char *p, size_t len, u_char c)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] != c) {
            return 0;
        }
    }

    return 1;
}


/*
 * A copy out of a ring is in process memory, and each of its access units
 * holds what ngx_unit_au() sent, followed by the padding.
 */

static ngx_uint_t
ngx_unit_gop_holds(ngx_chrys_zone_t *zone, ngx_chrys_gop_t *gop)
{
    u_char      *addr;
    ngx_uint_t   i;

    addr = zone->shm_zone->shm.addr;

    if ((u_char *) gop < addr + zone->shm_zone->shm.size
        && (u_char *) gop + gop->bytes > addr)
    {
        return 0;
    }

    for (i = 0; i < gop->naus; i++) {
        if (!ngx_unit_all(gop->aus[i].data + gop->aus[i].len, NGX_UNIT_PAD,
                          0))
        {
            return 0;
        }

        if (gop->aus[i].flags & NGX_CHRYS_AU_CONFIG) {
            continue;
        }

        if (!ngx_unit_filled(gop->aus[i].data, gop->aus[i].len,
                             gop->aus[i].seq))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * A stream as its publisher's worker makes it: claimed with a ring, and a
 * sequence header ("avcC", 320x240) before any access unit.  With
 * "claim", *claim is the claim's number.
 */

static ngx_chrys_stream_t *
ngx_unit_ring(ngx_chrys_zone_t *zone, char *name, ngx_msec_t window,
    size_t max_bytes, ngx_uint_t *claim)
{
    ngx_str_t            s;
    ngx_uint_t           n;
    ngx_chrys_stream_t  *st;

    s.data = (u_char *) name;
    s.len = ngx_strlen(name);

    ngx_unit_check(ngx_unit_stream_claim(zone, &ngx_unit_app, &s, window,
                                          max_bytes, &st, &n,
                                          ngx_cycle->log)
                   == NGX_OK);

    if (st == NULL) {
        return NULL;
    }

    if (claim) {
        *claim = n;
    }

    ngx_unit_check(ngx_chrys_ring_configure(zone, st, (u_char *) "avcC", 4,
                                            320, 240)
                   == NGX_OK);

    return st;
}


/* a new sequence header of the stream, of "len" bytes "tag" */

static void
ngx_unit_configure(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    u_char tag, size_t len, ngx_uint_t width, ngx_uint_t height)
{
    u_char  data[NGX_UNIT_CONFIG_MAX];

    ngx_memset(data, tag, len);

    ngx_unit_check(ngx_chrys_ring_configure(zone, st, data, len, width,
                                            height)
                   == NGX_OK);
}


/* what the publisher's worker does with an access unit */

static void
ngx_unit_au(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st, ngx_uint_t seq,
    uint64_t time, size_t size, ngx_uint_t idr)
{
    ngx_chrys_au_t  au;

    ngx_memzero(&au, sizeof(ngx_chrys_au_t));

    au.data = malloc(size + NGX_UNIT_PAD);
    if (au.data == NULL) {
        return;
    }

    ngx_unit_fill(au.data, size, seq);

    au.seq = seq;
    au.dts = seq * NGX_UNIT_FRAME;
    au.pts = au.dts + 2 * NGX_UNIT_FRAME;
    au.time = time;
    au.flags = idr ? (NGX_CHRYS_AU_KEY|NGX_CHRYS_AU_IDR) : 0;
    au.len = size;

    ngx_chrys_ring_push(zone, st, &au, ngx_cycle->log);

    free(au.data);
}


/* access units "first" to "last", entry 1 arriving at "base" */

static void
ngx_unit_aus(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t first, ngx_uint_t last, uint64_t base, size_t size)
{
    ngx_uint_t  seq;

    for (seq = first; seq <= last; seq++) {
        ngx_unit_au(zone, st, seq, base + (seq - 1) * NGX_UNIT_FRAME, size,
                    ngx_unit_idr(seq));
    }
}


/*
 * Hands an access unit to the stream in another process, as another
 * worker would, and says whether that returned: a loop under the zone
 * lock fails the test instead of hanging the run.  The ring is in the
 * zone, so what the other process did is seen here.
 */

static ngx_int_t
ngx_unit_au_returns(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t seq, uint64_t time, size_t size, ngx_uint_t idr)
{
    int        status;
    ngx_pid_t  pid;

    pid = fork();

    if (pid == -1) {
        return NGX_ERROR;
    }

    if (pid == 0) {
        ngx_pid = ngx_getpid();
        alarm(NGX_UNIT_HANG);

        ngx_unit_au(zone, st, seq, time, size, idr);

        _exit(0);
    }

    if (waitpid(pid, &status, 0) != pid) {
        return NGX_ERROR;
    }

    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return NGX_OK;
    }

    fprintf(stderr, "access unit %lu did not return in %d s\n",
            (unsigned long) seq, NGX_UNIT_HANG);

    /* as the master does when a worker dies holding the lock */
    (void) ngx_shmtx_force_unlock(&zone->shpool->mutex, pid);

    return NGX_ERROR;
}


/* what POST .../events does */

static ngx_int_t
ngx_unit_event(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_msec_t pre, ngx_msec_t post, ngx_uint_t *id)
{
    ngx_str_t  label, meta;

    ngx_str_set(&label, "person");
    ngx_str_set(&meta, "{\"x\": 1}");

    return ngx_chrys_event_create(zone, st, &label, &meta, pre, post, id);
}


/* the event "id" of the stream, as the zone keeps it: looked at, not used */

static ngx_chrys_event_t *
ngx_unit_event_find(ngx_chrys_stream_t *st, ngx_uint_t id)
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
 * The lock as ngx_chrys_ring.c (and this program) takes it: counted, and
 * with the hook run before the hold it was set for.  ngx_chrys_zone.c
 * takes the real one directly.
 */

void
__wrap_ngx_chrys_zone_lock(ngx_chrys_zone_t *zone)
{
    void  (*hook)(ngx_chrys_zone_t *zone);

    ngx_unit_holds++;

    if (ngx_unit_hook && ngx_unit_holds == ngx_unit_hook_at) {
        hook = ngx_unit_hook;
        ngx_unit_hook = NULL;
        hook(zone);
    }

    __real_ngx_chrys_zone_lock(zone);
}


/*
 * Before hold "hold" of the lock from now on (the first is 1), the
 * publisher sends the IDR "seq" arriving at "time": between two slices
 * of a copy, as the publisher's worker may.
 */

static void
ngx_unit_publish_between(ngx_uint_t hold, ngx_chrys_stream_t *st,
    ngx_uint_t seq, uint64_t time)
{
    ngx_unit_hook_stream = st;
    ngx_unit_hook_seq = seq;
    ngx_unit_hook_time = time;

    ngx_unit_holds = 0;
    ngx_unit_hook_at = hold;
    ngx_unit_hook = ngx_unit_publish;
}


static void
ngx_unit_publish(ngx_chrys_zone_t *zone)
{
    ngx_unit_au(zone, ngx_unit_hook_stream, ngx_unit_hook_seq,
                ngx_unit_hook_time, NGX_UNIT_AU, 1);
}


/*
 * Now as ngx_chrys_event_create() sees it: nginx's cached time, which
 * stays as it is until the next ngx_time_update().
 */

static uint64_t
ngx_unit_now(void)
{
    ngx_time_update();

    return ngx_chrys_unix_msec();
}


/*
 * AAC frames go with the video they arrived with: out of the stream's
 * ring when its GOP leaves, counted in its bytes, and into an event.
 */

static void
test_audio_leaves_with_its_video(void)
{
    uint64_t             now, t;
    ngx_uint_t           seq, id;
    ngx_chrys_au_t       au;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;
    u_char               frame[300];

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 2000, 32 * 1024 * 1024, NULL);

    /* before a header, nothing is kept */

    ngx_memzero(&au, sizeof(ngx_chrys_au_t));
    ngx_memset(frame, 'a', sizeof(frame));
    au.data = frame;
    au.len = sizeof(frame);

    now = ngx_unit_now() - 10000;

    ngx_unit_au(zone, st, 1, now, NGX_UNIT_AU, 1);
    au.time = now;
    ngx_chrys_ring_push_audio(zone, st, &au, ngx_cycle->log);

    ngx_unit_check(st->ring.audio == NULL);

    ngx_unit_check(ngx_chrys_ring_audio_configure(zone, st,
                                                  (u_char *) "\x12\x10", 2,
                                                  44100, 2)
                   == NGX_OK);
    ngx_unit_check(st->ring.audio == &st->audio_ring);

    /* video 40 ms apart, an AAC frame with each */

    for (seq = 2; seq <= 200; seq++) {
        t = now + (seq - 1) * NGX_UNIT_FRAME;

        ngx_unit_au(zone, st, seq, t, NGX_UNIT_AU, ngx_unit_idr(seq));

        au.time = t + 1;
        au.dts = seq * NGX_UNIT_FRAME;
        au.pts = au.dts;
        ngx_chrys_ring_push_audio(zone, st, &au, ngx_cycle->log);
    }

    /* the 2 s window, whole GOPs: the audio starts where the video does */

    ngx_unit_check(st->audio_ring.count > 0);
    ngx_unit_check(st->audio_ring.count <= st->ring.count);
    ngx_unit_check(ngx_chrys_ring_entry(&st->audio_ring, 0)->time
                   >= ngx_chrys_ring_entry(&st->ring, 0)->time);
    ngx_unit_check(ngx_chrys_ring_entry(&st->audio_ring, 0)->time
                   <= ngx_chrys_ring_entry(&st->ring, 0)->time + 1);
    ngx_unit_check(ngx_chrys_ring_entry(&st->audio_ring, 0)->flags
                   & NGX_CHRYS_AU_AUDIO);
    ngx_unit_check(ngx_chrys_ring_bytes(&st->ring)
                   == st->ring.bytes + st->audio_ring.bytes);

    /* an event takes the audio of its window */

    ngx_unit_check(ngx_unit_event(zone, st, 1000, 0, &id) == NGX_OK);

    ev = ngx_unit_event_find(st, id);
    ngx_unit_check(ev != NULL);

    if (ev) {
        ngx_unit_check(ev->ring.audio == &ev->audio);
        ngx_unit_check(ev->audio.count > 0);
        ngx_unit_check(ngx_chrys_ring_entry(&ev->audio, 0)->time
                       >= ngx_chrys_ring_entry(&ev->ring, 0)->time);
        ngx_unit_check(zone->sh->event_bytes
                       == ngx_chrys_ring_bytes(&ev->ring));

        ngx_unit_check(ngx_chrys_event_delete(zone, st, id) == NGX_OK);
        ngx_unit_check(zone->sh->event_bytes == 0);
    }

    ngx_unit_zone_destroy(zone);
}


/*
 * An event's bytes, as the API tells them, are what it counts against the
 * zone's event budget: its data messages too.
 */

static void
test_event_bytes_count_its_data(void)
{
    uint64_t                 now;
    ngx_uint_t               id;
    ngx_pool_t              *pool;
    ngx_chrys_zone_t        *zone;
    ngx_chrys_event_t       *ev;
    ngx_chrys_stream_t      *st;
    ngx_chrys_event_info_t   info;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    pool = ngx_create_pool(4096, ngx_cycle->log);
    st = ngx_unit_ring(zone, "cam1", 10000, 32 * 1024 * 1024, NULL);

    now = ngx_unit_now();
    ngx_unit_aus(zone, st, 1, 100, now - 4000, NGX_UNIT_AU);

    ngx_unit_check(ngx_chrys_data_push(zone, st, now - 1000, 0, 1,
                                       (u_char *) "{\"door\":1}", 10)
                   == NGX_OK);

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &id) == NGX_OK);

    ev = ngx_unit_event_find(st, id);
    ngx_unit_check(ev != NULL);

    if (ev) {
        ngx_unit_check(ev->data.count == 1 && ev->data.bytes > 0);

        ngx_unit_check(ngx_chrys_event_info(zone, st, id, pool, &info)
                       == NGX_OK);
        ngx_unit_check(info.bytes
                       == ngx_chrys_ring_bytes(&ev->ring) + ev->data.bytes);
        ngx_unit_check(info.bytes == zone->sh->event_bytes);
    }

    ngx_destroy_pool(pool);
    ngx_unit_zone_destroy(zone);
}


/*
 * An event's audio and data indexes are reckoned against the budget
 * before they are made: an event whose video fills the budget gets no
 * audio or data, and stays within it.
 */

static void
test_event_audio_index_within_budget(void)
{
    size_t               video;
    uint64_t             now, t;
    ngx_uint_t           seq, id;
    ngx_chrys_au_t       au;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;
    u_char               frame[300];

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_ring(zone, "cam1", 10000, 32 * 1024 * 1024, NULL);

    ngx_unit_check(ngx_chrys_ring_audio_configure(zone, st,
                                                  (u_char *) "\x12\x10", 2,
                                                  44100, 2)
                   == NGX_OK);

    ngx_memzero(&au, sizeof(ngx_chrys_au_t));
    ngx_memset(frame, 'a', sizeof(frame));
    au.data = frame;
    au.len = sizeof(frame);

    now = ngx_unit_now() - 4000;

    for (seq = 1; seq <= 100; seq++) {
        t = now + (seq - 1) * NGX_UNIT_FRAME;

        ngx_unit_au(zone, st, seq, t, NGX_UNIT_AU, ngx_unit_idr(seq));

        au.time = t + 1;
        au.dts = seq * NGX_UNIT_FRAME;
        au.pts = au.dts;
        ngx_chrys_ring_push_audio(zone, st, &au, ngx_cycle->log);
    }

    ngx_unit_check(ngx_chrys_data_push(zone, st, now + 3000, 0, 1,
                                       (u_char *) "{\"door\":1}", 10)
                   == NGX_OK);

    /* what the event's video takes, with the budget to spare */

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &id) == NGX_OK);

    ev = ngx_unit_event_find(st, id);
    ngx_unit_check(ev != NULL && ev->audio.count > 0
                   && ev->data.count == 1);

    video = ev ? ev->ring.bytes : 0;
    ngx_unit_check(ngx_chrys_event_delete(zone, st, id) == NGX_OK);

    /* room for that, not for the index of its audio or data too */

    zone->sh->event_budget = video + 1024;

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &id) == NGX_OK);

    ev = ngx_unit_event_find(st, id);
    ngx_unit_check(ev != NULL);

    if (ev) {
        ngx_unit_check(ev->ring.bytes == video);
        ngx_unit_check(ev->ring.audio == NULL && ev->truncated);
        ngx_unit_check(ev->data.entries == NULL);
        ngx_unit_check(zone->sh->event_bytes <= zone->sh->event_budget);
        ngx_unit_check(zone->sh->event_bytes
                       == ngx_chrys_ring_bytes(&ev->ring));
    }

    ngx_unit_zone_destroy(zone);
}


int
main(void)
{
    ngx_unit_init();

    /* a test that deadlocks on the zone mutex fails rather than hangs */
    alarm(60);

    ngx_unit_run(test_ring_setup_sizes_entries_from_span);
    ngx_unit_run(test_ring_bytes_count_index_and_chunks);
    ngx_unit_run(test_ring_free_returns_every_page);
    ngx_unit_run(test_ring_append_needs_config);
    ngx_unit_run(test_ring_entries_hold_config_refs);

    ngx_unit_run(test_ring_window_evicts_oldest_gop);
    ngx_unit_run(test_ring_byte_cap_evicts_oldest_gops);
    ngx_unit_run(test_ring_full_index_evicts_a_gop);
    ngx_unit_run(test_ring_keeps_gop_of_newest_entry_over_window);
    ngx_unit_run(test_ring_keeps_gop_of_newest_entry_over_byte_cap);
    ngx_unit_run(test_ring_full_index_of_one_gop);
    ngx_unit_run(test_ring_big_au_gets_its_own_chunk);
    ngx_unit_run(test_ring_zone_full_evicts_own_gops);

    ngx_unit_run(test_ring_find_time_seq_and_gop_across_wrap);
    ngx_unit_run(test_ring_gop_start_without_idr);
    ngx_unit_run(test_ring_frame_has_configs_and_padding);
    ngx_unit_run(test_ring_frame_range_results);
    ngx_unit_run(test_ring_gop_step_and_index);
    ngx_unit_run(test_ring_frame_copies_gop_bigger_than_a_slice);
    ngx_unit_run(test_ring_frame_of_entries_gone_between_slices);

    ngx_unit_run(test_stream_claim_sets_up_ring);
    ngx_unit_run(test_stream_ring_full_zone_is_logged);

    ngx_unit_run(test_event_copies_from_idr_before_pre_window);
    ngx_unit_run(test_event_without_idr_before_pre_window);
    ngx_unit_run(test_event_create_copies_pre_window);
    ngx_unit_run(test_event_takes_aus_until_its_end);
    ngx_unit_run(test_event_outlives_stream_window);
    ngx_unit_run(test_event_delete_frees_everything);
    ngx_unit_run(test_event_over_budget_is_refused);
    ngx_unit_run(test_event_too_many_on_a_stream);
    ngx_unit_run(test_event_takes_nothing_without_the_streams_header);
    ngx_unit_run(test_event_fill_copies_pre_window_in_slices);
    ngx_unit_run(test_event_fill_goes_on_at_next_idr);
    ngx_unit_run(test_audio_leaves_with_its_video);
    ngx_unit_run(test_event_bytes_count_its_data);
    ngx_unit_run(test_event_audio_index_within_budget);

    /* the slab allocator found nothing wrong */
    ngx_unit_check(ngx_unit_log_crit == 0);

    return ngx_unit_summary("test_ring");
}
