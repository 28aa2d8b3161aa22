
/*
 * Copyright (C) chrys authors
 *
 * The RTMP side of chrys: directives, the shared zone, and the hooks into
 * nginx-rtmp-module that feed published H.264 video to the stream's ring
 * and to its decoder, AAC audio and data messages to the ring.  Named
 * ngx_rtmp_chrys_*, as nginx-rtmp's own parts.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_rtmp.h>
#include <ngx_rtmp_cmd_module.h>
#include <ngx_rtmp_codec_module.h>
#include <ngx_rtmp_live_module.h>
#include <ngx_rtmp_relay_module.h>
#include "ngx_chrys_zone.h"
#include "ngx_chrys_decoder.h"
#include "ngx_chrys_avc.h"
#include "ngx_chrys_query.h"
#include "ngx_chrys_amf.h"

#include <libavutil/log.h>
#if (NGX_LINUX)
#include <malloc.h>
#endif


#define NGX_CHRYS_BUFFER_WINDOW   10000
#define NGX_CHRYS_BUFFER_SIZE     (32 * 1024 * 1024)
#define NGX_CHRYS_EVENT_BUDGET    (64 * 1024 * 1024)
#define NGX_CHRYS_STREAM_IDLE     (10 * 60 * 1000)
#define NGX_CHRYS_MAX_PICTURE     4096
/* chrys_decode on_demand: not asked for this long, a stream sleeps */
#define NGX_CHRYS_DECODE_IDLE     10000
#define NGX_CHRYS_DECODE_IDLE_MAX (24 * 60 * 60 * 1000)
#define NGX_CHRYS_MALLOC_ARENAS   2
#define NGX_CHRYS_SWEEP           1000
/* the most of a data message read */
#define NGX_CHRYS_DATA_IN         8192


typedef struct {
    ngx_str_t                 zone_name;
    size_t                    zone_size;
    size_t                    event_budget;
    ngx_shm_zone_t           *shm_zone;
} ngx_rtmp_chrys_main_conf_t;


typedef struct {
    ngx_flag_t                enable;
    ngx_msec_t                buffer_window;  /* 0: off */
    size_t                    buffer_size;
    ngx_msec_t                idle;           /* 0: off */
    ngx_uint_t                max_width;
    ngx_uint_t                max_height;
    ngx_msec_t                decode_idle;    /* 0: always */
    ngx_flag_t                relay_drop;
    ngx_thread_pool_t        *thread_pool;
} ngx_rtmp_chrys_app_conf_t;


/* per RTMP session, while it publishes */

typedef struct {
    ngx_chrys_zone_t         *zone;
    ngx_chrys_stream_t       *stream;
    ngx_uint_t                claim;          /* of the stream, ours */
    ngx_chrys_decoder_t      *decoder;
    ngx_uint_t                nal_length_size;
    ngx_chrys_sps_t           sps;
    ngx_uint_t                frame_num;      /* of the last reference */
    ngx_uint_t                codec;          /* FLV codec id seen */
    ngx_uint_t                sound;          /* FLV sound format + 1 */
    unsigned                  started:1;
    unsigned                  refused:1;
    unsigned                  too_big:1;      /* over chrys_max_picture */
    unsigned                  configured:1;
    unsigned                  unringed:1;     /* no room for the header */
    unsigned                  frame_num_known:1;
    unsigned                  codec_logged:1;
    unsigned                  data_logged:1;
} ngx_rtmp_chrys_ctx_t;


