
/*
 * Copyright (C) chrys authors
 *
 * What operators look at: Prometheus metrics of every stream and of the
 * zone, and a dashboard page with the live picture and state of each
 * stream (one static page, its script included; it reads "streams").
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_chrys_http.h"


#define NGX_HTTP_CHRYS_COUNTER         0
#define NGX_HTTP_CHRYS_GAUGE           1


typedef struct {
    char                         *name;
    ngx_uint_t                    type;
    char                         *help;
} ngx_http_chrys_metric_t;


static u_char *ngx_http_chrys_label(u_char *p, u_char *s, size_t len);
static u_char *ngx_http_chrys_stream_metric(u_char *p, ngx_uint_t i,
    ngx_chrys_snapshot_t *snap, uint64_t now);


/* the per-stream metrics, in the order ngx_http_chrys_stream_metric() knows */

static ngx_http_chrys_metric_t  ngx_http_chrys_stream_metrics[] = {
    { "chrys_publishing", NGX_HTTP_CHRYS_GAUGE,
      "1 while a publisher sends the stream" },
    { "chrys_decoding", NGX_HTTP_CHRYS_GAUGE,
      "1 while the stream is decoded (chrys_decode on_demand: asked for)" },
    { "chrys_frames_received_total", NGX_HTTP_CHRYS_COUNTER,
      "Video frames received" },
    { "chrys_frames_decoded_total", NGX_HTTP_CHRYS_COUNTER,
      "Frames decoded cleanly" },
    { "chrys_frames_skipped_total", NGX_HTTP_CHRYS_COUNTER,
      "Frames not decoded: behind, or waiting for an IDR" },
    { "chrys_decode_errors_total", NGX_HTTP_CHRYS_COUNTER,
      "Decode errors and malformed packets" },
    { "chrys_decode_seconds_total", NGX_HTTP_CHRYS_COUNTER,
      "CPU seconds spent decoding" },
    { "chrys_jpeg_encodes_total", NGX_HTTP_CHRYS_COUNTER,
      "JPEG encodes of live pictures" },
    { "chrys_jpeg_cache_hits_total", NGX_HTTP_CHRYS_COUNTER,
      "Live pictures served from a cache" },
    { "chrys_jpeg_encode_seconds_total", NGX_HTTP_CHRYS_COUNTER,
      "CPU seconds spent encoding live JPEGs (and scaling them)" },
    { "chrys_last_frame_age_seconds", NGX_HTTP_CHRYS_GAUGE,
      "Time since the newest decoded frame arrived" },
    { "chrys_fps", NGX_HTTP_CHRYS_GAUGE,
      "Frames received per second" },
    { "chrys_bitrate_bits_per_second", NGX_HTTP_CHRYS_GAUGE,
      "Video bits received per second" },
    { "chrys_buffer_bytes", NGX_HTTP_CHRYS_GAUGE,
      "Zone memory of the stream buffer" },
    { "chrys_buffer_seconds", NGX_HTTP_CHRYS_GAUGE,
      "Time the stream buffer spans" },
    { "chrys_events", NGX_HTTP_CHRYS_GAUGE,
      "Events kept for the stream" },
    { NULL, 0, NULL }
};


static ngx_str_t  ngx_http_chrys_metrics_type =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");
static ngx_str_t  ngx_http_chrys_html_type =
    ngx_string("text/html; charset=utf-8");


