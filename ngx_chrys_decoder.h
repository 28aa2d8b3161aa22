
/*
 * Copyright (C) chrys authors
 *
 * Live decoding of a published stream, in the thread pool of the worker
 * that holds the publisher.  A new picture in the zone is announced
 * through ngx_chrys_published: whoever wants to hear of it chains into it,
 * as modules chain into nginx-rtmp's ngx_rtmp_publish; the decoder knows
 * nothing of who listens.
 */


#ifndef _NGX_CHRYS_DECODER_H_INCLUDED_
#define _NGX_CHRYS_DECODER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_thread_pool.h>
#include "ngx_chrys_zone.h"


typedef struct ngx_chrys_decoder_s  ngx_chrys_decoder_t;

typedef void (*ngx_chrys_published_pt)(ngx_chrys_stream_t *st);


ngx_chrys_decoder_t *ngx_chrys_decoder_create(ngx_chrys_zone_t *zone,
    ngx_chrys_stream_t *st, ngx_uint_t claim, ngx_thread_pool_t *tp,
    ngx_uint_t max_width, ngx_uint_t max_height, ngx_log_t *log);
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