static ngx_int_t ngx_rtmp_chrys_postconfiguration(ngx_conf_t *cf);
static void *ngx_rtmp_chrys_create_main_conf(ngx_conf_t *cf);
static char *ngx_rtmp_chrys_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_rtmp_chrys_create_app_conf(ngx_conf_t *cf);
static char *ngx_rtmp_chrys_merge_app_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_rtmp_chrys_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_rtmp_chrys_thread_pool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_rtmp_chrys_buffer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_rtmp_chrys_stream_idle(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_rtmp_chrys_max_picture(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_rtmp_chrys_decode(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_rtmp_chrys_sweep(ngx_event_t *ev);
static void ngx_rtmp_chrys_attach(ngx_chrys_zone_t *zone, ngx_log_t *log);
static void ngx_rtmp_chrys_detach(ngx_chrys_zone_t *zone, ngx_log_t *log);
static void ngx_rtmp_chrys_sweep_zone(ngx_chrys_zone_t *zone,
    ngx_log_t *log);
static void ngx_rtmp_chrys_each_zone(ngx_cycle_t *cycle,
    void (*handler)(ngx_chrys_zone_t *zone, ngx_log_t *log));
static ngx_int_t ngx_rtmp_chrys_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_rtmp_chrys_init_process(ngx_cycle_t *cycle);
static void ngx_rtmp_chrys_exit_process(ngx_cycle_t *cycle);

static ngx_int_t ngx_rtmp_chrys_publish(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v);
static ngx_int_t ngx_rtmp_chrys_close_stream(ngx_rtmp_session_t *s,
    ngx_rtmp_close_stream_t *v);
static ngx_int_t ngx_rtmp_chrys_delete_stream(ngx_rtmp_session_t *s,
    ngx_rtmp_delete_stream_t *v);
static ngx_int_t ngx_rtmp_chrys_video(ngx_rtmp_session_t *s,
    ngx_rtmp_header_t *h, ngx_chain_t *in);
static ngx_int_t ngx_rtmp_chrys_audio(ngx_rtmp_session_t *s,
    ngx_rtmp_header_t *h, ngx_chain_t *in);
static void ngx_rtmp_chrys_sound(ngx_rtmp_session_t *s,
    ngx_rtmp_chrys_ctx_t *ctx, ngx_uint_t format);
static void ngx_rtmp_chrys_aac_header(ngx_rtmp_session_t *s,
    ngx_rtmp_chrys_ctx_t *ctx, ngx_chain_t *in);
static void ngx_rtmp_chrys_aac_frame(ngx_rtmp_session_t *s,
    ngx_rtmp_chrys_ctx_t *ctx, ngx_rtmp_header_t *h, ngx_chain_t *in);
static ngx_int_t ngx_rtmp_chrys_text_data(ngx_rtmp_session_t *s,
    ngx_rtmp_header_t *h, ngx_chain_t *in);
static ngx_int_t ngx_rtmp_chrys_cue_point(ngx_rtmp_session_t *s,
    ngx_rtmp_header_t *h, ngx_chain_t *in);
static ngx_int_t ngx_rtmp_chrys_named_data(ngx_rtmp_session_t *s,
    ngx_rtmp_header_t *h, ngx_chain_t *in, char *name);
static ngx_int_t ngx_rtmp_chrys_set_data_frame(ngx_rtmp_session_t *s,
    ngx_rtmp_header_t *h, ngx_chain_t *in);
static void ngx_rtmp_chrys_data(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_str_t *type, u_char *p, u_char *last);
static ngx_rtmp_chrys_ctx_t *ngx_rtmp_chrys_start(ngx_rtmp_session_t *s);
static void ngx_rtmp_chrys_refuse_name(ngx_rtmp_session_t *s, ngx_str_t *app,
    ngx_str_t *name);
static void ngx_rtmp_chrys_stop(ngx_rtmp_session_t *s);
static void ngx_rtmp_chrys_sequence_header(ngx_rtmp_session_t *s,
    ngx_rtmp_chrys_ctx_t *ctx, ngx_rtmp_header_t *h, ngx_chain_t *in);
static void ngx_rtmp_chrys_picture(ngx_rtmp_session_t *s,
    ngx_rtmp_chrys_ctx_t *ctx, ngx_rtmp_header_t *h, ngx_chain_t *in,
    ngx_chrys_flv_video_t *v);
static ngx_int_t ngx_rtmp_chrys_frame_num(ngx_rtmp_chrys_ctx_t *ctx,
    ngx_chrys_au_t *au);
static void ngx_rtmp_chrys_configure_ring(ngx_rtmp_session_t *s,
    ngx_rtmp_chrys_ctx_t *ctx, u_char *data, size_t len);
static void ngx_rtmp_chrys_reconfigure_ring(ngx_rtmp_session_t *s,
    ngx_rtmp_chrys_ctx_t *ctx, ngx_chain_t *header);
static ngx_uint_t ngx_rtmp_chrys_too_big(ngx_rtmp_session_t *s,
    ngx_rtmp_chrys_ctx_t *ctx, ngx_uint_t width, ngx_uint_t height);
static void ngx_rtmp_chrys_lost(ngx_rtmp_chrys_ctx_t *ctx, const char *why);
static size_t ngx_rtmp_chrys_chain_copy(ngx_chain_t *in, size_t skip,
    u_char *dst, size_t len);


static ngx_rtmp_publish_pt       next_publish;
static ngx_event_t               ngx_rtmp_chrys_sweeper;
static ngx_rtmp_close_stream_pt  next_close_stream;
static ngx_rtmp_delete_stream_pt next_delete_stream;


static ngx_command_t  ngx_rtmp_chrys_commands[] = {

    { ngx_string("chrys_zone"),
      NGX_RTMP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_rtmp_chrys_zone,
      NGX_RTMP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chrys"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_chrys_app_conf_t, enable),
      NULL },

    { ngx_string("chrys_thread_pool"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_rtmp_chrys_thread_pool,
      NGX_RTMP_APP_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chrys_buffer"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF
      |NGX_CONF_TAKE12,
      ngx_rtmp_chrys_buffer,
      NGX_RTMP_APP_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chrys_event_budget"),
      NGX_RTMP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_RTMP_MAIN_CONF_OFFSET,
      offsetof(ngx_rtmp_chrys_main_conf_t, event_budget),
      NULL },

    { ngx_string("chrys_stream_idle"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_rtmp_chrys_stream_idle,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_chrys_app_conf_t, idle),
      NULL },

    { ngx_string("chrys_max_picture"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_rtmp_chrys_max_picture,
      NGX_RTMP_APP_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chrys_decode"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF
      |NGX_CONF_TAKE12,
      ngx_rtmp_chrys_decode,
      NGX_RTMP_APP_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chrys_relay_drop"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_chrys_app_conf_t, relay_drop),
      NULL },

      ngx_null_command
};


static ngx_rtmp_module_t  ngx_rtmp_chrys_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_rtmp_chrys_postconfiguration,           /* postconfiguration */

    ngx_rtmp_chrys_create_main_conf,            /* create main configuration */
    ngx_rtmp_chrys_init_main_conf,              /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_rtmp_chrys_create_app_conf,             /* create app configuration */
    ngx_rtmp_chrys_merge_app_conf               /* merge app configuration */
};


ngx_module_t  ngx_chrys_module = {
    NGX_MODULE_V1,
    &ngx_rtmp_chrys_module_ctx,                 /* module context */
    ngx_rtmp_chrys_commands,                    /* module directives */
    NGX_RTMP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_rtmp_chrys_init_module,                 /* init module */
    ngx_rtmp_chrys_init_process,                /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_rtmp_chrys_exit_process,                /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_rtmp_chrys_create_main_conf(ngx_conf_t *cf)
{
    ngx_rtmp_chrys_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_rtmp_chrys_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     cmcf->zone_name = { 0, NULL };
     *     cmcf->shm_zone = NULL;
     */

    cmcf->zone_size = NGX_CONF_UNSET_SIZE;
    cmcf->event_budget = NGX_CONF_UNSET_SIZE;

    return cmcf;
}


static char *
ngx_rtmp_chrys_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_rtmp_chrys_main_conf_t  *cmcf = conf;

    ngx_chrys_zone_t  *zone;

    ngx_conf_init_size_value(cmcf->event_budget, NGX_CHRYS_EVENT_BUDGET);

    if (cmcf->shm_zone == NULL) {
        ngx_str_set(&cmcf->zone_name, NGX_CHRYS_DEFAULT_ZONE);
        cmcf->zone_size = NGX_CHRYS_DEFAULT_SIZE;

        cmcf->shm_zone = ngx_chrys_zone_add(cf, &cmcf->zone_name,
                                            cmcf->zone_size);
        if (cmcf->shm_zone == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    zone = cmcf->shm_zone->data;
    zone->event_budget = cmcf->event_budget;

    return NGX_CONF_OK;
}


static char *
ngx_rtmp_chrys_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_rtmp_chrys_main_conf_t  *cmcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (cmcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chrys_zone\" size \"%V\" is invalid or too "
                           "small, e.g. \"chrys_zone chrys 256m;\"",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    cmcf->zone_name = value[1];
    cmcf->zone_size = size;

    cmcf->shm_zone = ngx_chrys_zone_add(cf, &cmcf->zone_name, size);
    if (cmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_rtmp_chrys_create_app_conf(ngx_conf_t *cf)
{
    ngx_rtmp_chrys_app_conf_t  *cacf;

    cacf = ngx_pcalloc(cf->pool, sizeof(ngx_rtmp_chrys_app_conf_t));
    if (cacf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     cacf->thread_pool = NULL;
     */

    cacf->enable = NGX_CONF_UNSET;
    cacf->buffer_window = NGX_CONF_UNSET_MSEC;
    cacf->buffer_size = NGX_CONF_UNSET_SIZE;
    cacf->idle = NGX_CONF_UNSET_MSEC;
    cacf->max_width = NGX_CONF_UNSET_UINT;
    cacf->max_height = NGX_CONF_UNSET_UINT;
    cacf->decode_idle = NGX_CONF_UNSET_MSEC;
    cacf->relay_drop = NGX_CONF_UNSET;

    return cacf;
}


static char *
ngx_rtmp_chrys_merge_app_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_rtmp_chrys_app_conf_t  *prev = parent;
    ngx_rtmp_chrys_app_conf_t  *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_msec_value(conf->buffer_window, prev->buffer_window,
                              NGX_CHRYS_BUFFER_WINDOW);
    ngx_conf_merge_size_value(conf->buffer_size, prev->buffer_size,
                              NGX_CHRYS_BUFFER_SIZE);
    ngx_conf_merge_msec_value(conf->idle, prev->idle, NGX_CHRYS_STREAM_IDLE);
    ngx_conf_merge_uint_value(conf->max_width, prev->max_width,
                              NGX_CHRYS_MAX_PICTURE);
    ngx_conf_merge_uint_value(conf->max_height, prev->max_height,
                              NGX_CHRYS_MAX_PICTURE);
    ngx_conf_merge_msec_value(conf->decode_idle, prev->decode_idle, 0);
    ngx_conf_merge_value(conf->relay_drop, prev->relay_drop, 0);

    if (conf->thread_pool == NULL) {
        conf->thread_pool = prev->thread_pool;
    }

    if (conf->enable && conf->thread_pool == NULL) {
        conf->thread_pool = ngx_thread_pool_add(cf, NULL);
        if (conf->thread_pool == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_rtmp_chrys_thread_pool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_rtmp_chrys_app_conf_t  *cacf = conf;

    ngx_str_t  *value;

    if (cacf->thread_pool) {
        return "is duplicate";
    }

    value = cf->args->elts;

    cacf->thread_pool = ngx_thread_pool_add(cf, &value[1]);
    if (cacf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* chrys_buffer off | TIME [SIZE] */

static char *
ngx_rtmp_chrys_buffer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_rtmp_chrys_app_conf_t  *cacf = conf;

    ssize_t     size;
    ngx_int_t   window;
    ngx_str_t  *value;

    if (cacf->buffer_window != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no size when \"off\"";
        }

        cacf->buffer_window = 0;
        cacf->buffer_size = 0;
        return NGX_CONF_OK;
    }

    window = ngx_parse_time(&value[1], 0);

    if (window == NGX_ERROR || window == 0 || window > 3600 * 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chrys_buffer\" time \"%V\" is invalid, "
                           "e.g. \"chrys_buffer 30s 64m;\" (1 ms to 1 h)",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    cacf->buffer_window = window;

    if (cf->args->nelts == 3) {
        size = ngx_parse_size(&value[2]);

        if (size == NGX_ERROR || size < 1024 * 1024) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"chrys_buffer\" size \"%V\" is invalid, "
                               "at least 1m", &value[2]);
            return NGX_CONF_ERROR;
        }

        cacf->buffer_size = size;
    }

    return NGX_CONF_OK;
}


/* chrys_stream_idle TIME | off */

static char *
ngx_rtmp_chrys_stream_idle(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_rtmp_chrys_app_conf_t  *cacf = conf;

    ngx_int_t   idle;
    ngx_str_t  *value;

    if (cacf->idle != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        cacf->idle = 0;
        return NGX_CONF_OK;
    }

    idle = ngx_parse_time(&value[1], 0);

    if (idle == NGX_ERROR || idle == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chrys_stream_idle\" time \"%V\" is invalid, "
                           "e.g. \"chrys_stream_idle 10m;\" or \"off\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    cacf->idle = idle;

    return NGX_CONF_OK;
}


/* chrys_decode always | on_demand [IDLE] */

static char *
ngx_rtmp_chrys_decode(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_rtmp_chrys_app_conf_t  *cacf = conf;

    ngx_int_t   idle;
    ngx_str_t  *value;

    if (cacf->decode_idle != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "always") == 0 && cf->args->nelts == 2) {
        cacf->decode_idle = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "on_demand") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chrys_decode\" takes \"always\" or "
                           "\"on_demand [IDLE]\", not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 2) {
        cacf->decode_idle = NGX_CHRYS_DECODE_IDLE;
        return NGX_CONF_OK;
    }

    idle = ngx_parse_time(&value[2], 0);

    if (idle == NGX_ERROR || idle == 0 || idle > NGX_CHRYS_DECODE_IDLE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chrys_decode\" idle time \"%V\" is invalid, "
                           "e.g. \"chrys_decode on_demand 10s;\" (1 ms to "
                           "24 h)", &value[2]);
        return NGX_CONF_ERROR;
    }

    cacf->decode_idle = idle;

    return NGX_CONF_OK;
}


/* chrys_max_picture WIDTHxHEIGHT */

static char *
ngx_rtmp_chrys_max_picture(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_rtmp_chrys_app_conf_t  *cacf = conf;

    u_char     *x;
    ngx_int_t   w, h;
    ngx_str_t  *value;

    if (cacf->max_width != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    x = ngx_strlchr(value[1].data, value[1].data + value[1].len, 'x');

    w = x ? ngx_atoi(value[1].data, x - value[1].data) : NGX_ERROR;
    h = x ? ngx_atoi(x + 1, value[1].data + value[1].len - x - 1)
          : NGX_ERROR;

    if (w <= 0 || h <= 0 || w > 16384 || h > 16384) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chrys_max_picture\" \"%V\" is invalid, "
                           "e.g. \"chrys_max_picture 3840x2160;\" (at "
                           "most 16384x16384)", &value[1]);
        return NGX_CONF_ERROR;
    }

    cacf->max_width = w;
    cacf->max_height = h;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_rtmp_chrys_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                  i;
    ngx_rtmp_handler_pt        *h;
    ngx_rtmp_amf_handler_t     *ch;
    ngx_rtmp_core_main_conf_t  *cmcf;

    static ngx_rtmp_amf_handler_t  data[] = {
        { ngx_string("onTextData"), ngx_rtmp_chrys_text_data },
        { ngx_string("onCuePoint"), ngx_rtmp_chrys_cue_point },
        { ngx_string("@setDataFrame"), ngx_rtmp_chrys_set_data_frame }
    };

    cmcf = ngx_rtmp_conf_get_module_main_conf(cf, ngx_rtmp_core_module);

    h = ngx_array_push(&cmcf->events[NGX_RTMP_MSG_VIDEO]);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_rtmp_chrys_video;

    h = ngx_array_push(&cmcf->events[NGX_RTMP_MSG_AUDIO]);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_rtmp_chrys_audio;

    /* data messages, by their name (nginx-rtmp reads the name first) */

    for (i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
        ch = ngx_array_push(&cmcf->amf);
        if (ch == NULL) {
            return NGX_ERROR;
        }

        ch->name = data[i].name;
        ch->handler = data[i].handler;
    }

    next_publish = ngx_rtmp_publish;
    ngx_rtmp_publish = ngx_rtmp_chrys_publish;

    next_close_stream = ngx_rtmp_close_stream;
    ngx_rtmp_close_stream = ngx_rtmp_chrys_close_stream;

    next_delete_stream = ngx_rtmp_delete_stream;
    ngx_rtmp_delete_stream = ngx_rtmp_chrys_delete_stream;

    return NGX_OK;
}


/*
 * Decoding and encoding run in the thread pool, and glibc gives each
 * thread that allocates an arena of its own, up to 8 a core: the memory
 * freed in each (JPEG buffers, libavcodec's) stays spread over them, and a
 * worker's memory grows for minutes under load.  Two arenas keep it flat
 * (make soak).  Set in the master, before the workers are forked; an
 * MALLOC_ARENA_MAX of nginx's environment is left to rule.
 */

static ngx_int_t
ngx_rtmp_chrys_init_module(ngx_cycle_t *cycle)
{
#if (NGX_LINUX) && defined(M_ARENA_MAX)

    if (getenv("MALLOC_ARENA_MAX") == NULL
        && mallopt(M_ARENA_MAX, NGX_CHRYS_MALLOC_ARENAS) == 0)
    {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "chrys: mallopt(M_ARENA_MAX, %d) failed",
                      NGX_CHRYS_MALLOC_ARENAS);
    }

#endif

    return NGX_OK;
}


/*
 * A worker takes its place in every chrys zone (the rtmp block's, and
 * any "chrys_api" names): its references and gauges are counted there.
 * Then, every second, streams nobody uses leave the zones.
 */

static ngx_int_t
ngx_rtmp_chrys_init_process(ngx_cycle_t *cycle)
{
    /* decode errors are counted and shown per stream, not logged */
    av_log_set_level(AV_LOG_QUIET);

    ngx_rtmp_chrys_each_zone(cycle, ngx_rtmp_chrys_attach);

    ngx_rtmp_chrys_sweeper.handler = ngx_rtmp_chrys_sweep;
    ngx_rtmp_chrys_sweeper.log = cycle->log;
    ngx_rtmp_chrys_sweeper.data = cycle;

    /* an exiting worker does not wait for it */
    ngx_rtmp_chrys_sweeper.cancelable = 1;

    ngx_add_timer(&ngx_rtmp_chrys_sweeper, NGX_CHRYS_SWEEP);

    return NGX_OK;
}


static void
ngx_rtmp_chrys_exit_process(ngx_cycle_t *cycle)
{
    ngx_chrys_decoder_exit_process();

    ngx_rtmp_chrys_each_zone(cycle, ngx_rtmp_chrys_detach);
}


static void
ngx_rtmp_chrys_sweep(ngx_event_t *ev)
{
    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_rtmp_chrys_each_zone((ngx_cycle_t *) ngx_cycle,
                             ngx_rtmp_chrys_sweep_zone);

    ngx_add_timer(ev, NGX_CHRYS_SWEEP);
}


static void
ngx_rtmp_chrys_attach(ngx_chrys_zone_t *zone, ngx_log_t *log)
{
    (void) ngx_chrys_zone_attach(zone, log);
}


static void
ngx_rtmp_chrys_detach(ngx_chrys_zone_t *zone, ngx_log_t *log)
{
    ngx_chrys_zone_detach(zone);
}


static void
ngx_rtmp_chrys_sweep_zone(ngx_chrys_zone_t *zone, ngx_log_t *log)
{
    if (zone->sh && zone->worker < NGX_CHRYS_WORKERS) {
        (void) ngx_chrys_zone_sweep(zone, log);
    }
}


/* calls "handler" for each chrys zone of the cycle */

static void
ngx_rtmp_chrys_each_zone(ngx_cycle_t *cycle,
    void (*handler)(ngx_chrys_zone_t *zone, ngx_log_t *log))
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *shm_zone;

    part = &cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].tag == &ngx_chrys_module) {
            handler(shm_zone[i].data, cycle->log);
        }
    }
}


/*
 * The rest of the publish chain (notify's on_publish, access, live) runs
 * first: decoding starts only for a publisher that the live module took.
 * With an asynchronous on_publish, it starts at the first video message
 * after the check instead.
 */

static ngx_int_t
ngx_rtmp_chrys_publish(ngx_rtmp_session_t *s, ngx_rtmp_publish_t *v)
{
    ngx_int_t                   rc;
    ngx_rtmp_chrys_app_conf_t  *cacf;

    rc = next_publish(s, v);

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_chrys_module);

    if (rc == NGX_OK && cacf && cacf->enable) {
        (void) ngx_rtmp_chrys_start(s);
    }

    return rc;
}


