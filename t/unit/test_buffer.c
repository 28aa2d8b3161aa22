
/*
 * Copyright (C) chrys authors
 *
 * Unit tests of ngx_chrys_buffer.c: the stream buffer (a ring of access
 * units over chunks of the zone, evicted by whole GOPs) and events, in a
 * zone made the way nginx makes a shared zone, with nginx's own slab
 * allocator.  The tests play the publisher's worker (claim, sequence
 * header, access units) and the HTTP side (copy, events) the way
 * ngx_chrys_module.c and ngx_chrys_http_buffer.c do.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys.h"
#include "ngx_unit.h"
#include "ngx_unit_zone.h"

#include <libavcodec/avcodec.h>


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

/* an operation under the zone lock that has not returned by then hangs */
#define NGX_UNIT_HANG         3


static void ngx_unit_setup(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf,
    ngx_msec_t window, size_t max_bytes, ngx_msec_t span);
static void ngx_unit_free(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf);
static ngx_int_t ngx_unit_config(ngx_chrys_zone_t *zone,
    ngx_chrys_buf_t *buf, u_char tag, size_t len, ngx_uint_t width,
    ngx_uint_t height);
static ngx_int_t ngx_unit_append(ngx_chrys_zone_t *zone,
    ngx_chrys_buf_t *buf, ngx_uint_t seq, uint64_t time, size_t size,
    ngx_uint_t idr);
static ngx_int_t ngx_unit_frames(ngx_chrys_zone_t *zone,
    ngx_chrys_buf_t *buf, ngx_uint_t first, ngx_uint_t last, size_t size);
static ngx_uint_t ngx_unit_entry_holds(ngx_chrys_entry_t *e);
static ngx_uint_t ngx_unit_buf_holds(ngx_chrys_buf_t *buf,
    ngx_uint_t first, ngx_uint_t last);
static void ngx_unit_fill(u_char *p, size_t len, ngx_uint_t seq);
static ngx_uint_t ngx_unit_filled(u_char *p, size_t len, ngx_uint_t seq);
static ngx_uint_t ngx_unit_all(u_char *p, size_t len, u_char c);
static ngx_chrys_stream_t *ngx_unit_buffer(ngx_chrys_zone_t *zone,
    char *name, ngx_msec_t window, size_t max_bytes);
static void ngx_unit_packet(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t seq, uint64_t time, size_t size, ngx_uint_t idr);
static void ngx_unit_packets(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t first, ngx_uint_t last, uint64_t base, size_t size);
static ngx_int_t ngx_unit_packet_returns(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t seq, uint64_t time, size_t size,
    ngx_uint_t idr);
static ngx_chrys_event_t *ngx_unit_event(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_msec_t pre, ngx_msec_t post,
    ngx_uint_t *status);
static uint64_t ngx_unit_now(void);


