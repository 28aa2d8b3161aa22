
/*
 * Copyright (C) chrys authors
 *
 * libFuzzer harness of ngx_chrys_avc.c.  The input is read twice:
 *
 *   - as the body of one RTMP video message, through
 *     ngx_chrys_flv_video_parse(), then ngx_chrys_avcc_parse() and
 *     ngx_chrys_avcc_sps() for an AVC sequence header, or
 *     ngx_chrys_avc_scan() and ngx_chrys_avc_slice() with NAL length sizes
 *     1, 2 and 4 for an AVC access unit, as ngx_chrys_module.c reads them;
 *
 *   - as a sequence header and the message after it: the first byte is
 *     the length of an AVCDecoderConfigurationRecord, the rest is a video
 *     message, whose access unit is read with the NAL length size and the
 *     SPS of the record when that parsed;
 *
 *   - as an AAC AudioSpecificConfig, through ngx_chrys_aac_config_parse(),
 *     channels in a program_config_element included.
 *
 * Each parser gets a heap copy of exactly its bytes, and what the parsers
 * promise is checked.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_avc.h"
#include "ngx_fuzz.h"


#define NGX_FUZZ_NAL_FLAGS                                                    \
    (NGX_CHRYS_NAL_SLICE|NGX_CHRYS_NAL_IDR|NGX_CHRYS_NAL_SPS                  \
     |NGX_CHRYS_NAL_PPS)


static void ngx_fuzz_video(const u_char *data, size_t len,
    ngx_uint_t nal_length_size, ngx_chrys_sps_t *sps);
static ngx_int_t ngx_fuzz_avcc(const u_char *data, size_t len,
    ngx_chrys_avcc_t *avcc, ngx_chrys_sps_t *sps);
static void ngx_fuzz_scan(const u_char *data, size_t len,
    ngx_uint_t nal_length_size, ngx_chrys_sps_t *sps);
static void ngx_fuzz_slice(u_char *p, size_t len, ngx_uint_t nal_length_size,
    ngx_uint_t flags, ngx_chrys_sps_t *sps);
static void ngx_fuzz_sps(ngx_chrys_sps_t *sps);
static void ngx_fuzz_aac(const u_char *data, size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t            n;
    ngx_chrys_sps_t   sps;
    ngx_chrys_avcc_t  avcc;

    /* no SPS yet: slices are read after an SPS of their access unit */

    ngx_memzero(&sps, sizeof(ngx_chrys_sps_t));

    ngx_fuzz_video(data, size, 0, &sps);
    ngx_fuzz_aac(data, size);

    if (size == 0) {
        return 0;
    }

    n = data[0];

    if (size - 1 < n) {
        return 0;
    }

    if (ngx_fuzz_avcc(data + 1, n, &avcc, &sps) == NGX_OK) {
        ngx_fuzz_video(data + 1 + n, size - 1 - n, avcc.nal_length_size,
                       &sps);
    }

    return 0;
}


/* nal_length_size 0: no sequence header yet, scan with every size */

static void
ngx_fuzz_video(const u_char *data, size_t len, ngx_uint_t nal_length_size,
    ngx_chrys_sps_t *sps)
{
    u_char                 *p;
    ngx_int_t               rc;
    ngx_uint_t              avc;
    ngx_chrys_sps_t         header_sps;
    ngx_chrys_avcc_t        avcc;
    ngx_chrys_flv_video_t   v;

    p = ngx_fuzz_copy(data, len);

    rc = ngx_chrys_flv_video_parse(&v, p, len);

    avc = (len > 0 && (p[0] & 0x0f) == NGX_CHRYS_FLV_AVC
           && (p[0] >> 4) != NGX_CHRYS_FLV_INFO);

    /* one byte for the codec, five for AVC */

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_ERROR);
    ngx_fuzz_check((rc == NGX_OK) == (len >= (avc ? 5u : 1u)));

    if (rc != NGX_OK) {
        free(p);
        return;
    }

    ngx_fuzz_check(v.frame_type == (ngx_uint_t) (p[0] >> 4));
    ngx_fuzz_check(v.codec == (ngx_uint_t) (p[0] & 0x0f));
    ngx_fuzz_check(ngx_chrys_flv_codec_name(v.codec) != NULL);

    /* the body is the rest of the message */

    ngx_fuzz_check(v.data >= p && v.len <= len);
    ngx_fuzz_check(v.data + v.len == p + len);
    ngx_fuzz_check(v.data == p + (avc ? 5 : 1));

    if (!avc) {
        ngx_fuzz_check(v.packet_type == 0 && v.cts == 0);
        free(p);
        return;
    }

    ngx_fuzz_check(v.packet_type == p[1]);
    ngx_fuzz_check(v.cts >= -0x800000 && v.cts <= 0x7fffff);
    ngx_fuzz_check(((uint32_t) v.cts & 0xffffff)
                   == ((uint32_t) p[2] << 16 | (uint32_t) p[3] << 8 | p[4]));

    switch (v.packet_type) {

    case NGX_CHRYS_AVC_HEADER:
        (void) ngx_fuzz_avcc(v.data, v.len, &avcc, &header_sps);
        break;

    case NGX_CHRYS_AVC_NALU:
        if (nal_length_size) {
            ngx_fuzz_scan(v.data, v.len, nal_length_size, sps);

        } else {
            ngx_fuzz_scan(v.data, v.len, 1, sps);
            ngx_fuzz_scan(v.data, v.len, 2, sps);
            ngx_fuzz_scan(v.data, v.len, 4, sps);
        }

        break;
    }

    free(p);
}


