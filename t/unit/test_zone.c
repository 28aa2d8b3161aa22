
/*
 * Copyright (C) chrys authors
 *
 * Unit tests of ngx_chrys_zone.c: the stream table, claims and references,
 * the workers' places, the picture slots and the JPEG claim protocol,
 * snapshots and the lock's measurement, in a zone made the way nginx makes
 * a shared zone (mmap, shmtx, slab pool), with nginx's own slab allocator,
 * shmtx and rbtree.  The tests play the publisher's worker (claim,
 * reserve, write, publish) and the HTTP side (open, acquire, unpin, store)
 * the way ngx_chrys_decoder.c and ngx_chrys_http_live.c do, through the
 * zone's own operations; st->pictures.jpegs[] is looked at only to check
 * what those did.  Stream names are checked by ngx_chrys_query.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys.h"
#include "ngx_chrys_zone.h"
#include "ngx_chrys_query.h"
#include "ngx_unit.h"
#include "ngx_unit_zone.h"


/* a small picture: 64x48, 4:2:0 */
#define NGX_UNIT_WIDTH        64
#define NGX_UNIT_HEIGHT       48


static ngx_int_t ngx_unit_claim(ngx_chrys_zone_t *zone, char *name,
    ngx_chrys_stream_t **stp, ngx_uint_t *claim);
static ngx_int_t ngx_unit_decode(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t claim, ngx_uint_t seq,
    ngx_uint_t width, ngx_uint_t height);
static void ngx_unit_frame(ngx_chrys_frame_t *frame, ngx_uint_t seq,
    ngx_uint_t width, ngx_uint_t height);
static ngx_uint_t ngx_unit_slot_holds(ngx_chrys_slot_t *slot,
    ngx_uint_t seq);
static ngx_uint_t ngx_unit_all(u_char *p, size_t len, u_char c);
static ngx_chrys_slot_t *ngx_unit_pin(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st);
static ngx_chrys_jpeg_t *ngx_unit_jpeg_claim(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t variant, ngx_chrys_want_t *want);
static ngx_chrys_jpeg_t *ngx_unit_jpeg_find(ngx_chrys_stream_t *st,
    ngx_uint_t seq, ngx_uint_t variant);
static ngx_int_t ngx_unit_jpeg_cache(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t variant, size_t len);
static ngx_pid_t ngx_unit_worker_claim_stream(ngx_chrys_zone_t *zone,
    char *name, ngx_uint_t seq);
static ngx_pid_t ngx_unit_worker_claim_jpeg(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t variant);
static ngx_pid_t ngx_unit_worker_attach(ngx_chrys_zone_t *zone, char *name,
    ngx_uint_t *worker);
static ngx_int_t ngx_unit_worker_reap(ngx_pid_t pid, ngx_uint_t kill_it);
static void test_sweep_takes_out_idle_streams(void);
static void test_sweep_ignores_references_of_dead_workers(void);
static void test_release_gives_back_pictures(void);
static void ngx_unit_spin_usec(uint64_t usec);
static void test_sleep_gives_back_pictures_and_wakes(void);
static void test_reclaim_takes_out_least_recently_used(void);


static void
test_zone_init_new_zone(void)
{
    ngx_chrys_zone_t  *zone;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_unit_check(zone != NULL);

    if (zone == NULL) {
        return;
    }

    ngx_unit_check(zone->shpool
                   == (ngx_slab_pool_t *) zone->shm_zone->shm.addr);
    ngx_unit_check(zone->shpool->data == zone->sh);
    ngx_unit_check(zone->sh->nstreams == 0);
    ngx_unit_check(ngx_queue_empty(&zone->sh->streams));
    ngx_unit_check(ngx_queue_empty(&zone->sh->lru));
    ngx_unit_check(zone->sh->rbtree.root == &zone->sh->sentinel);
    ngx_unit_check(ngx_strcmp(zone->shpool->log_ctx,
                              " in chrys zone \"chrys\"")
                   == 0);
    ngx_unit_check(zone->shpool->log_nomem == 0);
    ngx_unit_check(zone->sh->event_budget == NGX_UNIT_ZONE_SIZE / 4);
    ngx_unit_check(zone->sh->event_bytes == 0);

    /* this process took the first worker's place */

    ngx_unit_check(zone->worker == 0);
    ngx_unit_check(zone->sh->workers[0].pid == ngx_pid);
    ngx_unit_check(zone->sh->workers[1].pid == 0);

    ngx_unit_zone_destroy(zone);
}


static void
test_zone_init_keeps_streams_on_reload(void)
{
    ngx_uint_t           claim;
    ngx_unit_zone_t      uz;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    ngx_unit_check(ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                                   NGX_UNIT_HEIGHT)
                   >= 0);

    /*
     * a reload: the new cycle's zone is handed the old one, and its
     * "chrys_event_budget" applies; its workers attach
     */

    ngx_memzero(&uz, sizeof(ngx_unit_zone_t));
    uz.shm_zone.shm = zone->shm_zone->shm;
    uz.shm_zone.data = &uz.zone;
    uz.zone.shm_zone = &uz.shm_zone;
    uz.zone.event_budget = 1024 * 1024;

    ngx_unit_check(ngx_chrys_zone_init(&uz.shm_zone, zone) == NGX_OK);
    ngx_unit_check(uz.zone.sh == zone->sh);
    ngx_unit_check(zone->sh->event_budget == 1024 * 1024);
    ngx_unit_check(uz.zone.shpool == zone->shpool);
    ngx_unit_check(ngx_chrys_zone_attach(&uz.zone, ngx_cycle->log)
                   == NGX_OK);
    ngx_unit_check(ngx_unit_find(&uz.zone, "cam1") == st);
    ngx_unit_check(st->pictures.latest_seq == 1);

    /* a zone that exists already: its pool says where the table is */

    ngx_memzero(&uz, sizeof(ngx_unit_zone_t));
    uz.shm_zone.shm = zone->shm_zone->shm;
    uz.shm_zone.shm.exists = 1;
    uz.shm_zone.data = &uz.zone;
    uz.zone.shm_zone = &uz.shm_zone;

    ngx_unit_check(ngx_chrys_zone_init(&uz.shm_zone, NULL) == NGX_OK);
    ngx_unit_check(uz.zone.sh == zone->sh);
    ngx_unit_check(ngx_chrys_zone_attach(&uz.zone, ngx_cycle->log)
                   == NGX_OK);
    ngx_unit_check(ngx_unit_find(&uz.zone, "cam1") == st);

    ngx_unit_zone_destroy(zone);
}