static void
test_buf_setup_sizes_entries_from_span(void)
{
    ngx_uint_t          pfree;
    ngx_chrys_buf_t     buf;
    ngx_chrys_zone_t   *zone;
    ngx_chrys_entry_t  *entries;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&buf, sizeof(ngx_chrys_buf_t));
    pfree = zone->shpool->pfree;

    /* 64 entries a second of the span, and 64 more */

    ngx_unit_setup(zone, &buf, 1000, 1024 * 1024, 1000);

    ngx_unit_check(buf.entries != NULL);
    ngx_unit_check(buf.cap == 128);
    ngx_unit_check(buf.count == 0);
    ngx_unit_check(buf.window == 1000);
    ngx_unit_check(buf.max_bytes == 1024 * 1024);
    ngx_unit_check(buf.bytes == 128 * sizeof(ngx_chrys_entry_t));
    ngx_unit_check(zone->shpool->pfree
                   == pfree - ngx_unit_pages(128 * sizeof(ngx_chrys_entry_t)));

    /* the same span keeps the index, with the new limits */

    entries = buf.entries;

    ngx_unit_setup(zone, &buf, 1500, 2 * 1024 * 1024, 1000);

    ngx_unit_check(buf.entries == entries);
    ngx_unit_check(buf.window == 1500);
    ngx_unit_check(buf.max_bytes == 2 * 1024 * 1024);
    ngx_unit_check(buf.bytes == 128 * sizeof(ngx_chrys_entry_t));

    /* another span makes another index */

    ngx_unit_setup(zone, &buf, 30000, 2 * 1024 * 1024, 30000);

    ngx_unit_check(buf.cap == 1984);
    ngx_unit_check(buf.window == 30000);
    ngx_unit_check(buf.bytes == 1984 * sizeof(ngx_chrys_entry_t));
    ngx_unit_check(zone->shpool->pfree
                   == pfree
                      - ngx_unit_pages(1984 * sizeof(ngx_chrys_entry_t)));

    /* no span: 64 entries; an hour: no more than 65536 */

    ngx_unit_setup(zone, &buf, 0, 1024 * 1024, 0);
    ngx_unit_check(buf.cap == 64);

    ngx_unit_setup(zone, &buf, 3600000, 1024 * 1024, 3600000);
    ngx_unit_check(buf.cap == 65536);
    ngx_unit_check(buf.bytes == 65536 * sizeof(ngx_chrys_entry_t));

    ngx_unit_free(zone, &buf);

    ngx_unit_check(buf.entries == NULL);
    ngx_unit_check(buf.cap == 0);
    ngx_unit_check(buf.bytes == 0);
    ngx_unit_check(zone->shpool->pfree == pfree);

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_bytes_count_index_and_chunks(void)
{
    size_t             index;
    ngx_chrys_buf_t    buf;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&buf, sizeof(ngx_chrys_buf_t));
    ngx_unit_setup(zone, &buf, 0, 64 * 1024 * 1024, 10000);
    (void) ngx_unit_config(zone, &buf, 'a', 40, 320, 240);

    index = buf.cap * sizeof(ngx_chrys_entry_t);

    ngx_unit_check(buf.bytes == index);

    /* the first access unit takes a chunk, the next ones fill it */

    ngx_unit_check(ngx_unit_frames(zone, &buf, 1, 1, NGX_UNIT_AU) == NGX_OK);
    ngx_unit_check(buf.first != NULL && buf.first == buf.last);
    ngx_unit_check(buf.bytes == index + NGX_CHRYS_CHUNK);

    ngx_unit_check(ngx_unit_frames(zone, &buf, 2, 200, NGX_UNIT_AU)
                   == NGX_OK);
    ngx_unit_check(buf.first == buf.last);
    ngx_unit_check(buf.last->used == 200 * NGX_UNIT_AU);
    ngx_unit_check(buf.bytes == index + NGX_CHRYS_CHUNK);

    /* those that do not fit go into the next */

    ngx_unit_check(ngx_unit_frames(zone, &buf, 201, 300, NGX_UNIT_AU)
                   == NGX_OK);
    ngx_unit_check(buf.first != buf.last);
    ngx_unit_check(buf.first->next == buf.last);
    ngx_unit_check(buf.bytes == index + 2 * NGX_CHRYS_CHUNK);
    ngx_unit_check(buf.count == 300);
    ngx_unit_check(ngx_unit_buf_holds(&buf, 1, 300));

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_free_returns_every_page(void)
{
    ngx_uint_t         pfree;
    ngx_chrys_buf_t    buf;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&buf, sizeof(ngx_chrys_buf_t));
    pfree = zone->shpool->pfree;

    ngx_unit_setup(zone, &buf, 0, 64 * 1024 * 1024, 10000);
    (void) ngx_unit_config(zone, &buf, 'a', NGX_UNIT_BIG_CONFIG, 320, 240);
    (void) ngx_unit_frames(zone, &buf, 1, 300, NGX_UNIT_AU);
    (void) ngx_unit_config(zone, &buf, 'b', 40, 640, 480);
    (void) ngx_unit_frames(zone, &buf, 301, 310, 300 * 1024);

    ngx_unit_check(buf.count == 310);
    ngx_unit_check(zone->shpool->pfree < pfree);

    ngx_unit_free(zone, &buf);

    ngx_unit_check(zone->shpool->pfree == pfree);
    ngx_unit_check(buf.entries == NULL);
    ngx_unit_check(buf.count == 0);
    ngx_unit_check(buf.first == NULL && buf.last == NULL);
    ngx_unit_check(buf.config == NULL);
    ngx_unit_check(buf.bytes == 0);

    /* an empty buffer, and one that was never set up */

    ngx_unit_setup(zone, &buf, 1000, 1024 * 1024, 1000);
    ngx_unit_free(zone, &buf);
    ngx_unit_free(zone, &buf);

    ngx_unit_check(zone->shpool->pfree == pfree);

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_append_needs_config(void)
{
    ngx_chrys_buf_t    buf;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&buf, sizeof(ngx_chrys_buf_t));

    /* no buffer */

    ngx_unit_check(ngx_unit_append(zone, &buf, 1, NGX_UNIT_T0, NGX_UNIT_AU,
                                   1)
                   == NGX_DECLINED);

    /* no sequence header yet: nothing is kept, no chunk is taken */

    ngx_unit_setup(zone, &buf, 1000, 1024 * 1024, 1000);

    ngx_unit_check(ngx_unit_append(zone, &buf, 1, NGX_UNIT_T0, NGX_UNIT_AU,
                                   1)
                   == NGX_DECLINED);
    ngx_unit_check(buf.count == 0);
    ngx_unit_check(buf.first == NULL);

    ngx_unit_check(ngx_unit_config(zone, &buf, 'a', 40, 320, 240) == NGX_OK);

    ngx_unit_check(ngx_unit_append(zone, &buf, 1, NGX_UNIT_T0, NGX_UNIT_AU,
                                   1)
                   == NGX_OK);
    ngx_unit_check(buf.count == 1);
    ngx_unit_check(ngx_chrys_buf_entry(&buf, 0)->config == buf.config);
    ngx_unit_check(ngx_unit_buf_holds(&buf, 1, 1));

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_entries_hold_config_refs(void)
{
    ngx_uint_t           pfree, before;
    ngx_chrys_buf_t      buf;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_config_t  *a, *b;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&buf, sizeof(ngx_chrys_buf_t));
    pfree = zone->shpool->pfree;

    ngx_unit_setup(zone, &buf, 1000, 64 * 1024 * 1024, 1000);

    ngx_unit_check(ngx_unit_config(zone, &buf, 'a', NGX_UNIT_BIG_CONFIG,
                                   320, 240)
                   == NGX_OK);

    a = buf.config;

    ngx_unit_check(a != NULL);
    ngx_unit_check(a && a->refs == 1 && a->len == NGX_UNIT_BIG_CONFIG);
    ngx_unit_check(a && a->width == 320 && a->height == 240);

    (void) ngx_unit_frames(zone, &buf, 1, 3, NGX_UNIT_AU);

    ngx_unit_check(a->refs == 4);
    ngx_unit_check(ngx_chrys_buf_entry(&buf, 2)->config == a);

    /* the same header again changes nothing */

    ngx_unit_check(ngx_unit_config(zone, &buf, 'a', NGX_UNIT_BIG_CONFIG,
                                   320, 240)
                   == NGX_OK);
    ngx_unit_check(buf.config == a);
    ngx_unit_check(a->refs == 4);

    /* another one is another object, for the entries that follow */

    ngx_unit_check(ngx_unit_config(zone, &buf, 'b', NGX_UNIT_BIG_CONFIG,
                                   640, 480)
                   == NGX_OK);

    b = buf.config;

    ngx_unit_check(b != a);
    ngx_unit_check(a->refs == 3);
    ngx_unit_check(b->refs == 1 && b->width == 640);

    (void) ngx_unit_frames(zone, &buf, 11, 12, NGX_UNIT_AU);

    ngx_unit_check(b->refs == 3);
    ngx_unit_check(ngx_chrys_buf_entry(&buf, 2)->config == a);
    ngx_unit_check(ngx_chrys_buf_entry(&buf, 3)->config == b);

    /* the window passes the first GOP: its header goes with it */

    before = zone->shpool->pfree;

    (void) ngx_unit_frames(zone, &buf, 30, 30, NGX_UNIT_AU);

    ngx_unit_check(buf.count == 3);
    ngx_unit_check(ngx_chrys_buf_entry(&buf, 0)->seq == 11);
    ngx_unit_check(ngx_chrys_buf_entry(&buf, 0)->config == b);
    ngx_unit_check(b->refs == 4);
    ngx_unit_check(zone->shpool->pfree == before + 1);

    ngx_unit_free(zone, &buf);

    ngx_unit_check(zone->shpool->pfree == pfree);

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_window_evicts_oldest_gop(void)
{
    ngx_uint_t          seq, count, heads, within, gops;
    ngx_chrys_buf_t     buf;
    ngx_chrys_zone_t   *zone;
    ngx_chrys_entry_t  *head, *last;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&buf, sizeof(ngx_chrys_buf_t));
    ngx_unit_setup(zone, &buf, 1000, 64 * 1024 * 1024, 1000);
    (void) ngx_unit_config(zone, &buf, 'a', 40, 320, 240);

    heads = 1;
    within = 1;
    gops = 1;

    for (seq = 1; seq <= 100; seq++) {
        count = buf.count;

        ngx_unit_check(ngx_unit_frames(zone, &buf, seq, seq, NGX_UNIT_AU)
                       == NGX_OK);

        head = ngx_chrys_buf_entry(&buf, 0);
        last = ngx_chrys_buf_entry(&buf, buf.count - 1);

        if (!(head->flags & NGX_CHRYS_ENTRY_IDR)) {
            heads = 0;
        }

        if (last->seq != seq || last->time - head->time > buf.window) {
            within = 0;
        }

        /* one GOP at a time: GOPs are shorter than the window */

        if (buf.count != count + 1 && buf.count != count + 1 - NGX_UNIT_GOP)
        {
            gops = 0;
        }

        if (seq == 27) {
            /* 1040 ms after entry 1: the GOP of entries 1 to 10 goes */
            ngx_unit_check(count == 26 && buf.count == 17);
            ngx_unit_check(head->seq == 11);
        }
    }

    ngx_unit_check(heads);
    ngx_unit_check(within);
    ngx_unit_check(gops);

    /* entry 71 came 1160 ms before entry 100, entry 81 760 ms */

    ngx_unit_check(ngx_chrys_buf_entry(&buf, 0)->seq == 81);
    ngx_unit_check(buf.count == 20);
    ngx_unit_check(ngx_unit_buf_holds(&buf, 81, 100));

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_byte_cap_evicts_oldest_gops(void)
{
    size_t             max;
    ngx_uint_t         seq, below, heads;
    ngx_chrys_buf_t    buf;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&buf, sizeof(ngx_chrys_buf_t));

    /* the index and three chunks; a GOP of 20000-byte units is 200000 */

    max = 704 * sizeof(ngx_chrys_entry_t) + 3 * NGX_CHRYS_CHUNK;

    ngx_unit_setup(zone, &buf, 0, max, 10000);
    (void) ngx_unit_config(zone, &buf, 'a', 40, 320, 240);

    ngx_unit_check(buf.cap == 704);

    below = 1;
    heads = 1;

    for (seq = 1; seq <= 100; seq++) {
        ngx_unit_check(ngx_unit_frames(zone, &buf, seq, seq, 20000)
                       == NGX_OK);

        if (buf.bytes > max) {
            below = 0;
        }

        if (!(ngx_chrys_buf_entry(&buf, 0)->flags & NGX_CHRYS_ENTRY_IDR)) {
            heads = 0;
        }
    }

    ngx_unit_check(below);
    ngx_unit_check(heads);
    ngx_unit_check(ngx_chrys_buf_entry(&buf, 0)->seq > 1);
    ngx_unit_check(ngx_chrys_buf_entry(&buf, buf.count - 1)->seq == 100);
    ngx_unit_check(ngx_unit_buf_holds(&buf,
                                      ngx_chrys_buf_entry(&buf, 0)->seq,
                                      100));

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_full_index_evicts_a_gop(void)
{
    ngx_chrys_buf_t    buf;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&buf, sizeof(ngx_chrys_buf_t));
    ngx_unit_setup(zone, &buf, 0, 64 * 1024 * 1024, 0);
    (void) ngx_unit_config(zone, &buf, 'a', 40, 320, 240);

    ngx_unit_check(ngx_unit_frames(zone, &buf, 1, 64, NGX_UNIT_AU)
                   == NGX_OK);
    ngx_unit_check(buf.count == buf.cap);

    ngx_unit_check(ngx_unit_frames(zone, &buf, 65, 65, NGX_UNIT_AU)
                   == NGX_OK);
    ngx_unit_check(buf.count == 64 - NGX_UNIT_GOP + 1);
    ngx_unit_check(buf.head == NGX_UNIT_GOP);
    ngx_unit_check(ngx_chrys_buf_entry(&buf, 0)->seq == 11);
    ngx_unit_check(ngx_unit_buf_holds(&buf, 11, 65));

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_keeps_gop_of_newest_entry_over_window(void)
{
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_buffer(zone, "cam1", 1000, 64 * 1024 * 1024);

    /* a GOP that goes on for longer than the window */

    ngx_unit_packets(zone, st, 1, 5, NGX_UNIT_T0, NGX_UNIT_AU);

    ngx_unit_check(ngx_unit_packet_returns(zone, st, 6, NGX_UNIT_T0 + 5000,
                                           NGX_UNIT_AU, 0)
                   == NGX_OK);
    ngx_unit_check(st->buf.count == 6);
    ngx_unit_check(ngx_chrys_buf_entry(&st->buf, 0)->seq == 1);

    /* the next IDR ends it, and the window takes it */

    ngx_unit_check(ngx_unit_packet_returns(zone, st, 7, NGX_UNIT_T0 + 5040,
                                           NGX_UNIT_AU, 1)
                   == NGX_OK);
    ngx_unit_check(st->buf.count == 1);
    ngx_unit_check(ngx_chrys_buf_entry(&st->buf, 0)->seq == 7);

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_keeps_gop_of_newest_entry_over_byte_cap(void)
{
    ngx_uint_t           seq, returned;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    /* "chrys_buffer 10s 1m;" and a GOP of a megabyte */

    st = ngx_unit_buffer(zone, "cam1", 10000, 1024 * 1024);

    returned = 0;

    for (seq = 1; seq <= 10; seq++) {
        if (ngx_unit_packet_returns(zone, st, seq, ngx_unit_time(seq),
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
    ngx_unit_check(st->buf.count >= 6 && st->buf.count < 10);
    ngx_unit_check(st->buf.skip == 1);
    ngx_unit_check(st->buf.bytes > st->buf.max_bytes);
    ngx_unit_check(st->buf.bytes
                   <= st->buf.max_bytes + NGX_CHRYS_CHUNK + 100 * 1024);
    ngx_unit_check(ngx_chrys_buf_entry(&st->buf, 0)->seq == 1);

    /* the next IDR starts a GOP that takes the place of that one */

    ngx_unit_check(ngx_unit_packet_returns(zone, st, 11, ngx_unit_time(11),
                                           100 * 1024, 1)
                   == NGX_OK);
    ngx_unit_check(st->buf.skip == 0);
    ngx_unit_check(st->buf.count == 1);
    ngx_unit_check(ngx_chrys_buf_entry(&st->buf, 0)->seq == 11);
    ngx_unit_check(st->buf.bytes <= st->buf.max_bytes);

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_full_index_of_one_gop(void)
{
    ngx_uint_t         i, ascending;
    ngx_chrys_buf_t    buf;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    /* as an event's buffer: no window; one GOP of more entries than fit */

    ngx_memzero(&buf, sizeof(ngx_chrys_buf_t));
    ngx_unit_setup(zone, &buf, 0, 64 * 1024 * 1024, 0);
    (void) ngx_unit_config(zone, &buf, 'a', 40, 320, 240);

    for (i = 1; i <= 70; i++) {
        (void) ngx_unit_append(zone, &buf, i, ngx_unit_time(i), NGX_UNIT_AU,
                               i == 1);
    }

    ngx_unit_check(buf.count <= buf.cap);

    ascending = 1;

    for (i = 1; i < ngx_min(buf.count, buf.cap); i++) {
        if (ngx_chrys_buf_entry(&buf, i)->seq
            <= ngx_chrys_buf_entry(&buf, i - 1)->seq)
        {
            ascending = 0;
        }
    }

    ngx_unit_check(ascending);

    if (buf.count <= buf.cap) {
        ngx_unit_check(buf.config->refs == buf.count + 1);
        ngx_unit_free(zone, &buf);
    }

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_big_packet_gets_its_own_chunk(void)
{
    size_t              big;
    ngx_uint_t          pfree, chunk, own;
    ngx_chrys_buf_t     buf;
    ngx_chrys_zone_t   *zone;
    ngx_chrys_chunk_t  *a, *b, *c;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&buf, sizeof(ngx_chrys_buf_t));
    ngx_unit_setup(zone, &buf, 250, 64 * 1024 * 1024, 1000);
    (void) ngx_unit_config(zone, &buf, 'a', 40, 320, 240);

    big = 300 * 1024;
    chunk = ngx_unit_pages(NGX_CHRYS_CHUNK);
    own = ngx_unit_pages(sizeof(ngx_chrys_chunk_t) + big);

    pfree = zone->shpool->pfree;

    (void) ngx_unit_append(zone, &buf, 1, NGX_UNIT_T0, NGX_UNIT_AU, 1);
    a = buf.last;

    (void) ngx_unit_append(zone, &buf, 2, NGX_UNIT_T0 + 100, big, 1);
    b = buf.last;

    ngx_unit_check(a != b);
    ngx_unit_check(b->size == big && b->used == big);
    ngx_unit_check(zone->shpool->pfree == pfree - chunk - own);
    ngx_unit_check(buf.bytes == buf.cap * sizeof(ngx_chrys_entry_t)
                                + NGX_CHRYS_CHUNK
                                + sizeof(ngx_chrys_chunk_t) + big);

    /* the big chunk is full: the next unit starts another */

    (void) ngx_unit_append(zone, &buf, 3, NGX_UNIT_T0 + 200, NGX_UNIT_AU, 1);
    c = buf.last;

    ngx_unit_check(c != b && a->next == b && b->next == c);
    ngx_unit_check(buf.count == 3);
    ngx_unit_check(ngx_unit_buf_holds(&buf, 1, 3));

    pfree = zone->shpool->pfree;

    /* the window passes entry 1, then entry 2: their chunks go */

    (void) ngx_unit_append(zone, &buf, 4, NGX_UNIT_T0 + 300, NGX_UNIT_AU, 0);

    ngx_unit_check(ngx_chrys_buf_entry(&buf, 0)->seq == 2);
    ngx_unit_check(buf.first == b);
    ngx_unit_check(zone->shpool->pfree == pfree + chunk);

    (void) ngx_unit_append(zone, &buf, 5, NGX_UNIT_T0 + 400, NGX_UNIT_AU, 0);

    ngx_unit_check(ngx_chrys_buf_entry(&buf, 0)->seq == 3);
    ngx_unit_check(buf.first == c && buf.last == c);
    ngx_unit_check(zone->shpool->pfree == pfree + chunk + own);
    ngx_unit_check(buf.bytes == buf.cap * sizeof(ngx_chrys_entry_t)
                                + NGX_CHRYS_CHUNK);
    ngx_unit_check(ngx_unit_buf_holds(&buf, 3, 5));

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_zone_full_evicts_own_gops(void)
{
    ngx_int_t          rc;
    ngx_uint_t         seq, ok;
    ngx_chrys_buf_t    buf;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_SMALL_ZONE);

    /* no limits of its own: only the zone's size */

    ngx_memzero(&buf, sizeof(ngx_chrys_buf_t));
    ngx_unit_setup(zone, &buf, 0, 64 * 1024 * 1024, 1000);
    (void) ngx_unit_config(zone, &buf, 'a', 40, 320, 240);

    /* GOPs of two 100 KB units, four megabytes of them */

    ok = 0;

    for (seq = 1; seq <= 40; seq++) {
        if (ngx_unit_append(zone, &buf, seq, ngx_unit_time(seq), 100 * 1024,
                            seq % 2 == 1)
            == NGX_OK)
        {
            ok++;
        }
    }

    ngx_unit_check(ok == 40);
    ngx_unit_check(ngx_chrys_buf_entry(&buf, 0)->seq > 1);
    ngx_unit_check(ngx_chrys_buf_entry(&buf, 0)->flags & NGX_CHRYS_ENTRY_IDR);
    ngx_unit_check(ngx_chrys_buf_entry(&buf, buf.count - 1)->seq == 40);
    ngx_unit_check(ngx_unit_buf_holds(&buf,
                                      ngx_chrys_buf_entry(&buf, 0)->seq, 40));

    /* a GOP that does not end: the older ones go, then it stops growing */

    rc = NGX_OK;

    for (seq = 41; seq <= 60; seq++) {
        rc = ngx_unit_append(zone, &buf, seq, ngx_unit_time(seq), 100 * 1024,
                             seq == 41);
        if (rc != NGX_OK) {
            break;
        }
    }

    ngx_unit_check(rc == NGX_ERROR);
    ngx_unit_check(seq > 43 && seq <= 60);
    ngx_unit_check(ngx_chrys_buf_entry(&buf, 0)->seq == 41);
    ngx_unit_check(ngx_chrys_buf_entry(&buf, buf.count - 1)->seq == seq - 1);
    ngx_unit_check(ngx_unit_buf_holds(&buf, 41, seq - 1));
    ngx_unit_check(zone->shpool->log_nomem == 0);

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_find_time_seq_and_gop_across_wrap(void)
{
    ngx_uint_t         i, ordered;
    ngx_chrys_buf_t    buf;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&buf, sizeof(ngx_chrys_buf_t));
    ngx_unit_setup(zone, &buf, 0, 64 * 1024 * 1024, 0);
    (void) ngx_unit_config(zone, &buf, 'a', 40, 320, 240);

    ngx_unit_check(ngx_chrys_buf_find_time(&buf, ngx_unit_time(1)) == -1);
    ngx_unit_check(ngx_chrys_buf_find_seq(&buf, 1) == -1);

    /* 64 entries: entries 21 to 80 are left, from slot 20 round to 15 */

    (void) ngx_unit_frames(zone, &buf, 1, 80, NGX_UNIT_AU);

    ngx_unit_check(buf.head == 20);
    ngx_unit_check(buf.count == 60);
    ngx_unit_check(buf.head + buf.count > buf.cap);

    ordered = 1;

    for (i = 0; i < buf.count; i++) {
        if (ngx_chrys_buf_entry(&buf, i) != &buf.entries[(20 + i) % 64]
            || ngx_chrys_buf_entry(&buf, i)->seq != 21 + i)
        {
            ordered = 0;
        }
    }

    ngx_unit_check(ordered);
    ngx_unit_check(ngx_unit_buf_holds(&buf, 21, 80));

    /* the last entry at or before a time */

    ngx_unit_check(ngx_chrys_buf_find_time(&buf, 0) == -1);
    ngx_unit_check(ngx_chrys_buf_find_time(&buf, ngx_unit_time(21) - 1)
                   == -1);
    ngx_unit_check(ngx_chrys_buf_find_time(&buf, ngx_unit_time(21)) == 0);
    ngx_unit_check(ngx_chrys_buf_find_time(&buf, ngx_unit_time(50)) == 29);
    ngx_unit_check(ngx_chrys_buf_find_time(&buf, ngx_unit_time(50) + 39)
                   == 29);
    ngx_unit_check(ngx_chrys_buf_find_time(&buf, ngx_unit_time(64)) == 43);
    ngx_unit_check(ngx_chrys_buf_find_time(&buf, ngx_unit_time(65)) == 44);
    ngx_unit_check(ngx_chrys_buf_find_time(&buf, ngx_unit_time(80)) == 59);
    ngx_unit_check(ngx_chrys_buf_find_time(&buf, (uint64_t) -1) == 59);

    /* the last entry at or below a seq */

    ngx_unit_check(ngx_chrys_buf_find_seq(&buf, 0) == -1);
    ngx_unit_check(ngx_chrys_buf_find_seq(&buf, 20) == -1);
    ngx_unit_check(ngx_chrys_buf_find_seq(&buf, 21) == 0);
    ngx_unit_check(ngx_chrys_buf_find_seq(&buf, 50) == 29);
    ngx_unit_check(ngx_chrys_buf_find_seq(&buf, 65) == 44);
    ngx_unit_check(ngx_chrys_buf_find_seq(&buf, 1000) == 59);

    /* the IDR at or before an entry */

    ngx_unit_check(ngx_chrys_buf_gop_start(&buf, 0) == 0);
    ngx_unit_check(ngx_chrys_buf_gop_start(&buf, 9) == 0);
    ngx_unit_check(ngx_chrys_buf_gop_start(&buf, 29) == 20);
    ngx_unit_check(ngx_chrys_buf_gop_start(&buf, 40) == 40);
    ngx_unit_check(ngx_chrys_buf_gop_start(&buf, 49) == 40);
    ngx_unit_check(ngx_chrys_buf_gop_start(&buf, 59) == 50);

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_gop_start_without_idr(void)
{
    ngx_chrys_buf_t    buf;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    /* a stream taken up in the middle of a GOP */

    ngx_memzero(&buf, sizeof(ngx_chrys_buf_t));
    ngx_unit_setup(zone, &buf, 0, 64 * 1024 * 1024, 1000);
    (void) ngx_unit_config(zone, &buf, 'a', 40, 320, 240);

    (void) ngx_unit_append(zone, &buf, 1, ngx_unit_time(1), NGX_UNIT_AU, 0);
    (void) ngx_unit_append(zone, &buf, 2, ngx_unit_time(2), NGX_UNIT_AU, 0);
    (void) ngx_unit_append(zone, &buf, 3, ngx_unit_time(3), NGX_UNIT_AU, 0);
    (void) ngx_unit_append(zone, &buf, 4, ngx_unit_time(4), NGX_UNIT_AU, 1);
    (void) ngx_unit_append(zone, &buf, 5, ngx_unit_time(5), NGX_UNIT_AU, 0);

    ngx_unit_check(buf.count == 5);
    ngx_unit_check(ngx_chrys_buf_gop_start(&buf, 0) == -1);
    ngx_unit_check(ngx_chrys_buf_gop_start(&buf, 2) == -1);
    ngx_unit_check(ngx_chrys_buf_gop_start(&buf, 3) == 3);
    ngx_unit_check(ngx_chrys_buf_gop_start(&buf, 4) == 3);

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_copy_has_configs_and_padding(void)
{
    ngx_uint_t          i, same, padded, outside;
    ngx_chrys_au_t     *au;
    ngx_chrys_buf_t     buf;
    ngx_chrys_gop_t    *gop;
    ngx_chrys_zone_t   *zone;
    ngx_chrys_entry_t  *e;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&buf, sizeof(ngx_chrys_buf_t));
    ngx_unit_setup(zone, &buf, 0, 64 * 1024 * 1024, 1000);

    (void) ngx_unit_config(zone, &buf, 'a', 40, 320, 240);
    (void) ngx_unit_append(zone, &buf, 1, ngx_unit_time(1), 1001, 1);
    (void) ngx_unit_append(zone, &buf, 2, ngx_unit_time(2), 1002, 0);
    (void) ngx_unit_append(zone, &buf, 3, ngx_unit_time(3), 1003, 0);

    /* the resolution changes */

    (void) ngx_unit_config(zone, &buf, 'b', 50, 640, 480);
    (void) ngx_unit_append(zone, &buf, 4, ngx_unit_time(4), 1004, 1);
    (void) ngx_unit_append(zone, &buf, 5, ngx_unit_time(5), 1005, 0);

    ngx_shmtx_lock(&zone->shpool->mutex);
    gop = ngx_chrys_buf_copy_locked(&buf, 0, 4, ngx_cycle->log);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_unit_check(gop != NULL);

    if (gop == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    outside = ((u_char *) gop + gop->bytes <= zone->shm_zone->shm.addr
               || (u_char *) gop >= zone->shm_zone->shm.addr
                                    + zone->shm_zone->shm.size);

    ngx_unit_check(outside);
    ngx_unit_check(gop->naus == 7);
    ngx_unit_check(gop->width == 320 && gop->height == 240);

    au = gop->aus;

    ngx_unit_check(au[0].flags == NGX_CHRYS_ENTRY_CONFIG && au[0].seq == 0);
    ngx_unit_check(au[0].len == 40 && ngx_unit_all(au[0].data, 40, 'a'));
    ngx_unit_check(au[4].flags == NGX_CHRYS_ENTRY_CONFIG && au[4].seq == 0);
    ngx_unit_check(au[4].len == 50 && ngx_unit_all(au[4].data, 50, 'b'));

    same = 1;
    padded = 1;

    for (i = 0; i < gop->naus; i++) {
        if (!ngx_unit_all(au[i].data + au[i].len,
                          AV_INPUT_BUFFER_PADDING_SIZE, 0))
        {
            padded = 0;
        }

        if (i == 0 || i == 4) {
            continue;
        }

        e = ngx_chrys_buf_entry(&buf, au[i].seq - 1);

        if (au[i].seq != e->seq || au[i].len != e->size
            || au[i].len != 1000 + au[i].seq
            || au[i].pts != e->pts || au[i].dts != e->dts
            || au[i].time != e->time || au[i].flags != e->flags
            || au[i].data == e->data
            || !ngx_unit_filled(au[i].data, au[i].len, au[i].seq))
        {
            same = 0;
        }
    }

    ngx_unit_check(au[1].seq == 1 && au[3].seq == 3);
    ngx_unit_check(au[5].seq == 4 && au[6].seq == 5);
    ngx_unit_check(au[1].flags & NGX_CHRYS_ENTRY_IDR);
    ngx_unit_check(same);
    ngx_unit_check(padded);

    ngx_chrys_gop_free(gop);

    /* a range in the second header's part starts with that header */

    ngx_shmtx_lock(&zone->shpool->mutex);
    gop = ngx_chrys_buf_copy_locked(&buf, 3, 4, ngx_cycle->log);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_unit_check(gop && gop->naus == 3);
    ngx_unit_check(gop && gop->width == 640 && gop->height == 480);
    ngx_unit_check(gop && gop->aus[0].flags == NGX_CHRYS_ENTRY_CONFIG
                   && gop->aus[0].len == 50);
    ngx_unit_check(gop && gop->aus[2].seq == 5);

    if (gop) {
        ngx_chrys_gop_free(gop);
    }

    /* one entry in the middle */

    ngx_shmtx_lock(&zone->shpool->mutex);
    gop = ngx_chrys_buf_copy_locked(&buf, 1, 1, ngx_cycle->log);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_unit_check(gop && gop->naus == 2);
    ngx_unit_check(gop && gop->aus[0].len == 40 && gop->aus[1].seq == 2);

    if (gop) {
        ngx_chrys_gop_free(gop);
    }

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_copy_range_starts_at_idr(void)
{
    ngx_int_t          rc;
    ngx_uint_t         i, own, pfree;
    ngx_chrys_buf_t    src, dst;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memzero(&src, sizeof(ngx_chrys_buf_t));
    ngx_unit_setup(zone, &src, 0, 64 * 1024 * 1024, 10000);
    (void) ngx_unit_config(zone, &src, 'a', 40, 320, 240);
    (void) ngx_unit_frames(zone, &src, 1, 30, NGX_UNIT_AU);

    ngx_memzero(&dst, sizeof(ngx_chrys_buf_t));
    pfree = zone->shpool->pfree;

    /* from entry 13: the GOP of entry 11 on */

    ngx_unit_setup(zone, &dst, 0, 64 * 1024 * 1024, 10000);

    ngx_shmtx_lock(&zone->shpool->mutex);
    rc = ngx_chrys_buf_copy_range_locked(zone, &dst, &src,
                                         ngx_unit_time(13));
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_unit_check(rc == NGX_OK);
    ngx_unit_check(dst.count == 20);
    ngx_unit_check(ngx_chrys_buf_entry(&dst, 0)->seq == 11);
    ngx_unit_check(ngx_chrys_buf_entry(&dst, 0)->flags & NGX_CHRYS_ENTRY_IDR);
    ngx_unit_check(ngx_unit_buf_holds(&dst, 11, 30));

    /* in memory of its own, with a header of its own */

    own = 1;

    for (i = 0; i < dst.count; i++) {
        if (ngx_chrys_buf_entry(&dst, i)->data
            == ngx_chrys_buf_entry(&src, 10 + i)->data
            || ngx_chrys_buf_entry(&dst, i)->config != dst.config)
        {
            own = 0;
        }
    }

    ngx_unit_check(own);
    ngx_unit_check(dst.config != src.config);
    ngx_unit_check(dst.config->len == 40 && dst.config->refs == 21);
    ngx_unit_check(ngx_unit_all(dst.config->data, 40, 'a'));
    ngx_unit_check(dst.config->width == 320 && dst.config->height == 240);

    ngx_unit_free(zone, &dst);
    ngx_unit_check(zone->shpool->pfree == pfree);

    /* from an IDR: from there */

    ngx_unit_setup(zone, &dst, 0, 64 * 1024 * 1024, 10000);

    ngx_shmtx_lock(&zone->shpool->mutex);
    rc = ngx_chrys_buf_copy_range_locked(zone, &dst, &src,
                                         ngx_unit_time(21));
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_unit_check(rc == NGX_OK);
    ngx_unit_check(dst.count == 10);
    ngx_unit_check(ngx_unit_buf_holds(&dst, 21, 30));

    ngx_unit_free(zone, &dst);

    /* from before the first entry: all of them */

    ngx_unit_setup(zone, &dst, 0, 64 * 1024 * 1024, 10000);

    ngx_shmtx_lock(&zone->shpool->mutex);
    rc = ngx_chrys_buf_copy_range_locked(zone, &dst, &src, 0);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_unit_check(rc == NGX_OK);
    ngx_unit_check(dst.count == 30);
    ngx_unit_check(ngx_unit_buf_holds(&dst, 1, 30));

    ngx_unit_free(zone, &dst);
    ngx_unit_check(zone->shpool->pfree == pfree);

    ngx_unit_zone_destroy(zone);
}


static void
test_buf_copy_range_without_idr_before(void)
{
    ngx_int_t          rc;
    ngx_chrys_buf_t    src, dst;
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    /* taken up in the middle of a GOP: the first IDR is entry 4 */

    ngx_memzero(&src, sizeof(ngx_chrys_buf_t));
    ngx_unit_setup(zone, &src, 0, 64 * 1024 * 1024, 1000);
    (void) ngx_unit_config(zone, &src, 'a', 40, 320, 240);

    (void) ngx_unit_append(zone, &src, 1, ngx_unit_time(1), NGX_UNIT_AU, 0);
    (void) ngx_unit_append(zone, &src, 2, ngx_unit_time(2), NGX_UNIT_AU, 0);
    (void) ngx_unit_append(zone, &src, 3, ngx_unit_time(3), NGX_UNIT_AU, 0);
    (void) ngx_unit_append(zone, &src, 4, ngx_unit_time(4), NGX_UNIT_AU, 1);
    (void) ngx_unit_append(zone, &src, 5, ngx_unit_time(5), NGX_UNIT_AU, 0);

    ngx_memzero(&dst, sizeof(ngx_chrys_buf_t));
    ngx_unit_setup(zone, &dst, 0, 64 * 1024 * 1024, 1000);

    ngx_shmtx_lock(&zone->shpool->mutex);
    rc = ngx_chrys_buf_copy_range_locked(zone, &dst, &src, ngx_unit_time(2));
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_unit_check(rc == NGX_OK);
    ngx_unit_check(dst.count == 2);
    ngx_unit_check(ngx_unit_buf_holds(&dst, 4, 5));

    ngx_unit_zone_destroy(zone);
}


static void
test_stream_claim_sets_up_buffer(void)
{
    ngx_uint_t           pfree;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_entry_t   *entries;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1");

    ngx_unit_check(ngx_queue_empty(&st->events));
    ngx_unit_check(st->nevents == 0);
    ngx_unit_check(st->buf.entries == NULL);

    pfree = zone->shpool->pfree;

    ngx_unit_check(ngx_chrys_stream_claim(zone, st, 2000, 1024 * 1024,
                                          ngx_cycle->log)
                   == NGX_OK);
    ngx_unit_check(st->buf.entries != NULL);
    ngx_unit_check(st->buf.cap == 2000 * 64 / 1000 + 64);
    ngx_unit_check(st->buf.window == 2000);
    ngx_unit_check(st->buf.max_bytes == 1024 * 1024);

    ngx_chrys_stream_config(zone, st, (u_char *) "avcC", 4, 320, 240);
    ngx_unit_packets(zone, st, 1, 20, NGX_UNIT_T0, NGX_UNIT_AU);

    ngx_unit_check(st->buf.count == 20);

    /* the next publisher of the same name goes on with the buffer */

    entries = st->buf.entries;

    ngx_chrys_stream_release(zone, st, st->publishes);

    ngx_unit_check(ngx_chrys_stream_claim(zone, st, 2000, 1024 * 1024,
                                          ngx_cycle->log)
                   == NGX_OK);
    ngx_unit_check(st->buf.entries == entries);
    ngx_unit_check(st->buf.count == 20);

    /* a publisher without a buffer gives it all back */

    ngx_chrys_stream_release(zone, st, st->publishes);

    ngx_unit_check(ngx_chrys_stream_claim(zone, st, 0, 0, ngx_cycle->log)
                   == NGX_OK);
    ngx_unit_check(st->buf.entries == NULL);
    ngx_unit_check(st->buf.count == 0);
    ngx_unit_check(zone->shpool->pfree == pfree);

    /* and what it sends is not kept */

    ngx_chrys_stream_config(zone, st, (u_char *) "avcC", 4, 320, 240);
    ngx_unit_packets(zone, st, 21, 30, NGX_UNIT_T0, NGX_UNIT_AU);

    ngx_unit_check(st->buf.config == NULL);
    ngx_unit_check(st->buf.count == 0);
    ngx_unit_check(zone->shpool->pfree == pfree);

    ngx_unit_zone_destroy(zone);
}


static void
test_stream_buffer_full_zone_is_logged(void)
{
    ngx_uint_t           seq;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_SMALL_ZONE);
    st = ngx_unit_buffer(zone, "cam1", 60000, 64 * 1024 * 1024);

    /* one GOP of two megabytes */

    for (seq = 1; seq <= 20 && !st->buf_full; seq++) {
        ngx_unit_packet(zone, st, seq, ngx_unit_time(seq), 100 * 1024,
                        seq == 1);
    }

    ngx_unit_check(st->buf_full);
    ngx_unit_check(ngx_strstr(ngx_unit_log_last, "stops growing") != NULL);
    ngx_unit_check(ngx_strstr(ngx_unit_log_last, "live/cam1") != NULL);
    ngx_unit_check(ngx_chrys_buf_entry(&st->buf, 0)->seq == 1);

    ngx_unit_zone_destroy(zone);
}


static void
test_event_create_copies_pre_window(void)
{
    uint64_t             now;
    ngx_uint_t           status;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_buffer(zone, "cam1", 10000, 32 * 1024 * 1024);

    /* the last 4 seconds; entry 100 came 40 ms ago */

    now = ngx_unit_now();
    ngx_unit_packets(zone, st, 1, 100, now - 4000, NGX_UNIT_AU);

    status = 0;

    /* 1900 ms before now is entry 53: its GOP starts at entry 51 */

    ev = ngx_unit_event(zone, st, 1900, 1000, &status);

    ngx_unit_check(ev != NULL);

    if (ev == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(status == 0);
    ngx_unit_check(ev->id == 1);
    ngx_unit_check(ev->time == now);
    ngx_unit_check(ev->from == now - 1900 && ev->to == now + 1000);
    ngx_unit_check(ev->pre == 1900 && ev->post == 1000);
    ngx_unit_check(ev->label_len == 6
                   && ngx_memcmp(ev->label, "person", 6) == 0);
    ngx_unit_check(ev->meta_len == 8
                   && ngx_memcmp(ev->meta, "{\"x\": 1}", 8) == 0);
    ngx_unit_check(!ev->truncated);

    ngx_unit_check(ev->buf.count == 50);
    ngx_unit_check(ngx_chrys_buf_entry(&ev->buf, 0)->flags
                   & NGX_CHRYS_ENTRY_IDR);
    ngx_unit_check(ngx_unit_buf_holds(&ev->buf, 51, 100));
    ngx_unit_check(ev->buf.config != st->buf.config);
    ngx_unit_check(ev->buf.config->len == 4
                   && ngx_memcmp(ev->buf.config->data, "avcC", 4) == 0);

    ngx_unit_check(zone->sh->event_bytes == ev->buf.bytes);
    ngx_unit_check(st->nevents == 1);

    ngx_shmtx_lock(&zone->shpool->mutex);
    ngx_unit_check(ngx_chrys_event_find_locked(st, ev->id) == ev);
    ngx_unit_check(ngx_chrys_event_find_locked(st, ev->id + 1) == NULL);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_unit_zone_destroy(zone);
}


static void
test_event_takes_packets_until_its_end(void)
{
    uint64_t             now;
    ngx_uint_t           status;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_buffer(zone, "cam1", 10000, 32 * 1024 * 1024);

    now = ngx_unit_now();
    ngx_unit_packets(zone, st, 1, 100, now - 4000, NGX_UNIT_AU);

    ev = ngx_unit_event(zone, st, 1900, 1000, &status);

    ngx_unit_check(ev != NULL);

    if (ev == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    /* entry 101 comes now, entry 126 at its end, entry 127 after */

    ngx_unit_packets(zone, st, 101, 150, now - 4000, NGX_UNIT_AU);

    ngx_unit_check(ev->buf.count == 76);
    ngx_unit_check(ngx_unit_buf_holds(&ev->buf, 51, 126));
    ngx_unit_check(!ev->truncated);
    ngx_unit_check(zone->sh->event_bytes == ev->buf.bytes);

    ngx_unit_check(ngx_chrys_buf_entry(&st->buf, st->buf.count - 1)->seq
                   == 150);

    ngx_unit_zone_destroy(zone);
}


static void
test_event_outlives_stream_window(void)
{
    uint64_t             now;
    ngx_uint_t           status;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_buffer(zone, "cam1", 10000, 32 * 1024 * 1024);

    now = ngx_unit_now();
    ngx_unit_packets(zone, st, 1, 100, now - 4000, NGX_UNIT_AU);

    ev = ngx_unit_event(zone, st, 1900, 1000, &status);

    ngx_unit_check(ev != NULL);

    if (ev == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    /* 12 seconds on: the stream's 10 s window is past the event */

    ngx_unit_packets(zone, st, 101, 400, now - 4000, NGX_UNIT_AU);

    ngx_unit_check(ngx_chrys_buf_entry(&st->buf, 0)->seq > 126);
    ngx_unit_check(ev->buf.count == 76);
    ngx_unit_check(ngx_unit_buf_holds(&ev->buf, 51, 126));

    ngx_unit_zone_destroy(zone);
}


static void
test_event_delete_frees_everything(void)
{
    uint64_t             now;
    ngx_uint_t           status, pfree, first, second;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_event_t   *ev1, *ev2;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1");

    pfree = zone->shpool->pfree;

    (void) ngx_chrys_stream_claim(zone, st, 10000, 32 * 1024 * 1024,
                                  ngx_cycle->log);
    ngx_chrys_stream_config(zone, st, (u_char *) "avcC", 4, 320, 240);

    now = ngx_unit_now();
    ngx_unit_packets(zone, st, 1, 100, now - 4000, NGX_UNIT_AU);

    ev1 = ngx_unit_event(zone, st, 1900, 1000, &status);
    ev2 = ngx_unit_event(zone, st, 500, 2000, &status);

    ngx_unit_check(ev1 != NULL && ev2 != NULL);

    if (ev1 == NULL || ev2 == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    first = ev1->id;
    second = ev2->id;

    ngx_unit_packets(zone, st, 101, 200, now - 4000, NGX_UNIT_AU);

    ngx_unit_check(first != second);
    ngx_unit_check(st->nevents == 2);
    ngx_unit_check(zone->sh->event_bytes == ev1->buf.bytes + ev2->buf.bytes);

    /* each event's bytes go back with it */

    ngx_unit_check(ngx_chrys_event_delete(zone, st, first) == NGX_OK);
    ngx_unit_check(zone->sh->event_bytes == ev2->buf.bytes);
    ngx_unit_check(st->nevents == 1);
    ngx_unit_check(ngx_chrys_event_delete(zone, st, first) == NGX_DECLINED);

    ngx_unit_check(ngx_chrys_event_delete(zone, st, second) == NGX_OK);
    ngx_unit_check(zone->sh->event_bytes == 0);
    ngx_unit_check(st->nevents == 0);
    ngx_unit_check(ngx_queue_empty(&st->events));

    ngx_shmtx_lock(&zone->shpool->mutex);
    ngx_unit_check(ngx_chrys_event_find_locked(st, second) == NULL);

    /* with the stream's buffer gone too, the zone is as it was */

    ngx_chrys_buf_free_locked(zone, &st->buf);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_unit_check(zone->shpool->pfree == pfree);

    ngx_unit_zone_destroy(zone);
}


static void
test_event_over_budget_is_refused(void)
{
    size_t               bytes;
    uint64_t             now;
    ngx_uint_t           n, status, pfree;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_event_t   *ev;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_buffer(zone, "cam1", 10000, 32 * 1024 * 1024);

    now = ngx_unit_now();
    ngx_unit_packets(zone, st, 1, 100, now - 4000, NGX_UNIT_AU);

    /* events of some 300 KB (an index and a chunk) in a budget of 2 MB */

    ngx_unit_check(zone->sh->event_budget == 2 * 1024 * 1024);

    status = 0;

    for (n = 0; n < 10; n++) {
        if (ngx_unit_event(zone, st, 1900, 1000, &status) == NULL) {
            break;
        }
    }

    ngx_unit_check(n == 6);
    ngx_unit_check(status == NGX_CHRYS_INSUFFICIENT_STORAGE);
    ngx_unit_check(st->nevents == 6);
    ngx_unit_check(zone->sh->event_bytes <= zone->sh->event_budget);

    /* a refused event leaves nothing behind */

    pfree = zone->shpool->pfree;
    bytes = zone->sh->event_bytes;

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &status) == NULL);
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

    st->bitrate = 24000000;
    status = 0;

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &status) == NULL);
    ngx_unit_check(status == NGX_CHRYS_INSUFFICIENT_STORAGE);

    /* 2 MB for the post window fits, with the pre window it does not */

    st->bitrate = 16000000;
    status = 0;

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &status) == NULL);
    ngx_unit_check(status == NGX_CHRYS_INSUFFICIENT_STORAGE);
    ngx_unit_check(zone->shpool->pfree == pfree);

    st->bitrate = 8000000;

    ngx_unit_check(ngx_unit_event(zone, st, 1900, 1000, &status) != NULL);

    ngx_unit_zone_destroy(zone);
}


static void
test_event_too_many_on_a_stream(void)
{
    ngx_uint_t           n, status;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st, *other;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_buffer(zone, "cam1", 10000, 32 * 1024 * 1024);
    other = ngx_unit_buffer(zone, "cam2", 10000, 32 * 1024 * 1024);

    /* nothing buffered: an event is its index, 40 KB */

    zone->sh->event_budget = 6 * 1024 * 1024;

    (void) ngx_unit_now();

    status = 0;

    for (n = 0; n < NGX_CHRYS_EVENTS_MAX + 1; n++) {
        if (ngx_unit_event(zone, st, 0, 0, &status) == NULL) {
            break;
        }
    }

    ngx_unit_check(n == NGX_CHRYS_EVENTS_MAX);
    ngx_unit_check(status == NGX_CHRYS_CONFLICT);
    ngx_unit_check(st->nevents == NGX_CHRYS_EVENTS_MAX);

    /* the limit is a stream's */

    ngx_unit_check(ngx_unit_event(zone, other, 0, 0, &status) != NULL);

    ngx_unit_zone_destroy(zone);
}


/* locks the zone for a call of ngx_chrys_buf_setup_locked() */

static void
ngx_unit_setup(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf,
    ngx_msec_t window, size_t max_bytes, ngx_msec_t span)
{
    ngx_int_t  rc;

    ngx_shmtx_lock(&zone->shpool->mutex);
    rc = ngx_chrys_buf_setup_locked(zone, buf, window, max_bytes, span);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_unit_check(rc == NGX_OK);
}


static void
ngx_unit_free(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf)
{
    ngx_shmtx_lock(&zone->shpool->mutex);
    ngx_chrys_buf_free_locked(zone, buf);
    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* a sequence header of "len" bytes "tag" */

static ngx_int_t
ngx_unit_config(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf, u_char tag,
    size_t len, ngx_uint_t width, ngx_uint_t height)
{
    u_char     data[NGX_UNIT_CONFIG_MAX];
    ngx_int_t  rc;

    ngx_memset(data, tag, len);

    ngx_shmtx_lock(&zone->shpool->mutex);
    rc = ngx_chrys_buf_config_locked(zone, buf, data, len, width, height);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/* an access unit of "size" bytes that tell its seq, as the module makes */

static ngx_int_t
ngx_unit_append(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf,
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
    e.flags = idr ? (NGX_CHRYS_ENTRY_KEY|NGX_CHRYS_ENTRY_IDR) : 0;

    ngx_shmtx_lock(&zone->shpool->mutex);
    rc = ngx_chrys_buf_append_locked(zone, buf, &e, data);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    free(data);

    return rc;
}


/* entries "first" to "last" at their usual times, an IDR every GOP */

static ngx_int_t
ngx_unit_frames(ngx_chrys_zone_t *zone, ngx_chrys_buf_t *buf,
    ngx_uint_t first, ngx_uint_t last, size_t size)
{
    ngx_int_t   rc;
    ngx_uint_t  seq;

    for (seq = first; seq <= last; seq++) {
        rc = ngx_unit_append(zone, buf, seq, ngx_unit_time(seq), size,
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


/* the buffer holds entries "first" to "last", in order, intact */

static ngx_uint_t
ngx_unit_buf_holds(ngx_chrys_buf_t *buf, ngx_uint_t first, ngx_uint_t last)
{
    ngx_uint_t          i;
    ngx_chrys_entry_t  *e;

    if (buf->count != last - first + 1 || buf->count > buf->cap) {
        return 0;
    }

    for (i = 0; i < buf->count; i++) {
        e = ngx_chrys_buf_entry(buf, i);

        if (e->seq != first + i || !ngx_unit_entry_holds(e)) {
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
 * A stream as its publisher's worker makes it: claimed with a buffer, and
 * a sequence header ("avcC", 320x240) before any access unit.
 */

static ngx_chrys_stream_t *
ngx_unit_buffer(ngx_chrys_zone_t *zone, char *name, ngx_msec_t window,
    size_t max_bytes)
{
    ngx_chrys_stream_t  *st;

    st = ngx_unit_stream(zone, name);

    ngx_unit_check(st != NULL);

    if (st == NULL) {
        return NULL;
    }

    ngx_unit_check(ngx_chrys_stream_claim(zone, st, window, max_bytes,
                                          ngx_cycle->log)
                   == NGX_OK);

    ngx_chrys_stream_config(zone, st, (u_char *) "avcC", 4, 320, 240);

    return st;
}


/* what the publisher's worker does with an access unit */

static void
ngx_unit_packet(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t seq, uint64_t time, size_t size, ngx_uint_t idr)
{
    ngx_chrys_packet_t  pkt;

    ngx_memzero(&pkt, sizeof(ngx_chrys_packet_t));

    pkt.data = malloc(size + AV_INPUT_BUFFER_PADDING_SIZE);
    if (pkt.data == NULL) {
        return;
    }

    ngx_unit_fill(pkt.data, size, seq);

    pkt.seq = seq;
    pkt.dts = seq * NGX_UNIT_FRAME;
    pkt.pts = pkt.dts + 2 * NGX_UNIT_FRAME;
    pkt.time = time;
    pkt.keyframe = idr ? 1 : 0;
    pkt.idr = idr ? 1 : 0;
    pkt.len = size;

    ngx_chrys_stream_buffer(zone, st, &pkt, ngx_cycle->log);

    free(pkt.data);
}


/* packets "first" to "last", entry 1 arriving at "base" */

static void
ngx_unit_packets(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t first, ngx_uint_t last, uint64_t base, size_t size)
{
    ngx_uint_t  seq;

    for (seq = first; seq <= last; seq++) {
        ngx_unit_packet(zone, st, seq, base + (seq - 1) * NGX_UNIT_FRAME,
                        size, ngx_unit_idr(seq));
    }
}


/*
 * Hands a packet to the stream in another process, as another worker
 * would, and says whether that returned: a loop under the zone lock fails
 * the test instead of hanging the run.  The buffer is in the zone, so what
 * the other process did is seen here.
 */

static ngx_int_t
ngx_unit_packet_returns(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
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

        ngx_unit_packet(zone, st, seq, time, size, idr);

        _exit(0);
    }

    if (waitpid(pid, &status, 0) != pid) {
        return NGX_ERROR;
    }

    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return NGX_OK;
    }

    fprintf(stderr, "packet %lu did not return in %d s\n",
            (unsigned long) seq, NGX_UNIT_HANG);

    /* as the master does when a worker dies holding the lock */
    (void) ngx_shmtx_force_unlock(&zone->shpool->mutex, pid);

    return NGX_ERROR;
}


/* what POST .../events does */

static ngx_chrys_event_t *
ngx_unit_event(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_msec_t pre, ngx_msec_t post, ngx_uint_t *status)
{
    ngx_str_t  label, meta;

    ngx_str_set(&label, "person");
    ngx_str_set(&meta, "{\"x\": 1}");

    return ngx_chrys_event_create(zone, st, &label, &meta, pre, post,
                                  status);
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


int
main(void)
{
    ngx_unit_init();

    /* a test that deadlocks on the zone mutex fails rather than hangs */
    alarm(60);

    ngx_unit_run(test_buf_setup_sizes_entries_from_span);
    ngx_unit_run(test_buf_bytes_count_index_and_chunks);
    ngx_unit_run(test_buf_free_returns_every_page);
    ngx_unit_run(test_buf_append_needs_config);
    ngx_unit_run(test_buf_entries_hold_config_refs);

    ngx_unit_run(test_buf_window_evicts_oldest_gop);
    ngx_unit_run(test_buf_byte_cap_evicts_oldest_gops);
    ngx_unit_run(test_buf_full_index_evicts_a_gop);
    ngx_unit_run(test_buf_keeps_gop_of_newest_entry_over_window);
    ngx_unit_run(test_buf_keeps_gop_of_newest_entry_over_byte_cap);
    ngx_unit_run(test_buf_full_index_of_one_gop);
    ngx_unit_run(test_buf_big_packet_gets_its_own_chunk);
    ngx_unit_run(test_buf_zone_full_evicts_own_gops);

    ngx_unit_run(test_buf_find_time_seq_and_gop_across_wrap);
    ngx_unit_run(test_buf_gop_start_without_idr);
    ngx_unit_run(test_buf_copy_has_configs_and_padding);
    ngx_unit_run(test_buf_copy_range_starts_at_idr);
    ngx_unit_run(test_buf_copy_range_without_idr_before);

    ngx_unit_run(test_stream_claim_sets_up_buffer);
    ngx_unit_run(test_stream_buffer_full_zone_is_logged);

    ngx_unit_run(test_event_create_copies_pre_window);
    ngx_unit_run(test_event_takes_packets_until_its_end);
    ngx_unit_run(test_event_outlives_stream_window);
    ngx_unit_run(test_event_delete_frees_everything);
    ngx_unit_run(test_event_over_budget_is_refused);
    ngx_unit_run(test_event_too_many_on_a_stream);

    /* the slab allocator found nothing wrong */
    ngx_unit_check(ngx_unit_log_crit == 0);

    return ngx_unit_summary("test_buffer");
}