ngx_int_t
ngx_http_chrys_metrics(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    u_char                  *p, *last;
    size_t                   size;
    uint64_t                 now;
    ngx_uint_t               i, j;
    ngx_array_t              streams;
    ngx_chrys_snapshot_t    *snap;
    ngx_chrys_zone_stats_t   zs;

    now = ngx_chrys_unix_msec();

    if (ngx_chrys_zone_snapshot(ctx->zone, r->pool, &streams) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_chrys_zone_stats(ctx->zone, &zs);

    snap = streams.elts;

    /* a sample line per metric and stream, and the zone's */

    size = 4096;

    for (i = 0; ngx_http_chrys_stream_metrics[i].name; i++) {
        size += 256;

        for (j = 0; j < streams.nelts; j++) {
            size += 4 * (snap[j].app.len + snap[j].name.len)
                    + NGX_INT64_LEN + 128;
        }
    }

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = p;

    for (i = 0; ngx_http_chrys_stream_metrics[i].name; i++) {
        last = ngx_sprintf(last, "# HELP %s %s.\n# TYPE %s %s\n",
                           ngx_http_chrys_stream_metrics[i].name,
                           ngx_http_chrys_stream_metrics[i].help,
                           ngx_http_chrys_stream_metrics[i].name,
                           ngx_http_chrys_stream_metrics[i].type
                           == NGX_HTTP_CHRYS_COUNTER ? "counter" : "gauge");

        for (j = 0; j < streams.nelts; j++) {
            last = ngx_http_chrys_stream_metric(last, i, &snap[j], now);
        }
    }

    last = ngx_sprintf(last,
                       "# HELP chrys_streams Streams in the zone.\n"
                       "# TYPE chrys_streams gauge\n"
                       "chrys_streams %ui\n"
                       "# HELP chrys_zone_bytes Size of the zone.\n"
                       "# TYPE chrys_zone_bytes gauge\n"
                       "chrys_zone_bytes %uz\n"
                       "# HELP chrys_zone_free_bytes Free pages of the "
                       "zone.\n"
                       "# TYPE chrys_zone_free_bytes gauge\n"
                       "chrys_zone_free_bytes %uz\n"
                       "# HELP chrys_zone_used_bytes Used pages of the "
                       "zone.\n"
                       "# TYPE chrys_zone_used_bytes gauge\n"
                       "chrys_zone_used_bytes %uz\n",
                       zs.nstreams, zs.size, zs.free, zs.size - zs.free);

    last = ngx_sprintf(last,
                       "# HELP chrys_event_bytes Zone memory of all events."
                       "\n# TYPE chrys_event_bytes gauge\n"
                       "chrys_event_bytes %uz\n"
                       "# HELP chrys_event_budget_bytes The most all events "
                       "may keep.\n"
                       "# TYPE chrys_event_budget_bytes gauge\n"
                       "chrys_event_budget_bytes %uz\n",
                       zs.event_bytes, zs.event_budget);

    last = ngx_sprintf(last,
                       "# HELP chrys_zone_lock_max_seconds The longest the "
                       "zone's lock was held.\n"
                       "# TYPE chrys_zone_lock_max_seconds gauge\n"
                       "chrys_zone_lock_max_seconds %ui.%06ui\n"
                       "# HELP chrys_zone_lock_slow_total Holds of the "
                       "zone's lock over 1 ms.\n"
                       "# TYPE chrys_zone_lock_slow_total counter\n"
                       "chrys_zone_lock_slow_total %ui\n",
                       zs.lock_max_usec / 1000000, zs.lock_max_usec % 1000000,
                       zs.lock_slow);

    last = ngx_sprintf(last,
                       "# HELP chrys_http_clients HTTP clients now, by "
                       "kind.\n"
                       "# TYPE chrys_http_clients gauge\n"
                       "chrys_http_clients{kind=\"mjpeg\"} %ui\n"
                       "chrys_http_clients{kind=\"waiting\"} %ui\n"
                       "chrys_http_clients{kind=\"buffer\"} %ui\n",
                       zs.clients_mjpeg, zs.clients_waiting,
                       zs.clients_walking);

    return ngx_http_chrys_send(r, NGX_HTTP_OK, &ngx_http_chrys_metrics_type,
                               p, last - p);
}


/* one sample of metric "i" for a stream */

static u_char *
ngx_http_chrys_stream_metric(u_char *p, ngx_uint_t i,
    ngx_chrys_snapshot_t *snap, uint64_t now)
{
    uint64_t  age;

    p = ngx_sprintf(p, "%s{app=\"", ngx_http_chrys_stream_metrics[i].name);
    p = ngx_http_chrys_label(p, snap->app.data, snap->app.len);
    p = ngx_cpymem(p, "\",name=\"", 8);
    p = ngx_http_chrys_label(p, snap->name.data, snap->name.len);
    p = ngx_cpymem(p, "\"} ", 3);

    switch (i) {

    case 0:
        return ngx_sprintf(p, "%d\n", snap->publishing ? 1 : 0);
    case 1:
        return ngx_sprintf(p, "%d\n", snap->decoding ? 1 : 0);
    case 2:
        return ngx_sprintf(p, "%ui\n", snap->received);
    case 3:
        return ngx_sprintf(p, "%ui\n", snap->decoded);
    case 4:
        return ngx_sprintf(p, "%ui\n", snap->skipped);
    case 5:
        return ngx_sprintf(p, "%ui\n", snap->errors);
    case 6:
        return ngx_sprintf(p, "%ui.%06ui\n", snap->decode_usec / 1000000,
                           snap->decode_usec % 1000000);
    case 7:
        return ngx_sprintf(p, "%ui\n", snap->encodes);
    case 8:
        return ngx_sprintf(p, "%ui\n", snap->cache_hits);

    case 9:
        return ngx_sprintf(p, "%ui.%06ui\n", snap->encode_usec / 1000000,
                           snap->encode_usec % 1000000);

    case 10:
        age = (snap->last_seq && now > snap->last_time)
              ? now - snap->last_time : 0;
        return ngx_sprintf(p, "%uL.%03uL\n", age / 1000, age % 1000);

    case 11:
        return ngx_sprintf(p, "%ui.%02ui\n", snap->fps / 100,
                           snap->fps % 100);
    case 12:
        return ngx_sprintf(p, "%ui\n", snap->bitrate);
    case 13:
        return ngx_sprintf(p, "%uz\n", snap->ring_bytes);
    case 14:
        return ngx_sprintf(p, "%uL.%03uL\n", snap->ring_span / 1000,
                           snap->ring_span % 1000);
    default: /* 15 */
        return ngx_sprintf(p, "%ui\n", snap->nevents);
    }
}


/* a label value: backslash, double quote and newline escaped */

static u_char *
ngx_http_chrys_label(u_char *p, u_char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        switch (s[i]) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = s[i];
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = s[i];
        }
    }

    return p;
}