/* "sps": the SPS of a record that parses, as ngx_chrys_module.c keeps it */

static ngx_int_t
ngx_fuzz_avcc(const u_char *data, size_t len, ngx_chrys_avcc_t *avcc,
    ngx_chrys_sps_t *sps)
{
    u_char      *p, *q, *last;
    size_t       n;
    ngx_int_t    rc;
    ngx_uint_t   i, count;

    p = ngx_fuzz_copy(data, len);

    rc = ngx_chrys_avcc_parse(avcc, p, len);

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_ERROR);

    if (rc != NGX_OK) {
        free(p);
        return rc;
    }

    ngx_fuzz_check(len >= 7 && p[0] == 1);
    ngx_fuzz_check(avcc->profile == p[1]);
    ngx_fuzz_check(avcc->compat == p[2]);
    ngx_fuzz_check(avcc->level == p[3]);
    ngx_fuzz_check(avcc->nal_length_size == 1 || avcc->nal_length_size == 2
                   || avcc->nal_length_size == 4);
    ngx_fuzz_check(avcc->nal_length_size == (ngx_uint_t) (p[4] & 0x03) + 1);
    ngx_fuzz_check(avcc->nsps >= 1
                   && avcc->nsps == (ngx_uint_t) (p[5] & 0x1f));
    ngx_fuzz_check(avcc->npps >= 1 && avcc->npps <= 255);

    /* every parameter set, of its kind, lies within the record */

    q = p + 6;
    last = p + len;

    for (i = 0; i < avcc->nsps; i++) {
        ngx_fuzz_check(last - q >= 2);
        n = (size_t) q[0] << 8 | q[1];
        ngx_fuzz_check(n >= 1 && (size_t) (last - q - 2) >= n);
        ngx_fuzz_check((q[2] & 0x1f) == 7);
        q += 2 + n;
    }

    ngx_fuzz_check(last - q >= 1);
    count = *q++;
    ngx_fuzz_check(count == avcc->npps);

    for (i = 0; i < count; i++) {
        ngx_fuzz_check(last - q >= 2);
        n = (size_t) q[0] << 8 | q[1];
        ngx_fuzz_check(n >= 1 && (size_t) (last - q - 2) >= n);
        ngx_fuzz_check((q[2] & 0x1f) == 8);
        q += 2 + n;
    }

    rc = ngx_chrys_avcc_sps(sps, p, len);

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_ERROR);
    ngx_fuzz_check(sps->valid == (rc == NGX_OK));
    ngx_fuzz_sps(sps);

    free(p);

    return NGX_OK;
}


