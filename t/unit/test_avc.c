
/*
 * Copyright (C) chrys authors
 *
 * Unit tests of ngx_chrys_avc.c: FLV video tag headers, the AVC decoder
 * configuration record and the NAL unit framing of access units.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_avc.h"
#include "ngx_unit.h"


/*
 * The SPS and PPS of a real stream, from the AVCDecoderConfigurationRecord
 * that this wrote into its first video tag:
 *
 *   ffmpeg -f lavfi -i testsrc2=size=320x240 -frames:v 1 -c:v libx264 \
 *       -f flv x.flv
 *
 * (FFmpeg 5.1, libx264 164: High profile, level 1.3, 4-byte lengths).
 */

#define NGX_UNIT_SPS                                                          \
    0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00,   \
    0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99,   \
    0x60

#define NGX_UNIT_SPS_LEN      25

#define NGX_UNIT_PPS                                                          \
    0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0

#define NGX_UNIT_PPS_LEN      6

/* the record up to the end of its last PPS, without the High extension */
#define NGX_UNIT_AVCC_SETS    (6 + 2 + NGX_UNIT_SPS_LEN + 1 + 2             \
                               + NGX_UNIT_PPS_LEN)


typedef struct {
    u_char      *data;
    size_t       len;
} ngx_unit_nal_t;


static ngx_int_t ngx_unit_avcc_parse(ngx_chrys_avcc_t *avcc, u_char *p,
    size_t len);
static ngx_int_t ngx_unit_avc_scan(u_char *p, size_t len,
    ngx_uint_t nal_length_size, ngx_uint_t *flags);
static size_t ngx_unit_access_unit(u_char *buf, ngx_uint_t nal_length_size,
    ngx_unit_nal_t *nals, ngx_uint_t n);


/* the record exactly as x264 wrote it */

static u_char  ngx_unit_avcc[] = {
    0x01,                   /* configurationVersion */
    0x64, 0x00, 0x0d,       /* profile 100 (High), compatibility, level 13 */
    0xff,                   /* 6 reserved bits, lengthSizeMinusOne 3 */
    0xe1,                   /* 3 reserved bits, 1 SPS */
    0x00, 0x19, NGX_UNIT_SPS,
    0x01,                   /* 1 PPS */
    0x00, 0x06, NGX_UNIT_PPS,
    0xfd, 0xf8, 0xf8, 0x00  /* High: 4:2:0, 8 bits, no SPS extensions */
};

static u_char  ngx_unit_sps[] = { NGX_UNIT_SPS };
static u_char  ngx_unit_pps[] = { NGX_UNIT_PPS };
static u_char  ngx_unit_aud[] = { 0x09, 0xf0 };
static u_char  ngx_unit_sei[] = { 0x06, 0x05, 0x01, 0x00, 0x80 };
static u_char  ngx_unit_idr[] = { 0x65, 0x88, 0x84, 0x00, 0x33, 0xff };
static u_char  ngx_unit_slice[] = { 0x41, 0x9a, 0x21, 0x6c, 0x42 };
static u_char  ngx_unit_nonref_slice[] = { 0x01, 0x9e, 0x40, 0x79 };


static void
test_flv_avc_keyframe_nalu(void)
{
    u_char                 tag[] = { 0x17, 0x01, 0x00, 0x00, 0x00,
                                     0x00, 0x00, 0x00, 0x02, 0x65, 0x88 };
    ngx_chrys_flv_video_t  v;

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, tag, sizeof(tag))
                   == NGX_OK);
    ngx_unit_check(v.frame_type == NGX_CHRYS_FLV_KEYFRAME);
    ngx_unit_check(v.codec == NGX_CHRYS_FLV_AVC);
    ngx_unit_check(v.packet_type == NGX_CHRYS_AVC_NALU);
    ngx_unit_check(v.cts == 0);
    ngx_unit_check(v.data == tag + 5);
    ngx_unit_check(v.len == sizeof(tag) - 5);
}