static void
test_stream_claim_creates_once(void)
{
    ngx_uint_t           w, refs;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    st = ngx_unit_stream(zone, "cam1", NULL);

    ngx_unit_check(st != NULL);

    if (st == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(ngx_unit_stream(zone, "cam1", NULL) == st);
    ngx_unit_check(ngx_unit_find(zone, "cam1") == st);
    ngx_unit_check(zone->sh->nstreams == 1);
    ngx_unit_check(st->id == 1);

    /* the names are in the stream's own bytes */

    ngx_unit_check(st->key.len == 9 && st->key.data == st->data);
    ngx_unit_check(ngx_memcmp(st->key.data, "live/cam1", 9) == 0);
    ngx_unit_check(st->app.len == 4 && st->app.data == st->data);
    ngx_unit_check(st->name.len == 4 && st->name.data == st->data + 5);
    ngx_unit_check(ngx_memcmp(st->name.data, "cam1", 4) == 0);

    /* a new stream has nothing yet */

    ngx_unit_check(st->pictures.latest_seq == 0);
    ngx_unit_check(st->publisher.publishing == 0);
    ngx_unit_check(st->pictures.slots[0].data == NULL);
    ngx_unit_check(st->pictures.slots[NGX_CHRYS_SLOTS - 1].seq == 0);
    ngx_unit_check(st->pictures.jpegs[0].state == NGX_CHRYS_JPEG_FREE);
    ngx_unit_check(st->ring.entries == NULL);

    refs = 0;

    for (w = 0; w < NGX_CHRYS_WORKERS; w++) {
        refs += st->refs[w];
    }

    ngx_unit_check(refs == 0);

    ngx_unit_zone_destroy(zone);
}


static void
test_stream_distinct_names_distinct_streams(void)
{
    char                 name[32];
    ngx_str_t            app, cam1;
    ngx_uint_t           i, found, ordered, claim;
    ngx_queue_t         *q;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *a, *b, *c, *d, *st, *many[200];

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    a = ngx_unit_stream(zone, "cam1", NULL);
    b = ngx_unit_stream(zone, "cam2", NULL);
    c = ngx_unit_stream(zone, "cam10", NULL);

    ngx_str_set(&app, "other");
    ngx_str_set(&cam1, "cam1");

    ngx_unit_check(ngx_unit_stream_claim(zone, &app, &cam1, 0, 0, &d,
                                          &claim, ngx_cycle->log)
                   == NGX_OK);

    ngx_unit_check(a && b && c && d);
    ngx_unit_check(a != b && a != c && a != d && b != c && b != d
                   && c != d);
    ngx_unit_check(ngx_unit_find(zone, "cam1") == a);
    ngx_unit_check(ngx_unit_find(zone, "cam2") == b);
    ngx_unit_check(ngx_unit_find(zone, "cam10") == c);
    ngx_unit_check(ngx_chrys_stream_open(zone, &app, &cam1, &st) == NGX_OK);
    ngx_unit_check(st == d);
    ngx_unit_check(zone->sh->nstreams == 4);

    if (st) {
        ngx_chrys_stream_close(zone, st);
    }

    /* enough streams to make the tree rebalance */

    for (i = 0; i < 200; i++) {
        ngx_sprintf((u_char *) name, "many%ui%Z", i);
        many[i] = ngx_unit_stream(zone, name, NULL);
    }

    found = 0;

    for (i = 0; i < 200; i++) {
        ngx_sprintf((u_char *) name, "many%ui%Z", i);

        if (many[i] && ngx_unit_find(zone, name) == many[i]) {
            found++;
        }
    }

    ngx_unit_check(found == 200);
    ngx_unit_check(zone->sh->nstreams == 204);

    /* the list of streams is in the order they came */

    ordered = 1;
    i = 0;

    for (q = ngx_queue_head(&zone->sh->streams);
         q != ngx_queue_sentinel(&zone->sh->streams);
         q = ngx_queue_next(q))
    {
        st = ngx_queue_data(q, ngx_chrys_stream_t, queue);

        if (i >= 4 && st != many[i - 4]) {
            ordered = 0;
        }

        i++;
    }

    ngx_unit_check(i == 204);
    ngx_unit_check(ordered);

    ngx_unit_zone_destroy(zone);
}


static void
test_stream_crc32_collisions(void)
{
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *a, *b, *c, *d;

    /*
     * two pairs of names whose keys have the same CRC32, found by a
     * search: the tree must tell them apart by the key itself
     */

    ngx_unit_check(ngx_crc32_short((u_char *) "live/cam29685295", 16)
                   == ngx_crc32_short((u_char *) "live/cam32060020", 16));
    ngx_unit_check(ngx_crc32_short((u_char *) "live/cam29685294", 16)
                   == ngx_crc32_short((u_char *) "live/cam32060021", 16));

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    /* the second of each pair goes left of the first, then right */

    a = ngx_unit_stream(zone, "cam32060020", NULL);
    b = ngx_unit_stream(zone, "cam29685295", NULL);
    c = ngx_unit_stream(zone, "cam29685294", NULL);
    d = ngx_unit_stream(zone, "cam32060021", NULL);

    ngx_unit_check(a && b && c && d);
    ngx_unit_check(a != b && c != d);
    ngx_unit_check(a->node.key == b->node.key);
    ngx_unit_check(c->node.key == d->node.key);

    ngx_unit_check(ngx_unit_find(zone, "cam32060020") == a);
    ngx_unit_check(ngx_unit_find(zone, "cam29685295") == b);
    ngx_unit_check(ngx_unit_find(zone, "cam29685294") == c);
    ngx_unit_check(ngx_unit_find(zone, "cam32060021") == d);
    ngx_unit_check(ngx_unit_stream(zone, "cam29685295", NULL) == b);
    ngx_unit_check(zone->sh->nstreams == 4);

    ngx_unit_zone_destroy(zone);
}


static void
test_stream_open_unknown(void)
{
    ngx_str_t            empty, cam1;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_unit_check(ngx_unit_find(zone, "cam1") == NULL);

    (void) ngx_unit_stream(zone, "cam1", NULL);

    ngx_unit_check(ngx_unit_find(zone, "cam2") == NULL);
    ngx_unit_check(ngx_unit_find(zone, "Cam1") == NULL);
    ngx_unit_check(ngx_unit_find(zone, "cam") == NULL);
    ngx_unit_check(ngx_unit_find(zone, "cam11") == NULL);
    ngx_unit_check(ngx_unit_find(zone, "") == NULL);

    ngx_str_set(&empty, "");
    ngx_str_set(&cam1, "cam1");
    st = (ngx_chrys_stream_t *) -1;

    ngx_unit_check(ngx_chrys_stream_open(zone, &empty, &cam1, &st)
                   == NGX_DECLINED);
    ngx_unit_check(st == NULL);

    /* opening does not create, nor take a reference to nothing */

    ngx_unit_check(zone->sh->nstreams == 1);
    ngx_unit_check(ngx_unit_find(zone, "cam1")->refs[zone->worker] == 0);

    ngx_unit_zone_destroy(zone);
}


static void
test_stream_name_limits(void)
{
    u_char               longest[NGX_CHRYS_NAME_MAX + 1];
    ngx_str_t            name, empty;
    ngx_uint_t           claim;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st, *found;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_memset(longest, 'n', sizeof(longest));

    name.data = longest;
    name.len = NGX_CHRYS_NAME_MAX;

    ngx_unit_check(ngx_unit_stream_claim(zone, &ngx_unit_app, &name, 0, 0,
                                          &st, &claim, ngx_cycle->log)
                   == NGX_OK);
    ngx_unit_check(st && st->name.len == NGX_CHRYS_NAME_MAX);
    ngx_unit_check(ngx_chrys_stream_open(zone, &ngx_unit_app, &name,
                                         &found)
                   == NGX_OK);
    ngx_unit_check(found == st);

    if (found) {
        ngx_chrys_stream_close(zone, found);
    }

    /* an application name of the longest length too */

    ngx_unit_check(ngx_unit_stream_claim(zone, &name, &name, 0, 0, &st,
                                          &claim, ngx_cycle->log)
                   == NGX_OK);
    ngx_unit_check(st && st->key.len == 2 * NGX_CHRYS_NAME_MAX + 1);

    name.len = NGX_CHRYS_NAME_MAX + 1;
    ngx_unit_log_last[0] = '\0';

    ngx_unit_check(ngx_unit_stream_claim(zone, &ngx_unit_app, &name, 0, 0,
                                          &st, &claim, ngx_cycle->log)
                   == NGX_ERROR);
    ngx_unit_check(st == NULL);
    ngx_unit_check(ngx_strstr(ngx_unit_log_last,
                              "is empty or longer than 255 bytes")
                   != NULL);
    ngx_unit_check(ngx_chrys_stream_open(zone, &ngx_unit_app, &name,
                                         &found)
                   == NGX_DECLINED);

    ngx_str_set(&empty, "");

    ngx_unit_check(ngx_unit_stream_claim(zone, &ngx_unit_app, &empty, 0, 0,
                                          &st, &claim, ngx_cycle->log)
                   == NGX_ERROR);
    ngx_unit_check(ngx_unit_stream_claim(zone, &empty, &name, 0, 0, &st,
                                          &claim, ngx_cycle->log)
                   == NGX_ERROR);

    ngx_unit_check(zone->sh->nstreams == 2);

    ngx_unit_zone_destroy(zone);
}


static void
test_valid_name(void)
{
    u_char      buf[NGX_CHRYS_NAME_MAX + 1];
    ngx_str_t   name;
    ngx_uint_t  i;

    static struct {
        char       *name;
        size_t      len;
        ngx_int_t   rc;
    } cases[] = {
        { "cam1", 4, NGX_OK },
        { "a.b", 3, NGX_OK },
        { ".a", 2, NGX_OK },
        { "a.", 2, NGX_OK },
        { ".hidden", 7, NGX_OK },
        { "trailing.", 9, NGX_OK },
        { "with space", 10, NGX_OK },
        { "caf\xc3\xa9", 5, NGX_OK },
        { "a-b_c~d", 7, NGX_OK },
        { "", 0, NGX_ERROR },
        { ".", 1, NGX_ERROR },
        { "/", 1, NGX_ERROR },
        { "a/b", 3, NGX_ERROR },
        { "cam/", 4, NGX_ERROR },
        { "..", 2, NGX_ERROR },
        { "a..b", 4, NGX_ERROR },
        { "...", 3, NGX_ERROR },
        { "cam..", 5, NGX_ERROR },
        { "\x01", 1, NGX_ERROR },
        { "a\tb", 3, NGX_ERROR },
        { "a\nb", 3, NGX_ERROR },
        { "cam\x1f", 4, NGX_ERROR },
        { "cam\x7f", 4, NGX_ERROR },
        { "a\0b", 3, NGX_ERROR }
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        name.data = (u_char *) cases[i].name;
        name.len = cases[i].len;

        if (ngx_chrys_valid_name(&name) != cases[i].rc) {
            fprintf(stderr, "name \"%s\": expected %s\n", cases[i].name,
                    cases[i].rc == NGX_OK ? "valid" : "invalid");
        }

        ngx_unit_check(ngx_chrys_valid_name(&name) == cases[i].rc);
    }

    ngx_memset(buf, 'a', sizeof(buf));
    name.data = buf;

    name.len = NGX_CHRYS_NAME_MAX;
    ngx_unit_check(ngx_chrys_valid_name(&name) == NGX_OK);

    name.len = NGX_CHRYS_NAME_MAX + 1;
    ngx_unit_check(ngx_chrys_valid_name(&name) == NGX_ERROR);
}


static void
test_stream_set_error(void)
{
    u_char               text[200];
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", NULL);

    ngx_chrys_stream_set_error(zone, st, "decoding: %s", "Invalid data");
    ngx_unit_check(ngx_strcmp(st->error, "decoding: Invalid data") == 0);

    /* a long message is cut to fit, and stays terminated */

    ngx_memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';

    ngx_chrys_stream_set_error(zone, st, "%s", text);
    ngx_unit_check(ngx_strlen(st->error) == NGX_CHRYS_ERROR_LEN - 1);

    ngx_chrys_stream_set_error(zone, st, NULL);
    ngx_unit_check(st->error[0] == '\0');

    ngx_unit_zone_destroy(zone);
}


static void
test_stream_claim_and_release(void)
{
    ngx_uint_t           claim, first;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st, *busy;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    /* a stream that was published before */

    st = ngx_unit_stream(zone, "cam1", NULL);
    first = st->publisher.claims;

    ngx_current_msec = 5000;
    ngx_chrys_stream_set_error(zone, st, "from the last publisher");

    ngx_unit_check(ngx_chrys_stream_publishing(st) == 0);
    ngx_unit_check(ngx_unit_claim(zone, "cam1", &st, &claim) == NGX_OK);
    ngx_unit_check(ngx_chrys_stream_publishing(st) == 1);
    ngx_unit_check(ngx_chrys_stream_current(st, claim) == 1);
    ngx_unit_check(st->publisher.owner == ngx_pid);
    ngx_unit_check(st->publisher.claims == first + 1);
    ngx_unit_check(claim == st->publisher.claims);
    ngx_unit_check(st->publisher.time == ngx_chrys_unix_msec());
    ngx_unit_check(st->publisher.time > (uint64_t) 1600000000 * 1000);
    ngx_unit_check(st->rate.start == 5000);
    ngx_unit_check(st->error[0] == '\0');

    /* a second publisher of the same name, even in this worker */

    ngx_unit_check(ngx_unit_claim(zone, "cam1", &busy, &first) == NGX_BUSY);
    ngx_unit_check(busy == st);
    ngx_unit_check(st->publisher.claims == claim);

    st->rate.fps = 2500;
    st->rate.bitrate = 1000000;

    ngx_chrys_stream_release(zone, st, claim);

    ngx_unit_check(ngx_chrys_stream_publishing(st) == 0);
    ngx_unit_check(ngx_chrys_stream_current(st, claim) == 0);
    ngx_unit_check(st->publisher.owner == 0);
    ngx_unit_check(st->rate.fps == 0);
    ngx_unit_check(st->rate.bitrate == 0);

    ngx_unit_check(ngx_unit_claim(zone, "cam1", &st, &first) == NGX_OK);
    ngx_unit_check(first == claim + 1);
    ngx_unit_check(st->publisher.claims == claim + 1);

    ngx_chrys_stream_release(zone, st, first);

    ngx_unit_zone_destroy(zone);
}


/*
 * A publisher that leaves while its last picture is being decoded: the
 * stream is still shown as publishing, a new publisher can take it over,
 * and the old publish's release then leaves the new one alone.
 */

static void
test_stream_closing_and_takeover(void)
{
    ngx_uint_t           first, second, third;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_unit_check(ngx_unit_claim(zone, "cam1", &st, &first) == NGX_OK);

    ngx_chrys_stream_closing(zone, st, first);

    ngx_unit_check(st->publisher.closing == 1);
    ngx_unit_check(ngx_chrys_stream_publishing(st) == 1);

    /* the old publish ends when its picture is out: not publishing */

    ngx_chrys_stream_release(zone, st, first);

    ngx_unit_check(ngx_chrys_stream_publishing(st) == 0);
    ngx_unit_check(st->publisher.closing == 0);

    /* again, but a new publisher comes before the picture is out */

    ngx_unit_check(ngx_unit_claim(zone, "cam1", &st, &first) == NGX_OK);

    ngx_chrys_stream_closing(zone, st, first);

    ngx_unit_check(ngx_unit_claim(zone, "cam1", &st, &second) == NGX_OK);
    ngx_unit_check(second == first + 1);
    ngx_unit_check(st->publisher.claims == second);
    ngx_unit_check(st->publisher.closing == 0);

    /* the old publish may not say the new one is closing */

    ngx_chrys_stream_closing(zone, st, first);
    ngx_unit_check(st->publisher.closing == 0);

    /* the new one is not closing: no third publisher */

    ngx_unit_check(ngx_unit_claim(zone, "cam1", &st, &third) == NGX_BUSY);

    /* the old publish's release leaves the new publisher alone */

    ngx_chrys_stream_release(zone, st, first);

    ngx_unit_check(ngx_chrys_stream_publishing(st) == 1);
    ngx_unit_check(st->publisher.owner == ngx_pid);

    ngx_chrys_stream_release(zone, st, second);

    ngx_unit_check(ngx_chrys_stream_publishing(st) == 0);

    ngx_unit_zone_destroy(zone);
}


static void
test_stream_claim_of_another_worker(void)
{
    ngx_pid_t            pid;
    ngx_uint_t           claim;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st, *busy;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    /* another process makes the stream, claims it and stays alive */

    pid = ngx_unit_worker_claim_stream(zone, "cam1", 0);

    ngx_unit_check(pid > 0);

    if (pid <= 0) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    st = ngx_unit_find(zone, "cam1");

    ngx_unit_check(st != NULL);

    if (st == NULL) {
        (void) ngx_unit_worker_reap(pid, 1);
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(st->publisher.owner == pid);
    ngx_unit_check(st->publisher.claims == 1);
    ngx_unit_check(ngx_chrys_stream_publishing(st) == 1);
    ngx_unit_check(ngx_unit_claim(zone, "cam1", &busy, &claim) == NGX_BUSY);
    ngx_unit_check(busy == st);

    /* not ours to release, nor to write pictures for */

    ngx_chrys_stream_release(zone, st, st->publisher.claims);
    ngx_unit_check(st->publisher.owner == pid);
    ngx_unit_check(ngx_chrys_stream_publishing(st) == 1);
    ngx_unit_check(ngx_chrys_stream_current(st, 1) == 0);

    /* it is killed holding the stream, which is then free to take */

    ngx_unit_check(ngx_unit_worker_reap(pid, 1) == NGX_OK);

    ngx_unit_check(st->publisher.publishing == 1);
    ngx_unit_check(ngx_chrys_stream_publishing(st) == 0);
    ngx_unit_check(ngx_unit_claim(zone, "cam1", &busy, &claim) == NGX_OK);
    ngx_unit_check(busy == st);
    ngx_unit_check(st->publisher.owner == ngx_pid);
    ngx_unit_check(st->publisher.claims == 2 && claim == 2);

    ngx_unit_zone_destroy(zone);
}


/* references are counted in the column of this worker's place */

static void
test_stream_open_and_close_count_references(void)
{
    ngx_uint_t           w, others;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st, *a, *b;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", NULL);

    w = zone->worker;

    ngx_unit_check(w < NGX_CHRYS_WORKERS);
    ngx_unit_check(zone->sh->workers[w].pid == ngx_pid);
    ngx_unit_check(st->refs[w] == 0);

    ngx_unit_check(ngx_chrys_stream_open(zone, &ngx_unit_app, &st->name, &a)
                   == NGX_OK);
    ngx_unit_check(a == st && st->refs[w] == 1);

    ngx_unit_check(ngx_chrys_stream_open(zone, &ngx_unit_app, &st->name, &b)
                   == NGX_OK);
    ngx_unit_check(b == st && st->refs[w] == 2);

    others = 0;

    for (w = 0; w < NGX_CHRYS_WORKERS; w++) {
        if (w != zone->worker) {
            others += st->refs[w];
        }
    }

    ngx_unit_check(others == 0);

    w = zone->worker;

    ngx_chrys_stream_close(zone, a);
    ngx_unit_check(st->refs[w] == 1);

    ngx_chrys_stream_close(zone, b);
    ngx_unit_check(st->refs[w] == 0);

    /* one close too many does not wrap the count round */

    ngx_chrys_stream_close(zone, st);
    ngx_unit_check(st->refs[w] == 0);

    /* a claim is not a reference of the column */

    ngx_unit_check(ngx_unit_stream(zone, "cam1", NULL) == st);
    ngx_unit_check(st->refs[w] == 0);

    /* a worker that detaches drops its references, and opens nothing */

    ngx_unit_check(ngx_chrys_stream_open(zone, &ngx_unit_app, &st->name, &a)
                   == NGX_OK);
    ngx_unit_check(st->refs[w] == 1);

    ngx_chrys_zone_detach(zone);

    ngx_unit_check(zone->worker == NGX_CHRYS_WORKERS);
    ngx_unit_check(zone->sh->workers[w].pid == 0);
    ngx_unit_check(st->refs[w] == 0);
    ngx_unit_check(ngx_chrys_stream_open(zone, &ngx_unit_app, &st->name, &a)
                   == NGX_DECLINED);
    ngx_unit_check(a == NULL);

    /* and takes a place again when it attaches */

    ngx_unit_check(ngx_chrys_zone_attach(zone, ngx_cycle->log) == NGX_OK);
    ngx_unit_check(zone->worker == w);
    ngx_unit_check(ngx_unit_find(zone, "cam1") == st);

    ngx_unit_zone_destroy(zone);
}


/*
 * Each worker process takes a place of its own; the place of a worker
 * that died is taken over by the next one to attach, with the references
 * and clients it counted dropped.
 */

static void
test_zone_attach_takes_over_dead_workers_place(void)
{
    ngx_pid_t                first, second, third;
    ngx_uint_t               w1, w2, w3;
    ngx_chrys_zone_t        *zone;
    ngx_chrys_stream_t      *st;
    ngx_chrys_zone_stats_t   stats;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", NULL);

    w1 = w2 = w3 = NGX_CHRYS_WORKERS;

    /* a worker that opens the stream and serves an MJPEG client */

    first = ngx_unit_worker_attach(zone, "cam1", &w1);

    ngx_unit_check(first > 0);
    ngx_unit_check(w1 < NGX_CHRYS_WORKERS && w1 != zone->worker);

    if (first <= 0 || w1 >= NGX_CHRYS_WORKERS) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(zone->sh->workers[w1].pid == first);
    ngx_unit_check(st->refs[w1] == 1);
    ngx_unit_check(st->refs[zone->worker] == 0);

    ngx_chrys_zone_stats(zone, &stats);
    ngx_unit_check(stats.clients_mjpeg == 1);

    /* another, while the first is alive: a place of its own */

    second = ngx_unit_worker_attach(zone, NULL, &w2);

    ngx_unit_check(second > 0);
    ngx_unit_check(w2 < NGX_CHRYS_WORKERS && w2 != w1
                   && w2 != zone->worker);

    /* the first dies: what it counted no longer counts */

    ngx_unit_check(ngx_unit_worker_reap(first, 1) == NGX_OK);

    ngx_chrys_zone_stats(zone, &stats);
    ngx_unit_check(stats.clients_mjpeg == 0);

    /* the next worker to attach takes its place, and clears its column */

    third = ngx_unit_worker_attach(zone, NULL, &w3);

    ngx_unit_check(third > 0);
    ngx_unit_check(w3 == w1);
    ngx_unit_check(zone->sh->workers[w1].pid == third);
    ngx_unit_check(zone->sh->workers[w1].clients_mjpeg == 0);
    ngx_unit_check(st->refs[w1] == 0);

    if (second > 0) {
        ngx_unit_check(ngx_unit_worker_reap(second, 1) == NGX_OK);
    }

    if (third > 0) {
        ngx_unit_check(ngx_unit_worker_reap(third, 1) == NGX_OK);
    }

    /* this process kept its place throughout */

    ngx_unit_check(zone->sh->workers[zone->worker].pid == ngx_pid);

    ngx_unit_zone_destroy(zone);
}


/* a copy of a stream, and of every stream, for status and metrics */

static void
test_stream_snapshot_copies_names_and_counters(void)
{
    ngx_str_t              other;
    ngx_uint_t             claim, oclaim, i;
    ngx_pool_t            *pool;
    ngx_array_t            streams;
    ngx_chrys_zone_t      *zone;
    ngx_chrys_video_t      video;
    ngx_chrys_stream_t    *st, *os;
    ngx_chrys_snapshot_t   snap, *snaps;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    pool = ngx_create_pool(4096, ngx_cycle->log);

    ngx_unit_check(pool != NULL);

    if (pool == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    st = ngx_unit_stream(zone, "cam1", &claim);

    ngx_str_set(&other, "entrance");

    ngx_unit_check(ngx_unit_stream_claim(zone, &other, &other, 0, 0, &os,
                                          &oclaim, ngx_cycle->log)
                   == NGX_OK);
    ngx_chrys_stream_release(zone, os, oclaim);

    /* what the publisher's worker counts */

    for (i = 0; i < 3; i++) {
        ngx_chrys_stream_count(st, 1000);
    }

    ngx_chrys_stream_add(st, decoded, 2);
    ngx_chrys_stream_add(st, skipped, 1);
    ngx_chrys_stream_add(st, errors, 4);
    ngx_chrys_stream_add(st, decode_usec, 5000);
    ngx_chrys_stream_add(st, encodes, 6);
    ngx_chrys_stream_add(st, encode_usec, 7000);
    ngx_chrys_stream_add(st, cache_hits, 8);

    video.codec = 7;
    video.profile = 100;
    video.level = 40;
    video.width = 0;
    video.height = 0;

    ngx_chrys_stream_set_video(zone, st, &video);
    ngx_chrys_stream_set_error(zone, st, "decoding: %s", "bad slice");

    (void) ngx_unit_decode(zone, st, claim, 3, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    ngx_memset(&snap, 0xee, sizeof(ngx_chrys_snapshot_t));

    ngx_chrys_stream_snapshot(zone, st, &snap);

    /* the names are copied out of the zone, into the snapshot */

    ngx_unit_check(snap.app.len == 4
                   && ngx_memcmp(snap.app.data, "live", 4) == 0);
    ngx_unit_check(snap.name.len == 4
                   && ngx_memcmp(snap.name.data, "cam1", 4) == 0);
    ngx_unit_check(snap.app.data == snap.names);
    ngx_unit_check(snap.name.data == snap.names + 5);

    ngx_unit_check(snap.publishing == 1);
    ngx_unit_check(snap.publishes == claim);
    ngx_unit_check(snap.publish_time == st->publisher.time);
    ngx_unit_check(snap.received == 3);
    ngx_unit_check(snap.decoded == 2);
    ngx_unit_check(snap.skipped == 1);
    ngx_unit_check(snap.errors == 4);
    ngx_unit_check(snap.decode_usec == 5000);
    ngx_unit_check(snap.encodes == 6);
    ngx_unit_check(snap.encode_usec == 7000);
    ngx_unit_check(snap.cache_hits == 8);
    ngx_unit_check(snap.video.codec == 7);
    ngx_unit_check(snap.video.profile == 100 && snap.video.level == 40);
    ngx_unit_check(snap.video.width == NGX_UNIT_WIDTH
                   && snap.video.height == NGX_UNIT_HEIGHT);
    ngx_unit_check(snap.last_seq == 3);
    ngx_unit_check(snap.last_time
                   == st->pictures.slots[st->pictures.latest].frame.time);
    ngx_unit_check(snap.ring_bytes == 0 && snap.ring_span == 0);
    ngx_unit_check(snap.nevents == 0);
    ngx_unit_check(ngx_strcmp(snap.error, "decoding: bad slice") == 0);

    /* every stream, in the order they came */

    ngx_unit_check(ngx_chrys_zone_snapshot(zone, pool, &streams) == NGX_OK);
    ngx_unit_check(streams.nelts == 2);

    if (streams.nelts == 2) {
        snaps = streams.elts;

        ngx_unit_check(snaps[0].name.len == 4
                       && ngx_memcmp(snaps[0].name.data, "cam1", 4) == 0);
        ngx_unit_check(snaps[0].app.data == snaps[0].names);
        ngx_unit_check(snaps[0].received == 3 && snaps[0].errors == 4);
        ngx_unit_check(snaps[0].publishing == 1);

        ngx_unit_check(snaps[1].app.len == 8
                       && ngx_memcmp(snaps[1].app.data, "entrance", 8)
                          == 0);
        ngx_unit_check(snaps[1].name.len == 8
                       && ngx_memcmp(snaps[1].name.data, "entrance", 8)
                          == 0);
        ngx_unit_check(snaps[1].name.data == snaps[1].names + 9);
        ngx_unit_check(snaps[1].received == 0);
        ngx_unit_check(snaps[1].publishing == 0);
        ngx_unit_check(snaps[1].last_seq == 0 && snaps[1].last_time == 0);
    }

    ngx_destroy_pool(pool);
    ngx_unit_zone_destroy(zone);
}


/* the zone's lock measures how long it is held */

static void
test_zone_stats_measure_lock_holds(void)
{
    ngx_str_t                name;
    ngx_uint_t               claim, slow;
    ngx_chrys_zone_t        *zone;
    ngx_chrys_stream_t      *st;
    ngx_chrys_zone_stats_t   stats;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    /* a claim with an hour's ring zeroes a 3.5 MB index under the lock */

    ngx_str_set(&name, "cam1");

    ngx_unit_check(ngx_unit_stream_claim(zone, &ngx_unit_app, &name,
                                          3600000, 64 * 1024 * 1024, &st,
                                          &claim, ngx_cycle->log)
                   == NGX_OK);
    ngx_unit_check(st->ring.cap == 65536);

    ngx_chrys_zone_stats(zone, &stats);

    ngx_unit_check(stats.nstreams == 1);
    ngx_unit_check(stats.size == NGX_UNIT_ZONE_SIZE);
    ngx_unit_check(stats.free > 0 && stats.free < stats.size);
    ngx_unit_check(stats.lock_max_usec > 0);
    ngx_unit_check(stats.lock_max_usec == zone->sh->lock_max_usec);

    slow = stats.lock_slow;

    /* a hold of 3 ms is the longest, and a slow one */

    zone->sh->lock_max_cpu_usec = 0;

    ngx_chrys_zone_lock(zone);
    ngx_msleep(3);
    ngx_chrys_zone_unlock(zone);

    ngx_chrys_zone_stats(zone, &stats);

    ngx_unit_check(stats.lock_max_usec >= 3000);
    ngx_unit_check(stats.lock_slow >= slow + 1);

    /*
     * it slept: the clock counts it, the CPU time does not (the claim of
     * a 64 MB buffer before it may have taken more: not counted)
     */

    ngx_unit_check(stats.lock_max_cpu_usec < 2000);

    /* a hold that works 2 ms of CPU */

    ngx_chrys_zone_lock(zone);
    ngx_unit_spin_usec(2000);
    ngx_chrys_zone_unlock(zone);

    ngx_chrys_zone_stats(zone, &stats);

    ngx_unit_check(stats.lock_max_cpu_usec >= 2000);

    ngx_unit_zone_destroy(zone);
}


/* works "usec" microseconds of this thread's CPU time */

static void
ngx_unit_spin_usec(uint64_t usec)
{
    uint64_t         start, now;
    struct timespec  ts;

    (void) clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    start = (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;

    do {
        (void) clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        now = (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    } while (now - start < usec);
}


static void
test_frame_size(void)
{
    ngx_unit_check(ngx_chrys_frame_size(NGX_CHRYS_YUV420, 320, 240)
                   == 320 * 240 * 3 / 2);
    ngx_unit_check(ngx_chrys_frame_size(NGX_CHRYS_YUV422, 320, 240)
                   == 320 * 240 * 2);
    ngx_unit_check(ngx_chrys_frame_size(NGX_CHRYS_YUV444, 320, 240)
                   == 320 * 240 * 3);
    ngx_unit_check(ngx_chrys_frame_size(NGX_CHRYS_GRAY, 320, 240)
                   == 320 * 240);

    /* odd sizes: chroma rounds up */

    ngx_unit_check(ngx_chrys_frame_size(NGX_CHRYS_YUV420, 321, 241)
                   == 321 * 241 + 2 * 161 * 121);
    ngx_unit_check(ngx_chrys_frame_size(NGX_CHRYS_YUV422, 321, 241)
                   == 321 * 241 + 2 * 161 * 241);
    ngx_unit_check(ngx_chrys_frame_size(NGX_CHRYS_YUV444, 321, 241)
                   == 3 * 321 * 241);
    ngx_unit_check(ngx_chrys_frame_size(NGX_CHRYS_GRAY, 321, 241)
                   == 321 * 241);

    ngx_unit_check(ngx_chrys_frame_size(NGX_CHRYS_YUV420, 1, 1) == 3);
    ngx_unit_check(ngx_chrys_frame_size(NGX_CHRYS_YUV422, 1, 1) == 3);
    ngx_unit_check(ngx_chrys_frame_size(NGX_CHRYS_YUV420, 1920, 1080)
                   == 3110400);
    ngx_unit_check(ngx_chrys_frame_size(NGX_CHRYS_YUV420, 1920, 1081)
                   == 1920 * 1081 + 2 * 960 * 541);
    ngx_unit_check(ngx_chrys_frame_size(NGX_CHRYS_YUV420, 0, 0) == 0);
}


static void
test_slot_reserve_never_returns_latest(void)
{
    size_t               size;
    ngx_int_t            n;
    ngx_uint_t           seq, never_latest, used, claim;
    ngx_chrys_slot_t    *read;
    ngx_chrys_frame_t    frame;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    size = ngx_chrys_frame_size(NGX_CHRYS_YUV420, NGX_UNIT_WIDTH,
                                NGX_UNIT_HEIGHT);
    never_latest = 1;
    used = 0;
    read = NULL;

    for (seq = 1; seq <= 30; seq++) {
        n = ngx_chrys_slot_reserve(zone, st, claim, size);

        if (n < 0 || n >= NGX_CHRYS_SLOTS) {
            ngx_unit_check(n >= 0 && n < NGX_CHRYS_SLOTS);
            break;
        }

        if (st->pictures.latest_seq && (ngx_uint_t) n == st->pictures.latest)
        {
            never_latest = 0;
        }

        used |= 1 << n;

        ngx_unit_frame(&frame, seq, NGX_UNIT_WIDTH, NGX_UNIT_HEIGHT);

        ngx_unit_check(ngx_chrys_slot_publish(zone, st, claim, n, &frame)
                       == NGX_OK);
        ngx_unit_check(st->pictures.latest == (ngx_uint_t) n);

        /* frame 10 gets a reader that stays: its slot is not written */

        if (seq == 10) {
            read = ngx_unit_pin(zone, st);
        }
    }

    ngx_unit_check(never_latest);
    ngx_unit_check(used == (1 << NGX_CHRYS_SLOTS) - 1);
    ngx_unit_check(read && read->readers == 1);
    ngx_unit_check(read && read->seq == 10);

    ngx_unit_zone_destroy(zone);
}


static void
test_slot_reserve_prefers_slots_without_readers(void)
{
    ngx_int_t            n0, n1, n2, n3;
    ngx_uint_t           claim;
    ngx_chrys_slot_t    *pinned;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    n0 = ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                         NGX_UNIT_HEIGHT);

    /* a slow reader holds frame 1 */
    pinned = ngx_unit_pin(zone, st);

    ngx_unit_check(n0 >= 0 && pinned == &st->pictures.slots[n0]);

    n1 = ngx_unit_decode(zone, st, claim, 2, NGX_UNIT_WIDTH,
                         NGX_UNIT_HEIGHT);
    n2 = ngx_unit_decode(zone, st, claim, 3, NGX_UNIT_WIDTH,
                         NGX_UNIT_HEIGHT);
    n3 = ngx_unit_decode(zone, st, claim, 4, NGX_UNIT_WIDTH,
                         NGX_UNIT_HEIGHT);

    ngx_unit_check(n1 >= 0 && n2 >= 0 && n3 >= 0);
    ngx_unit_check(n1 != n0 && n2 != n0 && n3 != n0);
    ngx_unit_check(n1 != n2 && n2 != n3);

    /* the picture it reads was left alone */

    ngx_unit_check(pinned && ngx_unit_slot_holds(pinned, 1));
    ngx_unit_check(pinned && ngx_chrys_slot_unpin(zone, pinned, 1) == 1);
    ngx_unit_check(pinned && pinned->readers == 0);

    ngx_unit_zone_destroy(zone);
}


static void
test_slot_reserve_takes_all_slots_at_once(void)
{
    ngx_int_t            n;
    ngx_uint_t           i, pfree, sized, claim;
    ngx_chrys_slot_t    *slots;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);
    slots = st->pictures.slots;

    pfree = zone->shpool->pfree;

    n = ngx_chrys_slot_reserve(zone, st, claim, 16384);

    ngx_unit_check(n >= 0 && n < NGX_CHRYS_SLOTS);
    ngx_unit_check(n >= 0 && slots[n].seq == 0);
    ngx_unit_check(n >= 0 && slots[n].writer == claim);

    sized = 0;

    for (i = 0; i < NGX_CHRYS_SLOTS; i++) {
        if (slots[i].data && slots[i].size == 16384) {
            sized++;
        }
    }

    ngx_unit_check(sized == NGX_CHRYS_SLOTS);
    ngx_unit_check(zone->shpool->pfree
                   == pfree - NGX_CHRYS_SLOTS * ngx_unit_pages(16384));

    /* the slots are apart */

    ngx_unit_check(slots[0].data + 16384 <= slots[1].data
                   || slots[1].data + 16384 <= slots[0].data);
    ngx_unit_check(slots[1].data + 16384 <= slots[2].data
                   || slots[2].data + 16384 <= slots[1].data);
    ngx_unit_check(slots[0].data + 16384 <= slots[2].data
                   || slots[2].data + 16384 <= slots[0].data);

    ngx_unit_zone_destroy(zone);
}


static void
test_slot_reserve_resizes(void)
{
    u_char              *data;
    ngx_int_t            n;
    ngx_uint_t           pfree, others, claim;
    ngx_chrys_slot_t    *slot;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    pfree = zone->shpool->pfree;

    /* without a publish in between, the same slot comes back */

    n = ngx_chrys_slot_reserve(zone, st, claim, 16384);

    ngx_unit_check(n >= 0);

    if (n < 0) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    slot = &st->pictures.slots[n];
    data = slot->data;

    /* what the other slots hold, which a resize of this one leaves */
    others = (NGX_CHRYS_SLOTS - 1) * ngx_unit_pages(16384);

    ngx_unit_check(data != NULL);
    ngx_unit_check(slot->size == 16384);
    ngx_unit_check(slot->seq == 0);

    /* somewhat smaller pictures keep the slot */

    ngx_unit_check(ngx_chrys_slot_reserve(zone, st, claim, 16384) == n);
    ngx_unit_check(slot->data == data && slot->size == 16384);

    ngx_unit_check(ngx_chrys_slot_reserve(zone, st, claim, 10000) == n);
    ngx_unit_check(slot->data == data && slot->size == 16384);

    ngx_unit_check(ngx_chrys_slot_reserve(zone, st, claim, 8192) == n);
    ngx_unit_check(slot->data == data && slot->size == 16384);

    /* much smaller ones give the room back */

    ngx_unit_check(ngx_chrys_slot_reserve(zone, st, claim, 8191) == n);
    ngx_unit_check(slot->data != NULL && slot->size == 8191);
    ngx_unit_check(zone->shpool->pfree
                   == pfree - others - ngx_unit_pages(8191));

    /* larger ones grow it */

    ngx_unit_check(ngx_chrys_slot_reserve(zone, st, claim, 100000) == n);
    ngx_unit_check(slot->data != NULL && slot->size == 100000);
    ngx_unit_check(slot->seq == 0);
    ngx_unit_check(zone->shpool->pfree
                   == pfree - others - ngx_unit_pages(100000));

    ngx_memset(slot->data, 0xa5, 100000);

    /* the others are resized when their turn comes */

    ngx_unit_check(ngx_unit_decode(zone, st, claim, 1, 320, 240) == n);
    ngx_unit_check(ngx_unit_decode(zone, st, claim, 2, 320, 240) != n);
    ngx_unit_check(st->pictures.slots[st->pictures.latest].size
                   == ngx_chrys_frame_size(NGX_CHRYS_YUV420, 320, 240));
    ngx_unit_check(ngx_unit_slot_holds(
                       &st->pictures.slots[st->pictures.latest], 2));

    ngx_unit_zone_destroy(zone);
}


static void
test_slot_publish_sets_latest(void)
{
    ngx_int_t            n;
    ngx_uint_t           claim;
    ngx_chrys_slot_t    *slot;
    ngx_chrys_frame_t    frame, latest;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    n = ngx_chrys_slot_reserve(zone, st, claim,
                               ngx_chrys_frame_size(NGX_CHRYS_YUV422,
                                                    321, 241));

    ngx_unit_check(n >= 0);

    if (n < 0) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(st->pictures.latest_seq == 0);
    ngx_unit_check(ngx_unit_pin(zone, st) == NULL);
    ngx_unit_check(ngx_chrys_stream_latest(zone, st, &latest)
                   == NGX_DECLINED);

    ngx_memzero(&frame, sizeof(ngx_chrys_frame_t));
    frame.seq = 7;
    frame.pts = 280;
    frame.time = ngx_chrys_unix_msec();
    frame.width = 321;
    frame.height = 241;
    frame.layout = NGX_CHRYS_YUV422;
    frame.keyframe = 1;
    frame.full_range = 1;

    ngx_unit_check(ngx_chrys_slot_publish(zone, st, claim, n, &frame)
                   == NGX_OK);

    slot = &st->pictures.slots[n];

    ngx_unit_check(st->pictures.latest == (ngx_uint_t) n);
    ngx_unit_check(st->pictures.latest_seq == 7);
    ngx_unit_check(st->video.width == 321);
    ngx_unit_check(st->video.height == 241);
    ngx_unit_check(slot->writer == 0);
    ngx_unit_check(slot->seq == 7);
    ngx_unit_check(slot->frame.seq == 7);
    ngx_unit_check(slot->frame.pts == 280);
    ngx_unit_check(slot->frame.time == frame.time);
    ngx_unit_check(slot->frame.layout == NGX_CHRYS_YUV422);
    ngx_unit_check(slot->frame.keyframe == 1);
    ngx_unit_check(slot->frame.full_range == 1);

    ngx_unit_check(ngx_chrys_stream_latest(zone, st, &latest) == NGX_OK);
    ngx_unit_check(latest.seq == 7 && latest.width == 321);

    ngx_unit_zone_destroy(zone);
}


static void
test_slot_publish_frees_older_jpegs(void)
{
    ngx_uint_t           pfree, claim;
    ngx_chrys_jpeg_t    *ready, *encoding;
    ngx_chrys_want_t     want;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    (void) ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);
    (void) ngx_unit_decode(zone, st, claim, 2, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    pfree = zone->shpool->pfree;

    ngx_unit_check(ngx_unit_jpeg_cache(zone, st, 80, 10000) == NGX_OK);
    ngx_unit_check(zone->shpool->pfree == pfree - ngx_unit_pages(10000));

    ready = ngx_unit_jpeg_find(st, 2, 80);
    encoding = ngx_unit_jpeg_claim(zone, st, 50, &want);

    ngx_unit_check(ready && ready->state == NGX_CHRYS_JPEG_READY);
    ngx_unit_check(encoding && encoding != ready);

    if (ready == NULL || encoding == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    /* frame 3: the cached picture of frame 2 is of no use any more */

    (void) ngx_unit_decode(zone, st, claim, 3, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    ngx_unit_check(ready->state == NGX_CHRYS_JPEG_FREE);
    ngx_unit_check(ready->data == NULL && ready->len == 0);
    ngx_unit_check(ngx_unit_jpeg_find(st, 2, 80) == NULL);
    ngx_unit_check(zone->shpool->pfree == pfree);

    /* an encode under way is left to finish, and then declined */

    ngx_unit_check(encoding->state == NGX_CHRYS_JPEG_ENCODING);
    ngx_unit_check(ngx_chrys_jpeg_store(zone, st, &want,
                                        (u_char *) "jpeg", 4)
                   == NGX_DECLINED);
    ngx_unit_check(encoding->state == NGX_CHRYS_JPEG_FREE);
    ngx_unit_check(zone->shpool->pfree == pfree);

    ngx_unit_zone_destroy(zone);
}


static void
test_slot_pin_and_unpin(void)
{
    ngx_int_t            n;
    ngx_uint_t           claim;
    ngx_chrys_slot_t    *slot;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    /* nothing decoded yet */
    ngx_unit_check(ngx_unit_pin(zone, st) == NULL);

    n = ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                        NGX_UNIT_HEIGHT);

    ngx_current_msec = 100000;

    slot = ngx_unit_pin(zone, st);

    ngx_unit_check(n >= 0 && slot == &st->pictures.slots[n]);

    if (slot == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(slot->readers == 1);
    ngx_unit_check(slot->pinned == 100000);
    ngx_unit_check(ngx_unit_pin(zone, st) == slot);
    ngx_unit_check(slot->readers == 2);
    ngx_unit_check(ngx_unit_slot_holds(slot, 1));

    ngx_unit_check(ngx_chrys_slot_unpin(zone, slot, 1) == 1);
    ngx_unit_check(ngx_chrys_slot_unpin(zone, slot, 1) == 1);
    ngx_unit_check(slot->readers == 0);

    ngx_unit_zone_destroy(zone);
}


/*
 * A request that encodes gets its JPEG entry and the picture's slot in
 * one hold of the lock, so the picture pinned is the one claimed.
 */

static void
test_jpeg_acquire_claims_and_pins_together(void)
{
    ngx_int_t            n;
    ngx_uint_t           claim;
    ngx_chrys_slot_t    *slot;
    ngx_chrys_want_t     want;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    ngx_memzero(&want, sizeof(ngx_chrys_want_t));
    want.variant = 80;

    ngx_unit_check(ngx_chrys_jpeg_acquire(zone, st, &want, ngx_cycle->log)
                   == NGX_DECLINED);
    ngx_unit_check(want.slot == NULL && want.jpeg == NULL);

    n = ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                        NGX_UNIT_HEIGHT);

    ngx_unit_check(ngx_chrys_jpeg_acquire(zone, st, &want, ngx_cycle->log)
                   == NGX_AGAIN);
    ngx_unit_check(n >= 0 && want.slot == &st->pictures.slots[n]);
    ngx_unit_check(want.jpeg != NULL);

    if (want.jpeg == NULL || want.slot == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    slot = want.slot;

    ngx_unit_check(slot->seq == want.jpeg->seq);
    ngx_unit_check(want.frame.seq == 1);
    ngx_unit_check(want.planes == slot->data);
    ngx_unit_check(want.token == want.jpeg->token);
    ngx_unit_check(slot->readers == 1);

    /* the lock was not taken twice, nor left held */

    ngx_unit_check(ngx_unit_pin(zone, st) == slot);
    ngx_unit_check(slot->readers == 2);

    ngx_unit_check(ngx_chrys_slot_unpin(zone, slot, 1) == 1);
    ngx_unit_check(ngx_chrys_slot_unpin(zone, slot, 1) == 1);
    ngx_unit_check(slot->readers == 0);

    ngx_chrys_jpeg_abort(zone, &want);

    ngx_unit_zone_destroy(zone);
}


static void
test_slot_unpin_detects_overwrite(void)
{
    size_t               size;
    ngx_int_t            n;
    ngx_uint_t           claim;
    ngx_chrys_slot_t    *first, *second;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    /* two slow readers, of frames 1 and 2; frame 3 is the latest */

    (void) ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);
    first = ngx_unit_pin(zone, st);

    (void) ngx_unit_decode(zone, st, claim, 2, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);
    second = ngx_unit_pin(zone, st);

    (void) ngx_unit_decode(zone, st, claim, 3, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    ngx_unit_check(first && second && first != second);

    if (first == NULL || second == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    /* the decoder has no free slot left: while both are read, it waits */

    size = ngx_chrys_frame_size(NGX_CHRYS_YUV420, NGX_UNIT_WIDTH,
                                NGX_UNIT_HEIGHT);

    ngx_unit_check(ngx_chrys_slot_reserve(zone, st, claim, size)
                   == NGX_BUSY);
    ngx_unit_check(first->seq == 1);

    /* a reader stuck for a second loses its slot: the first one read */

    ngx_current_msec += NGX_CHRYS_PIN_STALE;

    n = ngx_chrys_slot_reserve(zone, st, claim, size);

    ngx_unit_check(n >= 0 && &st->pictures.slots[n] == first);
    ngx_unit_check(first->seq == 0);

    ngx_unit_check(ngx_chrys_slot_unpin(zone, first, 1) == 0);
    ngx_unit_check(ngx_chrys_slot_unpin(zone, second, 2) == 1);

    /* written and published again: still not the picture read */

    ngx_unit_check(ngx_unit_decode(zone, st, claim, 4, NGX_UNIT_WIDTH,
                                   NGX_UNIT_HEIGHT)
                   == n);
    ngx_unit_check(first->seq == 4);

    ngx_unit_zone_destroy(zone);
}


static void
test_slot_unpin_detects_failed_regrow(void)
{
    ngx_int_t            n;
    ngx_uint_t           claim;
    ngx_chrys_slot_t    *first, *second;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_SMALL_ZONE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    (void) ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);
    first = ngx_unit_pin(zone, st);

    (void) ngx_unit_decode(zone, st, claim, 2, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);
    second = ngx_unit_pin(zone, st);

    (void) ngx_unit_decode(zone, st, claim, 3, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    ngx_unit_check(first && second && first != second);

    if (first == NULL || second == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    /*
     * the resolution goes up beyond what the zone holds: the slot of
     * frame 1 loses its memory, and its reader must learn of it
     */

    ngx_current_msec += NGX_CHRYS_PIN_STALE;

    n = ngx_chrys_slot_reserve(zone, st, claim, 2 * NGX_UNIT_SMALL_ZONE);

    ngx_unit_check(n == NGX_ERROR);
    ngx_unit_check(first->data == NULL);
    ngx_unit_check(ngx_chrys_slot_unpin(zone, first, 1) == 0);
    ngx_unit_check(ngx_chrys_slot_unpin(zone, second, 2) == 1);

    /* the latest picture is still there, and the stream goes on */

    ngx_unit_check(st->pictures.latest_seq == 3);
    ngx_unit_check(ngx_unit_slot_holds(
                       &st->pictures.slots[st->pictures.latest], 3));
    ngx_unit_check(ngx_unit_decode(zone, st, claim, 4, NGX_UNIT_WIDTH,
                                   NGX_UNIT_HEIGHT)
                   >= 0);
    ngx_unit_check(ngx_unit_slot_holds(
                       &st->pictures.slots[st->pictures.latest], 4));

    ngx_unit_zone_destroy(zone);
}


/*
 * A publisher that left (claim a) still decodes its last picture into a
 * slot when a new publisher takes the stream over (claim b): the new
 * decoder never gets that slot, and the old one's picture is dropped.
 */

static void
test_slot_takeover_never_shares_a_slot(void)
{
    size_t               size;
    ngx_int_t            na, n;
    ngx_uint_t           a, b, seq, shared, latest;
    ngx_chrys_slot_t    *slot;
    ngx_chrys_frame_t    frame;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st, *sb;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_unit_check(ngx_unit_claim(zone, "cam1", &st, &a) == NGX_OK);

    (void) ngx_unit_decode(zone, st, a, 1, NGX_UNIT_WIDTH, NGX_UNIT_HEIGHT);

    /* the old decoder is writing frame 2 as its publisher leaves */

    size = ngx_chrys_frame_size(NGX_CHRYS_YUV420, NGX_UNIT_WIDTH,
                                NGX_UNIT_HEIGHT);

    na = ngx_chrys_slot_reserve(zone, st, a, size);

    ngx_unit_check(na >= 0);

    if (na < 0) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    slot = &st->pictures.slots[na];

    ngx_unit_check(slot->writer == a);
    ngx_memset(slot->data, 2, size);

    ngx_chrys_stream_closing(zone, st, a);

    /* a new publisher takes over, and decodes its own frames */

    ngx_unit_check(ngx_unit_claim(zone, "cam1", &sb, &b) == NGX_OK);
    ngx_unit_check(sb == st && b != a);

    shared = 0;

    for (seq = 10; seq < 20; seq++) {
        n = ngx_unit_decode(zone, st, b, seq, NGX_UNIT_WIDTH,
                            NGX_UNIT_HEIGHT);

        ngx_unit_check(n >= 0);

        if (n == na || slot->writer != a) {
            shared = 1;
        }
    }

    ngx_unit_check(!shared);
    ngx_unit_check(st->pictures.latest_seq == 19);
    ngx_unit_check(ngx_unit_all(slot->data, size, 2));

    /* the old decoder reserves no more */

    ngx_unit_check(ngx_chrys_slot_reserve(zone, st, a, size)
                   == NGX_DECLINED);

    /* its picture comes too late: declined, the latest stays */

    latest = st->pictures.latest;

    ngx_unit_frame(&frame, 2, NGX_UNIT_WIDTH, NGX_UNIT_HEIGHT);

    ngx_unit_check(ngx_chrys_slot_publish(zone, st, a, na, &frame)
                   == NGX_DECLINED);
    ngx_unit_check(st->pictures.latest_seq == 19);
    ngx_unit_check(st->pictures.latest == latest);
    ngx_unit_check(ngx_unit_slot_holds(&st->pictures.slots[latest], 19));
    ngx_unit_check(slot->seq == 0);

    /* the slot is free for the new decoder now */

    ngx_unit_check(slot->writer == 0);

    shared = 0;

    for (seq = 20; seq < 23; seq++) {
        if (ngx_unit_decode(zone, st, b, seq, NGX_UNIT_WIDTH,
                            NGX_UNIT_HEIGHT)
            == na)
        {
            shared = 1;
        }
    }

    ngx_unit_check(shared);

    /* nor may its abort let go of a slot the new decoder writes */

    n = ngx_chrys_slot_reserve(zone, st, b, size);

    ngx_unit_check(n >= 0);

    if (n >= 0) {
        ngx_chrys_slot_abort(zone, st, a, n);
        ngx_unit_check(st->pictures.slots[n].writer == b);
    }

    ngx_unit_zone_destroy(zone);
}


/*
 * The same, with the new publisher's pictures of other sizes: its slots
 * are resized, the one the old decoder writes keeps its memory.
 */

static void
test_slot_takeover_resize_keeps_writers_memory(void)
{
    size_t               size, sizes[3];
    u_char              *data;
    ngx_int_t            na, n;
    ngx_uint_t           a, b, i, seq, moved, pfree, pages;
    ngx_chrys_slot_t    *slot;
    ngx_chrys_frame_t    frame;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_unit_check(ngx_unit_claim(zone, "cam1", &st, &a) == NGX_OK);

    pfree = zone->shpool->pfree;

    (void) ngx_unit_decode(zone, st, a, 1, NGX_UNIT_WIDTH, NGX_UNIT_HEIGHT);

    size = ngx_chrys_frame_size(NGX_CHRYS_YUV420, NGX_UNIT_WIDTH,
                                NGX_UNIT_HEIGHT);

    na = ngx_chrys_slot_reserve(zone, st, a, size);

    ngx_unit_check(na >= 0);

    if (na < 0) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    slot = &st->pictures.slots[na];
    data = slot->data;
    ngx_memset(data, 2, size);

    ngx_chrys_stream_closing(zone, st, a);

    ngx_unit_check(ngx_unit_claim(zone, "cam1", &st, &b) == NGX_OK);

    /* larger pictures, much smaller ones, and larger again */

    sizes[0] = 320;
    sizes[1] = 16;
    sizes[2] = 640;

    moved = 0;

    for (seq = 10; seq < 40; seq++) {
        i = (seq - 10) / 10;

        n = ngx_unit_decode(zone, st, b, seq, sizes[i], sizes[i] * 3 / 4);

        ngx_unit_check(n >= 0 && n != na);

        if (slot->data != data || slot->size != size || slot->writer != a) {
            moved = 1;
        }
    }

    ngx_unit_check(!moved);
    ngx_unit_check(ngx_unit_all(data, size, 2));
    ngx_unit_check(st->pictures.latest_seq == 39);
    ngx_unit_check(st->video.width == 640 && st->video.height == 480);
    ngx_unit_check(ngx_unit_slot_holds(
                       &st->pictures.slots[st->pictures.latest], 39));

    /* the slab pages are those of the three slots, nothing lost */

    pages = 0;

    for (i = 0; i < NGX_CHRYS_SLOTS; i++) {
        pages += ngx_unit_pages(st->pictures.slots[i].size);
    }

    ngx_unit_check(zone->shpool->pfree == pfree - pages);

    /* the old decoder's picture is dropped; its slot is then resized */

    ngx_unit_frame(&frame, 2, NGX_UNIT_WIDTH, NGX_UNIT_HEIGHT);

    ngx_unit_check(ngx_chrys_slot_publish(zone, st, a, na, &frame)
                   == NGX_DECLINED);
    ngx_unit_check(st->pictures.latest_seq == 39);

    for (seq = 40; seq < 43; seq++) {
        (void) ngx_unit_decode(zone, st, b, seq, 640, 480);
    }

    ngx_unit_check(slot->size == ngx_chrys_frame_size(NGX_CHRYS_YUV420,
                                                      640, 480));
    ngx_unit_check(zone->shpool->pfree
                   == pfree - NGX_CHRYS_SLOTS
                              * ngx_unit_pages(slot->size));

    /* the slab allocator found nothing wrong */
    ngx_unit_check(ngx_unit_log_crit == 0);

    ngx_unit_zone_destroy(zone);
}


/*
 * A worker that dies (or exits, on a reload) while its decoder holds a
 * slot leaves the slot marked with its claim: the marks of publishers
 * gone must not take the slots from the next ones for good.
 */

static void
test_slot_reserve_takes_back_slots_of_dead_writers(void)
{
    ngx_int_t            n;
    ngx_pid_t            first, second;
    ngx_uint_t           i, claim, marked;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    /* two publishers in turn, each killed while its decoder writes */

    first = ngx_unit_worker_claim_stream(zone, "cam1", 1);

    ngx_unit_check(first > 0);
    ngx_unit_check(first <= 0 || ngx_unit_worker_reap(first, 1) == NGX_OK);

    second = ngx_unit_worker_claim_stream(zone, "cam1", 2);

    ngx_unit_check(second > 0);
    ngx_unit_check(second <= 0 || ngx_unit_worker_reap(second, 1) == NGX_OK);

    st = ngx_unit_find(zone, "cam1");

    ngx_unit_check(st != NULL);

    if (st == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(st->pictures.latest_seq == 2);

    /* the last one's decoder left its mark at least */

    marked = 0;

    for (i = 0; i < NGX_CHRYS_SLOTS; i++) {
        if (st->pictures.slots[i].writer) {
            marked++;
        }
    }

    ngx_unit_check(marked >= 1);

    /* the next publisher's pictures still come out */

    ngx_unit_check(ngx_unit_claim(zone, "cam1", &st, &claim) == NGX_OK);

    for (i = 3; i < 6; i++) {
        n = ngx_unit_decode(zone, st, claim, i, NGX_UNIT_WIDTH,
                            NGX_UNIT_HEIGHT);

        ngx_unit_check(n >= 0);
        ngx_unit_check(st->pictures.latest_seq == i);
    }

    ngx_unit_zone_destroy(zone);
}


static void
test_jpeg_acquire_claim_store(void)
{
    u_char               bytes[100];
    ngx_uint_t           i, token, claim, hits;
    ngx_chrys_jpeg_t    *jpeg, *other;
    ngx_chrys_want_t     want, again, busy, cached, another;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    (void) ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    ngx_current_msec = 100000;

    ngx_unit_check(ngx_unit_jpeg_find(st, 1, 80) == NULL);

    jpeg = ngx_unit_jpeg_claim(zone, st, 80, &want);

    ngx_unit_check(jpeg != NULL);

    if (jpeg == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(want.frame.seq == 1);
    ngx_unit_check(want.frame.width == NGX_UNIT_WIDTH);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_ENCODING);
    ngx_unit_check(jpeg->seq == 1);
    ngx_unit_check(jpeg->variant == 80);
    ngx_unit_check(jpeg->pid == ngx_pid);
    ngx_unit_check(jpeg->started == 100000);
    ngx_unit_check(jpeg->data == NULL);

    /* the claim is named by a token that no claim in the zone had before */

    token = want.token;

    ngx_unit_check(token != 0);
    ngx_unit_check(token == jpeg->token);
    ngx_unit_check(token == zone->sh->tokens);

    /* other requests find the encode under way, for that variant only */

    ngx_memzero(&busy, sizeof(ngx_chrys_want_t));
    busy.variant = 80;

    ngx_unit_check(ngx_chrys_jpeg_acquire(zone, st, &busy, ngx_cycle->log)
                   == NGX_BUSY);
    ngx_unit_check(busy.slot == NULL && busy.jpeg == NULL);
    ngx_unit_check(busy.frame.seq == 1);
    ngx_unit_check(ngx_unit_jpeg_find(st, 1, 80) == jpeg);
    ngx_unit_check(ngx_unit_jpeg_find(st, 1, 90) == NULL);
    ngx_unit_check(ngx_unit_jpeg_find(st, 2, 80) == NULL);

    for (i = 0; i < sizeof(bytes); i++) {
        bytes[i] = (u_char) i;
    }

    bytes[0] = 0xff;
    bytes[1] = 0xd8;

    again = want;

    ngx_unit_check(ngx_chrys_jpeg_store(zone, st, &want, bytes,
                                        sizeof(bytes))
                   == NGX_OK);
    ngx_unit_check(want.jpeg == NULL);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_READY);
    ngx_unit_check(jpeg->len == sizeof(bytes));
    ngx_unit_check(jpeg->data != NULL
                   && ngx_memcmp(jpeg->data, bytes, sizeof(bytes)) == 0);
    ngx_unit_check(jpeg->data > (u_char *) zone->shpool
                   && jpeg->data < zone->shpool->end);
    ngx_unit_check(ngx_unit_jpeg_find(st, 1, 80) == jpeg);

    /* the next request gets a copy of it, out of the zone */

    hits = st->counters.cache_hits;

    ngx_memzero(&cached, sizeof(ngx_chrys_want_t));
    cached.variant = 80;

    ngx_unit_check(ngx_chrys_jpeg_acquire(zone, st, &cached,
                                          ngx_cycle->log)
                   == NGX_OK);
    ngx_unit_check(cached.slot == NULL && cached.jpeg == NULL);
    ngx_unit_check(cached.frame.seq == 1);
    ngx_unit_check(cached.len == sizeof(bytes));
    ngx_unit_check(cached.data != NULL && cached.data != jpeg->data
                   && ngx_memcmp(cached.data, bytes, sizeof(bytes)) == 0);
    ngx_unit_check(st->counters.cache_hits == hits + 1);

    if (cached.data) {
        ngx_free(cached.data);
    }

    /* the entry is no longer claimed: a second store is turned down */

    ngx_unit_check(ngx_chrys_jpeg_store(zone, st, &again, bytes, 10)
                   == NGX_DECLINED);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_READY);
    ngx_unit_check(jpeg->len == sizeof(bytes));

    /* a claim of another variant takes a free entry, not this one */

    other = ngx_unit_jpeg_claim(zone, st, 90, &another);

    ngx_unit_check(other != NULL && other != jpeg);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_READY);

    /* and gets a token of its own */

    ngx_unit_check(other && another.token != 0 && another.token != token);

    ngx_unit_zone_destroy(zone);
}


static void
test_jpeg_store_of_old_frame_is_declined(void)
{
    u_char               bytes[10000];
    ngx_uint_t           pfree, claim;
    ngx_chrys_jpeg_t    *jpeg;
    ngx_chrys_want_t     want;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    (void) ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);
    (void) ngx_unit_decode(zone, st, claim, 2, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    jpeg = ngx_unit_jpeg_claim(zone, st, 80, &want);

    ngx_unit_check(jpeg != NULL);

    if (jpeg == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(jpeg->seq == 2);

    /* frame 3 arrives while frame 2 is encoded */

    (void) ngx_unit_decode(zone, st, claim, 3, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    pfree = zone->shpool->pfree;
    ngx_memset(bytes, 0x11, sizeof(bytes));

    ngx_unit_check(ngx_chrys_jpeg_store(zone, st, &want, bytes,
                                        sizeof(bytes))
                   == NGX_DECLINED);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_FREE);
    ngx_unit_check(jpeg->data == NULL);
    ngx_unit_check(ngx_unit_jpeg_find(st, 2, 80) == NULL);
    ngx_unit_check(zone->shpool->pfree == pfree);

    ngx_unit_zone_destroy(zone);
}


static void
test_jpeg_store_and_abort_need_the_claim(void)
{
    ngx_uint_t           claim;
    ngx_chrys_jpeg_t    *jpeg, *other;
    ngx_chrys_want_t     want, other_want, forged, late;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    (void) ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);
    (void) ngx_unit_decode(zone, st, claim, 2, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    other = ngx_unit_jpeg_claim(zone, st, 50, &other_want);
    jpeg = ngx_unit_jpeg_claim(zone, st, 80, &want);

    ngx_unit_check(jpeg != NULL && other != NULL && jpeg != other);

    if (jpeg == NULL || other == NULL || jpeg == other) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(want.token != other_want.token);

    /* the token of another claim, or of none, is not this claim's */

    forged = want;
    forged.token = other_want.token;

    ngx_unit_check(ngx_chrys_jpeg_store(zone, st, &forged,
                                        (u_char *) "jpeg", 4)
                   == NGX_DECLINED);

    forged = want;
    forged.token = 0;

    ngx_unit_check(ngx_chrys_jpeg_store(zone, st, &forged,
                                        (u_char *) "jpeg", 4)
                   == NGX_DECLINED);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_ENCODING);
    ngx_unit_check(jpeg->data == NULL);

    forged = want;
    forged.token = other_want.token;

    ngx_chrys_jpeg_abort(zone, &forged);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_ENCODING);

    forged = want;
    forged.token = 0;

    ngx_chrys_jpeg_abort(zone, &forged);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_ENCODING);

    /* the other claim was not touched either */

    ngx_unit_check(other->state == NGX_CHRYS_JPEG_ENCODING);
    ngx_unit_check(other->token == other_want.token);

    /* an encode that failed lets go of its entry */

    late = want;

    ngx_chrys_jpeg_abort(zone, &want);
    ngx_unit_check(want.jpeg == NULL);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_FREE);
    ngx_unit_check(ngx_unit_jpeg_find(st, 2, 80) == NULL);

    /* an abort without a claim does nothing */

    ngx_chrys_jpeg_abort(zone, &want);
    ngx_unit_check(other->state == NGX_CHRYS_JPEG_ENCODING);

    ngx_unit_check(ngx_chrys_jpeg_store(zone, st, &late,
                                        (u_char *) "jpeg", 4)
                   == NGX_DECLINED);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_FREE);

    ngx_unit_zone_destroy(zone);
}


static void
test_jpeg_acquire_when_all_encoding(void)
{
    ngx_uint_t           q, encoding, claim;
    ngx_chrys_jpeg_t    *jpeg, *claims[NGX_CHRYS_JPEGS];
    ngx_chrys_want_t     want, wants[NGX_CHRYS_JPEGS];
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    (void) ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    ngx_current_msec = 100000;

    for (q = 0; q < NGX_CHRYS_JPEGS; q++) {
        claims[q] = ngx_unit_jpeg_claim(zone, st, 10 + q, &wants[q]);
        ngx_unit_check(claims[q] != NULL);
    }

    encoding = 0;

    for (q = 0; q < NGX_CHRYS_JPEGS; q++) {
        if (st->pictures.jpegs[q].state == NGX_CHRYS_JPEG_ENCODING) {
            encoding++;
        }
    }

    ngx_unit_check(encoding == NGX_CHRYS_JPEGS);

    /* every entry busy: the request has to wait, and nothing is pinned */

    ngx_current_msec += NGX_CHRYS_JPEG_STALE - 1;

    ngx_memzero(&want, sizeof(ngx_chrys_want_t));
    want.variant = 90;

    ngx_unit_check(ngx_chrys_jpeg_acquire(zone, st, &want, ngx_cycle->log)
                   == NGX_BUSY);
    ngx_unit_check(want.jpeg == NULL && want.slot == NULL);
    ngx_unit_check(ngx_unit_jpeg_find(st, 1, 90) == NULL);
    ngx_unit_check(
        st->pictures.slots[st->pictures.latest].readers == 0);

    /* one encode ends: its entry is free again */

    ngx_chrys_jpeg_abort(zone, &wants[3]);

    jpeg = ngx_unit_jpeg_claim(zone, st, 90, &want);

    ngx_unit_check(jpeg == claims[3]);
    ngx_unit_check(jpeg && jpeg->variant == 90);

    ngx_unit_zone_destroy(zone);
}


static void
test_jpeg_acquire_takes_over_stale_encode(void)
{
    ngx_uint_t           q, stale, claim;
    ngx_chrys_jpeg_t    *jpeg;
    ngx_chrys_want_t     want;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    (void) ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    ngx_current_msec = 100000;

    for (q = 0; q < NGX_CHRYS_JPEGS; q++) {
        (void) ngx_unit_jpeg_claim(zone, st, 10 + q, &want);
    }

    ngx_current_msec += NGX_CHRYS_JPEG_STALE;

    jpeg = ngx_unit_jpeg_claim(zone, st, 90, &want);

    ngx_unit_check(jpeg != NULL);
    ngx_unit_check(jpeg && jpeg->state == NGX_CHRYS_JPEG_ENCODING);
    ngx_unit_check(jpeg && jpeg->variant == 90);
    ngx_unit_check(jpeg && jpeg->started == ngx_current_msec);

    /* only one was taken over */

    stale = 0;

    for (q = 0; q < NGX_CHRYS_JPEGS; q++) {
        if (st->pictures.jpegs[q].started == 100000) {
            stale++;
        }
    }

    ngx_unit_check(stale == NGX_CHRYS_JPEGS - 1);

    ngx_unit_zone_destroy(zone);
}


static void
test_jpeg_stale_claim_of_another_worker(void)
{
    ngx_pid_t            pid;
    ngx_uint_t           q, claim;
    ngx_chrys_jpeg_t    *jpeg, *claims[NGX_CHRYS_JPEGS];
    ngx_chrys_want_t     wants[NGX_CHRYS_JPEGS], *taken;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    (void) ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    /* this worker starts encodes in every entry; they take too long */

    ngx_current_msec = 100000;

    for (q = 0; q < NGX_CHRYS_JPEGS; q++) {
        claims[q] = ngx_unit_jpeg_claim(zone, st, 80 + q, &wants[q]);
        ngx_unit_check(claims[q] != NULL);
    }

    ngx_current_msec += NGX_CHRYS_JPEG_STALE;

    /* another worker wants the picture too: it takes an entry over */

    pid = ngx_unit_worker_claim_jpeg(zone, st, 90);

    ngx_unit_check(pid > 0);
    ngx_unit_check(ngx_unit_worker_reap(pid, 0) == NGX_OK);

    jpeg = ngx_unit_jpeg_find(st, 1, 90);

    ngx_unit_check(jpeg != NULL);

    if (jpeg == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_ENCODING);
    ngx_unit_check(jpeg->pid == pid);
    ngx_unit_check(jpeg->started == ngx_current_msec);

    /* tokens are counted zone-wide, by every worker */

    ngx_unit_check(jpeg->token == zone->sh->tokens);

    /* the claim of this worker's encode that was taken over */

    taken = NULL;

    for (q = 0; q < NGX_CHRYS_JPEGS; q++) {
        if (claims[q] == jpeg) {
            taken = &wants[q];
        }
    }

    ngx_unit_check(taken != NULL);

    if (taken == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(taken->token != 0 && taken->token != jpeg->token);

    /* the late result of the first encode there is not stored over it */

    ngx_unit_check(ngx_chrys_jpeg_store(zone, st, taken,
                                        (u_char *) "late", 4)
                   == NGX_DECLINED);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_ENCODING);
    ngx_unit_check(jpeg->pid == pid);
    ngx_unit_check(jpeg->data == NULL);

    taken->jpeg = jpeg;

    ngx_chrys_jpeg_abort(zone, taken);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_ENCODING);
    ngx_unit_check(jpeg->variant == 90);

    ngx_unit_zone_destroy(zone);
}


/*
 * An encode that takes longer than NGX_CHRYS_JPEG_STALE has its entry
 * taken over by a claim of another variant in the same worker; when it
 * ends at last, its picture must not be cached under the new claim's key.
 */

static void
test_jpeg_late_store_of_taken_over_claim_is_declined(void)
{
    u_char               late_bytes[1000], bytes[1000];
    ngx_uint_t           q, pfree, claim;
    ngx_chrys_jpeg_t    *late, *jpeg;
    ngx_chrys_want_t     late_want, late_abort, want, busy;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    (void) ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    /* a slow encode at quality 80 */

    ngx_current_msec = 100000;
    late = ngx_unit_jpeg_claim(zone, st, 80, &late_want);

    ngx_unit_check(late != NULL);

    if (late == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    late_abort = late_want;

    /* the other entries are busy with encodes that began a little later */

    ngx_current_msec++;

    for (q = 1; q < NGX_CHRYS_JPEGS; q++) {
        ngx_unit_check(ngx_unit_jpeg_claim(zone, st, 80 + q, &busy)
                       != NULL);
    }

    /* 2 s on, a request of this worker for quality 90 takes its entry */

    ngx_current_msec = 100000 + NGX_CHRYS_JPEG_STALE;

    jpeg = ngx_unit_jpeg_claim(zone, st, 90, &want);

    ngx_unit_check(jpeg == late);

    if (jpeg != late) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(jpeg->variant == 90);
    ngx_unit_check(jpeg->pid == ngx_pid);
    ngx_unit_check(want.token != late_want.token);

    /* the slow encode ends: its picture is turned down */

    ngx_memset(late_bytes, 80, sizeof(late_bytes));
    ngx_memset(bytes, 90, sizeof(bytes));

    pfree = zone->shpool->pfree;

    ngx_unit_check(ngx_chrys_jpeg_store(zone, st, &late_want, late_bytes,
                                        sizeof(late_bytes))
                   == NGX_DECLINED);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_ENCODING);
    ngx_unit_check(jpeg->variant == 90);
    ngx_unit_check(jpeg->token == want.token);
    ngx_unit_check(jpeg->data == NULL && jpeg->len == 0);
    ngx_unit_check(zone->shpool->pfree == pfree);
    ngx_unit_check(ngx_unit_jpeg_find(st, 1, 80) == NULL);
    ngx_unit_check(ngx_unit_jpeg_find(st, 1, 90) == jpeg);

    /* nor does its abort end the new claim */

    ngx_chrys_jpeg_abort(zone, &late_abort);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_ENCODING);
    ngx_unit_check(jpeg->token == want.token);

    /* the encode at quality 90 caches its own picture */

    ngx_unit_check(ngx_chrys_jpeg_store(zone, st, &want, bytes,
                                        sizeof(bytes))
                   == NGX_OK);
    ngx_unit_check(ngx_unit_jpeg_find(st, 1, 90) == jpeg);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_READY);
    ngx_unit_check(jpeg->len == sizeof(bytes));
    ngx_unit_check(jpeg->data != NULL
                   && ngx_memcmp(jpeg->data, bytes, sizeof(bytes)) == 0);

    ngx_unit_zone_destroy(zone);
}