static void
ngx_fuzz_scan(const u_char *data, size_t len, ngx_uint_t nal_length_size,
    ngx_chrys_sps_t *sps)
{
    u_char      *p, *q, *last;
    size_t       n;
    ngx_int_t    rc;
    ngx_uint_t   i, flags, expect;

    p = ngx_fuzz_copy(data, len);

    /* NAL length sizes that an AVCDecoderConfigurationRecord cannot give */

    ngx_fuzz_check(ngx_chrys_avc_scan(p, len, 0, &flags) == NGX_ERROR);
    ngx_fuzz_check(ngx_chrys_avc_scan(p, len, 3, &flags) == NGX_ERROR);
    ngx_fuzz_check(ngx_chrys_avc_scan(p, len, 8, &flags) == NGX_ERROR);

    rc = ngx_chrys_avc_scan(p, len, nal_length_size, &flags);

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_ERROR);

    if (rc != NGX_OK) {
        free(p);
        return;
    }

    ngx_fuzz_check((flags & ~(ngx_uint_t) NGX_FUZZ_NAL_FLAGS) == 0);
    ngx_fuzz_check(!(flags & NGX_CHRYS_NAL_IDR)
                   || (flags & NGX_CHRYS_NAL_SLICE));

    /* the lengths tile the access unit, and the flags are its NAL types */

    q = p;
    last = p + len;
    expect = 0;

    while (q < last) {
        ngx_fuzz_check((size_t) (last - q) >= nal_length_size);

        n = 0;

        for (i = 0; i < nal_length_size; i++) {
            n = n << 8 | *q++;
        }

        ngx_fuzz_check(n >= 1 && (size_t) (last - q) >= n);
        ngx_fuzz_check((q[0] & 0x80) == 0);

        switch (q[0] & 0x1f) {

        case 1:
            expect |= NGX_CHRYS_NAL_SLICE;
            break;

        case 5:
            expect |= NGX_CHRYS_NAL_SLICE|NGX_CHRYS_NAL_IDR;
            break;

        case 7:
            expect |= NGX_CHRYS_NAL_SPS;
            break;

        case 8:
            expect |= NGX_CHRYS_NAL_PPS;
            break;
        }

        q += n;
    }

    ngx_fuzz_check(q == last);
    ngx_fuzz_check(flags == expect);

    /* a scanned access unit goes on to the frame_num check */

    ngx_fuzz_slice(p, len, nal_length_size, flags, sps);

    free(p);
}


/* on a copy of "sps": each NAL length size starts from the same one */

static void
ngx_fuzz_slice(u_char *p, size_t len, ngx_uint_t nal_length_size,
    ngx_uint_t flags, ngx_chrys_sps_t *sps)
{
    ngx_int_t          rc;
    ngx_chrys_sps_t    s;
    ngx_chrys_slice_t  slice;

    s = *sps;

    rc = ngx_chrys_avc_slice(p, len, nal_length_size, &s, &slice);

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_ERROR || rc == NGX_DECLINED);

    /* an SPS known stays known, replaced by valid ones only */

    ngx_fuzz_check(s.valid || !sps->valid);
    ngx_fuzz_sps(&s);

    if (rc != NGX_OK) {
        return;
    }

    ngx_fuzz_check(s.valid);
    ngx_fuzz_check(flags & NGX_CHRYS_NAL_SLICE);
    ngx_fuzz_check(slice.idr == 0 || slice.idr == 1);
    ngx_fuzz_check(!slice.idr || (flags & NGX_CHRYS_NAL_IDR));
    ngx_fuzz_check(slice.reference == 0 || slice.reference == 1);
    ngx_fuzz_check(slice.frame_num
                   < (ngx_uint_t) 1 << s.log2_max_frame_num);
}


static void
ngx_fuzz_sps(ngx_chrys_sps_t *sps)
{
    if (!sps->valid) {
        return;
    }

    ngx_fuzz_check(sps->valid == 1);
    ngx_fuzz_check(sps->log2_max_frame_num >= 4
                   && sps->log2_max_frame_num <= 16);
    ngx_fuzz_check(sps->gaps_allowed == 0 || sps->gaps_allowed == 1);
    ngx_fuzz_check(sps->separate_colour_plane == 0
                   || sps->separate_colour_plane == 1);
}


/*
 * A rate of 24 bits at most and 1 to 24 channels of a configuration, or
 * 1 to 93 of a PCE: 45 elements, each a pair, and 3 LFEs
 */

static void
ngx_fuzz_aac(const u_char *data, size_t len)
{
    u_char      *p;
    ngx_int_t    rc;
    ngx_uint_t   rate, channels, config;

    p = ngx_fuzz_copy(data, len);

    rc = ngx_chrys_aac_config_parse(p, len, &rate, &channels);

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_ERROR);

    if (rc == NGX_OK) {
        ngx_fuzz_check(len >= 2 && (p[0] >> 3) != 0 && (p[0] >> 3) != 31);
        ngx_fuzz_check(rate >= 1 && rate < (1 << 24));

        config = (((p[0] & 0x07) << 1 | p[1] >> 7) == 15)
                 ? (len >= 5 ? (p[4] >> 3) & 0x0f : 16)
                 : (p[1] >> 3) & 0x0f;

        ngx_fuzz_check(config <= 15);
        ngx_fuzz_check(config == 0 ? channels >= 1 && channels <= 93
                                   : channels >= 1 && channels <= 24);
    }

    free(p);
}