static void
test_flv_avc_inter_frame(void)
{
    u_char                 tag[] = { 0x27, 0x01, 0x00, 0x00, 0x00,
                                     0x00, 0x00, 0x00, 0x01, 0x41 };
    ngx_chrys_flv_video_t  v;

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, tag, sizeof(tag))
                   == NGX_OK);
    ngx_unit_check(v.frame_type == 2);
    ngx_unit_check(v.frame_type != NGX_CHRYS_FLV_KEYFRAME);
    ngx_unit_check(v.codec == NGX_CHRYS_FLV_AVC);
    ngx_unit_check(v.packet_type == NGX_CHRYS_AVC_NALU);
    ngx_unit_check(v.len == 5);
}


static void
test_flv_avc_sequence_header(void)
{
    u_char                 tag[5 + sizeof(ngx_unit_avcc)];
    ngx_chrys_avcc_t       avcc;
    ngx_chrys_flv_video_t  v;

    tag[0] = 0x17;
    tag[1] = 0x00;
    tag[2] = 0x00;
    tag[3] = 0x00;
    tag[4] = 0x00;
    ngx_memcpy(tag + 5, ngx_unit_avcc, sizeof(ngx_unit_avcc));

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, tag, sizeof(tag))
                   == NGX_OK);
    ngx_unit_check(v.frame_type == NGX_CHRYS_FLV_KEYFRAME);
    ngx_unit_check(v.packet_type == NGX_CHRYS_AVC_HEADER);
    ngx_unit_check(v.len == sizeof(ngx_unit_avcc));
    ngx_unit_check(ngx_memcmp(v.data, ngx_unit_avcc, v.len) == 0);

    /* what the module does next with the body */
    ngx_unit_check(ngx_unit_avcc_parse(&avcc, v.data, v.len) == NGX_OK);
}


static void
test_flv_avc_end_of_sequence(void)
{
    u_char                 tag[] = { 0x17, 0x02, 0x00, 0x00, 0x00 };
    ngx_chrys_flv_video_t  v;

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, tag, sizeof(tag))
                   == NGX_OK);
    ngx_unit_check(v.packet_type == NGX_CHRYS_AVC_EOS);
    ngx_unit_check(v.data == tag + 5);
    ngx_unit_check(v.len == 0);
}


static void
test_flv_positive_composition_time(void)
{
    u_char                 t1[] = { 0x27, 0x01, 0x00, 0x00, 0x42 };
    u_char                 t2[] = { 0x27, 0x01, 0x01, 0x02, 0x03 };
    u_char                 t3[] = { 0x27, 0x01, 0x7f, 0xff, 0xff };
    ngx_chrys_flv_video_t  v;

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, t1, sizeof(t1)) == NGX_OK);
    ngx_unit_check(v.cts == 66);

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, t2, sizeof(t2)) == NGX_OK);
    ngx_unit_check(v.cts == 0x010203);

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, t3, sizeof(t3)) == NGX_OK);
    ngx_unit_check(v.cts == 8388607);
}


static void
test_flv_negative_composition_time(void)
{
    u_char                 t1[] = { 0x27, 0x01, 0xff, 0xff, 0xce };
    u_char                 t2[] = { 0x27, 0x01, 0xff, 0xff, 0xff };
    u_char                 t3[] = { 0x27, 0x01, 0x80, 0x00, 0x00 };
    u_char                 t4[] = { 0x27, 0x01, 0xfe, 0xdc, 0xba };
    ngx_chrys_flv_video_t  v;

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, t1, sizeof(t1)) == NGX_OK);
    ngx_unit_check(v.cts == -50);

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, t2, sizeof(t2)) == NGX_OK);
    ngx_unit_check(v.cts == -1);

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, t3, sizeof(t3)) == NGX_OK);
    ngx_unit_check(v.cts == -8388608);

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, t4, sizeof(t4)) == NGX_OK);
    ngx_unit_check(v.cts == 0xfedcba - 0x1000000);
}


static void
test_flv_too_short_is_an_error(void)
{
    u_char                 tag[] = { 0x17, 0x01, 0x00, 0x00, 0x00 };
    u_char                *copy;
    size_t                 len;
    ngx_chrys_flv_video_t  v;

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, tag, 0) == NGX_ERROR);

    /* AVC needs its packet type and composition time */

    for (len = 1; len < sizeof(tag); len++) {
        copy = malloc(len);

        ngx_unit_check(copy != NULL);

        if (copy == NULL) {
            return;
        }

        ngx_memcpy(copy, tag, len);

        ngx_unit_check(ngx_chrys_flv_video_parse(&v, copy, len)
                       == NGX_ERROR);

        free(copy);
    }
}


