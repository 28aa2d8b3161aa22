
/*
 * Copyright (C) chrys authors
 */


#ifndef _NGX_CHRYS_HTTP_H_INCLUDED_
#define _NGX_CHRYS_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_chrys.h"


#define NGX_HTTP_CHRYS_STREAMS         1
#define NGX_HTTP_CHRYS_LATEST_JPG      2
#define NGX_HTTP_CHRYS_STATUS          3
#define NGX_HTTP_CHRYS_INDEX           4
#define NGX_HTTP_CHRYS_FRAME_JPG       5
#define NGX_HTTP_CHRYS_IMAGES          6
#define NGX_HTTP_CHRYS_CLIP            7
#define NGX_HTTP_CHRYS_EVENTS          8
#define NGX_HTTP_CHRYS_EVENT           9
#define NGX_HTTP_CHRYS_LATEST_RAW      10
#define NGX_HTTP_CHRYS_MJPEG           11
#define NGX_HTTP_CHRYS_METRICS         12
#define NGX_HTTP_CHRYS_UI              13

/* query parameters */
#define NGX_HTTP_CHRYS_ARG_QUALITY     0
#define NGX_HTTP_CHRYS_ARG_AFTER       1
#define NGX_HTTP_CHRYS_ARG_TIMEOUT     2
#define NGX_HTTP_CHRYS_ARG_FROM        3
#define NGX_HTTP_CHRYS_ARG_TO          4
#define NGX_HTTP_CHRYS_ARG_TIME        5
#define NGX_HTTP_CHRYS_ARG_SEQ         6
#define NGX_HTTP_CHRYS_ARG_KEYFRAME    7
#define NGX_HTTP_CHRYS_ARG_INTERVAL    8
#define NGX_HTTP_CHRYS_ARG_LIMIT       9
#define NGX_HTTP_CHRYS_ARG_WIDTH       10
#define NGX_HTTP_CHRYS_ARG_HEIGHT      11
#define NGX_HTTP_CHRYS_ARG_FIT         12
#define NGX_HTTP_CHRYS_ARG_FORMAT      13
#define NGX_HTTP_CHRYS_ARG_FPS         14
#define NGX_HTTP_CHRYS_NARGS           15

/* fit= */
#define NGX_HTTP_CHRYS_FIT_CONTAIN     0
#define NGX_HTTP_CHRYS_FIT_FILL        1

#define NGX_HTTP_CHRYS_IMAGES_MAX      3000
#define NGX_HTTP_CHRYS_TIMEOUT         5000
#define NGX_HTTP_CHRYS_MAX_TIMEOUT     60000
#define NGX_HTTP_CHRYS_FRESH           1000

#define ngx_http_chrys_has(ctx, a)     ((ctx)->has_arg & (1 << (a)))


typedef struct ngx_http_chrys_ctx_s  ngx_http_chrys_ctx_t;


typedef struct {
    ngx_shm_zone_t               *shm_zone;
    ngx_thread_pool_t            *thread_pool;
    ngx_uint_t                    quality;
} ngx_http_chrys_loc_conf_t;


#define NGX_HTTP_CHRYS_LANES          3

#define NGX_HTTP_CHRYS_LANE_FREE      0
#define NGX_HTTP_CHRYS_LANE_RUNNING   1
#define NGX_HTTP_CHRYS_LANE_READY     2
#define NGX_HTTP_CHRYS_LANE_SENDING   3


/* a step of a walk through a buffer: a GOP decoded in a pool thread */

typedef struct {
    ngx_chrys_replay_t            replay;
    ngx_pool_t                   *pool;       /* the step's output */
    ngx_thread_task_t            *task;
    ngx_uint_t                    step;
    ngx_uint_t                    state;      /* NGX_HTTP_CHRYS_LANE_... */
} ngx_http_chrys_lane_t;


/*
 * A walk through a buffer, a GOP a step: images (two steps decode at
 * once, their output goes out in order) and clips (a step at a time).
 */

typedef struct {
    ngx_uint_t                   *want;       /* seqs, ascending */
    ngx_uint_t                    nwant;
    ngx_uint_t                    next;       /* first one not done */
    ngx_uint_t                    last;       /* clip: last seq in it */
    ngx_uint_t                    steps;      /* steps started */
    ngx_uint_t                    sent;       /* steps sent */
    ngx_http_chrys_lane_t         lanes[NGX_HTTP_CHRYS_LANES];
    ngx_pool_t                   *pool;       /* clip: the step's output */
    ngx_chrys_mux_t               mux;
    ngx_str_t                     boundary;
    unsigned                      done:1;
} ngx_http_chrys_walk_t;