static ngx_int_t
ngx_rtmp_chrys_close_stream(ngx_rtmp_session_t *s, ngx_rtmp_close_stream_t *v)
{
    ngx_rtmp_chrys_stop(s);

    return next_close_stream(s, v);
}


/*
 * chrys_relay_drop on: a push that on_publish's redirect started (a
 * cluster's front relaying a camera to its node) went down, e.g. its node
 * died.  nginx-rtmp starts such a push again only when it is configured
 * ("push" directives), so the camera would go on publishing into nothing;
 * dropping the publisher makes it connect again, and on_publish route it
 * anew.  Runs before nginx-rtmp's relay module forgets the publisher
 * (chrys is loaded after it, so its hook is called first).
 */

static ngx_int_t
ngx_rtmp_chrys_delete_stream(ngx_rtmp_session_t *s,
    ngx_rtmp_delete_stream_t *v)
{
    ngx_rtmp_session_t         *publisher;
    ngx_rtmp_relay_ctx_t       *rctx;
    ngx_rtmp_chrys_app_conf_t  *cacf;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_chrys_module);

    if (cacf == NULL || !cacf->relay_drop || !s->relay) {
        return next_delete_stream(s, v);
    }

    rctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_relay_module);

    /* only the outgoing side of a push that nothing else starts again */

    if (rctx == NULL
        || rctx->publish == NULL
        || rctx->publish == rctx
        || rctx->tag == &ngx_rtmp_relay_module)
    {
        return next_delete_stream(s, v);
    }

    publisher = rctx->publish->session;

    if (publisher == NULL || publisher->relay) {
        return next_delete_stream(s, v);
    }

    ngx_log_error(NGX_LOG_NOTICE, publisher->connection->log, 0,
                  "chrys: the relay of \"%V\" to \"%V\" went down, "
                  "dropping its publisher so that it publishes again",
                  &rctx->name, &rctx->url);

    ngx_rtmp_finalize_session(publisher);

    return next_delete_stream(s, v);
}


