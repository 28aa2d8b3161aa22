
/*
 * Copyright (C) chrys authors
 *
 * FLV video tags and H.264 (AVC) framing, as nginx-rtmp hands them over.
 * Pure functions over a contiguous copy of one RTMP video message.
 */


#ifndef _NGX_CHRYS_AVC_H_INCLUDED_
#define _NGX_CHRYS_AVC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_CHRYS_FLV_KEYFRAME      1
#define NGX_CHRYS_FLV_INFO          5

#define NGX_CHRYS_FLV_H263          2
#define NGX_CHRYS_FLV_AVC           7

#define NGX_CHRYS_FLV_AAC           10
#define NGX_CHRYS_AAC_HEADER        0
#define NGX_CHRYS_AAC_RAW           1

/* an AudioSpecificConfig: the biggest PCE with its comment is 315 bytes */
#define NGX_CHRYS_AAC_CONFIG_MAX    384

#define NGX_CHRYS_AVC_HEADER        0
#define NGX_CHRYS_AVC_NALU          1
#define NGX_CHRYS_AVC_EOS           2

#define NGX_CHRYS_NAL_SLICE         0x01
#define NGX_CHRYS_NAL_IDR           0x02
#define NGX_CHRYS_NAL_SPS           0x04
#define NGX_CHRYS_NAL_PPS           0x08


typedef struct {
    ngx_uint_t       frame_type;     /* NGX_CHRYS_FLV_KEYFRAME... */
    ngx_uint_t       codec;          /* NGX_CHRYS_FLV_AVC... */
    ngx_uint_t       packet_type;    /* NGX_CHRYS_AVC_HEADER... */
    int32_t          cts;            /* composition time offset, ms */
    u_char          *data;
    size_t           len;
} ngx_chrys_flv_video_t;


/* what a slice header needs of its sequence parameter set */

typedef struct {
    ngx_uint_t       valid;
    ngx_uint_t       log2_max_frame_num;
    ngx_uint_t       gaps_allowed;
    ngx_uint_t       separate_colour_plane;
} ngx_chrys_sps_t;


/* the first slice of an access unit */

typedef struct {
    ngx_uint_t       frame_num;
    ngx_uint_t       reference;      /* nal_ref_idc != 0 */
    ngx_uint_t       idr;
} ngx_chrys_slice_t;


typedef struct {
    ngx_uint_t       profile;
    ngx_uint_t       compat;
    ngx_uint_t       level;
    ngx_uint_t       nal_length_size;
    ngx_uint_t       nsps;
    ngx_uint_t       npps;
} ngx_chrys_avcc_t;


ngx_int_t ngx_chrys_flv_video_parse(ngx_chrys_flv_video_t *v, u_char *p,
    size_t len);
ngx_int_t ngx_chrys_avcc_parse(ngx_chrys_avcc_t *avcc, u_char *p,
    size_t len);
ngx_int_t ngx_chrys_avc_scan(u_char *p, size_t len,
    ngx_uint_t nal_length_size, ngx_uint_t *flags);
const char *ngx_chrys_flv_codec_name(ngx_uint_t codec);
const char *ngx_chrys_flv_sound_name(ngx_uint_t format);
ngx_int_t ngx_chrys_aac_config_parse(u_char *p, size_t len, ngx_uint_t *rate,
    ngx_uint_t *channels);
ngx_int_t ngx_chrys_sps_parse(ngx_chrys_sps_t *sps, u_char *nal, size_t len);
ngx_int_t ngx_chrys_avcc_sps(ngx_chrys_sps_t *sps, u_char *p, size_t len);
ngx_int_t ngx_chrys_avc_slice(u_char *p, size_t len,
    ngx_uint_t nal_length_size, ngx_chrys_sps_t *sps,
    ngx_chrys_slice_t *slice);


#endif /* _NGX_CHRYS_AVC_H_INCLUDED_ */
