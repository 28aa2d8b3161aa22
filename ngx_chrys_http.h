
/*
 * Copyright (C) chrys authors
 *
 * The HTTP side of chrys: the "chrys_api" location.  ngx_chrys_http.c
 * routes requests (one table of paths, methods and handlers), reads their
 * parameters and holds what responses share; the endpoints live in
 * ngx_chrys_http_live.c (the newest picture), ngx_chrys_http_buffer.c
 * (the ring and events) and ngx_chrys_http_ui.c (metrics, dashboard).
 * None of them takes the zone's lock: they call the zone's and the ring's
 * operations and act on what those answer.
 */


#ifndef _NGX_CHRYS_HTTP_H_INCLUDED_
#define _NGX_CHRYS_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_chrys_zone.h"
#include "ngx_chrys_image.h"
#include "ngx_chrys_replay.h"
#include "ngx_chrys_query.h"


/* what a route serves, where a handler serves several */
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
#define NGX_HTTP_CHRYS_CAMERA          14
#define NGX_HTTP_CHRYS_DATA            15

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
#define NGX_HTTP_CHRYS_ARG_AUDIO       15
#define NGX_HTTP_CHRYS_NARGS           16

/* fit= */
#define NGX_HTTP_CHRYS_FIT_CONTAIN     0
#define NGX_HTTP_CHRYS_FIT_FILL        1

#define NGX_HTTP_CHRYS_IMAGES_MAX      3000
#define NGX_HTTP_CHRYS_BODY_MAX        8192
#define NGX_HTTP_CHRYS_TIMEOUT         5000
#define NGX_HTTP_CHRYS_MAX_TIMEOUT     60000
#define NGX_HTTP_CHRYS_FRESH           1000
#define NGX_HTTP_CHRYS_WAKE            10000

#define ngx_http_chrys_has(ctx, a)     ((ctx)->has_arg & (1 << (a)))


typedef struct ngx_http_chrys_ctx_s  ngx_http_chrys_ctx_t;

typedef ngx_int_t (*ngx_http_chrys_handler_pt)(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);


/*
 * A route: a path below the location, whose segments are words, "*" for
 * an application or stream name, and "#" for an event's id; the methods
 * it takes; what it serves and the handler that serves it.
 */

typedef struct {
    ngx_str_t                     path;
    ngx_uint_t                    methods;
    ngx_uint_t                    endpoint;
    ngx_http_chrys_handler_pt     handler;
} ngx_http_chrys_route_t;


typedef struct {
    size_t                        worker_cache;   /* bytes, per worker */
} ngx_http_chrys_main_conf_t;


typedef struct {
    ngx_shm_zone_t               *shm_zone;
    ngx_thread_pool_t            *thread_pool;
    ngx_uint_t                    quality;
    ngx_uint_t                    max_replays;    /* per worker */
    size_t                        request_memory;
    ngx_http_complex_value_t     *mjpeg_until;    /* a Unix time */
} ngx_http_chrys_loc_conf_t;


#define NGX_HTTP_CHRYS_LANES          3

#define NGX_HTTP_CHRYS_LANE_FREE      0
#define NGX_HTTP_CHRYS_LANE_RUNNING   1
#define NGX_HTTP_CHRYS_LANE_READY     2
#define NGX_HTTP_CHRYS_LANE_SENDING   3


/* a step of a walk through a ring: a GOP decoded in a pool thread */

typedef struct {
    ngx_chrys_replay_t            replay;
    ngx_pool_t                   *pool;       /* the step's output */
    ngx_thread_task_t            *task;
    ngx_uint_t                    step;
    ngx_uint_t                    state;      /* NGX_HTTP_CHRYS_LANE_... */
} ngx_http_chrys_lane_t;


/*
 * A walk through a ring, a GOP a step: images (up to three steps decode
 * at once, their output goes out in order) and clips (a step at a time).
 */

typedef struct {
    ngx_chrys_walk_t              frames;     /* images: the wanted ones */
    ngx_uint_t                    next;       /* clip: the next seq */
    ngx_uint_t                    last;       /* clip: its last seq */
    ngx_uint_t                    audio_next; /* clip: audio seq taken */
    ngx_uint_t                    steps;      /* steps started */
    ngx_uint_t                    sent;       /* steps sent */
    ngx_http_chrys_lane_t         lanes[NGX_HTTP_CHRYS_LANES];
    ngx_pool_t                   *pool;       /* clip: the step's output */
    ngx_chrys_mux_t               mux;
    ngx_str_t                     boundary;
    size_t                        budget;     /* chrys_request_memory */
    size_t                        image_bytes;    /* of the images made */
    ngx_uint_t                    images;
    unsigned                      done:1;
    unsigned                      no_audio:1; /* clip: audio=0 */
} ngx_http_chrys_walk_t;


