
/*
 * Copyright (C) chrys authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_avc.h"


/*
 * An FLV video tag body: one byte of frame type and codec, and for AVC
 * one byte of packet type and a signed 24-bit composition time offset.
 */

ngx_int_t
ngx_chrys_flv_video_parse(ngx_chrys_flv_video_t *v, u_char *p, size_t len)
{
    uint32_t  cts;

    ngx_memzero(v, sizeof(ngx_chrys_flv_video_t));

    if (len < 1) {
        return NGX_ERROR;
    }

    v->frame_type = p[0] >> 4;
    v->codec = p[0] & 0x0f;

    if (v->codec != NGX_CHRYS_FLV_AVC || v->frame_type == NGX_CHRYS_FLV_INFO)
    {
        /* video info/command frames carry no picture: nothing to parse */
        v->data = p + 1;
        v->len = len - 1;
        return NGX_OK;
    }

    if (len < 5) {
        return NGX_ERROR;
    }

    v->packet_type = p[1];

    cts = ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 8) | p[4];

    if (cts & 0x800000) {
        cts |= 0xff000000;
    }

    v->cts = (int32_t) cts;
    v->data = p + 5;
    v->len = len - 5;

    return NGX_OK;
}


/*
 * AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.2.4.1): version 1,
 * profile, compatibility, level, NAL length size, then the SPS and PPS
 * sets, each with a 16-bit length.
 */

ngx_int_t
ngx_chrys_avcc_parse(ngx_chrys_avcc_t *avcc, u_char *p, size_t len)
{
    u_char      *last;
    size_t       n;
    ngx_uint_t   i, count;

    ngx_memzero(avcc, sizeof(ngx_chrys_avcc_t));

    if (len < 7 || p[0] != 1) {
        return NGX_ERROR;
    }

    last = p + len;

    avcc->profile = p[1];
    avcc->compat = p[2];
    avcc->level = p[3];
    avcc->nal_length_size = (p[4] & 0x03) + 1;

    if (avcc->nal_length_size == 3) {
        return NGX_ERROR;
    }

    count = p[5] & 0x1f;
    p += 6;

    for (i = 0; i < count; i++) {
        if (last - p < 2) {
            return NGX_ERROR;
        }

        n = ((size_t) p[0] << 8) | p[1];
        p += 2;

        if (n == 0 || (size_t) (last - p) < n || (p[0] & 0x1f) != 7) {
            return NGX_ERROR;
        }

        p += n;
    }

    avcc->nsps = count;

    if (last - p < 1) {
        return NGX_ERROR;
    }

    count = *p++;

    for (i = 0; i < count; i++) {
        if (last - p < 2) {
            return NGX_ERROR;
        }

        n = ((size_t) p[0] << 8) | p[1];
        p += 2;

        if (n == 0 || (size_t) (last - p) < n || (p[0] & 0x1f) != 8) {
            return NGX_ERROR;
        }

        p += n;
    }

    avcc->npps = count;

    if (avcc->nsps == 0 || avcc->npps == 0) {
        return NGX_ERROR;
    }

    /* high profiles may append chroma format data: not needed here */

    return NGX_OK;
}


/*
 * Walks the length-prefixed NAL units of one access unit and reports which
 * kinds it holds.  The lengths must tile the payload exactly.
 */

ngx_int_t
ngx_chrys_avc_scan(u_char *p, size_t len, ngx_uint_t nal_length_size,
    ngx_uint_t *flags)
{
    u_char      *last;
    size_t       n;
    ngx_uint_t   i, type;

    *flags = 0;
    last = p + len;

    if (nal_length_size != 1 && nal_length_size != 2
        && nal_length_size != 4)
    {
        return NGX_ERROR;
    }

    while (p < last) {

        if ((size_t) (last - p) < nal_length_size) {
            return NGX_ERROR;
        }

        n = 0;

        for (i = 0; i < nal_length_size; i++) {
            n = (n << 8) | *p++;
        }

        if (n == 0 || (size_t) (last - p) < n) {
            return NGX_ERROR;
        }

        if (p[0] & 0x80) {
            /* forbidden_zero_bit */
            return NGX_ERROR;
        }

        type = p[0] & 0x1f;

        switch (type) {

        case 1:
            *flags |= NGX_CHRYS_NAL_SLICE;
            break;

        case 5:
            *flags |= NGX_CHRYS_NAL_SLICE|NGX_CHRYS_NAL_IDR;
            break;

        case 7:
            *flags |= NGX_CHRYS_NAL_SPS;
            break;

        case 8:
            *flags |= NGX_CHRYS_NAL_PPS;
            break;
        }

        p += n;
    }

    return NGX_OK;
}


const char *
ngx_chrys_flv_codec_name(ngx_uint_t codec)
{
    static const char  *names[] = {
        "none", "jpeg", "flv1", "screen", "vp6", "vp6a", "screen2", "h264",
        "unknown", "unknown", "unknown", "unknown", "hevc", "unknown",
        "unknown", "unknown"
    };

    return names[codec & 0x0f];
}
