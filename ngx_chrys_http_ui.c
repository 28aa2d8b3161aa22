
/*
 * Copyright (C) chrys authors
 *
 * What operators look at: Prometheus metrics of every stream and of the
 * zone, and a dashboard page with the live picture and state of each
 * stream (one static page, its script included; it reads "streams"), and
 * a page for each camera to look back through its buffer and events.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_chrys_http.h"
#include "ngx_chrys_query.h"


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
                       "chrys_zone_lock_slow_total %ui\n"
                       "# HELP chrys_zone_lock_max_cpu_seconds The most CPU "
                       "time a hold of the zone's lock took.\n"
                       "# TYPE chrys_zone_lock_max_cpu_seconds gauge\n"
                       "chrys_zone_lock_max_cpu_seconds %ui.%06ui\n",
                       zs.lock_max_usec / 1000000, zs.lock_max_usec % 1000000,
                       zs.lock_slow, zs.lock_max_cpu_usec / 1000000,
                       zs.lock_max_cpu_usec % 1000000);

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
"  const open = document.createElement(\"a\");\n"
"  open.href = base + \"ui/\" + encodeURIComponent(s.app) + \"/\" +\n"
"              encodeURIComponent(s.name);\n"
"  open.title = \"look back: the buffer and the events\";\n"
"  open.append(img);\n"
"  div.append(open, info);\n"
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


/*
 * The camera page, ui/{app}/{name}: the live picture large, a timeline
 * of the buffer (index.json) that the picture follows with frame.jpg, the
 * stream's health (status) and its events, with their thumbnails
 * (events/ID/frame.jpg) and clips.  The page is the same for every
 * camera: its script reads the names from its own path, and puts them
 * and every label into the page as text, never as markup.
 */