static void
test_flv_sorenson_h263_is_not_avc(void)
{
    u_char                 tag[] = { 0x22, 0x00, 0x00, 0x84, 0x00 };
    u_char                 one[] = { 0x12 };
    ngx_chrys_flv_video_t  v;

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, tag, sizeof(tag))
                   == NGX_OK);
    ngx_unit_check(v.codec == NGX_CHRYS_FLV_H263);
    ngx_unit_check(v.frame_type == 2);
    ngx_unit_check(v.packet_type == 0);
    ngx_unit_check(v.cts == 0);
    ngx_unit_check(v.data == tag + 1);
    ngx_unit_check(v.len == sizeof(tag) - 1);
    ngx_unit_check(ngx_strcmp(ngx_chrys_flv_codec_name(v.codec), "flv1")
                   == 0);

    /* a header byte alone is enough for a codec other than AVC */

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, one, sizeof(one))
                   == NGX_OK);
    ngx_unit_check(v.codec == NGX_CHRYS_FLV_H263);
    ngx_unit_check(v.frame_type == NGX_CHRYS_FLV_KEYFRAME);
    ngx_unit_check(v.len == 0);
}


static void
test_flv_codec_names(void)
{
    u_char                 vp6[] = { 0x14, 0x00 };
    u_char                 hevc[] = { 0x1c, 0x01, 0x00, 0x00, 0x00 };
    ngx_uint_t             codec;
    ngx_chrys_flv_video_t  v;

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, vp6, sizeof(vp6))
                   == NGX_OK);
    ngx_unit_check(ngx_strcmp(ngx_chrys_flv_codec_name(v.codec), "vp6")
                   == 0);

    /* HEVC with the legacy codec id 12: not parsed as AVC */

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, hevc, sizeof(hevc))
                   == NGX_OK);
    ngx_unit_check(v.codec == 12);
    ngx_unit_check(v.len == 4);
    ngx_unit_check(ngx_strcmp(ngx_chrys_flv_codec_name(v.codec), "hevc")
                   == 0);

    ngx_unit_check(ngx_strcmp(ngx_chrys_flv_codec_name(NGX_CHRYS_FLV_AVC),
                              "h264")
                   == 0);

    for (codec = 0; codec < 16; codec++) {
        ngx_unit_check(ngx_chrys_flv_codec_name(codec) != NULL);
    }

    ngx_unit_check(ngx_strcmp(ngx_chrys_flv_codec_name(8), "unknown") == 0);
    ngx_unit_check(ngx_strcmp(ngx_chrys_flv_codec_name(0x17), "h264") == 0);
}


static void
test_flv_info_frame(void)
{
    u_char                 tag[] = { 0x57, 0x01, 0x00, 0x00, 0x00, 0x00 };
    u_char                 two[] = { 0x57, 0x00 };
    u_char                 one[] = { 0x57 };
    ngx_chrys_flv_video_t  v;

    /*
     * a video info/command frame has no packet type or composition time,
     * even for AVC: the module drops it on frame_type
     */

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, tag, sizeof(tag))
                   == NGX_OK);
    ngx_unit_check(v.frame_type == NGX_CHRYS_FLV_INFO);
    ngx_unit_check(v.codec == NGX_CHRYS_FLV_AVC);
    ngx_unit_check(v.packet_type == 0);
    ngx_unit_check(v.cts == 0);
    ngx_unit_check(v.data == tag + 1);
    ngx_unit_check(v.len == sizeof(tag) - 1);

    /* the 2-byte frame that encoders send is not too short for AVC */

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, two, sizeof(two))
                   == NGX_OK);
    ngx_unit_check(v.frame_type == NGX_CHRYS_FLV_INFO);
    ngx_unit_check(v.codec == NGX_CHRYS_FLV_AVC);
    ngx_unit_check(v.packet_type == 0);
    ngx_unit_check(v.cts == 0);
    ngx_unit_check(v.data == two + 1);
    ngx_unit_check(v.len == 1);

    /* nor is the header byte alone */

    ngx_unit_check(ngx_chrys_flv_video_parse(&v, one, sizeof(one))
                   == NGX_OK);
    ngx_unit_check(v.frame_type == NGX_CHRYS_FLV_INFO);
    ngx_unit_check(v.len == 0);
}