/*
 * A request for a picture whose encode was lost takes over that very
 * entry, even with free ones around: one key, one entry.
 */

static void
test_jpeg_acquire_reuses_stale_encode_of_same_picture(void)
{
    ngx_uint_t           i, same, claim;
    ngx_chrys_jpeg_t    *lost, *jpeg, *other;
    ngx_chrys_want_t     lost_want, want, busy;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    (void) ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    ngx_current_msec = 100000;

    lost = ngx_unit_jpeg_claim(zone, st, 80, &lost_want);

    ngx_unit_check(lost != NULL);

    if (lost == NULL) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    /* a picture of another quality is cached meanwhile */

    ngx_unit_check(ngx_unit_jpeg_cache(zone, st, 50, 1000) == NGX_OK);

    other = ngx_unit_jpeg_find(st, 1, 50);

    /* until the encode is stale, the request for it waits */

    ngx_current_msec += NGX_CHRYS_JPEG_STALE - 1;

    ngx_memzero(&busy, sizeof(ngx_chrys_want_t));
    busy.variant = 80;

    ngx_unit_check(ngx_chrys_jpeg_acquire(zone, st, &busy, ngx_cycle->log)
                   == NGX_BUSY);

    ngx_current_msec++;

    jpeg = ngx_unit_jpeg_claim(zone, st, 80, &want);

    ngx_unit_check(jpeg == lost);

    if (jpeg != lost) {
        ngx_unit_zone_destroy(zone);
        return;
    }

    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_ENCODING);
    ngx_unit_check(jpeg->seq == 1 && jpeg->variant == 80);
    ngx_unit_check(jpeg->started == ngx_current_msec);
    ngx_unit_check(want.token != lost_want.token);

    same = 0;

    for (i = 0; i < NGX_CHRYS_JPEGS; i++) {
        if (st->pictures.jpegs[i].state != NGX_CHRYS_JPEG_FREE
            && st->pictures.jpegs[i].seq == 1
            && st->pictures.jpegs[i].variant == 80)
        {
            same++;
        }
    }

    ngx_unit_check(same == 1);
    ngx_unit_check(ngx_unit_jpeg_find(st, 1, 80) == jpeg);

    /* should the lost encode end after all, it stores nothing */

    ngx_unit_check(ngx_chrys_jpeg_store(zone, st, &lost_want,
                                        (u_char *) "lost", 4)
                   == NGX_DECLINED);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_ENCODING);

    ngx_unit_check(ngx_chrys_jpeg_store(zone, st, &want,
                                        (u_char *) "jpeg", 4)
                   == NGX_OK);
    ngx_unit_check(ngx_unit_jpeg_find(st, 1, 80) == jpeg);
    ngx_unit_check(jpeg->state == NGX_CHRYS_JPEG_READY);
    ngx_unit_check(jpeg->len == 4 && ngx_memcmp(jpeg->data, "jpeg", 4) == 0);

    /* the picture of the other quality was left alone */

    ngx_unit_check(other != NULL && other != jpeg);
    ngx_unit_check(other && other->state == NGX_CHRYS_JPEG_READY);
    ngx_unit_check(ngx_unit_jpeg_find(st, 1, 50) == other);

    ngx_unit_zone_destroy(zone);
}