static ngx_rtmp_chrys_ctx_t *
ngx_rtmp_chrys_start(ngx_rtmp_session_t *s)
{
    ngx_int_t                    rc;
    ngx_str_t                    name, *app;
    ngx_chrys_stream_conf_t      sc;
    ngx_chrys_decoder_conf_t     dc;
    ngx_rtmp_chrys_ctx_t        *ctx;
    ngx_chrys_zone_t            *zone;
    ngx_chrys_stream_t          *st;
    ngx_rtmp_live_ctx_t         *lctx;
    ngx_rtmp_codec_ctx_t        *codec;
    ngx_rtmp_chrys_app_conf_t   *cacf;
    ngx_rtmp_chrys_main_conf_t  *cmcf;
    ngx_rtmp_core_app_conf_t    *core;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_chrys_module);

    if (ctx && (ctx->started || ctx->refused)) {
        return ctx;
    }

    lctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_live_module);

    if (lctx == NULL || !lctx->publishing || lctx->stream == NULL) {
        /* not (yet) an accepted publisher */
        return NULL;
    }

    if (ctx == NULL) {
        ctx = ngx_pcalloc(s->connection->pool, sizeof(ngx_rtmp_chrys_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_rtmp_set_ctx(s, ctx, ngx_chrys_module);
    }

    ngx_memzero(ctx, sizeof(ngx_rtmp_chrys_ctx_t));

    /* relay sessions have no "app" of their own: use the application's */
    core = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_core_module);
    app = &core->name;

    name.data = lctx->stream->name;
    name.len = ngx_strlen(lctx->stream->name);

    if (ngx_chrys_valid_name(app) != NGX_OK
        || ngx_chrys_valid_name(&name) != NGX_OK)
    {
        ngx_rtmp_chrys_refuse_name(s, app, &name);
        ctx->refused = 1;
        return ctx;
    }

    cmcf = ngx_rtmp_get_module_main_conf(s, ngx_chrys_module);
    cacf = ngx_rtmp_get_module_app_conf(s, ngx_chrys_module);
    zone = cmcf->shm_zone->data;

    sc.window = cacf->buffer_window;
    sc.max_bytes = cacf->buffer_size;
    sc.idle = cacf->idle;

    rc = ngx_chrys_stream_claim(zone, app, &name, &sc, &st, &ctx->claim,
                                s->connection->log);

    if (rc == NGX_BUSY) {
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "chrys: stream \"%V/%V\" is already published "
                      "through worker %P, not decoded twice",
                      app, &name, st->publisher.owner);
    }

    if (rc != NGX_OK) {
        ctx->refused = 1;
        return ctx;
    }

    dc.pool = cacf->thread_pool;
    dc.max_width = cacf->max_width;
    dc.max_height = cacf->max_height;
    dc.idle = cacf->decode_idle;

    ctx->decoder = ngx_chrys_decoder_create(zone, st, ctx->claim, &dc,
                                            s->connection->log);
    if (ctx->decoder == NULL) {
        ngx_chrys_stream_release(zone, st, ctx->claim);
        ctx->refused = 1;
        return ctx;
    }

    ctx->zone = zone;
    ctx->stream = st;
    ctx->started = 1;

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "chrys: decoding \"%V/%V\"%s", app, &name,
                  dc.idle ? " on demand" : "");

    codec = ngx_rtmp_get_module_ctx(s, ngx_rtmp_codec_module);

    if (codec && codec->avc_header) {
        /* the sequence header arrived before publishing was accepted */
        ngx_rtmp_chrys_sequence_header(s, ctx, NULL, codec->avc_header);
    }

    if (codec && codec->aac_header) {
        ngx_rtmp_chrys_sound(s, ctx, NGX_CHRYS_FLV_AAC);
        ngx_rtmp_chrys_aac_header(s, ctx, codec->aac_header);
    }

    return ctx;
}