static u_char  ngx_http_chrys_camera_page[] =
"<!DOCTYPE html>\n"
"<html lang=\"en\">\n"
"<head>\n"
"<meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<title>chrys camera</title>\n"
"<style>\n"
"body { margin: 0; background: #111; color: #ddd;\n"
"       font: 14px system-ui, sans-serif; }\n"
"header { padding: 10px 14px; background: #1d1d1d; display: flex;\n"
"         flex-wrap: wrap; gap: 6px 14px; align-items: baseline; }\n"
"header a { color: #fff; font-weight: bold; font-size: 16px;\n"
"           text-decoration: none; }\n"
"#title { color: #fff; font-size: 16px; overflow-wrap: anywhere; }\n"
"main { display: flex; flex-wrap: wrap; gap: 12px; padding: 10px; }\n"
"#view { flex: 3 1 640px; min-width: 0; }\n"
"#side { flex: 1 1 300px; min-width: 0; }\n"
"#stage { background: #000; text-align: center; }\n"
"#pic { display: inline-block; max-width: 100%; height: auto;\n"
"       vertical-align: top; }\n"
"#where { padding: 6px 2px; font-variant-numeric: tabular-nums; }\n"
"#where.past { color: #eb5; } #where.live { color: #6c6; }\n"
"#timeline { display: block; width: 100%; height: 48px; background: #1b1b1b;\n"
"            touch-action: none; cursor: pointer; border-radius: 4px; }\n"
"#timeline:focus { outline: 2px solid #58a; }\n"
".bar { display: flex; flex-wrap: wrap; gap: 6px; padding: 6px 0;\n"
"       align-items: center; }\n"
".bar span { color: #888; font-size: 12px; }\n"
"button, input { font: inherit; background: #2a2a2a; color: #ddd;\n"
"                border: 1px solid #444; border-radius: 4px;\n"
"                padding: 6px 10px; }\n"
"button:hover { background: #333; }\n"
"button.on { border-color: #6c6; color: #6c6; }\n"
"input { width: 5.5em; } #label { width: 10em; }\n"
"section { background: #1b1b1b; border-radius: 6px; padding: 8px 10px;\n"
"          margin-bottom: 12px; }\n"
"h2 { font-size: 13px; color: #aaa; margin: 0 0 6px; font-weight: normal;\n"
"     text-transform: uppercase; letter-spacing: .05em; }\n"
"dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 10px;\n"
"     margin: 0 0 6px; font-size: 13px; }\n"
"dt { color: #888; } dd { margin: 0; font-variant-numeric: tabular-nums; }\n"
"#spark { display: block; width: 100%; height: 60px; background: #151515; }\n"
".on { color: #6c6; } .off { color: #c66; } .err { color: #eb5; }\n"
"#events { list-style: none; margin: 0; padding: 0; }\n"
"#events li { display: grid; grid-template-columns: 96px 1fr; gap: 4px 8px;\n"
"             padding: 6px 0; border-top: 1px solid #2a2a2a; }\n"
"#events img { width: 96px; aspect-ratio: 16 / 9; object-fit: contain;\n"
"              background: #000; cursor: pointer; }\n"
"#events .label { color: #fff; overflow-wrap: anywhere; }\n"
"#events .meta { color: #888; font-size: 12px; overflow-wrap: anywhere; }\n"
"#events .act { grid-column: 1 / 3; display: flex; gap: 6px;\n"
"               flex-wrap: wrap; }\n"
"#events .act a { color: #8bd; padding: 6px 4px; }\n"
"#events video { grid-column: 1 / 3; width: 100%; background: #000; }\n"
".legend { font-size: 12px; margin-right: 10px; }\n"
"label { color: #888; font-size: 12px; }\n"
"#msg { color: #eb5; min-height: 1.2em; font-size: 12px; }\n"
"</style>\n"
"</head>\n"
"<body>\n"
"<header><a id=\"home\" href=\"../../\">chrys</a><span id=\"title\"></span>\n"
"<span id=\"state\"></span></header>\n"
"<main>\n"
"<div id=\"view\">\n"
"<div id=\"stage\"><img id=\"pic\" alt=\"the camera's picture\"></div>\n"
"<div id=\"where\" class=\"live\">live</div>\n"
"<canvas id=\"timeline\" tabindex=\"0\"\n"
" aria-label=\"the buffer: drag, or step with the arrow keys\"></canvas>\n"
"<div class=\"bar\">\n"
"<button id=\"prev\" title=\"one frame back (left arrow)\">&#9664;</button>\n"
"<button id=\"next\" title=\"one frame on (right arrow)\">&#9654;</button>\n"
"<button id=\"live\" class=\"on\">live</button>\n"
"<span id=\"span\"></span>\n"
"</div>\n"
"</div>\n"
"<div id=\"side\">\n"
"<section>\n"
"<h2>Stream</h2>\n"
"<dl id=\"health\"></dl>\n"
"<canvas id=\"spark\" aria-label=\"frame age and fps, last minute\"></canvas>\n"
"<span class=\"err legend\" id=\"agemax\">&#9472; frame age</span>\n"
"<span class=\"on legend\" id=\"fpsmax\">&#9472; fps</span>\n"
"</section>\n"
"<section>\n"
"<h2>Events</h2>\n"
"<form id=\"create\" class=\"bar\">\n"
"<input id=\"label\" placeholder=\"label\" maxlength=\"200\">\n"
"<label>pre <input id=\"pre\" type=\"number\" min=\"0\" max=\"300000\"\n"
" value=\"5000\" title=\"ms before now\"></label>\n"
"<label>post <input id=\"post\" type=\"number\" min=\"0\" max=\"300000\"\n"
" value=\"5000\" title=\"ms after now\"></label>\n"
"<button id=\"mark\">mark now</button>\n"
"</form>\n"
"<div id=\"msg\"></div>\n"
"<ul id=\"events\"></ul>\n"
"</section>\n"
"</div>\n"
"</main>\n"
"<script>\n"
"\"use strict\";\n"
"/* /chrys/ui/{app}/{name}: the names are the path's last two segments */\n"
"const parts = location.pathname.split(\"/\");\n"
"const app = decodeURIComponent(parts[parts.length - 2]);\n"
"const name = decodeURIComponent(parts[parts.length - 1]);\n"
"const base = parts.slice(0, -3).join(\"/\") + \"/\";\n"
"const stream = base + encodeURIComponent(app) + \"/\" +\n"
"               encodeURIComponent(name) + \"/\";\n"
"const $ = id => document.getElementById(id);\n"
"const sleep = ms => new Promise(done => setTimeout(done, ms));\n"
"\n"
"if (location.search) {\n"
"  /* ?token= has left its cookie: out of the address bar, and of links\n"
"   * copied from it */\n"
"  history.replaceState(null, \"\", location.pathname);\n"
"}\n"
"\n"
"document.title = app + \"/\" + name + \" \\u00b7 chrys\";\n"
"$(\"title\").textContent = app + \"/\" + name;\n"
"$(\"home\").href = base;\n"
"\n"
"let buffer = null;      /* index.json: start, end, index */\n"
"let events = [];\n"
"let cursor = null;      /* the time asked for, null while live */\n"
"let shown = null;       /* the picture's X-Chrys-* */\n"
"let generation = 0;     /* a new one ends the live loop */\n"
"\n"
"function clock(t) {\n"
"  const d = new Date(t);\n"
"  return d.toLocaleTimeString([], { hour12: false }) + \".\" +\n"
"         String(d.getMilliseconds()).padStart(3, \"0\");\n"
"}\n"
"\n"
"/* puts a JPEG response into the picture, with what its headers say,\n"
" * unless it is no longer wanted once it has come */\n"
"async function picture(r, wanted) {\n"
"  const blob = await r.blob();\n"
"  if (!wanted()) {\n"
"    return;\n"
"  }\n"
"  const url = URL.createObjectURL(blob);\n"
"  const img = $(\"pic\");\n"
"  /* the picture and what is said of it change together */\n"
"  img.src = url;\n"
"  shown = { seq: +r.headers.get(\"X-Chrys-Seq\"),\n"
"            time: +r.headers.get(\"X-Chrys-Time\"),\n"
"            pts: +r.headers.get(\"X-Chrys-Pts\") };\n"
"  img.dataset.seq = shown.seq;\n"
"  img.dataset.time = shown.time;\n"
"  img.dataset.pts = shown.pts;\n"
"  try { await img.decode(); } catch (e) { /* a later one replaced it */ }\n"
"  URL.revokeObjectURL(url);\n"
"}\n"
"\n"
"function where() {\n"
"  const w = $(\"where\");\n"
"  if (cursor === null) {\n"
"    w.className = \"live\";\n"
"    w.textContent = \"live\" + (shown ? \" \\u00b7 \" + clock(shown.time) +\n"
"                              \" \\u00b7 seq \" + shown.seq : \"\");\n"
"  } else if (shown) {\n"
"    w.className = \"past\";\n"
"    w.textContent = clock(shown.time) + \" \\u00b7 seq \" + shown.seq +\n"
"      \" \\u00b7 \" + ((Date.now() - shown.time) / 1000).toFixed(1) +\n"
"      \" s ago\";\n"
"  }\n"
"  $(\"live\").className = cursor === null ? \"on\" : \"\";\n"
"  draw();\n"
"}\n"
"\n"
"/* live: short long polls of latest.jpg, as the dashboard's tiles */\n"
"async function follow(gen) {\n"
"  let seq = 0;\n"
"  while (gen === generation) {\n"
"    try {\n"
"      const r = await fetch(stream + \"latest.jpg?timeout=1000&after=\" +\n"
"                            seq, { cache: \"no-store\" });\n"
"      if (gen !== generation) {\n"
"        return;\n"
"      }\n"
"      if (r.status === 200) {\n"
"        seq = r.headers.get(\"X-Chrys-Seq\");\n"
"        await picture(r, () => gen === generation);\n"
"        if (gen === generation) {\n"
"          where();\n"
"        }\n"
"        await sleep(100);\n"
"      } else if (r.status !== 204) {\n"
"        await sleep(1000);\n"
"      }\n"
"    } catch (e) {\n"
"      await sleep(1000);\n"
"    }\n"
"  }\n"
"}\n"
"\n"
"function live() {\n"
"  cursor = null;\n"
"  want = null;\n"
"  if (inflight) {\n"
"    inflight.abort();\n"
"  }\n"
"  generation++;\n"
"  follow(generation);\n"
"  where();\n"
"}\n"
"\n"
"/*\n"
" * The past: at most one frame.jpg in flight.  A position the drag has\n"
" * moved past before it could be asked for is never asked for, and a\n"
" * request that the drag has outrun is cancelled when the drag ends.\n"
" */\n"
"let want = null;        /* the query of the picture to show */\n"
"let asked = null;       /* the query in flight */\n"
"let inflight = null;    /* its AbortController */\n"
"\n"
"function seek(query) {\n"
"  generation++;         /* leaves live, if it was */\n"
"  want = query;\n"
"  if (!inflight) {\n"
"    load();\n"
"  }\n"
"}\n"
"\n"
"async function load() {\n"
"  while (want !== null && want !== asked) {\n"
"    const q = want;\n"
"    asked = q;\n"
"    inflight = new AbortController();\n"
"    try {\n"
"      const r = await fetch(stream + \"frame.jpg?\" + q, {\n"
"        cache: \"no-store\", signal: inflight.signal });\n"
"      if (r.status === 200) {\n"
"        await picture(r, () => cursor !== null);\n"
"        $(\"msg\").textContent = \"\";\n"
"      } else {\n"
"        $(\"msg\").textContent = (await r.json()).error;\n"
"      }\n"
"    } catch (e) {\n"
"      /* cancelled */\n"
"    }\n"
"    inflight = null;\n"
"    where();\n"
"  }\n"
"  asked = null;\n"
"}\n"
"\n"
"function seekTime(t) {\n"
"  cursor = Math.round(t);\n"
"  seek(\"time=\" + cursor);\n"
"  draw();\n"
"}\n"
"\n"
"/* drag's end: what is in flight for an outrun position goes */\n"
"function settle() {\n"
"  if (inflight && asked !== want) {\n"
"    inflight.abort();\n"
"  }\n"
"}\n"
"\n"
"/* one frame back or on, from the frame shown, by seq */\n"
"function step(by) {\n"
"  if (!buffer || !buffer.index.length) {\n"
"    return;\n"
"  }\n"
"  const list = buffer.index;\n"
"  let seq = shown ? shown.seq + by : list[list.length - 1].seq;\n"
"  seq = Math.max(list[0].seq, Math.min(list[list.length - 1].seq, seq));\n"
"  const e = list.find(f => f.seq === seq);\n"
"  cursor = e ? e.time : (shown ? shown.time : list[0].time);\n"
"  seek(\"seq=\" + seq);\n"
"}\n"
"\n"
"/* the timeline: the buffer's frames, keyframes, events and the cursor */\n"
"const line = $(\"timeline\");\n"
"\n"
"function span() {\n"
"  return buffer && buffer.index.length\n"
"         ? [buffer.start, Math.max(buffer.end, buffer.start + 1)] : null;\n"
"}\n"
"\n"
"function draw() {\n"
"  const w = line.clientWidth, h = line.clientHeight;\n"
"  const dpr = window.devicePixelRatio || 1;\n"
"  if (line.width !== Math.round(w * dpr)) {\n"
"    line.width = Math.round(w * dpr);\n"
"    line.height = Math.round(h * dpr);\n"
"  }\n"
"  const g = line.getContext(\"2d\");\n"
"  g.setTransform(dpr, 0, 0, dpr, 0, 0);\n"
"  g.clearRect(0, 0, w, h);\n"
"  const s = span();\n"
"  if (!s) {\n"
"    return;\n"
"  }\n"
"  const x = t => (t - s[0]) / (s[1] - s[0]) * w;\n"
"  g.fillStyle = \"#2e3a4a\";\n"
"  g.fillRect(0, 14, w, h - 28);\n"
"  g.fillStyle = \"#8bd\";\n"
"  for (const f of buffer.index) {\n"
"    if (f.keyframe) {\n"
"      g.fillRect(Math.round(x(f.time)), 10, 1, h - 20);\n"
"    }\n"
"  }\n"
"  g.fillStyle = \"#eb5\";\n"
"  for (const ev of events) {\n"
"    if (ev.time >= s[0] && ev.time <= s[1]) {\n"
"      const ex = x(ev.time);\n"
"      g.beginPath();\n"
"      g.moveTo(ex - 5, 0); g.lineTo(ex + 5, 0); g.lineTo(ex, 8);\n"
"      g.fill();\n"
"    }\n"
"  }\n"
"  const at = cursor === null ? s[1] : (shown ? shown.time : cursor);\n"
"  g.fillStyle = cursor === null ? \"#6c6\" : \"#fff\";\n"
"  g.fillRect(Math.round(x(at)) - 1, 0, 3, h);\n"
"}\n"
"\n"
"function timeAt(ev) {\n"
"  const r = line.getBoundingClientRect(), s = span();\n"
"  const f = Math.max(0, Math.min(1, (ev.clientX - r.left) / r.width));\n"
"  return s[0] + f * (s[1] - s[0]);\n"
"}\n"
"\n"
"let dragging = false;\n"
"\n"
"line.addEventListener(\"pointerdown\", ev => {\n"
"  if (!span()) {\n"
"    return;\n"
"  }\n"
"  dragging = true;\n"
"  line.setPointerCapture(ev.pointerId);\n"
"  line.focus();\n"
"  seekTime(timeAt(ev));\n"
"});\n"
"\n"
"line.addEventListener(\"pointermove\", ev => {\n"
"  if (dragging) {\n"
"    seekTime(timeAt(ev));\n"
"  }\n"
"});\n"
"\n"
"function drop(ev) {\n"
"  if (dragging) {\n"
"    dragging = false;\n"
"    seekTime(timeAt(ev));\n"
"    settle();\n"
"  }\n"
"}\n"
"\n"
"line.addEventListener(\"pointerup\", drop);\n"
"line.addEventListener(\"pointercancel\", drop);\n"
"\n"
"document.addEventListener(\"keydown\", ev => {\n"
"  if (ev.target.tagName === \"INPUT\" || ev.target.tagName === \"VIDEO\") {\n"
"    return;\n"
"  }\n"
"  if (ev.key === \"ArrowLeft\" || ev.key === \"ArrowRight\") {\n"
"    ev.preventDefault();\n"
"    step(ev.key === \"ArrowLeft\" ? -1 : 1);\n"
"  } else if (ev.key === \"Escape\" || ev.key === \"End\") {\n"
"    live();\n"
"  }\n"
"});\n"
"\n"
"$(\"prev\").onclick = () => step(-1);\n"
"$(\"next\").onclick = () => step(1);\n"
"$(\"live\").onclick = live;\n"
"window.addEventListener(\"resize\", draw);\n"
"\n"
"/* health: status every second, and a minute of frame age and fps */\n"
"const samples = [];\n"
"\n"
"function fact(dl, term, value, cls) {\n"
"  const dt = document.createElement(\"dt\");\n"
"  const dd = document.createElement(\"dd\");\n"
"  dt.textContent = term;\n"
"  dd.textContent = value;\n"
"  if (cls) {\n"
"    dd.className = cls;\n"
"  }\n"
"  dl.append(dt, dd);\n"
"}\n"
"\n"
"function health(s) {\n"
"  const dl = $(\"health\");\n"
"  dl.replaceChildren();\n"
"  fact(dl, \"state\", s.publishing\n"
"       ? \"publishing since \" + clock(s.publish_start)\n"
"       : \"not publishing\" + (s.last_seq ? \", last frame \" +\n"
"                             clock(s.last_time) : \"\"),\n"
"       s.publishing ? \"on\" : \"off\");\n"
"  if (s.decoding === false) {\n"
"    fact(dl, \"decoding\", \"asleep (chrys_decode on_demand)\");\n"
"  }\n"
"  fact(dl, \"picture\", s.codec + \" \" + s.width + \"x\" + s.height);\n"
"  fact(dl, \"fps\", s.fps.toFixed(1));\n"
"  fact(dl, \"bitrate\", (s.bitrate / 1e6).toFixed(2) + \" Mbit/s\");\n"
"  fact(dl, \"frame age\", s.last_age < 0 ? \"-\" : s.last_age + \" ms\");\n"
"  fact(dl, \"decode errors\", String(s.decode_errors));\n"
"  fact(dl, \"skipped\", String(s.frames_skipped));\n"
"  if (buffer) {\n"
"    fact(dl, \"buffer\", (buffer.duration / 1000).toFixed(1) + \" s, \" +\n"
"         (buffer.bytes / 1e6).toFixed(2) + \" MB\");\n"
"  }\n"
"  if (s.error) {\n"
"    fact(dl, \"error\", s.error, \"err\");\n"
"  }\n"
"  $(\"state\").className = s.publishing ? \"on\" : \"off\";\n"
"  $(\"state\").textContent = s.publishing ? \"live\" : \"not publishing\";\n"
"  samples.push({ t: Date.now(), age: Math.max(0, s.last_age), fps: s.fps });\n"
"  while (samples.length && samples[0].t < Date.now() - 60000) {\n"
"    samples.shift();\n"
"  }\n"
"  spark();\n"
"}\n"
"\n"
"function spark() {\n"
"  const c = $(\"spark\"), w = c.clientWidth, h = c.clientHeight;\n"
"  c.width = w;\n"
"  c.height = h;\n"
"  const g = c.getContext(\"2d\");\n"
"  const now = Date.now();\n"
"  const plot = (key, colour) => {\n"
"    const top = Math.max(1, ...samples.map(p => p[key])) * 1.1;\n"
"    tops[key] = top / 1.1;\n"
"    g.strokeStyle = colour;\n"
"    g.beginPath();\n"
"    samples.forEach((p, i) => {\n"
"      const x = w - (now - p.t) / 60000 * w;\n"
"      const y = h - 2 - p[key] / top * (h - 4);\n"
"      if (i) { g.lineTo(x, y); } else { g.moveTo(x, y); }\n"
"    });\n"
"    g.stroke();\n"
"  };\n"
"  const tops = {};\n"
"  plot(\"age\", \"#eb5\");\n"
"  plot(\"fps\", \"#6c6\");\n"
"  $(\"agemax\").textContent = \"\\u2500 frame age, a minute: up to \" +\n"
"                            Math.round(tops.age) + \" ms\";\n"
"  $(\"fpsmax\").textContent = \"\\u2500 fps: up to \" + tops.fps.toFixed(1);\n"
"}\n"
"\n"
"/* the buffer's index, kept here: each second only what is new since the\n"
" * last frame known is asked for, and what left the buffer goes */\n"
"async function index() {\n"
"  const known = buffer && buffer.index.length\n"
"                ? buffer.index[buffer.index.length - 1] : null;\n"
"  let r = await fetch(stream + \"index.json\" +\n"
"                      (known ? \"?from=\" + known.time : \"\"),\n"
"                      { cache: \"no-store\" });\n"
"  if (r.status !== 200 && known) {\n"
"    r = await fetch(stream + \"index.json\", { cache: \"no-store\" });\n"
"    return r.status === 200 ? await r.json() : null;\n"
"  }\n"
"  if (r.status !== 200) {\n"
"    return null;\n"
"  }\n"
"  const b = await r.json();\n"
"  const kept = known ? buffer.index.filter(f => f.time >= b.start) : [];\n"
"  if (!kept.length) {\n"
"    /* nothing known is still there (or the relay is a new one) */\n"
"    return b;\n"
"  }\n"
"  const last = kept[kept.length - 1];\n"
"  b.index = kept.concat(b.index.filter(f => f.seq > last.seq));\n"
"  return b;\n"
"}\n"
"\n"
"async function tick() {\n"
"  try {\n"
"    buffer = await index();\n"
"    const s = span();\n"
"    $(\"span\").textContent = s ? clock(s[0]) + \" \\u2013 \" +\n"
"      clock(s[1]) + \" \\u00b7 \" + buffer.frames + \" frames\"\n"
"      : \"no buffer\";\n"
"  } catch (e) {\n"
"    buffer = null;\n"
"  }\n"
"  try {\n"
"    const r = await fetch(stream + \"status\", { cache: \"no-store\" });\n"
"    if (r.status === 200) {\n"
"      health(await r.json());\n"
"    } else {\n"
"      $(\"state\").className = \"off\";\n"
"      $(\"state\").textContent = (await r.json()).error;\n"
"    }\n"
"  } catch (e) {\n"
"    $(\"state\").textContent = \"offline\";\n"
"  }\n"
"  where();\n"
"}\n"
"\n"
"/* events: the list, and \"mark now\" */\n"
"const items = new Map();\n"
"\n"
"function eventItem(ev) {\n"
"  const li = document.createElement(\"li\");\n"
"  const img = document.createElement(\"img\");\n"
"  img.alt = \"\";\n"
"  img.title = \"show this moment\";\n"
"  const text = document.createElement(\"div\");\n"
"  const label = document.createElement(\"div\");\n"
"  label.className = \"label\";\n"
"  const meta = document.createElement(\"div\");\n"
"  meta.className = \"meta\";\n"
"  text.append(label, meta);\n"
"  const act = document.createElement(\"div\");\n"
"  act.className = \"act\";\n"
"  const play = document.createElement(\"button\");\n"
"  play.textContent = \"play\";\n"
"  const get = document.createElement(\"a\");\n"
"  get.textContent = \"download\";\n"
"  get.href = stream + \"events/\" + ev.id + \"/clip.mp4\";\n"
"  get.download = app + \"-\" + name + \"-event\" + ev.id + \".mp4\";\n"
"  const del = document.createElement(\"button\");\n"
"  del.textContent = \"delete\";\n"
"  act.append(play, get, del);\n"
"  li.append(img, text, act);\n"
"  li.dataset.id = ev.id;\n"
"  const it = { li, img, label, meta, play, video: null, tries: 0 };\n"
"  img.onclick = () => seekTime(it.ev.time);\n"
"  img.onerror = () => {\n"
"    /* its middle frame may not have come yet */\n"
"    if (++it.tries < 20) {\n"
"      setTimeout(() => thumb(it), 1000);\n"
"    }\n"
"  };\n"
"  play.onclick = () => {\n"
"    if (!it.video) {\n"
"      it.video = document.createElement(\"video\");\n"
"      it.video.controls = true;\n"
"      it.video.muted = true;\n"
"      it.video.playsInline = true;\n"
"      li.append(it.video);\n"
"    }\n"
"    it.video.src = stream + \"events/\" + ev.id + \"/clip.mp4?v=\" +\n"
"                   it.ev.frames;\n"
"    it.video.play().catch(() => {});\n"
"  };\n"
"  del.onclick = async () => {\n"
"    await fetch(stream + \"events/\" + ev.id, { method: \"DELETE\" });\n"
"    refreshEvents();\n"
"  };\n"
"  return it;\n"
"}\n"
"\n"
"function thumb(it) {\n"
"  const ev = it.ev;\n"
"  /* the middle of the frames it has, or will have */\n"
"  const lo = Math.max(ev.from, ev.start || ev.from);\n"
"  const hi = ev.complete && ev.end ? Math.min(ev.to, ev.end) : ev.to;\n"
"  const mid = Math.round((lo + hi) / 2);\n"
"  it.img.src = stream + \"events/\" + ev.id + \"/frame.jpg?width=192\" +\n"
"               \"&time=\" + mid + \"&try=\" + it.tries;\n"
"}\n"
"\n"
"function showEvent(ev) {\n"
"  let it = items.get(ev.id);\n"
"  if (!it) {\n"
"    it = eventItem(ev);\n"
"    items.set(ev.id, it);\n"
"  }\n"
"  const first = !it.ev;\n"
"  it.ev = ev;\n"
"  it.label.textContent = (ev.label || \"(no label)\") + \" \\u00b7 \" +\n"
"                         clock(ev.time);\n"
"  it.meta.textContent = \"#\" + ev.id + \" \\u00b7 \" + ev.frames +\n"
"    \" frames, \" + (ev.bytes / 1e6).toFixed(2) + \" MB\" +\n"
"    (ev.complete ? \"\" : \" \\u00b7 recording\") +\n"
"    (ev.truncated ? \" \\u00b7 truncated\" : \"\") +\n"
"    (ev.meta ? \" \\u00b7 \" + JSON.stringify(ev.meta) : \"\");\n"
"  if (first) {\n"
"    thumb(it);\n"
"  }\n"
"  return it.li;\n"
"}\n"
"\n"
"async function refreshEvents() {\n"
"  try {\n"
"    const r = await fetch(stream + \"events\", { cache: \"no-store\" });\n"
"    if (r.status !== 200) {\n"
"      return;\n"
"    }\n"
"    events = (await r.json()).events.sort((a, b) => b.time - a.time);\n"
"    const list = $(\"events\");\n"
"    const keep = new Set(events.map(ev => ev.id));\n"
"    for (const [id, it] of items) {\n"
"      if (!keep.has(id)) {\n"
"        it.li.remove();\n"
"        items.delete(id);\n"
"      }\n"
"    }\n"
"    events.forEach((ev, i) => {\n"
"      const li = showEvent(ev);\n"
"      if (list.children[i] !== li) {\n"
"        list.insertBefore(li, list.children[i] || null);\n"
"      }\n"
"    });\n"
"  } catch (e) {\n"
"    /* the next round */\n"
"  }\n"
"}\n"
"\n"
"$(\"create\").onsubmit = async ev => {\n"
"  ev.preventDefault();\n"
"  const body = { pre: +$(\"pre\").value, post: +$(\"post\").value };\n"
"  if ($(\"label\").value) {\n"
"    body.label = $(\"label\").value;\n"
"  }\n"
"  try {\n"
"    const r = await fetch(stream + \"events\", {\n"
"      method: \"POST\", body: JSON.stringify(body),\n"
"      headers: { \"Content-Type\": \"application/json\" } });\n"
"    const answer = await r.json();\n"
"    $(\"msg\").textContent = r.status === 201\n"
"      ? \"event #\" + answer.id + \" marked\" : answer.error;\n"
"  } catch (e) {\n"
"    $(\"msg\").textContent = String(e);\n"
"  }\n"
"  refreshEvents();\n"
"};\n"
"\n"
"live();\n"
"tick();\n"
"refreshEvents();\n"
"setInterval(tick, 1000);\n"
"setInterval(refreshEvents, 2000);\n"
"</script>\n"
"</body>\n"
"</html>\n";


/* ui/{app}/{name}: the page of a camera, one that may publish later too */

ngx_int_t
ngx_http_chrys_camera(ngx_http_request_t *r, ngx_http_chrys_ctx_t *ctx)
{
    if (ngx_chrys_valid_name(&ctx->app) != NGX_OK
        || ngx_chrys_valid_name(&ctx->name) != NGX_OK)
    {
        return ngx_http_chrys_error(r, NGX_HTTP_NOT_FOUND,
                                    "no such stream name");
    }

    return ngx_http_chrys_send(r, NGX_HTTP_OK, &ngx_http_chrys_html_type,
                               ngx_http_chrys_camera_page,
                               sizeof(ngx_http_chrys_camera_page) - 1);
}