static void
test_jpeg_acquire_evicts_oldest_entry(void)
{
    ngx_uint_t           q, pfree, ready, claim;
    ngx_chrys_jpeg_t    *jpeg, *stale;
    ngx_chrys_want_t     want;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    (void) ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    /* an encode of frame 1 that is lost */

    ngx_current_msec = 100000;
    stale = ngx_unit_jpeg_claim(zone, st, 10, &want);

    (void) ngx_unit_decode(zone, st, claim, 2, NGX_UNIT_WIDTH,
                           NGX_UNIT_HEIGHT);

    ngx_current_msec += NGX_CHRYS_JPEG_STALE;

    /* the other seven entries cache frame 2 */

    for (q = 1; q < NGX_CHRYS_JPEGS; q++) {
        ngx_unit_check(ngx_unit_jpeg_cache(zone, st, 10 + q, 10000)
                       == NGX_OK);
    }

    /* the stale claim of the older frame goes first */

    jpeg = ngx_unit_jpeg_claim(zone, st, 90, &want);

    ngx_unit_check(stale != NULL && jpeg == stale);

    ready = 0;

    for (q = 1; q < NGX_CHRYS_JPEGS; q++) {
        if (ngx_unit_jpeg_find(st, 2, 10 + q) != NULL) {
            ready++;
        }
    }

    ngx_unit_check(ready == NGX_CHRYS_JPEGS - 1);

    /* then a cached picture, whose memory is given back */

    ngx_chrys_jpeg_abort(zone, &want);
    ngx_unit_check(ngx_unit_jpeg_cache(zone, st, 90, 10000) == NGX_OK);

    pfree = zone->shpool->pfree;

    jpeg = ngx_unit_jpeg_claim(zone, st, 95, &want);

    ngx_unit_check(jpeg != NULL);
    ngx_unit_check(jpeg && jpeg->state == NGX_CHRYS_JPEG_ENCODING);
    ngx_unit_check(jpeg && jpeg->data == NULL);
    ngx_unit_check(zone->shpool->pfree == pfree + ngx_unit_pages(10000));

    ngx_unit_zone_destroy(zone);
}