/*
 * The names are the publisher's: logged %-escaped, so that no byte of
 * them (a line feed, one that is not UTF-8) goes into the log as it is
 */

static void
ngx_rtmp_chrys_refuse_name(ngx_rtmp_session_t *s, ngx_str_t *app,
    ngx_str_t *name)
{
    u_char      *p;
    ngx_str_t    esc[2], *src[2];
    ngx_uint_t   i;

    src[0] = app;
    src[1] = name;

    for (i = 0; i < 2; i++) {
        esc[i].len = src[i]->len
                     + 2 * ngx_escape_uri(NULL, src[i]->data, src[i]->len,
                                          NGX_ESCAPE_URI_COMPONENT);

        p = ngx_pnalloc(s->connection->pool, esc[i].len);
        if (p == NULL) {
            return;
        }

        esc[i].data = p;
        ngx_escape_uri(p, src[i]->data, src[i]->len,
                       NGX_ESCAPE_URI_COMPONENT);
    }

    ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                  "chrys: stream \"%V/%V\" (%%-escaped) is not decoded: "
                  "a name is 1 to %d bytes of UTF-8 without \"/\", "
                  "\"..\" or control characters",
                  &esc[0], &esc[1], NGX_CHRYS_NAME_MAX);
}


static void
ngx_rtmp_chrys_stop(ngx_rtmp_session_t *s)
{
    ngx_rtmp_chrys_ctx_t  *ctx;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_chrys_module);

    if (ctx == NULL) {
        return;
    }

    if (ctx->started) {
        /* the decoder releases the stream once its last picture is out */
        ngx_chrys_decoder_close(ctx->decoder);

        ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                      "chrys: stream \"%V\" stopped publishing",
                      &ctx->stream->key);
    }

    ngx_memzero(ctx, sizeof(ngx_rtmp_chrys_ctx_t));
}


/*
 * Every video message of a publisher passes here.  Whatever goes wrong,
 * the answer is NGX_OK: an error would drop the publisher.
 */

