
/*
 * Copyright (C) chrys authors
 *
 * An H.264 decoder of access units (libavcodec, one thread, every error
 * an error), as the live decoder and replays use it.  Runs in the thread
 * pool.
 */


#ifndef _NGX_CHRYS_CODEC_H_INCLUDED_
#define _NGX_CHRYS_CODEC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_ring.h"


struct AVCodecContext;
struct AVPacket;
struct AVFrame;


/* bytes after each access unit, zeroed, as libavcodec reads past them */
#define NGX_CHRYS_CODEC_PAD       64


typedef void (*ngx_chrys_picture_pt)(void *data, struct AVFrame *frame);


typedef struct {
    struct AVCodecContext        *avctx;
    struct AVPacket              *pkt;
    struct AVFrame               *frame;
    ngx_chrys_picture_pt          handler;    /* each picture decoded */
    void                         *data;
    int                           err;        /* libav's, of the last error */
} ngx_chrys_codec_t;


ngx_int_t ngx_chrys_codec_init(ngx_chrys_codec_t *codec);
ngx_int_t ngx_chrys_codec_open(ngx_chrys_codec_t *codec, u_char *config,
    size_t len);
ngx_uint_t ngx_chrys_codec_same(ngx_chrys_codec_t *codec, u_char *config,
    size_t len);
ngx_int_t ngx_chrys_codec_decode(ngx_chrys_codec_t *codec,
    ngx_chrys_au_t *au);
void ngx_chrys_codec_flush(ngx_chrys_codec_t *codec);
void ngx_chrys_codec_close(ngx_chrys_codec_t *codec);
void ngx_chrys_codec_free(ngx_chrys_codec_t *codec);
u_char *ngx_chrys_codec_strerror(int err, u_char *buf, size_t len);


#endif /* _NGX_CHRYS_CODEC_H_INCLUDED_ */