static void
test_avcc_real_record(void)
{
    ngx_chrys_avcc_t  avcc;

    ngx_unit_check(ngx_unit_avcc_parse(&avcc, ngx_unit_avcc,
                                       sizeof(ngx_unit_avcc))
                   == NGX_OK);
    ngx_unit_check(avcc.profile == 100);
    ngx_unit_check(avcc.compat == 0);
    ngx_unit_check(avcc.level == 13);
    ngx_unit_check(avcc.nal_length_size == 4);
    ngx_unit_check(avcc.nsps == 1);
    ngx_unit_check(avcc.npps == 1);
}


static void
test_avcc_every_truncation_fails(void)
{
    size_t            len;
    ngx_chrys_avcc_t  avcc;

    for (len = 0; len < NGX_UNIT_AVCC_SETS; len++) {
        ngx_unit_check(ngx_unit_avcc_parse(&avcc, ngx_unit_avcc, len)
                       == NGX_ERROR);
    }

    /* the High profile extension after the sets is not needed */

    for (len = NGX_UNIT_AVCC_SETS; len <= sizeof(ngx_unit_avcc); len++) {
        ngx_unit_check(ngx_unit_avcc_parse(&avcc, ngx_unit_avcc, len)
                       == NGX_OK);
    }
}


static void
test_avcc_bad_version(void)
{
    u_char            rec[sizeof(ngx_unit_avcc)];
    ngx_uint_t        i;
    ngx_chrys_avcc_t  avcc;
    static u_char     versions[] = { 0x00, 0x02, 0x11, 0xff };

    for (i = 0; i < sizeof(versions); i++) {
        ngx_memcpy(rec, ngx_unit_avcc, sizeof(rec));
        rec[0] = versions[i];

        ngx_unit_check(ngx_unit_avcc_parse(&avcc, rec, sizeof(rec))
                       == NGX_ERROR);
    }
}


static void
test_avcc_nal_length_sizes(void)
{
    u_char            rec[sizeof(ngx_unit_avcc)];
    ngx_chrys_avcc_t  avcc;

    ngx_memcpy(rec, ngx_unit_avcc, sizeof(rec));

    rec[4] = 0xfc;
    ngx_unit_check(ngx_unit_avcc_parse(&avcc, rec, sizeof(rec)) == NGX_OK);
    ngx_unit_check(avcc.nal_length_size == 1);

    rec[4] = 0xfd;
    ngx_unit_check(ngx_unit_avcc_parse(&avcc, rec, sizeof(rec)) == NGX_OK);
    ngx_unit_check(avcc.nal_length_size == 2);

    /* the reserved bits do not matter */
    rec[4] = 0x03;
    ngx_unit_check(ngx_unit_avcc_parse(&avcc, rec, sizeof(rec)) == NGX_OK);
    ngx_unit_check(avcc.nal_length_size == 4);

    /* H.264 has no 3-byte lengths */
    rec[4] = 0xfe;
    ngx_unit_check(ngx_unit_avcc_parse(&avcc, rec, sizeof(rec))
                   == NGX_ERROR);
}


static void
test_avcc_without_sps_or_pps(void)
{
    ngx_chrys_avcc_t  avcc;
    u_char            no_sps[] = { 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe0,
                                   0x01, 0x00, 0x06, NGX_UNIT_PPS };
    u_char            no_pps[] = { 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1,
                                   0x00, 0x19, NGX_UNIT_SPS, 0x00 };

    ngx_unit_check(ngx_unit_avcc_parse(&avcc, no_sps, sizeof(no_sps))
                   == NGX_ERROR);
    ngx_unit_check(ngx_unit_avcc_parse(&avcc, no_pps, sizeof(no_pps))
                   == NGX_ERROR);
}


