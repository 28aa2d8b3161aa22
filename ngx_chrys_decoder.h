
/*
 * Copyright (C) chrys authors
 *
 * Live decoding of a published stream, in the thread pool of the worker
 * that holds the publisher.  A new picture in the zone is announced
 * through ngx_chrys_published: whoever wants to hear of it chains into it,
 * as modules chain into nginx-rtmp's ngx_rtmp_publish; the decoder knows
 * nothing of who listens.
 *
 * Decoded on demand (conf->idle), a stream nobody asked pictures of for
 * that long sleeps: its codec closes, its pictures go back to the zone,
 * and the decoder keeps the access units since the newest IDR.  Asking
 * (ngx_chrys_stream_want()) wakes it, and it decodes those first.
 */


#ifndef _NGX_CHRYS_DECODER_H_INCLUDED_
#define _NGX_CHRYS_DECODER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_thread_pool.h>
#include "ngx_chrys_zone.h"


typedef struct ngx_chrys_decoder_s  ngx_chrys_decoder_t;

typedef void (*ngx_chrys_published_pt)(ngx_chrys_stream_t *st);


typedef struct {
    ngx_thread_pool_t        *pool;
    ngx_uint_t                max_width;      /* chrys_max_picture */
    ngx_uint_t                max_height;
    ngx_msec_t                idle;           /* on demand: sleeps after */
} ngx_chrys_decoder_conf_t;


ngx_chrys_decoder_t *ngx_chrys_decoder_create(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t claim, ngx_chrys_decoder_conf_t *conf,
    ngx_log_t *log);
void ngx_chrys_decoder_push(ngx_chrys_decoder_t *dec, ngx_chrys_au_t *au);
void ngx_chrys_decoder_hint(ngx_chrys_decoder_t *dec, ngx_uint_t width,
    ngx_uint_t height);
void ngx_chrys_decoder_drop(ngx_chrys_decoder_t *dec);
void ngx_chrys_decoder_close(ngx_chrys_decoder_t *dec);
void ngx_chrys_decoder_exit_process(void);

ngx_chrys_au_t *ngx_chrys_au_alloc(size_t len, ngx_log_t *log);
void ngx_chrys_au_free(ngx_chrys_au_t *au);


extern ngx_chrys_published_pt  ngx_chrys_published;


#endif /* _NGX_CHRYS_DECODER_H_INCLUDED_ */