struct ngx_http_chrys_ctx_s {
    ngx_http_request_t           *request;
    ngx_http_chrys_route_t       *route;
    ngx_str_t                     app;
    ngx_str_t                     name;
    ngx_chrys_zone_t             *zone;
    ngx_chrys_stream_t           *stream;     /* a reference, when set */
    ngx_uint_t                    endpoint;
    ngx_uint_t                    event;      /* id, 0: the stream */

    int64_t                       args[NGX_HTTP_CHRYS_NARGS];
    ngx_uint_t                    has_arg;

    ngx_chrys_look_t              look;       /* format, quality, size */
    ngx_msec_t                    deadline;
    ngx_msec_t                    fresh;      /* waits for a newer picture */
    ngx_msec_t                    wake;       /* waits for a decoder */
    ngx_uint_t                    tries;
    ngx_uint_t                    cursor;     /* data.json: the data seq
                                                 it waits to pass */

    ngx_queue_t                   wait;
    unsigned                      waiting:1;
    unsigned                      encoding:1;
    unsigned                      busy:1;     /* another one encodes */
    unsigned                      counted:1;  /* in a clients gauge */
    unsigned                      replaying:1;    /* in the replays */

    /* latest.jpg, latest.raw, live.mjpg */
    ngx_chrys_want_t              want;
    ngx_chrys_frame_t             frame;
    ngx_thread_task_t            *task;
    void                         *mjpeg;

    ngx_http_chrys_walk_t        *walk;
};


extern ngx_module_t     ngx_http_chrys_module;
extern ngx_uint_t       ngx_http_chrys_tasks;

/* ngx_chrys_http_args.c: the query parameters, by NGX_HTTP_CHRYS_ARG_... */
extern ngx_chrys_arg_t  ngx_http_chrys_args[NGX_HTTP_CHRYS_NARGS];
extern ngx_str_t        ngx_http_chrys_formats[];


/* ngx_chrys_http.c */

ngx_int_t ngx_http_chrys_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...);
void ngx_http_chrys_log(ngx_uint_t level, ngx_http_request_t *r,
    ngx_err_t err, const char *fmt, ...);
ngx_int_t ngx_http_chrys_replay_start(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_body_text(ngx_http_request_t *r, u_char **p,
    u_char **last);
ngx_int_t ngx_http_chrys_error_range(ngx_http_request_t *r,
    ngx_uint_t status, ngx_chrys_range_t *range, const char *msg);
ngx_int_t ngx_http_chrys_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len);
ngx_int_t ngx_http_chrys_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len);
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
ngx_int_t ngx_http_chrys_streams(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_status(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);

#define NGX_HTTP_CHRYS_FRAME_FIELDS_LEN                                       \
    (sizeof("X-Chrys-Seq: \r\nX-Chrys-Pts: \r\nX-Chrys-Time: \r\n"           \
            "X-Chrys-Age: \r\nX-Chrys-Keyframe: \r\nX-Chrys-Width: \r\n"      \
            "X-Chrys-Height: \r\nX-Chrys-Data-Time: \r\n")                   \
     + 8 * NGX_INT64_LEN)


/* ngx_chrys_http_live.c: the newest picture, MJPEG, long polls */

ngx_int_t ngx_http_chrys_live(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
void ngx_http_chrys_live_init(ngx_cycle_t *cycle);
void ngx_http_chrys_keep_worker(void);
void ngx_http_chrys_wake(void);
void ngx_http_chrys_wait(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx);
void ngx_http_chrys_live_cleanup(ngx_http_chrys_ctx_t *ctx);


/* ngx_chrys_http_ui.c: metrics and the dashboard */

ngx_int_t ngx_http_chrys_metrics(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_ui(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_camera(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);


/* ngx_chrys_http_buffer.c: the ring and events */

ngx_int_t ngx_http_chrys_index(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_frame(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_images(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_clip(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_data(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_events(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
ngx_int_t ngx_http_chrys_event(ngx_http_request_t *r,
    ngx_http_chrys_ctx_t *ctx);
void ngx_http_chrys_walk_cleanup(ngx_http_chrys_ctx_t *ctx);


#endif /* _NGX_CHRYS_HTTP_H_INCLUDED_ */