static void
test_avcc_wrong_nal_types(void)
{
    ngx_chrys_avcc_t  avcc;
    u_char            pps_as_sps[] = { 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1,
                                       0x00, 0x06, NGX_UNIT_PPS,
                                       0x01, 0x00, 0x06, NGX_UNIT_PPS };
    u_char            sps_as_pps[] = { 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1,
                                       0x00, 0x19, NGX_UNIT_SPS,
                                       0x01, 0x00, 0x19, NGX_UNIT_SPS };
    u_char            rec[sizeof(ngx_unit_avcc)];

    ngx_unit_check(ngx_unit_avcc_parse(&avcc, pps_as_sps, sizeof(pps_as_sps))
                   == NGX_ERROR);
    ngx_unit_check(ngx_unit_avcc_parse(&avcc, sps_as_pps, sizeof(sps_as_pps))
                   == NGX_ERROR);

    /* an IDR slice (type 5) where the SPS belongs */
    ngx_memcpy(rec, ngx_unit_avcc, sizeof(rec));
    rec[8] = 0x65;
    ngx_unit_check(ngx_unit_avcc_parse(&avcc, rec, sizeof(rec))
                   == NGX_ERROR);

    /* nal_ref_idc is not part of the type */
    ngx_memcpy(rec, ngx_unit_avcc, sizeof(rec));
    rec[8] = 0x27;
    ngx_unit_check(ngx_unit_avcc_parse(&avcc, rec, sizeof(rec)) == NGX_OK);
}


static void
test_avcc_bad_set_lengths(void)
{
    u_char            rec[sizeof(ngx_unit_avcc)];
    ngx_chrys_avcc_t  avcc;
    u_char            empty_sps[] = { 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1,
                                      0x00, 0x00,
                                      0x01, 0x00, 0x06, NGX_UNIT_PPS };
    u_char            empty_pps[] = { 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1,
                                      0x00, 0x19, NGX_UNIT_SPS,
                                      0x01, 0x00, 0x00 };

    ngx_unit_check(ngx_unit_avcc_parse(&avcc, empty_sps, sizeof(empty_sps))
                   == NGX_ERROR);
    ngx_unit_check(ngx_unit_avcc_parse(&avcc, empty_pps, sizeof(empty_pps))
                   == NGX_ERROR);

    /* an SPS longer than the record */
    ngx_memcpy(rec, ngx_unit_avcc, sizeof(rec));
    rec[6] = 0x01;
    ngx_unit_check(ngx_unit_avcc_parse(&avcc, rec, sizeof(rec))
                   == NGX_ERROR);

    /* a PPS longer than the record */
    ngx_memcpy(rec, ngx_unit_avcc, sizeof(rec));
    rec[6 + 2 + NGX_UNIT_SPS_LEN + 1 + 1] = 0x40;
    ngx_unit_check(ngx_unit_avcc_parse(&avcc, rec, sizeof(rec))
                   == NGX_ERROR);

    /* more SPS than the record holds */
    ngx_memcpy(rec, ngx_unit_avcc, sizeof(rec));
    rec[5] = 0xe3;
    ngx_unit_check(ngx_unit_avcc_parse(&avcc, rec, sizeof(rec))
                   == NGX_ERROR);
}


static void
test_avcc_several_sets(void)
{
    ngx_chrys_avcc_t  avcc;
    u_char            rec[] = { 0x01, 0x42, 0xc0, 0x1e, 0xfd, 0xe2,
                                0x00, 0x19, NGX_UNIT_SPS,
                                0x00, 0x19, NGX_UNIT_SPS,
                                0x03,
                                0x00, 0x06, NGX_UNIT_PPS,
                                0x00, 0x06, NGX_UNIT_PPS,
                                0x00, 0x06, NGX_UNIT_PPS };

    ngx_unit_check(ngx_unit_avcc_parse(&avcc, rec, sizeof(rec)) == NGX_OK);
    ngx_unit_check(avcc.profile == 66);
    ngx_unit_check(avcc.compat == 0xc0);
    ngx_unit_check(avcc.level == 30);
    ngx_unit_check(avcc.nal_length_size == 2);
    ngx_unit_check(avcc.nsps == 2);
    ngx_unit_check(avcc.npps == 3);
}