static void
test_zone_full(void)
{
    char                 name[32];
    ngx_int_t            n;
    ngx_uint_t           i, ok, intact, going, idle_claim;
    ngx_uint_t           claims[100];
    ngx_chrys_slot_t    *latest;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st, *idle, *streams[100];

    zone = ngx_unit_zone_create(NGX_UNIT_SMALL_ZONE);

    /* a stream that is created early and gets its first picture late */
    idle = ngx_unit_stream(zone, "idle", &idle_claim);

    /* streams of 160x120 pictures, until there is no room for more */

    ok = 0;

    for (i = 0; i < 100; i++) {
        ngx_sprintf((u_char *) name, "cam%ui%Z", i);

        st = ngx_unit_stream(zone, name, &claims[ok]);

        if (st == NULL
            || ngx_unit_decode(zone, st, claims[ok], 1, 160, 120) < 0
            || ngx_unit_decode(zone, st, claims[ok], 2, 160, 120) < 0)
        {
            break;
        }

        streams[ok++] = st;
    }

    ngx_unit_check(ok > 0);
    ngx_unit_check(i < 100);

    /* the late stream gets no picture, and no memory for one */

    ngx_unit_check(idle != NULL);

    if (idle) {
        ngx_unit_check(ngx_unit_decode(zone, idle, idle_claim, 1, 160, 120)
                       == NGX_ERROR);
        ngx_unit_check(idle->pictures.latest_seq == 0);
        ngx_unit_check(idle->pictures.slots[0].data == NULL);
        ngx_unit_check(idle->pictures.slots[NGX_CHRYS_SLOTS - 1].data
                       == NULL);
    }

    /* names alone still fit for a while, then they are refused too */

    for (i = 0; i < 10000; i++) {
        ngx_sprintf((u_char *) name, "name%ui%Z", i);

        if (ngx_unit_stream(zone, name, NULL) == NULL) {
            break;
        }
    }

    ngx_unit_check(i < 10000);
    ngx_unit_check(ngx_strstr(ngx_unit_log_last, "is full") != NULL);
    ngx_unit_check(ngx_strstr(ngx_unit_log_last, "chrys_zone") != NULL);

    /* the streams admitted before keep their pictures and go on */

    intact = 0;
    going = 0;

    for (i = 0; i < ok; i++) {
        st = streams[i];
        latest = &st->pictures.slots[st->pictures.latest];

        if (ngx_unit_slot_holds(latest, 2)) {
            intact++;
        }

        n = ngx_unit_decode(zone, st, claims[i], 3, 160, 120);

        if (n >= 0 && ngx_unit_slot_holds(&st->pictures.slots[n], 3)) {
            going++;
        }
    }

    ngx_unit_check(intact == ok);
    ngx_unit_check(going == ok);

    /* and room is left for their JPEG caches */

    ngx_unit_check(ngx_unit_jpeg_cache(zone, streams[0], 80, 20000)
                   == NGX_OK);

    ngx_unit_zone_destroy(zone);
}


