
/*
 * Copyright (C) chrys authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_avc.h"


/*
 * A reader of an RBSP: bits of a NAL unit, emulation prevention skipped,
 * or of plain bytes ("raw", an AudioSpecificConfig).
 */

typedef struct {
    u_char          *p;
    u_char          *last;
    ngx_uint_t       bit;        /* of *p, 7 first */
    ngx_uint_t       zeros;      /* zero bytes just read */
    ngx_uint_t       raw;        /* no emulation prevention */
    ngx_uint_t       error;
} ngx_chrys_bits_t;


static ngx_uint_t ngx_chrys_aac_rate(ngx_chrys_bits_t *b);
static ngx_int_t ngx_chrys_aac_pce(ngx_chrys_bits_t *b,
    ngx_uint_t *channels);
static void ngx_chrys_bits_init(ngx_chrys_bits_t *b, u_char *p, size_t len);
static ngx_uint_t ngx_chrys_bits_read(ngx_chrys_bits_t *b, ngx_uint_t n);
static ngx_uint_t ngx_chrys_bits_ue(ngx_chrys_bits_t *b);
static ngx_int_t ngx_chrys_bits_se(ngx_chrys_bits_t *b);
static void ngx_chrys_bits_scaling_list(ngx_chrys_bits_t *b, ngx_uint_t size);


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


/* an FLV audio tag's SoundFormat */

const char *
ngx_chrys_flv_sound_name(ngx_uint_t format)
{
    static const char  *names[] = {
        "pcm", "adpcm", "mp3", "pcm_le", "nellymoser16", "nellymoser8",
        "nellymoser", "g711a", "g711u", "unknown", "aac", "speex",
        "unknown", "unknown", "mp3_8k", "device"
    };

    return names[format & 0x0f];
}


/*
 * The sample rate and channels of an AAC AudioSpecificConfig (ISO/IEC
 * 14496-3, 1.6.2.1): 5 bits of object type (not an escaped one), a rate,
 * 4 bits of channel configuration.  Configuration 0 leaves the channels
 * to the program_config_element (PCE) at the end of the GASpecificConfig
 * (4.4.1.1) that follows, after the core's object type for explicit SBR
 * and PS.
 */

ngx_int_t
ngx_chrys_aac_config_parse(u_char *p, size_t len, ngx_uint_t *rate,
    ngx_uint_t *channels)
{
    ngx_uint_t        type, config;
    ngx_chrys_bits_t  b;

    /* channels of each configuration: 7 is 7.1, 11 to 13 came later */

    static ngx_uint_t  configs[] = {
        0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 24, 0, 0
    };

    ngx_chrys_bits_init(&b, p, len);
    b.raw = 1;

    type = ngx_chrys_bits_read(&b, 5);
    *rate = ngx_chrys_aac_rate(&b);
    config = ngx_chrys_bits_read(&b, 4);

    if (b.error || type == 0 || type == 31 || *rate == 0) {
        return NGX_ERROR;
    }

    if (config) {
        *channels = configs[config];
        return *channels ? NGX_OK : NGX_ERROR;
    }

    if (type == 5 || type == 29) {
        (void) ngx_chrys_aac_rate(&b);
        type = ngx_chrys_bits_read(&b, 5);
    }

    /* the object types whose GASpecificConfig may hold a PCE */

    if (type > 23 || !((1 << type) & 0xfa00de)) {
        return NGX_ERROR;
    }

    (void) ngx_chrys_bits_read(&b, 1);      /* frameLengthFlag */

    if (ngx_chrys_bits_read(&b, 1)) {       /* dependsOnCoreCoder */
        (void) ngx_chrys_bits_read(&b, 14);
    }

    (void) ngx_chrys_bits_read(&b, 1);      /* extensionFlag */

    return ngx_chrys_aac_pce(&b, channels);
}


/* samplingFrequencyIndex, or 24 bits of rate after index 15; 0 if bad */

static ngx_uint_t
ngx_chrys_aac_rate(ngx_chrys_bits_t *b)
{
    ngx_uint_t  index;

    static ngx_uint_t  rates[] = {
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000,
        12000, 11025, 8000, 7350, 0, 0
    };

    index = ngx_chrys_bits_read(b, 4);

    if (index == 15) {
        return ngx_chrys_bits_read(b, 24);
    }

    return rates[index];
}


/*
 * program_config_element() (ISO/IEC 14496-3, 4.4.1.1): the channels are
 * its front, side and back elements, two for a channel pair, and its LFE
 * elements.  It must be whole, up to its comment.
 */