static void
test_scan_idr_access_unit(void)
{
    u_char          au[64];
    size_t          len;
    ngx_uint_t      flags;
    ngx_unit_nal_t  nals[] = {
        { ngx_unit_sps, sizeof(ngx_unit_sps) },
        { ngx_unit_pps, sizeof(ngx_unit_pps) },
        { ngx_unit_idr, sizeof(ngx_unit_idr) }
    };

    len = ngx_unit_access_unit(au, 4, nals, 3);

    ngx_unit_check(ngx_unit_avc_scan(au, len, 4, &flags) == NGX_OK);
    ngx_unit_check(flags == (NGX_CHRYS_NAL_SPS|NGX_CHRYS_NAL_PPS
                             |NGX_CHRYS_NAL_SLICE|NGX_CHRYS_NAL_IDR));
}


static void
test_scan_inter_access_unit(void)
{
    u_char          au[64];
    size_t          len;
    ngx_uint_t      flags;
    ngx_unit_nal_t  ref[] = {
        { ngx_unit_slice, sizeof(ngx_unit_slice) }
    };
    ngx_unit_nal_t  nonref[] = {
        { ngx_unit_aud, sizeof(ngx_unit_aud) },
        { ngx_unit_nonref_slice, sizeof(ngx_unit_nonref_slice) }
    };

    len = ngx_unit_access_unit(au, 4, ref, 1);
    ngx_unit_check(ngx_unit_avc_scan(au, len, 4, &flags) == NGX_OK);
    ngx_unit_check(flags == NGX_CHRYS_NAL_SLICE);

    len = ngx_unit_access_unit(au, 4, nonref, 2);
    ngx_unit_check(ngx_unit_avc_scan(au, len, 4, &flags) == NGX_OK);
    ngx_unit_check(flags == NGX_CHRYS_NAL_SLICE);
}


static void
test_scan_multiple_nal_units(void)
{
    u_char          au[64];
    size_t          len;
    ngx_uint_t      flags;
    ngx_unit_nal_t  slices[] = {
        { ngx_unit_aud, sizeof(ngx_unit_aud) },
        { ngx_unit_sei, sizeof(ngx_unit_sei) },
        { ngx_unit_idr, sizeof(ngx_unit_idr) },
        { ngx_unit_idr, sizeof(ngx_unit_idr) }
    };
    ngx_unit_nal_t  no_slice[] = {
        { ngx_unit_aud, sizeof(ngx_unit_aud) },
        { ngx_unit_sei, sizeof(ngx_unit_sei) }
    };

    len = ngx_unit_access_unit(au, 4, slices, 4);
    ngx_unit_check(ngx_unit_avc_scan(au, len, 4, &flags) == NGX_OK);
    ngx_unit_check(flags == (NGX_CHRYS_NAL_SLICE|NGX_CHRYS_NAL_IDR));

    /* a unit with no picture in it is well formed, and says so */
    len = ngx_unit_access_unit(au, 4, no_slice, 2);
    ngx_unit_check(ngx_unit_avc_scan(au, len, 4, &flags) == NGX_OK);
    ngx_unit_check(flags == 0);
}


static void
test_scan_nal_length_sizes(void)
{
    u_char          au[300];
    u_char          big[255];
    size_t          len;
    ngx_uint_t      size, flags;
    ngx_unit_nal_t  nals[] = {
        { ngx_unit_sps, sizeof(ngx_unit_sps) },
        { ngx_unit_pps, sizeof(ngx_unit_pps) },
        { ngx_unit_idr, sizeof(ngx_unit_idr) }
    };
    ngx_unit_nal_t  one[] = {
        { big, sizeof(big) }
    };

    for (size = 1; size <= 4; size++) {
        if (size == 3) {
            continue;
        }

        len = ngx_unit_access_unit(au, size, nals, 3);
        ngx_unit_check(len == size * 3 + sizeof(ngx_unit_sps)
                              + sizeof(ngx_unit_pps) + sizeof(ngx_unit_idr));

        ngx_unit_check(ngx_unit_avc_scan(au, len, size, &flags) == NGX_OK);
        ngx_unit_check(flags == (NGX_CHRYS_NAL_SPS|NGX_CHRYS_NAL_PPS
                                 |NGX_CHRYS_NAL_SLICE|NGX_CHRYS_NAL_IDR));
    }

    /* the largest unit a one-byte length can frame */

    ngx_memset(big, 0xaa, sizeof(big));
    big[0] = 0x41;

    len = ngx_unit_access_unit(au, 1, one, 1);
    ngx_unit_check(au[0] == 0xff);
    ngx_unit_check(ngx_unit_avc_scan(au, len, 1, &flags) == NGX_OK);
    ngx_unit_check(flags == NGX_CHRYS_NAL_SLICE);

    /* 0 and 3 are not sizes H.264 uses; others are nonsense */

    len = ngx_unit_access_unit(au, 4, nals, 3);

    ngx_unit_check(ngx_unit_avc_scan(au, len, 0, &flags) == NGX_ERROR);
    ngx_unit_check(ngx_unit_avc_scan(au, len, 3, &flags) == NGX_ERROR);
    ngx_unit_check(ngx_unit_avc_scan(au, len, 5, &flags) == NGX_ERROR);
    ngx_unit_check(ngx_unit_avc_scan(au, len, 8, &flags) == NGX_ERROR);
}