static void
test_steady_state_does_not_leak(void)
{
    size_t               len;
    ngx_uint_t           seq, pfree, same, cached, claimed, claim;
    ngx_uint_t           late;
    ngx_chrys_want_t     want, late_want;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    st = ngx_unit_stream(zone, "cam1", &claim);

    pfree = 0;
    same = 1;
    cached = 0;
    claimed = 1;
    late = 0;

    ngx_current_msec = 100000;

    for (seq = 1; seq <= 300; seq++) {
        ngx_current_msec += 40;

        (void) ngx_unit_decode(zone, st, claim, seq, NGX_UNIT_WIDTH,
                               NGX_UNIT_HEIGHT);

        /* the encode of the frame before ends after this one came */

        if (late) {
            (void) ngx_chrys_jpeg_store(zone, st, &late_want,
                                        (u_char *) "late", 4);
        }

        if (seq == 10) {
            pfree = zone->shpool->pfree;

        } else if (seq > 10 && zone->shpool->pfree != pfree) {
            same = 0;
        }

        /* JPEGs of all sizes, in chunks and in pages; one aborted */

        len = 500 + (seq * 7919) % 30000;

        if (ngx_unit_jpeg_cache(zone, st, 80, len) == NGX_OK) {
            cached++;
        }

        if (ngx_unit_jpeg_cache(zone, st, 50, len / 3) == NGX_OK) {
            cached++;
        }

        if (ngx_unit_jpeg_claim(zone, st, 20, &want) == NULL) {
            claimed = 0;
            late = 0;

        } else if (seq % 2) {
            ngx_chrys_jpeg_abort(zone, &want);
            late = 0;

        } else {
            late_want = want;
            late = 1;
        }
    }

    ngx_unit_check(cached == 600);
    ngx_unit_check(claimed);
    ngx_unit_check(same);
    ngx_unit_check(st->pictures.latest_seq == 300);

    ngx_unit_zone_destroy(zone);
}