static ngx_int_t
ngx_chrys_aac_pce(ngx_chrys_bits_t *b, ngx_uint_t *channels)
{
    ngx_uint_t  elements, lfe, assoc, cc, i, n;

    /* element_instance_tag, object_type, sampling_frequency_index */
    (void) ngx_chrys_bits_read(b, 10);

    elements = ngx_chrys_bits_read(b, 4);   /* front */
    elements += ngx_chrys_bits_read(b, 4);  /* side */
    elements += ngx_chrys_bits_read(b, 4);  /* back */
    lfe = ngx_chrys_bits_read(b, 2);
    assoc = ngx_chrys_bits_read(b, 3);
    cc = ngx_chrys_bits_read(b, 4);

    if (ngx_chrys_bits_read(b, 1)) {        /* mono_mixdown_present */
        (void) ngx_chrys_bits_read(b, 4);
    }

    if (ngx_chrys_bits_read(b, 1)) {        /* stereo_mixdown_present */
        (void) ngx_chrys_bits_read(b, 4);
    }

    if (ngx_chrys_bits_read(b, 1)) {        /* matrix_mixdown_idx_present */
        (void) ngx_chrys_bits_read(b, 3);
    }

    n = lfe;

    for (i = 0; i < elements; i++) {
        n += ngx_chrys_bits_read(b, 1) ? 2 : 1;     /* element_is_cpe */
        (void) ngx_chrys_bits_read(b, 4);           /* tag_select */
    }

    /* the LFE's and data elements' tags, the coupling elements' */

    for (i = 0; i < lfe + assoc; i++) {
        (void) ngx_chrys_bits_read(b, 4);
    }

    for (i = 0; i < cc; i++) {
        (void) ngx_chrys_bits_read(b, 5);
    }

    /* byte_alignment(), from the start of the AudioSpecificConfig */

    if (b->bit != 7 && b->p < b->last) {
        b->p++;
        b->bit = 7;
    }

    i = ngx_chrys_bits_read(b, 8);          /* comment_field_bytes */

    if (b->error || (size_t) (b->last - b->p) < i || n == 0) {
        return NGX_ERROR;
    }

    *channels = n;

    return NGX_OK;
}


/*
 * Sequence parameter set (ISO/IEC 14496-10, 7.3.2.1.1), up to what slice
 * headers need: the size of frame_num, whether gaps in it are allowed, and
 * whether colour planes are coded apart.  "nal" starts at its header.
 */

ngx_int_t
ngx_chrys_sps_parse(ngx_chrys_sps_t *sps, u_char *nal, size_t len)
{
    ngx_uint_t        profile, i, n, log2;
    ngx_chrys_bits_t  b;

    ngx_memzero(sps, sizeof(ngx_chrys_sps_t));

    if (len < 4 || (nal[0] & 0x1f) != 7) {
        return NGX_ERROR;
    }

    ngx_chrys_bits_init(&b, nal + 1, len - 1);

    profile = ngx_chrys_bits_read(&b, 8);
    (void) ngx_chrys_bits_read(&b, 16);     /* constraints, level */
    (void) ngx_chrys_bits_ue(&b);           /* seq_parameter_set_id */

    if (profile == 100 || profile == 110 || profile == 122
        || profile == 244 || profile == 44 || profile == 83
        || profile == 86 || profile == 118 || profile == 128
        || profile == 138 || profile == 139 || profile == 134
        || profile == 135)
    {
        n = ngx_chrys_bits_ue(&b);          /* chroma_format_idc */

        if (n == 3) {
            sps->separate_colour_plane = ngx_chrys_bits_read(&b, 1);
        }

        (void) ngx_chrys_bits_ue(&b);       /* bit_depth_luma_minus8 */
        (void) ngx_chrys_bits_ue(&b);       /* bit_depth_chroma_minus8 */
        (void) ngx_chrys_bits_read(&b, 1);  /* qpprime_y_zero... */

        if (ngx_chrys_bits_read(&b, 1)) {   /* seq_scaling_matrix_present */
            for (i = 0; i < ((n != 3) ? 8 : 12) && !b.error; i++) {
                if (ngx_chrys_bits_read(&b, 1)) {
                    ngx_chrys_bits_scaling_list(&b, (i < 6) ? 16 : 64);
                }
            }
        }
    }

    log2 = ngx_chrys_bits_ue(&b) + 4;       /* log2_max_frame_num */

    n = ngx_chrys_bits_ue(&b);              /* pic_order_cnt_type */

    if (n == 0) {
        (void) ngx_chrys_bits_ue(&b);

    } else if (n == 1) {
        (void) ngx_chrys_bits_read(&b, 1);
        (void) ngx_chrys_bits_se(&b);
        (void) ngx_chrys_bits_se(&b);

        n = ngx_chrys_bits_ue(&b);

        for (i = 0; i < n && i < 256 && !b.error; i++) {
            (void) ngx_chrys_bits_se(&b);
        }
    }

    (void) ngx_chrys_bits_ue(&b);           /* max_num_ref_frames */
    sps->gaps_allowed = ngx_chrys_bits_read(&b, 1);

    if (b.error || log2 > 16) {
        return NGX_ERROR;
    }

    sps->log2_max_frame_num = log2;
    sps->valid = 1;

    return NGX_OK;
}


