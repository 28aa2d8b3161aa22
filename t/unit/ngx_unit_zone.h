
/*
 * Copyright (C) chrys authors
 *
 * Chrys zones for the tests that link the zone code (ngx_chrys_zone.c,
 * ngx_chrys_ring.c): ngx_unit_zone.c.
 */


#ifndef _NGX_UNIT_ZONE_H_INCLUDED_
#define _NGX_UNIT_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys.h"
#include "ngx_chrys_zone.h"


#define NGX_UNIT_ZONE_SIZE    (8 * 1024 * 1024)
#define NGX_UNIT_SMALL_ZONE   (1024 * 1024)


typedef struct {
    ngx_shm_zone_t            shm_zone;
    ngx_chrys_zone_t          zone;
} ngx_unit_zone_t;


ngx_chrys_zone_t *ngx_unit_zone_create(size_t size);
void ngx_unit_zone_destroy(ngx_chrys_zone_t *zone);
ngx_chrys_stream_t *ngx_unit_stream(ngx_chrys_zone_t *zone, char *name,
    ngx_uint_t *claim);
ngx_chrys_stream_t *ngx_unit_find(ngx_chrys_zone_t *zone, char *name);
ngx_uint_t ngx_unit_pages(size_t size);
ngx_int_t ngx_unit_stream_claim(ngx_chrys_zone_t *zone, ngx_str_t *app,
    ngx_str_t *name, ngx_msec_t window, size_t max_bytes,
    ngx_chrys_stream_t **stp, ngx_uint_t *claim, ngx_log_t *log);


extern ngx_str_t     ngx_unit_app;
extern ngx_module_t  ngx_chrys_module;


#endif /* _NGX_UNIT_ZONE_H_INCLUDED_ */