static ngx_int_t
ngx_rtmp_chrys_video(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in)
{
    u_char                      hdr[5];
    size_t                      n;
    ngx_rtmp_chrys_ctx_t       *ctx;
    ngx_chrys_stream_t         *st;
    ngx_chrys_video_t           video;
    ngx_rtmp_chrys_app_conf_t  *cacf;
    ngx_chrys_flv_video_t       v;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_chrys_module);

    if (cacf == NULL || !cacf->enable || in == NULL || h->mlen == 0) {
        return NGX_OK;
    }

    ctx = ngx_rtmp_get_module_ctx(s, ngx_chrys_module);

    if (ctx == NULL || !ctx->started) {
        ctx = ngx_rtmp_chrys_start(s);
    }

    if (ctx == NULL || !ctx->started) {
        return NGX_OK;
    }

    st = ctx->stream;

    n = ngx_rtmp_chrys_chain_copy(in, 0, hdr, sizeof(hdr));

    if (ngx_chrys_flv_video_parse(&v, hdr, n) != NGX_OK) {
        ngx_rtmp_chrys_lost(ctx, "malformed FLV video tag");
        return NGX_OK;
    }

    if (ctx->codec != v.codec) {
        ctx->codec = v.codec;

        ngx_memzero(&video, sizeof(ngx_chrys_video_t));
        video.codec = v.codec;

        ngx_chrys_stream_set_video(ctx->zone, st, &video);
    }

    if (v.codec != NGX_CHRYS_FLV_AVC) {
        ngx_chrys_stream_count(st, h->mlen);

        if (!ctx->codec_logged) {
            ctx->codec_logged = 1;

            ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                          "chrys: stream \"%V\" has video codec \"%s\", "
                          "only H.264 is supported",
                          &st->key, ngx_chrys_flv_codec_name(v.codec));

            ngx_chrys_stream_set_error(ctx->zone, st,
                                       "video codec \"%s\" is not "
                                       "supported, only H.264",
                                       ngx_chrys_flv_codec_name(v.codec));
        }

        return NGX_OK;
    }

    if (v.frame_type == NGX_CHRYS_FLV_INFO) {
        return NGX_OK;
    }

    switch (v.packet_type) {

    case NGX_CHRYS_AVC_HEADER:
        ngx_rtmp_chrys_sequence_header(s, ctx, h, in);
        break;

    case NGX_CHRYS_AVC_NALU:
        ngx_rtmp_chrys_picture(s, ctx, h, in, &v);
        break;

    case NGX_CHRYS_AVC_EOS:
        break;

    default:
        ngx_chrys_stream_count(st, h->mlen);
        ngx_rtmp_chrys_lost(ctx, "malformed FLV video tag");
        break;
    }

    return NGX_OK;
}


static void
ngx_rtmp_chrys_sequence_header(ngx_rtmp_session_t *s,
    ngx_rtmp_chrys_ctx_t *ctx, ngx_rtmp_header_t *h, ngx_chain_t *in)
{
    size_t                 len;
    ngx_chain_t           *cl;
    ngx_chrys_au_t        *au;
    ngx_chrys_avcc_t       avcc;
    ngx_chrys_video_t      video;
    ngx_chrys_stream_t    *st;
    ngx_rtmp_codec_ctx_t  *codec;

    st = ctx->stream;

    len = 0;

    for (cl = in; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    if (len < 5) {
        return;
    }

    au = ngx_chrys_au_alloc(len - 5, s->connection->log);
    if (au == NULL) {
        return;
    }

    (void) ngx_rtmp_chrys_chain_copy(in, 5, au->data, au->len);

    if (ngx_chrys_avcc_parse(&avcc, au->data, au->len) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "chrys: stream \"%V\" sent a malformed AVC sequence "
                      "header", &st->key);

        ngx_chrys_stream_add(st, errors, 1);
        ngx_chrys_stream_set_error(ctx->zone, st,
                                   "malformed AVC sequence header");
        ngx_chrys_au_free(au);
        return;
    }

    codec = ngx_rtmp_get_module_ctx(s, ngx_rtmp_codec_module);

    video.codec = NGX_CHRYS_FLV_AVC;
    video.profile = avcc.profile;
    video.level = avcc.level;
    video.width = codec ? codec->width : 0;
    video.height = codec ? codec->height : 0;

    ngx_chrys_stream_set_video(ctx->zone, st, &video);

    if (codec && ngx_rtmp_chrys_too_big(s, ctx, codec->width, codec->height))
    {
        ngx_chrys_au_free(au);
        return;
    }

    ctx->nal_length_size = avcc.nal_length_size;
    ctx->configured = 1;

    (void) ngx_chrys_avcc_sps(&ctx->sps, au->data, au->len);
    ctx->frame_num_known = 0;

    if (codec) {
        ngx_chrys_decoder_hint(ctx->decoder, codec->width, codec->height);
    }

    ngx_rtmp_chrys_configure_ring(s, ctx, au->data, au->len);

    /* seq 0 marks a configuration, applied in order with the pictures */
    ngx_chrys_decoder_push(ctx->decoder, au);
}


/*
 * The sequence header into the stream's ring.  Without room for it, the
 * ring takes nothing more (its access units would be decoded with the
 * old one); the header is tried again at each IDR.
 */

static void
ngx_rtmp_chrys_configure_ring(ngx_rtmp_session_t *s,
    ngx_rtmp_chrys_ctx_t *ctx, u_char *data, size_t len)
{
    ngx_rtmp_codec_ctx_t  *codec;

    codec = ngx_rtmp_get_module_ctx(s, ngx_rtmp_codec_module);

    if (ngx_chrys_ring_configure(ctx->zone, ctx->stream, data, len,
                                 codec ? codec->width : 0,
                                 codec ? codec->height : 0)
        == NGX_OK)
    {
        ctx->unringed = 0;
        return;
    }

    if (!ctx->unringed) {
        ctx->unringed = 1;

        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "chrys: zone \"%V\" is full, the buffer of \"%V\" "
                      "stops until its next sequence header fits; raise the "
                      "size in \"chrys_zone\"",
                      &ctx->zone->shm_zone->shm.name, &ctx->stream->key);

        ngx_chrys_stream_set_error(ctx->zone, ctx->stream,
                                   "zone full: the buffer stopped");
    }
}


/*
 * A publisher's pictures over "chrys_max_picture" are not decoded nor
 * kept: the stream says why in its status.  Returns 1 for those.
 */

static ngx_uint_t
ngx_rtmp_chrys_too_big(ngx_rtmp_session_t *s, ngx_rtmp_chrys_ctx_t *ctx,
    ngx_uint_t width, ngx_uint_t height)
{
    ngx_rtmp_chrys_app_conf_t  *cacf;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_chrys_module);

    ctx->too_big = (width > cacf->max_width || height > cacf->max_height);

    if (!ctx->too_big) {
        return 0;
    }

    ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                  "chrys: stream \"%V\" sends %uix%ui pictures, more than "
                  "\"chrys_max_picture %uix%ui\": not decoded",
                  &ctx->stream->key, width, height, cacf->max_width,
                  cacf->max_height);

    ngx_chrys_stream_set_error(ctx->zone, ctx->stream,
                               "pictures of %uix%ui are over "
                               "chrys_max_picture %uix%ui", width, height,
                               cacf->max_width, cacf->max_height);

    return 1;
}


/* the sequence header nginx-rtmp keeps (FLV tag included), into the ring */

static void
ngx_rtmp_chrys_reconfigure_ring(ngx_rtmp_session_t *s,
    ngx_rtmp_chrys_ctx_t *ctx, ngx_chain_t *header)
{
    size_t        len;
    u_char       *p;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = header; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    if (len <= 5) {
        return;
    }

    p = ngx_alloc(len - 5, s->connection->log);
    if (p == NULL) {
        return;
    }

    len = ngx_rtmp_chrys_chain_copy(header, 5, p, len - 5);

    ngx_rtmp_chrys_configure_ring(s, ctx, p, len);

    ngx_free(p);
}