struct ngx_http_chrys_ctx_s {
    ngx_http_request_t           *request;
    ngx_chrys_zone_t             *zone;
    ngx_chrys_stream_t           *stream;
    ngx_uint_t                    endpoint;
    ngx_uint_t                    event;      /* id, 0: the stream */

    int64_t                       args[NGX_HTTP_CHRYS_NARGS];
    ngx_uint_t                    has_arg;

    ngx_uint_t                    quality;
    ngx_uint_t                    format;     /* NGX_CHRYS_OUT_... */
    ngx_uint_t                    width;      /* output, 0: as decoded */
    ngx_uint_t                    height;
    ngx_msec_t                    deadline;
    ngx_msec_t                    fresh;      /* waits for a newer picture */
    ngx_uint_t                    tries;

    ngx_queue_t                   wait;
    unsigned                      waiting:1;
    unsigned                      encoding:1;
    unsigned                      busy:1;     /* another one encodes */

    /* latest.jpg */
    ngx_chrys_slot_t             *slot;
    ngx_chrys_jpeg_t             *jpeg;
    ngx_uint_t                    token;
    ngx_thread_task_t            *task;
    ngx_chrys_encode_t           *enc;
    ngx_chrys_frame_t             frame;
    u_char                       *planes;

    ngx_http_chrys_walk_t        *walk;
    void                         *mjpeg;
    unsigned                      counted:1;  /* in a clients gauge */
};


extern ngx_module_t  ngx_http_chrys_module;
extern ngx_uint_t    ngx_http_chrys_tasks;


/* ngx_chrys_http.c */

ngx_int_t ngx_http_chrys_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...);
ngx_int_t ngx_http_chrys_error_range(ngx_http_request_t *r,
    ngx_uint_t status, ngx_chrys_buf_t *buf, const char *msg);
ngx_int_t ngx_http_chrys_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len);
ngx_int_t ngx_http_chrys_flush(ngx_http_request_t *r);
ngx_int_t ngx_http_chrys_send_jpeg(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_chrys_frame_t *f, u_char *data,
    size_t len);
ngx_int_t ngx_http_chrys_add_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value);
ngx_int_t ngx_http_chrys_etag(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_chrys_frame_t *f, ngx_str_t *etag);
ngx_int_t ngx_http_chrys_not_modified(ngx_http_request_t *r,
    ngx_str_t *etag);
ngx_int_t ngx_http_chrys_frame_headers(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_chrys_frame_t *f);
ngx_int_t ngx_http_chrys_out_size(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx, ngx_uint_t width, ngx_uint_t height);
u_char *ngx_http_chrys_frame_fields(u_char *p, ngx_chrys_frame_t *f);
ngx_thread_task_t *ngx_http_chrys_task(ngx_http_request_t *r, size_t size,
    void (*handler)(void *data, ngx_log_t *log), ngx_event_handler_pt done);
ngx_int_t ngx_http_chrys_post(ngx_http_request_t *r, ngx_thread_task_t *task);
void ngx_http_chrys_task_done(ngx_http_request_t *r);
uint64_t ngx_http_chrys_time_arg(ngx_http_chrys_ctx_t *ctx, ngx_uint_t arg,
    uint64_t def);
u_char *ngx_http_chrys_json_str(u_char *p, u_char *data, size_t len);

#define NGX_HTTP_CHRYS_FRAME_FIELDS_LEN                                       \
    (sizeof("X-Chrys-Seq: \r\nX-Chrys-Pts: \r\nX-Chrys-Time: \r\n"           \
            "X-Chrys-Age: \r\nX-Chrys-Keyframe: \r\nX-Chrys-Width: \r\n"      \
            "X-Chrys-Height: \r\n") + 7 * NGX_INT64_LEN)


/* ngx_chrys_http_live.c: the newest picture, MJPEG, long polls */

ngx_int_t ngx_http_chrys_live(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
void ngx_http_chrys_live_init(ngx_cycle_t *cycle);
void ngx_http_chrys_keep_worker(void);
void ngx_http_chrys_live_cleanup(ngx_http_chrys_ctx_t *ctx);


/* ngx_chrys_http_ui.c: metrics and the dashboard */

ngx_int_t ngx_http_chrys_metrics(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_ui(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);


/* ngx_chrys_http_buffer.c: the buffer and events */

ngx_int_t ngx_http_chrys_index(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_frame(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_images(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_clip(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_events(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_event(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);


#endif /* _NGX_CHRYS_HTTP_H_INCLUDED_ */