static void
test_scan_large_nal_unit(void)
{
    u_char          *au, *idr;
    size_t           len, n;
    ngx_uint_t       flags;
    ngx_unit_nal_t   nals[1];

    /* an IDR slice of a big picture, more than 16 bits of length */

    n = 70000;
    idr = malloc(n);
    au = malloc(n + 4);

    ngx_unit_check(idr != NULL && au != NULL);

    if (idr == NULL || au == NULL) {
        free(idr);
        free(au);
        return;
    }

    ngx_memset(idr, 0x5a, n);
    idr[0] = 0x65;

    nals[0].data = idr;
    nals[0].len = n;

    len = ngx_unit_access_unit(au, 4, nals, 1);

    ngx_unit_check(len == n + 4);
    ngx_unit_check(au[1] == 0x01);
    ngx_unit_check(ngx_unit_avc_scan(au, len, 4, &flags) == NGX_OK);
    ngx_unit_check(flags == (NGX_CHRYS_NAL_SLICE|NGX_CHRYS_NAL_IDR));

    free(idr);
    free(au);
}


static void
test_scan_length_overflowing_buffer(void)
{
    u_char          au[64];
    size_t          len, n, boundary;
    ngx_uint_t      flags;
    ngx_unit_nal_t  nals[] = {
        { ngx_unit_sps, sizeof(ngx_unit_sps) },
        { ngx_unit_pps, sizeof(ngx_unit_pps) },
        { ngx_unit_idr, sizeof(ngx_unit_idr) }
    };

    len = ngx_unit_access_unit(au, 4, nals, 3);

    /* the last length one byte too long */

    au[len - sizeof(ngx_unit_idr) - 1]++;
    ngx_unit_check(ngx_unit_avc_scan(au, len, 4, &flags) == NGX_ERROR);

    /* the largest length there is */

    au[len - sizeof(ngx_unit_idr) - 4] = 0xff;
    au[len - sizeof(ngx_unit_idr) - 3] = 0xff;
    au[len - sizeof(ngx_unit_idr) - 2] = 0xff;
    au[len - sizeof(ngx_unit_idr) - 1] = 0xff;
    ngx_unit_check(ngx_unit_avc_scan(au, len, 4, &flags) == NGX_ERROR);

    /* cut anywhere but between two units, the framing no longer tiles */

    len = ngx_unit_access_unit(au, 4, nals, 3);

    for (n = 0; n <= len; n++) {
        boundary = (n == 0 || n == 4 + sizeof(ngx_unit_sps)
                    || n == 8 + sizeof(ngx_unit_sps) + sizeof(ngx_unit_pps)
                    || n == len);

        ngx_unit_check(ngx_unit_avc_scan(au, n, 4, &flags)
                       == (boundary ? NGX_OK : NGX_ERROR));
    }
}


static void
test_scan_zero_length_nal(void)
{
    ngx_uint_t  flags;
    u_char      au[] = { 0x00, 0x00, 0x00, 0x02, 0x09, 0xf0,
                         0x00, 0x00, 0x00, 0x00,
                         0x00, 0x00, 0x00, 0x02, 0x65, 0x88 };
    u_char      au1[] = { 0x00 };

    ngx_unit_check(ngx_unit_avc_scan(au, sizeof(au), 4, &flags)
                   == NGX_ERROR);
    ngx_unit_check(ngx_unit_avc_scan(au1, sizeof(au1), 1, &flags)
                   == NGX_ERROR);
}