static void
ngx_rtmp_chrys_picture(ngx_rtmp_session_t *s, ngx_rtmp_chrys_ctx_t *ctx,
    ngx_rtmp_header_t *h, ngx_chain_t *in, ngx_chrys_flv_video_t *v)
{
    ngx_uint_t             flags;
    ngx_chrys_au_t        *au;
    ngx_chrys_stream_t    *st;
    ngx_rtmp_codec_ctx_t  *codec;

    st = ctx->stream;

    ngx_chrys_stream_count(st, h->mlen);

    if (!ctx->configured || ctx->too_big) {
        ngx_chrys_stream_add(st, skipped, 1);
        return;
    }

    au = ngx_chrys_au_alloc(h->mlen - 5, s->connection->log);
    if (au == NULL) {
        ngx_rtmp_chrys_lost(ctx, "out of memory");
        return;
    }

    au->len = ngx_rtmp_chrys_chain_copy(in, 5, au->data, au->len);

    if (ngx_chrys_avc_scan(au->data, au->len, ctx->nal_length_size, &flags)
        != NGX_OK)
    {
        ngx_rtmp_chrys_lost(ctx, "malformed H.264 access unit");
        ngx_chrys_au_free(au);
        return;
    }

    if (ngx_rtmp_chrys_frame_num(ctx, au) != NGX_OK) {
        ngx_rtmp_chrys_lost(ctx, "reference frames lost (frame_num gap)");
        ngx_chrys_au_free(au);
        return;
    }

    if (!(flags & (NGX_CHRYS_NAL_SLICE|NGX_CHRYS_NAL_SPS|NGX_CHRYS_NAL_PPS))) {
        /* no picture and no parameter sets (empty, or SEI only) */
        ngx_chrys_au_free(au);
        return;
    }

    au->seq = st->counters.received;
    au->dts = h->timestamp;
    au->pts = (int64_t) h->timestamp + v->cts;
    au->time = ngx_chrys_unix_msec();
    au->flags = ((v->frame_type == NGX_CHRYS_FLV_KEYFRAME)
                 ? NGX_CHRYS_AU_KEY : 0)
                | ((flags & NGX_CHRYS_NAL_IDR) ? NGX_CHRYS_AU_IDR : 0);

    if (ctx->unringed && (au->flags & NGX_CHRYS_AU_IDR)) {
        codec = ngx_rtmp_get_module_ctx(s, ngx_rtmp_codec_module);

        if (codec && codec->avc_header) {
            /* the sequence header found no room before: again */
            ngx_rtmp_chrys_reconfigure_ring(s, ctx, codec->avc_header);
        }
    }

    ngx_chrys_ring_push(ctx->zone, st, au, s->connection->log);
    ngx_chrys_decoder_push(ctx->decoder, au);
}


/*
 * Every audio message of a publisher passes here: AAC goes into the
 * stream's ring with the video, other codecs are only named in status.
 * The answer is NGX_OK, as for video.
 */

static ngx_int_t
ngx_rtmp_chrys_audio(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in)
{
    u_char                      hdr[2];
    size_t                      n;
    ngx_rtmp_chrys_ctx_t       *ctx;
    ngx_rtmp_chrys_app_conf_t  *cacf;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_chrys_module);

    if (cacf == NULL || !cacf->enable || in == NULL || h->mlen == 0) {
        return NGX_OK;
    }

    /* decoding starts with the video; audio alone keeps nothing */

    ctx = ngx_rtmp_get_module_ctx(s, ngx_chrys_module);

    if (ctx == NULL || !ctx->started) {
        return NGX_OK;
    }

    n = ngx_rtmp_chrys_chain_copy(in, 0, hdr, sizeof(hdr));

    ngx_rtmp_chrys_sound(s, ctx, hdr[0] >> 4);

    if ((hdr[0] >> 4) != NGX_CHRYS_FLV_AAC || n < 2) {
        return NGX_OK;
    }

    if (hdr[1] == NGX_CHRYS_AAC_HEADER) {
        ngx_rtmp_chrys_aac_header(s, ctx, in);

    } else if (hdr[1] == NGX_CHRYS_AAC_RAW) {
        ngx_rtmp_chrys_aac_frame(s, ctx, h, in);
    }

    return NGX_OK;
}


/* the sound format of the stream, for status; only AAC is kept */

static void
ngx_rtmp_chrys_sound(ngx_rtmp_session_t *s, ngx_rtmp_chrys_ctx_t *ctx,
    ngx_uint_t format)
{
    ngx_chrys_audio_t  audio;

    if (ctx->sound == format + 1) {
        return;
    }

    ctx->sound = format + 1;

    ngx_memzero(&audio, sizeof(ngx_chrys_audio_t));
    audio.codec = format + 1;

    ngx_chrys_stream_set_audio(ctx->zone, ctx->stream, &audio);

    if (format != NGX_CHRYS_FLV_AAC) {
        ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                      "chrys: stream \"%V\" has audio codec \"%s\", "
                      "only AAC is kept in its buffer",
                      &ctx->stream->key, ngx_chrys_flv_sound_name(format));
    }
}


/* an AAC sequence header (FLV tag included): for the frames after it */

static void
ngx_rtmp_chrys_aac_header(ngx_rtmp_session_t *s, ngx_rtmp_chrys_ctx_t *ctx,
    ngx_chain_t *in)
{
    u_char              buf[NGX_CHRYS_AAC_CONFIG_MAX];
    size_t              len;
    ngx_chrys_audio_t   audio;

    len = ngx_rtmp_chrys_chain_copy(in, 2, buf, sizeof(buf));

    ngx_memzero(&audio, sizeof(ngx_chrys_audio_t));
    audio.codec = NGX_CHRYS_FLV_AAC + 1;

    if (ngx_chrys_aac_config_parse(buf, len, &audio.rate, &audio.channels)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "chrys: stream \"%V\" sent an AAC sequence header "
                      "chrys does not read: its audio is not kept",
                      &ctx->stream->key);

        ngx_chrys_stream_set_audio(ctx->zone, ctx->stream, &audio);
        return;
    }

    ngx_chrys_stream_set_audio(ctx->zone, ctx->stream, &audio);

    if (ngx_chrys_ring_audio_configure(ctx->zone, ctx->stream, buf, len,
                                       audio.rate, audio.channels)
        == NGX_ERROR)
    {
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "chrys: zone \"%V\" is full, the audio of \"%V\" "
                      "is not kept; raise the size in \"chrys_zone\"",
                      &ctx->zone->shm_zone->shm.name, &ctx->stream->key);
    }
}


