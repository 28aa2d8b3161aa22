
/*
 * Copyright (C) chrys authors
 *
 * Chrys zones for the unit tests, made in memory shared the way nginx
 * shares it (mmap, shmtx, slab pool) and attached to as a worker does,
 * and the streams in them.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys.h"
#include "ngx_chrys_zone.h"
#include "ngx_unit_zone.h"


ngx_str_t  ngx_unit_app = ngx_string("live");


/*
 * Makes a zone as ngx_init_cycle() makes a new shared zone, with a quarter
 * of it for events ("chrys_event_budget"), and takes a worker's place in
 * it for this process, as ngx_chrys_module.c does in init_process.
 */

ngx_chrys_zone_t *
ngx_unit_zone_create(size_t size)
{
    ngx_slab_pool_t  *sp;
    ngx_unit_zone_t  *uz;

    uz = calloc(1, sizeof(ngx_unit_zone_t));
    if (uz == NULL) {
        return NULL;
    }

    uz->shm_zone.shm.size = size;
    uz->shm_zone.shm.log = ngx_cycle->log;
    ngx_str_set(&uz->shm_zone.shm.name, "chrys");
    uz->shm_zone.init = ngx_chrys_zone_init;
    uz->shm_zone.tag = &ngx_chrys_module;
    uz->shm_zone.data = &uz->zone;
    uz->zone.shm_zone = &uz->shm_zone;
    uz->zone.event_budget = size / 4;

    if (ngx_shm_alloc(&uz->shm_zone.shm) != NGX_OK) {
        free(uz);
        return NULL;
    }

    /* ngx_init_zone_pool() */

    sp = (ngx_slab_pool_t *) uz->shm_zone.shm.addr;

    sp->end = uz->shm_zone.shm.addr + uz->shm_zone.shm.size;
    sp->min_shift = 3;
    sp->addr = uz->shm_zone.shm.addr;

    if (ngx_shmtx_create(&sp->mutex, &sp->lock, NULL) != NGX_OK) {
        ngx_shm_free(&uz->shm_zone.shm);
        free(uz);
        return NULL;
    }

    ngx_slab_init(sp);

    if (uz->shm_zone.init(&uz->shm_zone, NULL) != NGX_OK
        || ngx_chrys_zone_attach(&uz->zone, ngx_cycle->log) != NGX_OK)
    {
        ngx_shm_free(&uz->shm_zone.shm);
        free(uz);
        return NULL;
    }

    return &uz->zone;
}


void
ngx_unit_zone_destroy(ngx_chrys_zone_t *zone)
{
    ngx_unit_zone_t  *uz;

    if (zone == NULL) {
        return;
    }

    uz = (ngx_unit_zone_t *) zone->shm_zone;

    ngx_shmtx_destroy(&zone->shpool->mutex);
    ngx_shm_free(&uz->shm_zone.shm);
    free(uz);
}


/*
 * The stream "live/name", made if it is new, claimed as its publisher's
 * worker claims it (no ring): with "claim", the stream is left claimed
 * and *claim is the claim's number, for the slots; without, it is
 * released at once.  NULL if the claim failed (a bad name, a full zone,
 * another publisher).
 */

ngx_chrys_stream_t *
ngx_unit_stream(ngx_chrys_zone_t *zone, char *name, ngx_uint_t *claim)
{
    ngx_str_t            s;
    ngx_uint_t           n;
    ngx_chrys_stream_t  *st;

    s.data = (u_char *) name;
    s.len = ngx_strlen(name);

    if (ngx_unit_stream_claim(zone, &ngx_unit_app, &s, 0, 0, &st, &n,
                               ngx_cycle->log)
        != NGX_OK)
    {
        return NULL;
    }

    if (claim) {
        *claim = n;

    } else {
        ngx_chrys_stream_release(zone, st, n);
    }

    return st;
}


/*
 * The stream "live/name" as a request finds it: opened, and closed again
 * at once (the test keeps the pointer, the zone never sweeps it).
 */

ngx_chrys_stream_t *
ngx_unit_find(ngx_chrys_zone_t *zone, char *name)
{
    ngx_str_t            s;
    ngx_chrys_stream_t  *st;

    s.data = (u_char *) name;
    s.len = ngx_strlen(name);

    if (ngx_chrys_stream_open(zone, &ngx_unit_app, &s, &st) != NGX_OK) {
        return NULL;
    }

    ngx_chrys_stream_close(zone, st);

    return st;
}


/* slab pages that an allocation of more than half a page takes */

ngx_uint_t
ngx_unit_pages(size_t size)
{
    return (size + ngx_pagesize - 1) >> ngx_pagesize_shift;
}


/*
 * ngx_chrys_stream_claim() with a ring of "window" ms and "max_bytes"
 * (0: none), and streams that never leave the zone by themselves
 */

ngx_int_t
ngx_unit_stream_claim(ngx_chrys_zone_t *zone, ngx_str_t *app,
    ngx_str_t *name,
    ngx_msec_t window, size_t max_bytes, ngx_chrys_stream_t **stp,
    ngx_uint_t *claim, ngx_log_t *log)
{
    ngx_chrys_stream_conf_t  conf;

    conf.window = window;
    conf.max_bytes = max_bytes;
    conf.idle = 0;

    return ngx_chrys_stream_claim(zone, app, name, &conf, stp, claim, log);
}
