
/*
 * Copyright (C) chrys authors
 *
 * An H.264 decoder of access units, shared by the live decoder and
 * replays: opened from an AVC sequence header, strict about errors, one
 * thread.  Each picture decoded goes to the codec's handler, corrupt ones
 * too (the handler tells them by AVFrame's flags); an access unit's seq
 * travels through libavcodec as the packet's pts, so that every picture
 * names the access unit it came from, whatever the reordering.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_codec.h"

#include <libavcodec/avcodec.h>


#if (NGX_CHRYS_CODEC_PAD < AV_INPUT_BUFFER_PADDING_SIZE)
#error "NGX_CHRYS_CODEC_PAD is less than AV_INPUT_BUFFER_PADDING_SIZE"
#endif


ngx_int_t
ngx_chrys_codec_init(ngx_chrys_codec_t *codec)
{
    codec->avctx = NULL;
    codec->pkt = av_packet_alloc();
    codec->frame = av_frame_alloc();

    if (codec->pkt == NULL || codec->frame == NULL) {
        ngx_chrys_codec_free(codec);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* whether the open decoder was configured with this sequence header */

ngx_uint_t
ngx_chrys_codec_same(ngx_chrys_codec_t *codec, u_char *config, size_t len)
{
    AVCodecContext  *avctx;

    avctx = codec->avctx;

    return avctx && (size_t) avctx->extradata_size == len
           && ngx_memcmp(avctx->extradata, config, len) == 0;
}


/* (re)opens the decoder with an AVC sequence header (avcC) */

ngx_int_t
ngx_chrys_codec_open(ngx_chrys_codec_t *codec, u_char *config, size_t len)
{
    int              rc;
    const AVCodec   *h264;
    AVCodecContext  *avctx;

    ngx_chrys_codec_close(codec);

    h264 = avcodec_find_decoder(AV_CODEC_ID_H264);
    if (h264 == NULL) {
        codec->err = AVERROR_DECODER_NOT_FOUND;
        return NGX_ERROR;
    }

    avctx = avcodec_alloc_context3(h264);
    if (avctx == NULL) {
        codec->err = AVERROR(ENOMEM);
        return NGX_ERROR;
    }

    avctx->extradata = av_mallocz(len + AV_INPUT_BUFFER_PADDING_SIZE);
    if (avctx->extradata == NULL) {
        avcodec_free_context(&avctx);
        codec->err = AVERROR(ENOMEM);
        return NGX_ERROR;
    }

    ngx_memcpy(avctx->extradata, config, len);
    avctx->extradata_size = len;
    avctx->thread_count = 1;

    /*
     * every error libavcodec can see is an error, not something to
     * conceal; "compliant" and "aggressive" would refuse cameras that
     * bend the standard in harmless ways
     */
    avctx->err_recognition = AV_EF_EXPLODE|AV_EF_BITSTREAM|AV_EF_CRCCHECK
                             |AV_EF_BUFFER|AV_EF_CAREFUL;

    rc = avcodec_open2(avctx, h264, NULL);
    if (rc < 0) {
        avcodec_free_context(&avctx);
        codec->err = rc;
        return NGX_ERROR;
    }

    codec->avctx = avctx;

    return NGX_OK;
}


/*
 * Sends an access unit (NULL: the end, out with the pictures held for
 * reordering) and hands each picture that comes out to the handler.
 * NGX_ERROR with codec->err when libavcodec refused it.
 */

ngx_int_t
ngx_chrys_codec_decode(ngx_chrys_codec_t *codec, ngx_chrys_au_t *au)
{
    int        rc;
    AVPacket  *pkt;

    pkt = codec->pkt;

    if (au) {
        pkt->data = au->data;
        pkt->size = au->len;
        pkt->pts = au->seq;
        pkt->dts = AV_NOPTS_VALUE;
        pkt->flags = (au->flags & NGX_CHRYS_AU_KEY) ? AV_PKT_FLAG_KEY : 0;

        rc = avcodec_send_packet(codec->avctx, pkt);

    } else {
        rc = avcodec_send_packet(codec->avctx, NULL);
    }

    if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) {
        codec->err = rc;
        return NGX_ERROR;
    }

    for ( ;; ) {
        rc = avcodec_receive_frame(codec->avctx, codec->frame);

        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) {
            return NGX_OK;
        }

        if (rc < 0) {
            codec->err = rc;
            return NGX_ERROR;
        }

        codec->handler(codec->data, codec->frame);
        av_frame_unref(codec->frame);
    }
}


/* forgets what was sent: the next access unit must be an IDR */

void
ngx_chrys_codec_flush(ngx_chrys_codec_t *codec)
{
    if (codec->avctx) {
        avcodec_flush_buffers(codec->avctx);
    }
}


void
ngx_chrys_codec_close(ngx_chrys_codec_t *codec)
{
    if (codec->avctx) {
        avcodec_free_context(&codec->avctx);
    }
}


void
ngx_chrys_codec_free(ngx_chrys_codec_t *codec)
{
    ngx_chrys_codec_close(codec);
    av_packet_free(&codec->pkt);
    av_frame_free(&codec->frame);
}


/* libav's words for an error, into buf */

u_char *
ngx_chrys_codec_strerror(int err, u_char *buf, size_t len)
{
    if (av_strerror(err, (char *) buf, len) < 0) {
        (void) ngx_cpystrn(buf, (u_char *) "unknown error", len);
    }

    return buf;
}