/*
 * A stream that nobody publishes nor asks for leaves the zone once it has
 * been idle for its "chrys_stream_idle" time, and not before; nor while a
 * worker holds a reference; and the zone is back to what it was.
 */

static void
test_sweep_takes_out_idle_streams(void)
{
    ngx_str_t                 name;
    ngx_uint_t                claim, pfree;
    ngx_chrys_zone_t         *zone;
    ngx_chrys_stream_t       *st, *found;
    ngx_chrys_stream_conf_t   conf;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);
    pfree = zone->shpool->pfree;

    ngx_str_set(&name, "cam1");
    conf.window = 5000;
    conf.max_bytes = 1024 * 1024;
    conf.idle = 3000;

    ngx_current_msec = 100000;

    ngx_unit_check(ngx_chrys_stream_claim(zone, &ngx_unit_app, &name, &conf,
                                          &st, &claim, ngx_cycle->log)
                   == NGX_OK);
    ngx_unit_check(ngx_unit_decode(zone, st, claim, 1, NGX_UNIT_WIDTH,
                                   NGX_UNIT_HEIGHT)
                   >= 0);

    /* publishing: it stays however long */

    ngx_current_msec += 60000;
    ngx_unit_check(ngx_chrys_zone_sweep(zone, ngx_cycle->log) == 0);

    ngx_chrys_stream_release(zone, st, claim);

    /* idle for less than its time, then a reference: it stays */

    ngx_current_msec += 2000;
    ngx_unit_check(ngx_chrys_zone_sweep(zone, ngx_cycle->log) == 0);

    ngx_unit_check(ngx_chrys_stream_open(zone, &ngx_unit_app, &name, &found)
                   == NGX_OK);
    ngx_unit_check(found == st);

    ngx_current_msec += 10000;
    ngx_unit_check(ngx_chrys_zone_sweep(zone, ngx_cycle->log) == 0);
    ngx_unit_check(zone->sh->nstreams == 1);

    /* given back: idle from the last question, then it leaves */

    ngx_chrys_stream_close(zone, st);

    ngx_current_msec += 2000;
    ngx_unit_check(ngx_chrys_zone_sweep(zone, ngx_cycle->log) == 0);

    ngx_current_msec += 1001;
    ngx_unit_check(ngx_chrys_zone_sweep(zone, ngx_cycle->log) == 1);
    ngx_unit_check(zone->sh->nstreams == 0);
    ngx_unit_check(ngx_queue_empty(&zone->sh->streams));
    ngx_unit_check(ngx_queue_empty(&zone->sh->lru));
    ngx_unit_check(ngx_chrys_stream_open(zone, &ngx_unit_app, &name, &found)
                   == NGX_DECLINED);
    ngx_unit_check(zone->shpool->pfree == pfree);

    /* a sweep a second: the next within one does nothing */

    ngx_unit_check(ngx_chrys_zone_sweep(zone, ngx_cycle->log) == 0);

    /* a stream of "chrys_stream_idle off" never leaves by itself */

    conf.idle = 0;

    ngx_unit_check(ngx_chrys_stream_claim(zone, &ngx_unit_app, &name, &conf,
                                          &st, &claim, ngx_cycle->log)
                   == NGX_OK);
    ngx_chrys_stream_release(zone, st, claim);

    ngx_current_msec += 3600 * 1000;
    ngx_unit_check(ngx_chrys_zone_sweep(zone, ngx_cycle->log) == 0);
    ngx_unit_check(zone->sh->nstreams == 1);

    ngx_unit_check(ngx_unit_log_crit == 0);

    ngx_unit_zone_destroy(zone);
}


/* the reference of a worker that died does not keep a stream */

static void
test_sweep_ignores_references_of_dead_workers(void)
{
    ngx_str_t                 name;
    ngx_pid_t                 pid;
    ngx_uint_t                claim, worker;
    ngx_chrys_zone_t         *zone;
    ngx_chrys_stream_t       *st;
    ngx_chrys_stream_conf_t   conf;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_str_set(&name, "cam1");
    ngx_memzero(&conf, sizeof(ngx_chrys_stream_conf_t));
    conf.idle = 1000;

    ngx_current_msec = 100000;

    ngx_unit_check(ngx_chrys_stream_claim(zone, &ngx_unit_app, &name, &conf,
                                          &st, &claim, ngx_cycle->log)
                   == NGX_OK);
    ngx_chrys_stream_release(zone, st, claim);

    /* a worker that takes a place, opens the stream, and is killed */

    pid = ngx_unit_worker_attach(zone, "cam1", &worker);
    ngx_unit_check(pid > 0);
    ngx_unit_check(st->refs[worker] == 1);
    ngx_unit_check(ngx_unit_worker_reap(pid, 1) == NGX_OK);

    ngx_current_msec += 5000;
    ngx_unit_check(ngx_chrys_zone_sweep(zone, ngx_cycle->log) == 1);
    ngx_unit_check(zone->sh->nstreams == 0);

    ngx_unit_zone_destroy(zone);
}


/*
 * A publisher that leaves gives back the pictures it no longer needs: all
 * slots but its last picture's, and its JPEGs.  The last picture stays,
 * served as it was.
 */

static void
test_release_gives_back_pictures(void)
{
    ngx_int_t            latest;
    ngx_uint_t           i, claim, pfree, slots;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_unit_check(ngx_unit_claim(zone, "cam1", &st, &claim) == NGX_OK);

    ngx_current_msec = 100000;

    for (i = 1; i <= 3; i++) {
        latest = ngx_unit_decode(zone, st, claim, i, 320, 240);
    }

    ngx_unit_check(latest >= 0);
    ngx_unit_check(ngx_unit_jpeg_cache(zone, st, 80, 20000) == NGX_OK);
    ngx_unit_check(ngx_unit_jpeg_cache(zone, st, 50, 10000) == NGX_OK);

    pfree = zone->shpool->pfree;

    ngx_chrys_stream_release(zone, st, claim);

    slots = 0;

    for (i = 0; i < NGX_CHRYS_SLOTS; i++) {
        slots += (st->pictures.slots[i].data != NULL);
    }

    ngx_unit_check(slots == 1);
    ngx_unit_check(st->pictures.slots[latest].data != NULL);
    ngx_unit_check(ngx_unit_slot_holds(&st->pictures.slots[latest], 3));
    ngx_unit_check(st->pictures.latest_seq == 3);
    ngx_unit_check(ngx_unit_jpeg_find(st, 3, 80) == NULL);
    ngx_unit_check(zone->shpool->pfree
                   >= pfree + 2 * ngx_unit_pages(
                          ngx_chrys_frame_size(NGX_CHRYS_YUV420, 320, 240)));

    /* the next publish gets slots again, as many as it needs */

    ngx_unit_check(ngx_unit_claim(zone, "cam1", &st, &claim) == NGX_OK);
    ngx_unit_check(ngx_unit_decode(zone, st, claim, 4, 320, 240) >= 0);
    ngx_unit_check(ngx_unit_decode(zone, st, claim, 5, 320, 240) >= 0);
    ngx_unit_check(st->pictures.latest_seq == 5);

    ngx_unit_check(ngx_unit_log_crit == 0);

    ngx_unit_zone_destroy(zone);
}


/*
 * A stream decoded on demand that nobody asks for sleeps: every picture
 * and JPEG goes back (one being read stays until its reader lets go), it
 * shows as not decoding, and asking for it moves the zone's "asked"
 * counter until a picture is published again.  The sleep of a publish
 * that was taken over changes nothing.
 */

static void
test_sleep_gives_back_pictures_and_wakes(void)
{
    ngx_int_t              latest;
    ngx_uint_t             i, claim, pfree, slots, seen;
    ngx_chrys_zone_t      *zone;
    ngx_chrys_stream_t    *st;
    ngx_chrys_snapshot_t   snap;

    zone = ngx_unit_zone_create(NGX_UNIT_ZONE_SIZE);

    ngx_unit_check(ngx_unit_claim(zone, "cam1", &st, &claim) == NGX_OK);

    ngx_current_msec = 100000;

    for (i = 1; i <= 3; i++) {
        latest = ngx_unit_decode(zone, st, claim, i, 320, 240);
    }

    ngx_unit_check(latest >= 0);
    ngx_unit_check(ngx_unit_jpeg_cache(zone, st, 80, 20000) == NGX_OK);

    seen = zone->sh->asked;

    /* asking for an awake stream wakes nobody */

    ngx_chrys_stream_want(zone, st);
    ngx_unit_check(!ngx_chrys_zone_asked(zone, &seen));
    ngx_unit_check(ngx_chrys_stream_asked(st, 10000));

    ngx_current_msec += 10000;
    ngx_unit_check(!ngx_chrys_stream_asked(st, 10000));

    /* a reader holds the latest slot while the stream goes to sleep */

    st->pictures.slots[latest].readers++;

    pfree = zone->shpool->pfree;

    ngx_chrys_stream_sleep(zone, st, claim);

    ngx_unit_check(ngx_chrys_stream_asleep(st));
    ngx_unit_check(st->pictures.latest_seq == 0);
    ngx_unit_check(st->pictures.decoded_seq == 0);
    ngx_unit_check(ngx_unit_jpeg_find(st, 3, 80) == NULL);
    ngx_unit_check(st->pictures.slots[latest].data != NULL);
    ngx_unit_check(zone->shpool->pfree
                   >= pfree + 2 * ngx_unit_pages(
                          ngx_chrys_frame_size(NGX_CHRYS_YUV420, 320, 240)));

    ngx_chrys_stream_snapshot(zone, st, &snap);
    ngx_unit_check(snap.publishing && !snap.decoding);

    /* its reader lets go: the next sleep gives that slot back too */

    st->pictures.slots[latest].readers--;
    ngx_chrys_stream_sleep(zone, st, claim);

    slots = 0;

    for (i = 0; i < NGX_CHRYS_SLOTS; i++) {
        slots += (st->pictures.slots[i].data != NULL);
    }

    ngx_unit_check(slots == 0);

    /* asking moves the counter, once for whoever looks */

    ngx_chrys_stream_want(zone, st);
    ngx_unit_check(ngx_chrys_stream_asked(st, 10000));
    ngx_unit_check(ngx_chrys_zone_asked(zone, &seen));
    ngx_unit_check(!ngx_chrys_zone_asked(zone, &seen));

    /* the picture that waking decodes ends the sleep */

    ngx_unit_check(ngx_unit_decode(zone, st, claim, 9, 320, 240) >= 0);
    ngx_unit_check(!ngx_chrys_stream_asleep(st));
    ngx_unit_check(st->pictures.latest_seq == 9);

    ngx_chrys_stream_snapshot(zone, st, &snap);
    ngx_unit_check(snap.publishing && snap.decoding);

    /* the sleep of a claim taken over does nothing */

    ngx_chrys_stream_sleep(zone, st, claim + 1);
    ngx_unit_check(!ngx_chrys_stream_asleep(st));
    ngx_unit_check(st->pictures.latest_seq == 9);

    ngx_unit_check(ngx_unit_log_crit == 0);

    ngx_unit_zone_destroy(zone);
}


/*
 * A zone short of room takes out the streams nobody holds, the least
 * recently used first: a hundred streams with their pictures, through a
 * zone that holds a score of them, are all admitted; a publisher's stream
 * and one a worker reads stay.
 */