static void
test_scan_forbidden_bit(void)
{
    ngx_uint_t  flags;
    u_char      first[] = { 0x00, 0x02, 0x85, 0x88 };
    u_char      later[] = { 0x00, 0x02, 0x09, 0xf0,
                            0x00, 0x02, 0xe5, 0x88 };

    ngx_unit_check(ngx_unit_avc_scan(first, sizeof(first), 2, &flags)
                   == NGX_ERROR);
    ngx_unit_check(ngx_unit_avc_scan(later, sizeof(later), 2, &flags)
                   == NGX_ERROR);
}


static void
test_scan_empty_access_unit(void)
{
    u_char      au[1];
    ngx_uint_t  flags;

    /* nothing to walk: well formed, no flags (see the module's caller) */

    flags = 0xff;
    ngx_unit_check(ngx_chrys_avc_scan(au, 0, 4, &flags) == NGX_OK);
    ngx_unit_check(flags == 0);
}


/* the parsers on an exact-size copy, so that a sanitizer sees overreads */

static ngx_int_t
ngx_unit_avcc_parse(ngx_chrys_avcc_t *avcc, u_char *p, size_t len)
{
    u_char     *copy;
    ngx_int_t   rc;

    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        return NGX_ABORT;
    }

    ngx_memcpy(copy, p, len);
    rc = ngx_chrys_avcc_parse(avcc, copy, len);
    free(copy);

    return rc;
}


static ngx_int_t
ngx_unit_avc_scan(u_char *p, size_t len, ngx_uint_t nal_length_size,
    ngx_uint_t *flags)
{
    u_char     *copy;
    ngx_int_t   rc;

    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        return NGX_ABORT;
    }

    ngx_memcpy(copy, p, len);
    rc = ngx_chrys_avc_scan(copy, len, nal_length_size, flags);
    free(copy);

    return rc;
}


/* writes NAL units with big-endian length prefixes, as in an FLV tag */

static size_t
ngx_unit_access_unit(u_char *buf, ngx_uint_t nal_length_size,
    ngx_unit_nal_t *nals, ngx_uint_t n)
{
    u_char      *p;
    ngx_uint_t   i, k;

    p = buf;

    for (i = 0; i < n; i++) {

        for (k = nal_length_size; k > 0; k--) {
            *p++ = (u_char) (nals[i].len >> (8 * (k - 1)));
        }

        p = ngx_cpymem(p, nals[i].data, nals[i].len);
    }

    return p - buf;
}


int
main(void)
{
    ngx_unit_run(test_flv_avc_keyframe_nalu);
    ngx_unit_run(test_flv_avc_inter_frame);
    ngx_unit_run(test_flv_avc_sequence_header);
    ngx_unit_run(test_flv_avc_end_of_sequence);
    ngx_unit_run(test_flv_positive_composition_time);
    ngx_unit_run(test_flv_negative_composition_time);
    ngx_unit_run(test_flv_too_short_is_an_error);
    ngx_unit_run(test_flv_sorenson_h263_is_not_avc);
    ngx_unit_run(test_flv_codec_names);
    ngx_unit_run(test_flv_info_frame);

    ngx_unit_run(test_avcc_real_record);
    ngx_unit_run(test_avcc_every_truncation_fails);
    ngx_unit_run(test_avcc_bad_version);
    ngx_unit_run(test_avcc_nal_length_sizes);
    ngx_unit_run(test_avcc_without_sps_or_pps);
    ngx_unit_run(test_avcc_wrong_nal_types);
    ngx_unit_run(test_avcc_bad_set_lengths);
    ngx_unit_run(test_avcc_several_sets);

    ngx_unit_run(test_scan_idr_access_unit);
    ngx_unit_run(test_scan_inter_access_unit);
    ngx_unit_run(test_scan_multiple_nal_units);
    ngx_unit_run(test_scan_nal_length_sizes);
    ngx_unit_run(test_scan_large_nal_unit);
    ngx_unit_run(test_scan_length_overflowing_buffer);
    ngx_unit_run(test_scan_zero_length_nal);
    ngx_unit_run(test_scan_forbidden_bit);
    ngx_unit_run(test_scan_empty_access_unit);

    return ngx_unit_summary("test_avc");
}