/* the first SPS of an AVCDecoderConfigurationRecord */

ngx_int_t
ngx_chrys_avcc_sps(ngx_chrys_sps_t *sps, u_char *p, size_t len)
{
    size_t  n;

    ngx_memzero(sps, sizeof(ngx_chrys_sps_t));

    if (len < 8 || (p[5] & 0x1f) == 0) {
        return NGX_ERROR;
    }

    n = ((size_t) p[6] << 8) | p[7];

    if (n > len - 8) {
        return NGX_ERROR;
    }

    return ngx_chrys_sps_parse(sps, p + 8, n);
}


/*
 * Walks an access unit: an SPS in it updates "sps"; the header of its
 * first slice gives frame_num, which shows lost reference pictures.
 * NGX_DECLINED: no slice, or no SPS known yet.
 */

ngx_int_t
ngx_chrys_avc_slice(u_char *p, size_t len, ngx_uint_t nal_length_size,
    ngx_chrys_sps_t *sps, ngx_chrys_slice_t *slice)
{
    u_char            *last;
    size_t             n;
    ngx_uint_t         i, type;
    ngx_chrys_sps_t    next;
    ngx_chrys_bits_t   b;

    last = p + len;

    while ((size_t) (last - p) > nal_length_size) {

        n = 0;

        for (i = 0; i < nal_length_size; i++) {
            n = (n << 8) | *p++;
        }

        if (n == 0 || (size_t) (last - p) < n) {
            return NGX_ERROR;
        }

        type = p[0] & 0x1f;

        if (type == 7) {
            if (ngx_chrys_sps_parse(&next, p, n) == NGX_OK) {
                *sps = next;
            }

        } else if ((type == 1 || type == 5) && sps->valid) {

            ngx_chrys_bits_init(&b, p + 1, n - 1);

            (void) ngx_chrys_bits_ue(&b);   /* first_mb_in_slice */
            (void) ngx_chrys_bits_ue(&b);   /* slice_type */
            (void) ngx_chrys_bits_ue(&b);   /* pic_parameter_set_id */

            if (sps->separate_colour_plane) {
                (void) ngx_chrys_bits_read(&b, 2);
            }

            slice->frame_num = ngx_chrys_bits_read(&b,
                                                   sps->log2_max_frame_num);
            slice->reference = (p[0] & 0x60) ? 1 : 0;
            slice->idr = (type == 5);

            return b.error ? NGX_ERROR : NGX_OK;
        }

        p += n;
    }

    return NGX_DECLINED;
}


static void
ngx_chrys_bits_init(ngx_chrys_bits_t *b, u_char *p, size_t len)
{
    b->p = p;
    b->last = p + len;
    b->bit = 7;
    b->zeros = 0;
    b->raw = 0;
    b->error = 0;
}


static ngx_uint_t
ngx_chrys_bits_read(ngx_chrys_bits_t *b, ngx_uint_t n)
{
    ngx_uint_t  v;

    v = 0;

    while (n--) {

        if (b->p >= b->last) {
            b->error = 1;
            return 0;
        }

        if (!b->raw && b->bit == 7 && b->zeros >= 2 && *b->p == 3) {
            /* emulation_prevention_three_byte */
            b->p++;
            b->zeros = 0;

            if (b->p >= b->last) {
                b->error = 1;
                return 0;
            }
        }

        v = (v << 1) | ((*b->p >> b->bit) & 1);

        if (b->bit == 0) {
            b->zeros = (*b->p == 0) ? b->zeros + 1 : 0;
            b->bit = 7;
            b->p++;

        } else {
            b->bit--;
        }
    }

    return v;
}


/* Exp-Golomb, unsigned: at most 31 leading zeros */

static ngx_uint_t
ngx_chrys_bits_ue(ngx_chrys_bits_t *b)
{
    ngx_uint_t  zeros;

    zeros = 0;

    while (ngx_chrys_bits_read(b, 1) == 0) {
        if (b->error || ++zeros > 31) {
            b->error = 1;
            return 0;
        }
    }

    return ((ngx_uint_t) 1 << zeros) - 1 + ngx_chrys_bits_read(b, zeros);
}


static ngx_int_t
ngx_chrys_bits_se(ngx_chrys_bits_t *b)
{
    ngx_uint_t  v;

    v = ngx_chrys_bits_ue(b);

    return (v & 1) ? (ngx_int_t) ((v + 1) / 2) : -(ngx_int_t) (v / 2);
}


static void
ngx_chrys_bits_scaling_list(ngx_chrys_bits_t *b, ngx_uint_t size)
{
    ngx_int_t   last, next;
    ngx_uint_t  i;

    last = 8;
    next = 8;

    for (i = 0; i < size && !b->error; i++) {
        if (next != 0) {
            next = (last + ngx_chrys_bits_se(b) + 256) % 256;
        }

        last = (next == 0) ? last : next;
    }
}