static void
test_reclaim_takes_out_least_recently_used(void)
{
    u_char               buf[16];
    ngx_str_t            name;
    ngx_uint_t           n, claim, admitted;
    ngx_chrys_zone_t    *zone;
    ngx_chrys_stream_t  *st, *held, *live;

    zone = ngx_unit_zone_create(NGX_UNIT_SMALL_ZONE * 2);

    name.data = buf;
    held = live = NULL;
    admitted = 0;

    ngx_current_msec = 100000;

    for (n = 0; n < 100; n++) {
        name.len = ngx_sprintf(buf, "s%ui", n) - buf;

        if (ngx_unit_stream_claim(zone, &ngx_unit_app, &name, 0, 0, &st,
                                  &claim, ngx_cycle->log)
            != NGX_OK
            || ngx_unit_decode(zone, st, claim, 1, 160, 120) < 0)
        {
            continue;
        }

        admitted++;

        if (n == 1) {
            /* read by a request of this worker */
            held = st;
            ngx_chrys_stream_release(zone, st, claim);
            ngx_unit_check(ngx_chrys_stream_open(zone, &ngx_unit_app, &name,
                                                 &st)
                           == NGX_OK);

        } else if (n == 2) {
            /* still publishing */
            live = st;

        } else {
            ngx_chrys_stream_release(zone, st, claim);
        }

        ngx_current_msec += 10;
    }

    ngx_unit_check(admitted == 100);
    ngx_unit_check(zone->sh->nstreams < 50);

    ngx_str_set(&name, "s0");
    ngx_unit_check(ngx_chrys_stream_open(zone, &ngx_unit_app, &name, &st)
                   == NGX_DECLINED);

    ngx_str_set(&name, "s1");
    ngx_unit_check(ngx_chrys_stream_open(zone, &ngx_unit_app, &name, &st)
                   == NGX_OK && st == held);
    ngx_unit_check(held->pictures.latest_seq == 1);

    ngx_str_set(&name, "s2");
    ngx_unit_check(ngx_chrys_stream_open(zone, &ngx_unit_app, &name, &st)
                   == NGX_OK && st == live);
    ngx_unit_check(ngx_chrys_stream_publishing(live));

    ngx_str_set(&name, "s99");
    ngx_unit_check(ngx_chrys_stream_open(zone, &ngx_unit_app, &name, &st)
                   == NGX_OK);
    ngx_unit_check(st->pictures.latest_seq == 1);

    ngx_unit_check(ngx_unit_log_crit == 0);

    ngx_unit_zone_destroy(zone);
}


/* what the publisher's worker does when a publish of "live/name" starts */

static ngx_int_t
ngx_unit_claim(ngx_chrys_zone_t *zone, char *name, ngx_chrys_stream_t **stp,
    ngx_uint_t *claim)
{
    ngx_str_t  s;

    s.data = (u_char *) name;
    s.len = ngx_strlen(name);

    return ngx_unit_stream_claim(zone, &ngx_unit_app, &s, 0, 0, stp, claim,
                                  ngx_cycle->log);
}


/*
 * What the decoder of claim "claim" does with a picture: reserve a slot,
 * write the planes (here every byte is the low byte of the frame's seq),
 * publish.  Returns the slot, or what reserve or publish answered.
 */

static ngx_int_t
ngx_unit_decode(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t claim, ngx_uint_t seq, ngx_uint_t width, ngx_uint_t height)
{
    size_t             size;
    ngx_int_t          n, rc;
    ngx_chrys_frame_t  frame;

    if (st == NULL) {
        return NGX_ERROR;
    }

    size = ngx_chrys_frame_size(NGX_CHRYS_YUV420, width, height);

    n = ngx_chrys_slot_reserve(zone, st, claim, size);
    if (n < 0) {
        return n;
    }

    ngx_memset(st->pictures.slots[n].data, (u_char) seq, size);

    ngx_unit_frame(&frame, seq, width, height);

    rc = ngx_chrys_slot_publish(zone, st, claim, n, &frame);
    if (rc != NGX_OK) {
        return rc;
    }

    return n;
}


static void
ngx_unit_frame(ngx_chrys_frame_t *frame, ngx_uint_t seq, ngx_uint_t width,
    ngx_uint_t height)
{
    ngx_memzero(frame, sizeof(ngx_chrys_frame_t));

    frame->seq = seq;
    frame->pts = seq * 40;
    frame->time = ngx_chrys_unix_msec();
    frame->width = width;
    frame->height = height;
    frame->layout = NGX_CHRYS_YUV420;
    frame->keyframe = (seq == 1);
}


/* the slot holds the whole picture that ngx_unit_decode() wrote */

static ngx_uint_t
ngx_unit_slot_holds(ngx_chrys_slot_t *slot, ngx_uint_t seq)
{
    size_t  size;

    if (slot->seq != seq || slot->frame.seq != seq || slot->data == NULL) {
        return 0;
    }

    size = ngx_chrys_frame_size(slot->frame.layout, slot->frame.width,
                                slot->frame.height);

    if (size > slot->size) {
        return 0;
    }

    return ngx_unit_all(slot->data, size, (u_char) seq);
}


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
 * What a request for raw pixels does first: the newest picture's slot,
 * pinned; NULL if there is no picture.
 */

static ngx_chrys_slot_t *
ngx_unit_pin(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st)
{
    ngx_chrys_want_t  want;

    ngx_memzero(&want, sizeof(ngx_chrys_want_t));
    want.raw = 1;

    if (ngx_chrys_jpeg_acquire(zone, st, &want, ngx_cycle->log)
        != NGX_AGAIN)
    {
        return NULL;
    }

    return want.slot;
}


/*
 * What a request that encodes the newest picture in "variant" does first:
 * acquire, which claims a JPEG entry and pins the slot; the encode would
 * then read the planes, here it lets go of the slot at once.  Returns the
 * entry claimed, with the claim in "want" for ngx_chrys_jpeg_store() or
 * ngx_chrys_jpeg_abort(); NULL if acquire did not answer NGX_AGAIN.
 */

static ngx_chrys_jpeg_t *
ngx_unit_jpeg_claim(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t variant, ngx_chrys_want_t *want)
{
    ngx_int_t  rc;

    ngx_memzero(want, sizeof(ngx_chrys_want_t));
    want->variant = variant;

    rc = ngx_chrys_jpeg_acquire(zone, st, want, ngx_cycle->log);

    if (rc == NGX_OK) {
        ngx_free(want->data);
        want->data = NULL;
    }

    if (rc != NGX_AGAIN) {
        return NULL;
    }

    if (want->slot) {
        (void) ngx_chrys_slot_unpin(zone, want->slot, want->frame.seq);
        want->slot = NULL;
    }

    return want->jpeg;
}


/*
 * The entry of the JPEG cache that holds or encodes frame "seq" in
 * "variant", as the zone keeps it: looked at, not used.
 */

static ngx_chrys_jpeg_t *
ngx_unit_jpeg_find(ngx_chrys_stream_t *st, ngx_uint_t seq,
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
 * What a request that encodes a picture does: acquire, encode, store.
 * Returns what store answered, NGX_BUSY if nothing was claimed, or
 * NGX_DECLINED if the picture was cached already.
 */

static ngx_int_t
ngx_unit_jpeg_cache(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t variant, size_t len)
{
    u_char            *data;
    ngx_int_t          rc;
    ngx_chrys_want_t   want;

    if (ngx_unit_jpeg_claim(zone, st, variant, &want) == NULL) {
        return ngx_unit_jpeg_find(st, st->pictures.latest_seq, variant)
               ? NGX_DECLINED : NGX_BUSY;
    }

    data = malloc(len);
    if (data == NULL) {
        ngx_chrys_jpeg_abort(zone, &want);
        return NGX_ERROR;
    }

    ngx_memset(data, (u_char) variant, len);

    rc = ngx_chrys_jpeg_store(zone, st, &want, data, len);

    free(data);

    return rc;
}


/*
 * Forks a process that acts as another nginx worker on the same zone: it
 * claims the stream "live/name" and waits to be killed.  With "seq", its
 * decoder publishes picture "seq" and, as it does before each batch,
 * reserves a slot for the next one.  Returns its pid, or -1.
 */

static ngx_pid_t
ngx_unit_worker_claim_stream(ngx_chrys_zone_t *zone, char *name,
    ngx_uint_t seq)
{
    int                  fd[2];
    char                 c;
    size_t               size;
    ngx_pid_t            pid;
    ngx_uint_t           claim;
    ngx_chrys_stream_t  *st;

    if (pipe(fd) == -1) {
        return -1;
    }

    pid = fork();

    if (pid == -1) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }

    if (pid == 0) {
        /* as ngx_spawn_process() does in a new worker */
        ngx_pid = ngx_getpid();

        c = (ngx_unit_claim(zone, name, &st, &claim) == NGX_OK) ? 'y' : 'n';

        size = ngx_chrys_frame_size(NGX_CHRYS_YUV420, NGX_UNIT_WIDTH,
                                    NGX_UNIT_HEIGHT);

        if (c == 'y' && seq
            && (ngx_unit_decode(zone, st, claim, seq, NGX_UNIT_WIDTH,
                                NGX_UNIT_HEIGHT)
                < 0
                || ngx_chrys_slot_reserve(zone, st, claim, size) < 0))
        {
            c = 'n';
        }

        if (write(fd[1], &c, 1) != 1) {
            _exit(1);
        }

        for ( ;; ) {
            pause();
        }
    }

    close(fd[1]);

    if (read(fd[0], &c, 1) != 1 || c != 'y') {
        c = 'n';
    }

    close(fd[0]);

    if (c != 'y') {
        (void) ngx_unit_worker_reap(pid, 1);
        return -1;
    }

    return pid;
}


/*
 * The same, for a worker that claims a JPEG entry of the newest picture
 * and exits before it has encoded it.
 */

static ngx_pid_t
ngx_unit_worker_claim_jpeg(ngx_chrys_zone_t *zone, ngx_chrys_stream_t *st,
    ngx_uint_t variant)
{
    ngx_pid_t          pid;
    ngx_chrys_want_t   want;

    pid = fork();

    if (pid == 0) {
        ngx_pid = ngx_getpid();

        _exit(ngx_unit_jpeg_claim(zone, st, variant, &want) ? 0 : 1);
    }

    return pid;
}


/*
 * The same, for a new worker that attaches to the zone as init_process
 * does; with "name", it opens that stream and counts an MJPEG client, as
 * a request of live.mjpg would.  *worker is the place it took.
 */

static ngx_pid_t
ngx_unit_worker_attach(ngx_chrys_zone_t *zone, char *name,
    ngx_uint_t *worker)
{
    int                  fd[2];
    u_char               c;
    ngx_str_t            s;
    ngx_pid_t            pid;
    ngx_chrys_stream_t  *st;

    if (pipe(fd) == -1) {
        return -1;
    }

    pid = fork();

    if (pid == -1) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }

    if (pid == 0) {
        ngx_pid = ngx_getpid();

        c = 0xff;

        if (ngx_chrys_zone_attach(zone, ngx_cycle->log) == NGX_OK) {
            c = (u_char) zone->worker;
        }

        if (name && c != 0xff) {
            /* a request of live.mjpg: a reference, and an MJPEG client */

            s.data = (u_char *) name;
            s.len = ngx_strlen(name);

            if (ngx_chrys_stream_open(zone, &ngx_unit_app, &s, &st)
                == NGX_OK)
            {
                ngx_chrys_zone_clients(zone, NGX_CHRYS_CLIENTS_MJPEG, 1);

            } else {
                c = 0xff;
            }
        }

        if (write(fd[1], &c, 1) != 1) {
            _exit(1);
        }

        for ( ;; ) {
            pause();
        }
    }

    close(fd[1]);

    if (read(fd[0], &c, 1) != 1 || c == 0xff) {
        close(fd[0]);
        (void) ngx_unit_worker_reap(pid, 1);
        return -1;
    }

    close(fd[0]);

    *worker = c;

    return pid;
}


/* waits for a worker to end, killing it first if asked */

static ngx_int_t
ngx_unit_worker_reap(ngx_pid_t pid, ngx_uint_t kill_it)
{
    int  status;

    if (kill_it && kill(pid, SIGKILL) == -1) {
        return NGX_ERROR;
    }

    if (waitpid(pid, &status, 0) != pid) {
        return NGX_ERROR;
    }

    if (kill_it) {
        return WIFSIGNALED(status) ? NGX_OK : NGX_ERROR;
    }

    return (WIFEXITED(status) && WEXITSTATUS(status) == 0) ? NGX_OK
                                                          : NGX_ERROR;
}


int
main(void)
{
    ngx_unit_init();

    /* a test that deadlocks on the zone mutex fails rather than hangs */
    alarm(60);

    ngx_unit_run(test_zone_init_new_zone);
    ngx_unit_run(test_zone_init_keeps_streams_on_reload);

    ngx_unit_run(test_stream_claim_creates_once);
    ngx_unit_run(test_stream_distinct_names_distinct_streams);
    ngx_unit_run(test_stream_crc32_collisions);
    ngx_unit_run(test_stream_open_unknown);
    ngx_unit_run(test_stream_name_limits);
    ngx_unit_run(test_valid_name);
    ngx_unit_run(test_stream_set_error);
    ngx_unit_run(test_stream_claim_and_release);
    ngx_unit_run(test_stream_closing_and_takeover);
    ngx_unit_run(test_stream_claim_of_another_worker);

    ngx_unit_run(test_stream_open_and_close_count_references);
    ngx_unit_run(test_zone_attach_takes_over_dead_workers_place);
    ngx_unit_run(test_stream_snapshot_copies_names_and_counters);
    ngx_unit_run(test_zone_stats_measure_lock_holds);

    ngx_unit_run(test_frame_size);
    ngx_unit_run(test_slot_reserve_never_returns_latest);
    ngx_unit_run(test_slot_reserve_prefers_slots_without_readers);
    ngx_unit_run(test_slot_reserve_takes_all_slots_at_once);
    ngx_unit_run(test_slot_reserve_resizes);
    ngx_unit_run(test_slot_publish_sets_latest);
    ngx_unit_run(test_slot_publish_frees_older_jpegs);
    ngx_unit_run(test_slot_pin_and_unpin);
    ngx_unit_run(test_jpeg_acquire_claims_and_pins_together);
    ngx_unit_run(test_slot_unpin_detects_overwrite);
    ngx_unit_run(test_slot_unpin_detects_failed_regrow);
    ngx_unit_run(test_slot_takeover_never_shares_a_slot);
    ngx_unit_run(test_slot_takeover_resize_keeps_writers_memory);
    ngx_unit_run(test_slot_reserve_takes_back_slots_of_dead_writers);

    ngx_unit_run(test_jpeg_acquire_claim_store);
    ngx_unit_run(test_jpeg_store_of_old_frame_is_declined);
    ngx_unit_run(test_jpeg_store_and_abort_need_the_claim);
    ngx_unit_run(test_jpeg_acquire_when_all_encoding);
    ngx_unit_run(test_jpeg_acquire_takes_over_stale_encode);
    ngx_unit_run(test_jpeg_stale_claim_of_another_worker);
    ngx_unit_run(test_jpeg_late_store_of_taken_over_claim_is_declined);
    ngx_unit_run(test_jpeg_acquire_reuses_stale_encode_of_same_picture);
    ngx_unit_run(test_jpeg_acquire_evicts_oldest_entry);

    ngx_unit_run(test_zone_full);
    ngx_unit_run(test_steady_state_does_not_leak);

    ngx_unit_run(test_sweep_takes_out_idle_streams);
    ngx_unit_run(test_sweep_ignores_references_of_dead_workers);
    ngx_unit_run(test_release_gives_back_pictures);
    ngx_unit_run(test_sleep_gives_back_pictures_and_wakes);
    ngx_unit_run(test_reclaim_takes_out_least_recently_used);

    /* the slab allocator found nothing wrong */
    ngx_unit_check(ngx_unit_log_crit == 0);

    return ngx_unit_summary("test_zone");
}