static void
ngx_rtmp_chrys_aac_frame(ngx_rtmp_session_t *s, ngx_rtmp_chrys_ctx_t *ctx,
    ngx_rtmp_header_t *h, ngx_chain_t *in)
{
    ngx_chrys_au_t  *au;

    if (h->mlen <= 2) {
        return;
    }

    au = ngx_chrys_au_alloc(h->mlen - 2, s->connection->log);
    if (au == NULL) {
        return;
    }

    au->len = ngx_rtmp_chrys_chain_copy(in, 2, au->data, au->len);
    au->dts = h->timestamp;
    au->pts = h->timestamp;
    au->time = ngx_chrys_unix_msec();

    ngx_chrys_ring_push_audio(ctx->zone, ctx->stream, au,
                              s->connection->log);

    ngx_chrys_au_free(au);
}


/*
 * Data messages: the payload after the name (which nginx-rtmp has read)
 * is copied, up to NGX_CHRYS_DATA_IN bytes, and kept as JSON.
 */

static ngx_int_t
ngx_rtmp_chrys_text_data(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in)
{
    return ngx_rtmp_chrys_named_data(s, h, in, "onTextData");
}


static ngx_int_t
ngx_rtmp_chrys_cue_point(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in)
{
    return ngx_rtmp_chrys_named_data(s, h, in, "onCuePoint");
}


/* a data message whose name is its type */

static ngx_int_t
ngx_rtmp_chrys_named_data(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in, char *name)
{
    size_t     n;
    ngx_str_t  type;
    u_char     buf[NGX_CHRYS_DATA_IN];

    type.data = (u_char *) name;
    type.len = ngx_strlen(name);

    n = ngx_rtmp_chrys_chain_copy(in, 0, buf, sizeof(buf));

    ngx_rtmp_chrys_data(s, h, &type, buf, buf + n);

    return NGX_OK;
}


/* "@setDataFrame" names what it sets: all but the stream's onMetaData */

static ngx_int_t
ngx_rtmp_chrys_set_data_frame(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in)
{
    size_t     n;
    u_char    *p;
    ngx_str_t  type;
    u_char     buf[NGX_CHRYS_DATA_IN];

    n = ngx_rtmp_chrys_chain_copy(in, 0, buf, sizeof(buf));

    p = ngx_chrys_amf_string(buf, buf + n, &type);

    if (p == NULL || type.len == 0
        || (type.len == sizeof("onMetaData") - 1
            && ngx_strncmp(type.data, "onMetaData", type.len) == 0))
    {
        return NGX_OK;
    }

    ngx_rtmp_chrys_data(s, h, &type, p, buf + n);

    return NGX_OK;
}


static void
ngx_rtmp_chrys_data(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_str_t *type, u_char *p, u_char *last)
{
    u_char                *q, *end;
    size_t                 len;
    ngx_uint_t             count;
    ngx_rtmp_chrys_ctx_t  *ctx;
    u_char                 json[NGX_CHRYS_DATA_MAX];

    ctx = ngx_rtmp_get_module_ctx(s, ngx_chrys_module);

    if (ctx == NULL || !ctx->started) {
        return;
    }

    /* "type":"...","data": and the values, one alone or an array */

    end = json + sizeof(json);
    q = ngx_cpymem(json, "\"type\":\"", 8);
    q = ngx_chrys_json_utf8(q, end - 16, type->data,
                            ngx_min(type->len, 128));

    if (q != NULL) {
        q = ngx_cpymem(q, "\",\"data\":", 9);

        if (ngx_chrys_amf_json(p, last, q, end - q, &len, &count) == NULL
            || h->mlen > NGX_CHRYS_DATA_IN)
        {
            q = NULL;

        } else if (count == 1) {
            /* the value alone, out of its array */
            ngx_memmove(q, q + 1, len - 2);
            q += len - 2;

        } else {
            q += len;
        }
    }

    if (q == NULL) {
        ngx_chrys_stream_add(ctx->stream, errors, 1);

        if (!ctx->data_logged) {
            ctx->data_logged = 1;

            ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                          "chrys: stream \"%V\" sent a data message that "
                          "is malformed, too deep or over %d bytes as JSON: "
                          "not kept", &ctx->stream->key, NGX_CHRYS_DATA_MAX);
        }

        return;
    }

    (void) ngx_chrys_data_push(ctx->zone, ctx->stream, ngx_chrys_unix_msec(),
                               h->timestamp, 0, json, q - json);
}


/*
 * Lost reference pictures show as a gap in frame_num (unless the stream
 * allows gaps): what follows cannot decode cleanly until the next IDR,
 * and libavcodec would fill the gap with grey pictures without a word.
 */

static ngx_int_t
ngx_rtmp_chrys_frame_num(ngx_rtmp_chrys_ctx_t *ctx, ngx_chrys_au_t *au)
{
    ngx_uint_t         max, next;
    ngx_chrys_slice_t  slice;

    if (ngx_chrys_avc_slice(au->data, au->len, ctx->nal_length_size,
                            &ctx->sps, &slice)
        != NGX_OK
        || ctx->sps.gaps_allowed)
    {
        return NGX_OK;
    }

    if (slice.idr) {
        ctx->frame_num = slice.frame_num;
        ctx->frame_num_known = 1;
        return NGX_OK;
    }

    if (!ctx->frame_num_known) {
        return NGX_OK;
    }

    max = (ngx_uint_t) 1 << ctx->sps.log2_max_frame_num;
    next = (ctx->frame_num + 1) % max;

    if (slice.frame_num != ctx->frame_num && slice.frame_num != next) {
        ctx->frame_num_known = 0;
        return NGX_ERROR;
    }

    if (slice.reference) {
        ctx->frame_num = slice.frame_num;
    }

    return NGX_OK;
}


/* a picture was lost: decoding and buffering go on at the next IDR */

static void
ngx_rtmp_chrys_lost(ngx_rtmp_chrys_ctx_t *ctx, const char *why)
{
    ngx_chrys_stream_add(ctx->stream, errors, 1);

    ngx_chrys_stream_set_error(ctx->zone, ctx->stream, "%s", why);
    ngx_chrys_ring_gap(ctx->zone, ctx->stream);
    ngx_chrys_decoder_drop(ctx->decoder);
}


/* copies up to "len" bytes of a chain, after "skip" bytes; returns how many */

static size_t
ngx_rtmp_chrys_chain_copy(ngx_chain_t *in, size_t skip, u_char *dst, size_t len)
{
    size_t   n, copied;
    u_char  *p;

    copied = 0;

    for ( /* void */ ; in && copied < len; in = in->next) {
        p = in->buf->pos;
        n = in->buf->last - p;

        if (skip >= n) {
            skip -= n;
            continue;
        }

        p += skip;
        n -= skip;
        skip = 0;

        if (n > len - copied) {
            n = len - copied;
        }

        dst = ngx_cpymem(dst, p, n);
        copied += n;
    }

    return copied;
}