/*
 * The dashboard: a grid of every stream's live picture (latest.jpg 640
 * wide, up to 10 a second) with its state, read from "streams" every
 * second.  Names go into URLs encoded and into the page as text, never as
 * markup.
 */

static u_char  ngx_http_chrys_page[] =
"<!DOCTYPE html>\n"
"<html lang=\"en\">\n"
"<head>\n"
"<meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<title>chrys</title>\n"
"<style>\n"
"body { margin: 0; background: #111; color: #ddd;\n"
"       font: 14px system-ui, sans-serif; }\n"
"header { padding: 10px 14px; background: #1d1d1d; }\n"
"header b { color: #fff; font-size: 16px; margin-right: 12px; }\n"
"#grid { display: grid; gap: 10px; padding: 10px;\n"
"        grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); }\n"
".card { background: #1b1b1b; border-radius: 6px; overflow: hidden; }\n"
".card img { display: block; width: 100%; aspect-ratio: 16 / 9;\n"
"            object-fit: contain; background: #000; }\n"
".info { padding: 6px 10px 8px; font-size: 12px; line-height: 1.6; }\n"
".name { font-size: 14px; color: #fff; }\n"
".on { color: #6c6; } .off { color: #c66; } .err { color: #eb5; }\n"
"#empty { padding: 20px; color: #888; }\n"
"</style>\n"
"</head>\n"
"<body>\n"
"<header><b>chrys</b><span id=\"summary\">loading</span></header>\n"
"<div id=\"grid\"></div>\n"
"<div id=\"empty\" hidden>No stream yet: publish one to "
"rtmp://this-host/{app}/{name}.</div>\n"
"<script>\n"
"\"use strict\";\n"
"const base = location.pathname.replace(/ui\\/?$/, \"\");\n"
"const cards = new Map();\n"
"\n"
"function path(s) {\n"
"  return base + encodeURIComponent(s.app) + \"/\" +\n"
"         encodeURIComponent(s.name) + \"/\";\n"
"}\n"
"\n"
"function card(s) {\n"
"  const div = document.createElement(\"div\");\n"
"  div.className = \"card\";\n"
"  const img = document.createElement(\"img\");\n"
"  img.alt = s.app + \"/\" + s.name;\n"
"  img.dataset.stream = path(s);\n"
"  const info = document.createElement(\"div\");\n"
"  info.className = \"info\";\n"
"  const name = document.createElement(\"div\");\n"
"  name.className = \"name\";\n"
"  name.textContent = s.app + \"/\" + s.name;\n"
"  const state = document.createElement(\"div\");\n"
"  const error = document.createElement(\"div\");\n"
"  error.className = \"err\";\n"
"  info.append(name, state, error);\n"
"  div.append(img, info);\n"
"  document.getElementById(\"grid\").append(div);\n"
"  follow(img, path(s));\n"
"  return { div, state, error };\n"
"}\n"
"\n"
"const sleep = ms => new Promise(done => setTimeout(done, ms));\n"
"\n"
"/* each picture follows its stream with short long polls: unlike an\n"
" * MJPEG stream each, they leave the browser's few connections free.\n"
" * ?thumbs=keyframe: the newest keyframe of the buffer every 5 s instead,\n"
" * which keeps no stream decoding (chrys_decode on_demand) */\n"
"const keyframes = new URLSearchParams(location.search).get(\"thumbs\") ===\n"
"  \"keyframe\";\n"
"\n"
"async function follow(img, p) {\n"
"  let seq = 0;\n"
"  for (;;) {\n"
"    if (keyframes) {\n"
"      await thumb(img, p);\n"
"      continue;\n"
"    }\n"
"    try {\n"
"      const r = await fetch(p + \"latest.jpg?width=640&quality=70\" +\n"
"                            \"&timeout=1000&after=\" + seq,\n"
"                            { cache: \"no-store\" });\n"
"      if (r.status === 200) {\n"
"        seq = r.headers.get(\"X-Chrys-Seq\");\n"
"        const url = URL.createObjectURL(await r.blob());\n"
"        img.onload = () => URL.revokeObjectURL(url);\n"
"        img.src = url;\n"
"        await sleep(100);\n"
"      } else if (r.status !== 204) {\n"
"        await sleep(2000);\n"
"      }\n"
"    } catch (e) {\n"
"      await sleep(2000);\n"
"    }\n"
"  }\n"
"}\n"
"\n"
"async function thumb(img, p) {\n"
"  try {\n"
"    const r = await fetch(p + \"frame.jpg?time=-1&keyframe=1&width=640\" +\n"
"                          \"&quality=70\", { cache: \"no-store\" });\n"
"    if (r.status === 200) {\n"
"      const url = URL.createObjectURL(await r.blob());\n"
"      img.onload = () => URL.revokeObjectURL(url);\n"
"      img.src = url;\n"
"    }\n"
"  } catch (e) {\n"
"  }\n"
"  await sleep(5000);\n"
"}\n"
"\n"
"function show(s) {\n"
"  const key = s.app + \"/\" + s.name;\n"
"  let c = cards.get(key);\n"
"  if (!c) {\n"
"    c = card(s);\n"
"    cards.set(key, c);\n"
"  }\n"
"  c.state.className = s.publishing ? \"on\" : \"off\";\n"
"  c.state.textContent = (!s.publishing ? \"not publishing\" :\n"
"                         s.decoding ? \"live\" : \"live, not decoded\") +\n"
"    \" \\u00b7 \" + s.codec + \" \" + s.width + \"x\" + s.height +\n"
"    \" \\u00b7 \" + s.fps.toFixed(1) + \" fps \\u00b7 \" +\n"
"    (s.bitrate / 1e6).toFixed(2) + \" Mbit/s \\u00b7 age \" +\n"
"    (s.last_age < 0 ? \"-\" : s.last_age + \" ms\") +\n"
"    \" \\u00b7 errors \" + s.decode_errors;\n"
"  c.error.textContent = s.error || \"\";\n"
"}\n"
"\n"
"async function refresh() {\n"
"  try {\n"
"    const r = await fetch(base + \"streams\", { cache: \"no-store\" });\n"
"    const list = (await r.json()).streams;\n"
"    list.forEach(show);\n"
"    const live = list.filter(s => s.publishing).length;\n"
"    document.getElementById(\"summary\").textContent =\n"
"      list.length + \" streams, \" + live + \" publishing\";\n"
"    document.getElementById(\"empty\").hidden = list.length > 0;\n"
"  } catch (e) {\n"
"    document.getElementById(\"summary\").textContent = \"offline: \" + e;\n"
"  }\n"
"}\n"
"\n"
"refresh();\n"
"setInterval(refresh, 1000);\n"
"</script>\n"
"</body>\n"
"</html>\n";


ngx_int_t
ngx_http_chrys_ui(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    return ngx_http_chrys_send(r, NGX_HTTP_OK, &ngx_http_chrys_html_type,
                               ngx_http_chrys_page,
                               sizeof(ngx_http_chrys_page) - 1);
}
