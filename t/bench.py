"""chrys performance figures, measured side by side in one run.

    make bench      (or: /usr/bin/python3 t/bench.py)

Everything runs on 127.0.0.1 with the plumbing of the tests (t/chrys.py):
Debian's nginx with the built module, ffmpeg publishers, wrk.  The box this
runs on is small and shared, so every figure is a ratio of two things
measured in the same run, or a latency percentile; nothing is asserted.
The report goes to stdout, the same figures as JSON to objs/bench.json.

1. decode CPU per decoded frame: nginx A (chrys on, 1 worker, a watcher
   that keeps every picture copied into the zone, without an encode) and
   ffmpeg -threads 1 decoding the same 720p30 stream relayed by a plain
   nginx B.
2. latest.jpg throughput: wrk against latest.jpg and against a static file
   of the same size on the same nginx (sendfile, open_file_cache),
   alternately; answers that are not 2xx count as failures.
3. frame age at response (X-Chrys-Age) seen by a client polling every
   250 ms for a minute (240 samples a p99), idle and while wrk hammers
   latest.jpg.
4. the stream buffer: memory, image series, clips.
5. the live stream: MJPEG to 50 clients (each must get pictures), raw
   pixels, scaling.
6. the zone's lock: the longest hold while clips, image series and an
   event of the largest sizes run against a 4 Mbit/s stream.
8. a node's capacity (t/bench_capacity.py): 720p30 cameras always-on and
   with chrys_decode on_demand, and the first picture of a sleeping one.
7. the Python client (python/chrys, "t/bench.py client"): frames/s and
   CPU a frame of a loop on cam.frames() against the same loop written on
   raw HTTP; the age of the frames a consumer doing 500 ms of work per
   frame gets from cam.frames() and from OpenCV's VideoCapture on the
   rtmp:// URL, side by side.
9. TLS ("t/bench.py tls"), nginx.conf.example as written (1 worker):
   latest.jpg over HTTPS (keep-alive, HTTP/1.1) against over HTTP, wrk
   alternately; and the server's CPU for one 720p30 publisher over RTMPS
   (stream module + nginx-rtmp) against over RTMP, chrys off so that only
   the ingest is measured, alternately.
10. a cluster ("t/bench.py cluster"), examples/cluster/ as written (a
   front and two nodes, 1 worker each): latest.jpg through the front
   against from the owner node directly, wrk alternately; and the relay
   hop's extra latency: the front keeps its own buffer of the camera
   (chrys on, decoding on demand, i.e. never), so each frame's arrival at
   the front and at the node (index.json's "time", by pts) are compared.
"""

import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from chrys import (MODULE, TOP, Nginx, Publisher, frame_meta,  # noqa: E402
                   testsrc_file, wait_for)
import bench_capacity  # noqa: E402

STREAM = dict(name="bench-1280x720-30-nob", width=1280, height=720, rate=30,
              seconds=30, gop=30, extra=["-bf", "0"])

WARMUP = 5          # s, part 1, before measuring CPU
MEASURE = 20        # s, part 1, CPU measuring window
WRK_RUN = 8         # s, part 2, each of the 4 alternating wrk runs
POLL = 60           # s, part 3, each poller run
POLL_EVERY = 0.25   # s, part 3

TARGET_CPU = 1.10
TARGET_RPS = 0.9
TARGET_AGE = 50
TARGET_LOCK_MS = 1.0

CLK_TCK = os.sysconf("SC_CLK_TCK")
OUT = os.path.join(TOP, "objs", "bench.json")


def log(msg):
    print("  " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- helpers

class Procs:
    """Everything the bench started, stopped in reverse order at the end
    whatever happens."""

    def __init__(self, module=MODULE):
        self.items = []
        self.crashes = []   # nginx error log lines, kept at cleanup
        self.module = module

    def nginx(self, **kw):
        n = Nginx(module=self.module, **kw)
        self.items.append(n)
        return n.start()

    def publisher(self, url, source):
        p = Publisher(url, source, loop=True)
        self.items.append(p)
        return p

    def popen(self, cmd, **kw):
        p = subprocess.Popen(cmd, **kw)
        self.items.append(p)
        return p

    def stop(self, item):
        try:
            if isinstance(item, Nginx):
                try:
                    self.crashes += item.crashes()
                except OSError:
                    pass
                item.cleanup()
            elif isinstance(item, Publisher):
                item.kill()
            elif item.poll() is None:
                item.kill()
                item.wait(timeout=10)
        except Exception as e:  # keep on cleaning up
            print("bench: cleanup: %r" % e, file=sys.stderr)
        if item in self.items:
            self.items.remove(item)

    def stop_all(self):
        for item in reversed(list(self.items)):
            self.stop(item)


def cpu_ticks(pid):
    """utime + stime of a process, all its threads, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def thread_ticks(pid):
    """{tid: (name, utime + stime)} of the threads of a process."""
    out = {}
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/stat" % (base, tid)) as f:
                head, tail = f.read().rsplit(")", 1)
        except OSError:
            continue
        fields = tail.split()
        out[int(tid)] = (head.split("(", 1)[1],
                         int(fields[11]) + int(fields[12]))
    return out


def percent(ticks, seconds):
    return 100.0 * ticks / CLK_TCK / seconds


def pctl(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    return v[max(0, math.ceil(p / 100.0 * len(v)) - 1)]


WRK_UNITS = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6}


def wrk(url, threads, conns, seconds, procs, headers=()):
    """Runs wrk and returns its figures: requests/s, latency percentiles,
    errors."""
    p = procs.popen(["wrk", "-t%d" % threads, "-c%d" % conns,
                     "-d%ds" % seconds, "--latency", url]
                    + [a for h in headers for a in ("-H", h)],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    text=True)
    out, _ = p.communicate(timeout=seconds + 30)
    procs.stop(p)
    m = re.search(r"^Requests/sec:\s*([\d.]+)", out, re.M)
    if not m:
        raise RuntimeError("wrk printed no Requests/sec:\n" + out)
    res = {"rps": float(m.group(1))}
    m = re.search(r"^\s*(\d+) requests in", out, re.M)
    res["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    # an answer that is not a 2xx is a failure, not a request served
    if res["requests"]:
        res["rps"] *= 1 - res["non_2xx"] / res["requests"]
    m = re.search(r"Socket errors:(.*)", out)
    res["socket_errors"] = m.group(1).strip() if m else None
    for q in ("50", "99"):
        m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)\s*$" % q, out, re.M)
        if m:
            scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
            res["latency_p%s_ms" % q] = round(float(m.group(1)) * scale, 3)
    m = re.search(r"^Transfer/sec:\s*([\d.]+)([KMG]?B)", out, re.M)
    if m:
        res["transfer"] = m.group(1) + m.group(2) + "/s"
    return res


def progress_frames(path):
    """The last frame= count ffmpeg wrote to its -progress file."""
    try:
        with open(path) as f:
            found = re.findall(r"^frame=\s*(\d+)\n", f.read(), re.M)
    except OSError:
        return None
    return int(found[-1]) if found else None


def check_running(*pubs):
    for p in pubs:
        if not p.running():
            err = p.proc.stderr.read().decode(errors="replace")
            raise RuntimeError("a publisher died: " + err[-2000:])


def kfmt(x):
    return "%.1fk" % (x / 1000.0) if x >= 1000 else "%.0f" % x


# ---------------------------------------------------------------- part 1

def bench_decode(procs, source):
    """CPU of nginx+chrys decoding a stream vs ffmpeg -threads 1 decoding
    the same stream relayed by a plain nginx."""
    print("1. decode CPU: nginx A (chrys) vs ffmpeg -threads 1 reading "
          "nginx B (plain live)", file=sys.stderr, flush=True)
    a = procs.nginx(workers=1, http_extra=STATIC)
    b = procs.nginx(workers=1, rtmp_extra="application plain { live on; }")
    pub_a = procs.publisher(a.rtmp("cam"), source)
    pub_b = procs.publisher(b.rtmp("x", app="plain"), source)

    wait_for(lambda: a.get("live/cam/status").ok
             and a.status("cam")["frames_decoded"] > 0,
             timeout=15, interval=0.2, what="chrys to decode on A")

    progress = os.path.join(b.prefix, "ffmpeg-progress")
    dec = procs.popen(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel",
                       "error", "-threads", "1",
                       "-i", b.rtmp("x", app="plain"),
                       "-f", "null", "-progress", progress,
                       "-stats_period", "0.5", "-"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(lambda: (progress_frames(progress) or 0) > 0, timeout=20,
             interval=0.2, what="ffmpeg to decode from B")

    # a watcher: "If-None-Match: *" answers 304 without an encode, and
    # keeps every decoded picture copied into the zone as for a reader
    watching = threading.Event()

    def watch():
        s = requests.Session()
        while not watching.is_set():
            s.get(a.url("live/cam/latest.jpg"), timeout=5,
                  headers={"If-None-Match": "*"})
            watching.wait(1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    log("warming up %d s" % WARMUP)
    time.sleep(WARMUP)
    check_running(pub_a, pub_b)
    if dec.poll() is not None:
        raise RuntimeError("ffmpeg decoder died: "
                           + dec.stderr.read().decode(errors="replace"))

    a_workers = a.worker_pids()
    b_workers = b.worker_pids()

    def snapshot():
        return {
            "t": time.monotonic(),
            "a": sum(cpu_ticks(p) for p in a_workers),
            "a_threads": {p: thread_ticks(p) for p in a_workers},
            "b": sum(cpu_ticks(p) for p in b_workers),
            "ff": cpu_ticks(dec.pid),
            "ff_frames": progress_frames(progress),
            "status": a.status("cam"),
        }

    log("measuring CPU for %d s" % MEASURE)
    s0 = snapshot()
    time.sleep(MEASURE)
    s1 = snapshot()
    watching.set()
    watcher.join()
    check_running(pub_a, pub_b)
    if dec.poll() is not None:
        raise RuntimeError("ffmpeg decoder died during the measure")

    dt = s1["t"] - s0["t"]
    a_pct = percent(s1["a"] - s0["a"], dt)
    ff_pct = percent(s1["ff"] - s0["ff"], dt)
    b_pct = percent(s1["b"] - s0["b"], dt)

    # A's CPU split: the event loop (main thread) and the thread pool
    main_t = pool_t = 0
    for pid in a_workers:
        t0, t1 = s0["a_threads"][pid], s1["a_threads"][pid]
        for tid, (_, ticks) in t1.items():
            d = ticks - t0.get(tid, (None, 0))[1]
            if tid == pid:
                main_t += d
            else:
                pool_t += d

    st0, st1 = s0["status"], s1["status"]
    chrys_fps = (st1["frames_decoded"] - st0["frames_decoded"]) / dt
    recv_fps = (st1["frames_received"] - st0["frames_received"]) / dt
    ff_fps = None
    if s0["ff_frames"] is not None and s1["ff_frames"] is not None:
        # the progress file lags by up to -stats_period at both ends
        ff_fps = (s1["ff_frames"] - s0["ff_frames"]) / dt

    # CPU per decoded frame, each side
    a_per = (s1["a"] - s0["a"]) / CLK_TCK / max(st1["frames_decoded"]
                                                 - st0["frames_decoded"], 1)
    ff_per = ((s1["ff"] - s0["ff"]) / CLK_TCK
              / max((s1["ff_frames"] or 0) - (s0["ff_frames"] or 0), 1))

    res = {
        "ratio": round(a_per / ff_per, 3) if ff_per else None,
        "cpu_ratio": round(a_pct / ff_pct, 3) if ff_pct else None,
        "chrys_ms_per_frame": round(a_per * 1000, 3),
        "ffmpeg_ms_per_frame": round(ff_per * 1000, 3),
        "target": "<= %.2f" % TARGET_CPU,
        "seconds": round(dt, 2),
        "chrys_worker_cpu_pct": round(a_pct, 2),
        "chrys_event_loop_cpu_pct": round(percent(main_t, dt), 2),
        "chrys_thread_pool_cpu_pct": round(percent(pool_t, dt), 2),
        "ffmpeg_decoder_cpu_pct": round(ff_pct, 2),
        "plain_nginx_cpu_pct": round(b_pct, 2),
        "chrys_received_fps": round(recv_fps, 2),
        "chrys_decoded_fps": round(chrys_fps, 2),
        "chrys_skipped": st1["frames_skipped"] - st0["frames_skipped"],
        "chrys_decode_errors": st1["decode_errors"] - st0["decode_errors"],
        "ffmpeg_decoded_fps": round(ff_fps, 2) if ff_fps is not None
        else None,
    }
    log("A workers %.1f%% (event loop %.1f%%, pool %.1f%%), ffmpeg %.1f%%, "
        "B %.1f%%; fps chrys %.1f decoded / %.1f received, ffmpeg %s"
        % (a_pct, res["chrys_event_loop_cpu_pct"],
           res["chrys_thread_pool_cpu_pct"], ff_pct, b_pct, chrys_fps,
           recv_fps, "%.1f" % ff_fps if ff_fps is not None else "?"))

    # part 2 goes on with A and its publisher alone
    procs.stop(dec)
    procs.stop(pub_b)
    procs.stop(b)
    return res, a


# ---------------------------------------------------------------- part 2

# the static baseline at its best
STATIC = """location /static/ {
            root {prefix};
            sendfile on;
            tcp_nopush on;
            open_file_cache max=16 inactive=60s;
            open_file_cache_valid 60s;
        }"""


def bench_throughput(procs, a):
    """wrk on latest.jpg vs wrk on a static JPEG of the same size."""
    print("2. latest.jpg vs static JPEG of the same size, wrk -t2 -c64, "
          "1 worker", file=sys.stderr, flush=True)
    r = a.wait_frame("cam")
    body = r.content
    os.makedirs(os.path.join(a.prefix, "static"), mode=0o755, exist_ok=True)
    with open(os.path.join(a.prefix, "static", "frame.jpg"), "wb") as f:
        f.write(body)
    static_url = "http://127.0.0.1:%d/static/frame.jpg" % a.http_port
    chrys_url = a.url("live/cam/latest.jpg")
    check = a.http.get(static_url, timeout=5)
    if check.status_code != 200 or len(check.content) != len(body):
        raise RuntimeError("static file not served: %d" % check.status_code)

    runs = {"static": [], "chrys": []}
    encodes = hits = 0
    for kind in ("static", "chrys", "static", "chrys"):
        st0 = a.status("cam")
        w = wrk(static_url if kind == "static" else chrys_url, 2, 64,
                WRK_RUN, procs)
        st1 = a.status("cam")
        if kind == "chrys":
            w["jpeg_encodes"] = st1["jpeg_encodes"] - st0["jpeg_encodes"]
            w["jpeg_cache_hits"] = (st1["jpeg_cache_hits"]
                                    - st0["jpeg_cache_hits"])
            encodes += w["jpeg_encodes"]
            hits += w["jpeg_cache_hits"]
        runs[kind].append(w)
        log("%-6s %8.0f req/s  p50 %s ms p99 %s ms  non-2xx %d%s"
            % (kind, w["rps"], w.get("latency_p50_ms"),
               w.get("latency_p99_ms"), w["non_2xx"],
               "  encodes %d hits %d" % (w["jpeg_encodes"],
                                         w["jpeg_cache_hits"])
               if kind == "chrys" else ""))

    def mean(kind):
        return sum(w["rps"] for w in runs[kind]) / len(runs[kind])

    return {
        "ratio": round(mean("chrys") / mean("static"), 3),
        "target": ">= %.2f" % TARGET_RPS,
        "chrys_rps": round(mean("chrys"), 1),
        "static_rps": round(mean("static"), 1),
        "jpeg_bytes": len(body),
        "jpeg_encodes": encodes,
        "jpeg_cache_hits": hits,
        "wrk": "wrk -t2 -c64 -d%ds --latency" % WRK_RUN,
        "runs": runs,
    }


# ---------------------------------------------------------------- part 3

def poll_ages(n, seconds, every):
    """GETs latest.jpg every `every` s for `seconds` s; returns the
    X-Chrys-Age values and the client round trips in ms.

    500 ms is exactly 15 frames at 30 fps: a strict period would hit the
    same phase of the frame cadence every time, and measure one age over
    and over.  Each request is put off by a random part of a frame
    interval instead, so the samples cover every phase."""
    ages, rtts, errors = [], [], 0
    url = n.url("live/cam/latest.jpg")
    start = time.monotonic()
    i = 0
    while i * every < seconds:
        t = start + i * every + random.uniform(0, 1.0 / STREAM["rate"])
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        i += 1
        t0 = time.monotonic()
        try:
            r = n.http.get(url, timeout=5)
        except Exception:
            errors += 1
            continue
        rtts.append((time.monotonic() - t0) * 1000.0)
        if r.status_code != 200:
            errors += 1
            continue
        ages.append(frame_meta(r)["age"])
    return ages, rtts, errors


def age_stats(ages, rtts, errors):
    if not ages:
        return {"n": 0, "errors": errors}
    return {
        "n": len(ages), "errors": errors,
        "p50_ms": pctl(ages, 50), "p99_ms": pctl(ages, 99),
        "max_ms": max(ages),
        "rtt_p50_ms": round(pctl(rtts, 50), 2),
        "rtt_p99_ms": round(pctl(rtts, 99), 2),
        "ages_ms": ages,
    }


def bench_age(procs, source, workers=2):
    print("3. frame age at response, one client polling every %d ms, "
          "%d workers" % (POLL_EVERY * 1000, workers),
          file=sys.stderr, flush=True)
    n = procs.nginx(workers=workers)
    pub = procs.publisher(n.rtmp("cam"), source)
    n.wait_frame("cam")
    time.sleep(2)  # past the first GOP

    log("idle, %d s" % POLL)
    idle = age_stats(*poll_ages(n, POLL, POLL_EVERY))
    check_running(pub)

    log("under wrk -t1 -c32 on latest.jpg, %d s" % POLL)
    load = {}

    def hammer():
        try:
            load["wrk"] = wrk(n.url("live/cam/latest.jpg"), 1, 32, POLL + 2,
                              procs)
        except Exception as e:
            load["error"] = repr(e)

    th = threading.Thread(target=hammer, daemon=True)
    th.start()
    time.sleep(1)
    loaded = age_stats(*poll_ages(n, POLL, POLL_EVERY))
    th.join(POLL + 40)
    check_running(pub)
    loaded["wrk_rps"] = load.get("wrk", {}).get("rps")
    if "error" in load:
        loaded["wrk_error"] = load["error"]

    for name, s in (("idle", idle), ("load", loaded)):
        log("%-5s n %d p50 %s p99 %s max %s ms (client round trip p50 %s "
            "ms)%s" % (name, s["n"], s.get("p50_ms"), s.get("p99_ms"),
                       s.get("max_ms"), s.get("rtt_p50_ms"),
                       "  wrk %.0f req/s" % s["wrk_rps"]
                       if s.get("wrk_rps") else ""))

    res = {"workers": workers, "poll_ms": int(POLL_EVERY * 1000),
           "seconds": POLL, "target": "p99 <= %d ms" % TARGET_AGE,
           "percentile": "nearest rank", "idle": idle, "load": loaded}
    procs.stop(pub)
    procs.stop(n)
    return res


# ---------------------------------------------------------------- part 6

CLIENT_LOOP = 3     # s, part 6, each loop run
CLIENT_ROUNDS = 4   # part 6, runs of each loop, alternating (ABBA)
CLIENT_AGE = 60     # s, part 6, the two slow consumers side by side
CLIENT_WORK = 0.5   # s, part 6, the slow consumers' work per frame


def minor_faults():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def keep_freed_memory():
    """Makes glibc's malloc keep big blocks in the heap once freed
    (M_MMAP_THRESHOLD 64 MB, M_TRIM_THRESHOLD 256 MB), as
    MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ would.  By default a
    2.7 MB picture may be mmapped afresh for every frame, and each of its
    pages faulted in again: cheap on bare metal, about 25 ms a picture in
    this VM.  Whether a loop pays that depends on what it freed before
    (glibc raises its threshold above the biggest block freed), not on
    the loop's own code."""
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    return libc.mallopt(-3, 64 << 20) == 1 and \
        libc.mallopt(-1, 256 << 20) == 1


def http_loop(url, fmt, seconds):
    """What a user writes without the client: long polls on latest.raw or
    latest.jpg, the picture made a BGR array.  Returns (frames, seconds,
    CPU seconds, minor page faults)."""
    import cv2
    import numpy as np

    s = requests.Session()
    path = "latest.raw" if fmt == "raw" else "latest.jpg"
    params = {"format": "bgr24"} if fmt == "raw" else {}
    seq, frames = None, 0
    t0, c0, f0 = time.monotonic(), time.process_time(), minor_faults()
    while time.monotonic() - t0 < seconds:
        if seq is not None:
            params.update(after=seq, timeout=10000)
        r = s.get(url + path, params=params, timeout=20)
        if r.status_code != 200:
            continue
        seq = int(r.headers["X-Chrys-Seq"])
        if fmt == "raw":
            h, w = int(r.headers["X-Chrys-Height"]), \
                int(r.headers["X-Chrys-Width"])
            image = np.frombuffer(r.content, np.uint8).reshape(h, w, 3)
        else:
            image = cv2.imdecode(np.frombuffer(r.content, np.uint8),
                                 cv2.IMREAD_COLOR)
        assert image.shape[2] == 3
        frames += 1
    s.close()
    return (frames, time.monotonic() - t0, time.process_time() - c0,
            minor_faults() - f0)


def client_loop(cam, fmt, seconds):
    """The same loop on cam.frames()."""
    frames = 0
    t0, c0, f0 = time.monotonic(), time.process_time(), minor_faults()
    for frame in cam.frames(format=fmt):
        assert frame.image.shape[2] == 3
        frames += 1
        if time.monotonic() - t0 >= seconds:
            break
    return (frames, time.monotonic() - t0, time.process_time() - c0,
            minor_faults() - f0)


def compare_loops(cam, base, fmt):
    """Both loops, alternating (ABBA: this machine's load drifts)."""
    runs = {"http": [], "client": []}
    for i in range(CLIENT_ROUNDS):
        order = ("http", "client") if i % 2 == 0 else ("client", "http")
        for k in order:
            if k == "http":
                runs[k].append(http_loop(base, fmt, CLIENT_LOOP))
            else:
                runs[k].append(client_loop(cam, fmt, CLIENT_LOOP))
    res = {}
    for k, v in runs.items():
        frames = sum(r[0] for r in v)
        res[k] = {"frames": frames, "fps": frames / sum(r[1] for r in v),
                  "cpu_ms_per_frame": 1000.0 * sum(r[2] for r in v)
                  / max(frames, 1),
                  "faults_per_frame": sum(r[3] for r in v) / max(frames, 1)}
    res["fps_ratio"] = res["client"]["fps"] / res["http"]["fps"]
    res["cpu_ratio"] = (res["client"]["cpu_ms_per_frame"]
                        / res["http"]["cpu_ms_per_frame"])
    log("client: %s: %.1f fps vs %.1f fps raw HTTP (%.2f), CPU %.1f vs "
        "%.1f ms a frame, %.0f vs %.0f page faults a frame"
        % (fmt, res["client"]["fps"], res["http"]["fps"], res["fps_ratio"],
           res["client"]["cpu_ms_per_frame"],
           res["http"]["cpu_ms_per_frame"],
           res["client"]["faults_per_frame"],
           res["http"]["faults_per_frame"]))
    return res


def signatures(path, size=(64, 36)):
    """Every frame of a file, grey and tiny (ffmpeg scales): to tell which
    frame a picture is by its content."""
    import numpy as np

    out = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-vf",
                          "scale=%d:%d:flags=area" % size, "-pix_fmt",
                          "gray", "-f", "rawvideo", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, size[1] * size[0]) \
        .astype(np.float32)


def bench_client(procs, source):
    """6. the Python client: its loop against the same loop on raw HTTP,
    and what a slow consumer gets from it and from OpenCV's VideoCapture
    reading the RTMP stream."""
    import cv2
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from python_client import client

    print("6. the Python client: cam.frames() vs raw HTTP; a 500 ms "
          "consumer on cam.frames() vs cv2.VideoCapture(rtmp://)",
          file=sys.stderr, flush=True)
    # one worker: nginx-rtmp plays a stream (to VideoCapture) from its
    # publisher's worker only
    n = procs.nginx(workers=1)
    pub = procs.publisher(n.rtmp("cam"), source)
    n.wait_frame("cam", timeout=30)
    time.sleep(2)
    cam = client.connect(n.url("")).stream("live/cam")
    base = n.url("live/cam/")

    # with glibc's malloc as it comes, then keeping freed blocks (see
    # keep_freed_memory): for good, so the consumers below run so too
    loops = {}
    for kept in (False, True):
        if kept and not keep_freed_memory():
            raise RuntimeError("mallopt failed")
        for fmt in ("raw", "jpeg"):
            log("client: loops on %s, %d runs of %d s each%s"
                % (fmt, 2 * CLIENT_ROUNDS, CLIENT_LOOP,
                   ", freed memory kept" if kept else ""))
            loops[fmt + ("_kept" if kept else "")] = \
                compare_loops(cam, base, fmt)
    check_running(pub)

    # Which frame VideoCapture gave is told by its content: the nearest
    # of the file's frames, grey at 64x36; its stream time is then the
    # last time that frame was published (the file loops), and its age
    # the time since its packet reached nginx: the newest frame's arrival
    # less the stream time between them (a realtime publisher).
    log("client: a 500 ms consumer on cam.frames() and one on "
        "cv2.VideoCapture(rtmp://), side by side, %d s" % CLIENT_AGE)
    sigs = signatures(source)
    period = len(sigs) * 1000.0 / STREAM["rate"]
    probe = requests.Session()

    def newest():
        r = probe.get(base + "latest.jpg", timeout=10)
        return int(r.headers["X-Chrys-Pts"]), int(r.headers["X-Chrys-Time"])

    ages = {"client": [], "opencv": []}
    errors = []

    def slow_client():
        try:
            c = client.connect(n.url("")).stream("live/cam")
            end = time.monotonic() + CLIENT_AGE
            for frame in c.frames():
                ages["client"].append(time.time() * 1000 - frame.time_ms)
                if time.monotonic() > end:
                    break
                time.sleep(CLIENT_WORK)
        except Exception as e:
            errors.append("client: %r" % e)

    def slow_opencv():
        try:
            cap = cv2.VideoCapture(n.rtmp("cam"), cv2.CAP_FFMPEG)
            if not cap.isOpened():
                raise RuntimeError("VideoCapture cannot open the stream")
            end = time.monotonic() + CLIENT_AGE
            while time.monotonic() < end:
                ok, image = cap.read()
                if not ok:
                    raise RuntimeError("VideoCapture.read() failed")
                now = time.time() * 1000
                pts, arrived = newest()
                tiny = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY),
                                  (64, 36), interpolation=cv2.INTER_AREA)
                d = np.abs(sigs - tiny.reshape(-1).astype(np.float32)) \
                    .mean(axis=1)
                frame_pts = int(np.argmin(d)) * 1000.0 / STREAM["rate"]
                behind = (pts - frame_pts) % period
                age = now - (arrived - behind)
                # the file loops: a frame seen again is older by a loop
                # when the age would drop by more than half of one
                while ages["opencv"] and age < ages["opencv"][-1] \
                        - period / 2:
                    age += period
                ages["opencv"].append(age)
                time.sleep(CLIENT_WORK)
            cap.release()
        except Exception as e:
            errors.append("opencv: %r" % e)

    threads = [threading.Thread(target=slow_client, daemon=True),
               threading.Thread(target=slow_opencv, daemon=True)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(CLIENT_AGE + 60)
    check_running(pub)
    procs.stop(pub)
    procs.stop(n)
    if errors:
        raise RuntimeError("; ".join(errors))

    res = {"loops": loops, "consumer_work_ms": CLIENT_WORK * 1000,
           "seconds": CLIENT_AGE, "percentile": "nearest rank"}
    for k, v in ages.items():
        res[k] = {"n": len(v), "p50_ms": round(pctl(v, 50)),
                  "p99_ms": round(pctl(v, 99)), "max_ms": round(max(v)),
                  "ages_ms": [round(a) for a in v]}
        log("client: %-6s n %d age p50 %d ms p99 %d ms max %d ms"
            % (k, len(v), res[k]["p50_ms"], res[k]["p99_ms"],
               res[k]["max_ms"]))
    return res


# ---------------------------------------------------------------- report

def read_multipart(url, first):
    """GETs a multipart response as a stream; returns (parts, seconds to
    the first complete part, total seconds)."""
    t0 = time.monotonic()
    r = requests.get(url, stream=True, timeout=120)
    r.raise_for_status()
    mark = b"--" + r.headers["Content-Type"].split("boundary=")[1].encode()
    tail = b""
    seen = 0
    ttf = None
    for chunk in r.iter_content(1 << 20):
        # count boundaries in this chunk, with what may straddle the last
        data = tail + chunk
        seen += data.count(mark)
        tail = data[-(len(mark) - 1):]
        if ttf is None and seen >= 2:
            ttf = time.monotonic() - t0
    total = time.monotonic() - t0
    parts = seen - 1
    first.append(ttf if ttf is not None else total)
    return parts, total


def bench_buffer(procs, source):
    """4. the stream buffer: zone bytes per second of buffer against the
    stream's own bytes per second; images of a 10 s range against
    ffmpeg decoding the same 10 s; a 30 s clip."""
    n = procs.nginx(workers=2, zone="256m", rtmp_extra="""
        application buf {
            live on;
            chrys on;
            chrys_buffer 30s 64m;
        }
    """)
    pub = procs.publisher(n.rtmp("x", app="buf"), source)
    log("buffer: filling 30 s of buffer at 720p30")
    wait_for(lambda: n.get("buf/x/index.json").status_code == 200
             and n.get("buf/x/index.json").json()["duration"] >= 29000,
             timeout=60, interval=1, what="a full buffer")
    check_running(pub)
    ix = n.get("buf/x/index.json").json()
    payload = sum(f["size"] for f in ix["index"])
    seconds = ix["duration"] / 1000.0
    zone_rate = ix["bytes"] / seconds
    stream_rate = payload / seconds
    st = n.status("x", app="buf")

    # images of 10 s: the first one as a Python client sees it, the whole
    # series through curl, a client that costs next to no CPU
    end = ix["end"]
    t0, t1 = end - 10500, end - 500
    url = n.url("buf/x/images?from=%d&to=%d&quality=80" % (t0, t1))
    first = []
    read_multipart(url, first)
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-D", "-",
                          "-w", "total=%{time_total}\n", url],
                         capture_output=True, text=True, check=True).stdout
    parts = int(re.search(r"X-Chrys-Images: (\d+)", out, re.I).group(1))
    total = float(re.search(r"total=([\d.]+)", out).group(1))
    ips = parts / total

    # the decode floor on the very same range: ffmpeg on its clip
    tmp = os.path.join(n.prefix, "range.mp4")
    with open(tmp, "wb") as f:
        f.write(requests.get(n.url("buf/x/clip.mp4?from=%d&to=%d"
                                   % (t0, t1)), timeout=60).content)
    frames = int(subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-show_entries",
         "stream=nb_read_packets", "-of", "csv=p=0", tmp],
        capture_output=True, text=True).stdout.strip() or 0)
    runs = []
    for _ in range(5):
        t = time.monotonic()
        subprocess.run(["ffmpeg", "-v", "error", "-threads", "1", "-i", tmp,
                        "-f", "null", "-"], check=True)
        runs.append(time.monotonic() - t)
    ffmpeg_fps = frames / min(runs)

    # a clip of the whole 30 s
    t = time.monotonic()
    r = requests.get(n.url("buf/x/clip.mp4"), stream=True, timeout=60)
    ttfb = None
    size = 0
    for chunk in r.iter_content(65536):
        if ttfb is None:
            ttfb = time.monotonic() - t
        size += len(chunk)
    clip_total = time.monotonic() - t

    res = {
        "buffer_seconds": seconds,
        "zone_bytes": ix["bytes"],
        "zone_bytes_per_s": zone_rate,
        "stream_bytes_per_s": stream_rate,
        "status_bitrate": st["bitrate"],
        "memory_ratio": zone_rate / stream_rate,
        "images": parts,
        "images_first_s": first[0],
        "images_total_s": total,
        "images_per_s": ips,
        "ffmpeg_decode_fps": ffmpeg_fps,
        "images_ratio": ips / ffmpeg_fps,
        "clip_bytes": size,
        "clip_ttfb_s": ttfb,
        "clip_total_s": clip_total,
    }
    log("buffer: %.1f s, %d bytes in the zone (%.0f KB/s) for %.0f KB/s of "
        "stream" % (seconds, ix["bytes"], zone_rate / 1024,
                    stream_rate / 1024))
    log("images: %d in %.2f s, first after %.0f ms; ffmpeg %.0f fps"
        % (parts, total, first[0] * 1000, ffmpeg_fps))
    log("clip: %d KB, first byte %.0f ms, all %.0f ms"
        % (size / 1024, ttfb * 1000, clip_total * 1000))
    procs.stop(pub)
    procs.stop(n)
    return res


def prom(n, name, label):
    """One sample of the metrics endpoint."""
    for line in n.get("metrics").text.splitlines():
        if line.startswith(name + label + " "):
            return float(line.split()[-1])
    return 0.0


def bench_live(procs, source):
    """5. the ways to read the live stream: MJPEG to 50 clients against
    one, raw pixels against JPEG, and what scaling costs."""
    n = procs.nginx(workers=1)
    pub = procs.publisher(n.rtmp("x"), source)
    n.wait_frame("x", timeout=30)
    pid = n.worker_pids()[0]
    label = '{app="live",name="x"}'
    url = n.url("live/x/live.mjpg")

    def mjpeg_run(clients, seconds=10):
        st0 = n.status("x")
        c0 = cpu_ticks(pid)
        t0 = time.monotonic()
        curls = [subprocess.Popen(["curl", "-s", "-o", "/dev/null",
                                   "--max-time", str(seconds), "-w",
                                   "%{size_download}", url],
                                  stdout=subprocess.PIPE, text=True)
                 for _ in range(clients)]
        got = [int(c.communicate()[0] or 0) for c in curls]
        took = time.monotonic() - t0
        c1 = cpu_ticks(pid)
        st1 = n.status("x")
        frames = st1["last_seq"] - st0["last_seq"]
        encodes = st1["jpeg_encodes"] - st0["jpeg_encodes"]
        # every client got pictures: at least a second's worth
        jpeg = len(n.get("live/x/latest.jpg").content)
        short = [g for g in got if g < STREAM["rate"] * jpeg / 2]
        if short:
            raise RuntimeError("%d of %d MJPEG clients got less than a "
                               "second of pictures: %s"
                               % (len(short), clients, short[:5]))
        return {"clients": clients, "frames": frames, "encodes": encodes,
                "encodes_per_frame": encodes / max(frames, 1),
                "cpu_pct": percent(c1 - c0, took),
                "bytes_min": min(got), "bytes_max": max(got)}

    log("live: MJPEG, 1 client then 50, 10 s each")
    one = mjpeg_run(1)
    fifty = mjpeg_run(50)
    check_running(pub)

    log("live: latest.raw bgr24 and latest.jpg, wrk 8 s each")
    jpg = wrk(n.url("live/x/latest.jpg"), 2, 16, 8, procs)
    raw = wrk(n.url("live/x/latest.raw?format=bgr24"), 2, 16, 8, procs)
    raw_len = len(n.get("live/x/latest.raw?format=bgr24").content)
    jpg_len = len(n.get("live/x/latest.jpg").content)

    # encode CPU per picture: full size, then 640 wide (a long poll
    # follows every frame, so that each one is encoded)
    def encode_cost(query, seconds=6):
        e0 = prom(n, "chrys_jpeg_encode_seconds_total", label)
        k0 = prom(n, "chrys_jpeg_encodes_total", label)
        seq = n.status("x")["last_seq"]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r = n.get("live/x/latest.jpg?after=%d%s" % (seq, query))
            if r.status_code == 200:
                seq = int(r.headers["X-Chrys-Seq"])
        e1 = prom(n, "chrys_jpeg_encode_seconds_total", label)
        k1 = prom(n, "chrys_jpeg_encodes_total", label)
        return (e1 - e0) / max(k1 - k0, 1), k1 - k0

    log("live: encode time per picture, full size and 640 wide")
    full, nfull = encode_cost("&quality=81")
    small, nsmall = encode_cost("&quality=81&width=640")
    procs.stop(pub)
    procs.stop(n)

    res = {
        "mjpeg_1": one, "mjpeg_50": fifty,
        "mjpeg_encodes_per_frame": fifty["encodes_per_frame"],
        "mjpeg_cpu_ratio": fifty["cpu_pct"] / max(one["cpu_pct"], 0.1),
        "jpg_rps": jpg["rps"], "raw_rps": raw["rps"],
        "raw_bytes": raw_len, "jpg_bytes": jpg_len,
        "raw_ratio": raw["rps"] / jpg["rps"],
        "raw_bytes_per_s": raw["rps"] * raw_len,
        "jpg_bytes_per_s": jpg["rps"] * jpg_len,
        "encode_ms_full": full * 1000, "encode_ms_640": small * 1000,
        "encodes_full": nfull, "encodes_640": nsmall,
        "resize_ratio": small / full if full else None,
    }
    log("live: MJPEG 1 client %.1f%% CPU, 50 clients %.1f%%, %.2f encodes "
        "a frame" % (one["cpu_pct"], fifty["cpu_pct"],
                     fifty["encodes_per_frame"]))
    return res


# ---------------------------------------------------------------- part 6

LOCK_STREAM = dict(name="bench-1920x1080-30-4m", width=1920, height=1080,
                   rate=30, seconds=30, gop=30,
                   extra=["-bf", "0", "-b:v", "4M", "-maxrate", "4M",
                          "-bufsize", "8M"])


def bench_lock(procs):
    """6. the zone's lock while the largest requests of the past run: a
    clip of the whole buffer (300 s of a 4 Mbit/s 1080p stream, 150 MB),
    an image series of 3000 images and an event of 300 s before, together,
    while the stream goes on."""
    src = testsrc_file(LOCK_STREAM["name"], LOCK_STREAM["width"],
                       LOCK_STREAM["height"], LOCK_STREAM["rate"],
                       LOCK_STREAM["seconds"], LOCK_STREAM["gop"],
                       extra=LOCK_STREAM["extra"])
    n = procs.nginx(workers=2, zone="768m",
                    rtmp_main="chrys_event_budget 400m;", rtmp_extra="""
        application big {
            live on;
            chrys on;
            chrys_buffer 300s 200m;
        }
    """)

    # 300 s of the stream into the buffer as fast as nginx takes it
    log("lock: filling the buffer with 150 MB of a 4 Mbit/s stream")
    fast = procs.popen(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel",
                        "error", "-stream_loop", "10", "-i", src, "-c",
                        "copy", "-f", "flv", n.rtmp("x", app="big")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    fast.wait(timeout=600)
    procs.stop(fast)
    ix = n.get("big/x/index.json").json()
    pub = procs.publisher(n.rtmp("x", app="big"), src)
    n.wait_frame("x", app="big", timeout=30)
    time.sleep(2)

    before = prom(n, "chrys_zone_lock_max_seconds", "")
    slow_before = prom(n, "chrys_zone_lock_slow_total", "")
    results = {}

    def clip():
        t = time.monotonic()
        r = requests.get(n.url("big/x/clip.mp4?from=1"), stream=True,
                         timeout=600)
        size = sum(len(c) for c in r.iter_content(1 << 20))
        results["clip"] = (r.status_code, size, time.monotonic() - t)

    def images():
        t = time.monotonic()
        out = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-D", "-", n.url(
                "big/x/images?from=1&limit=3000&interval=%d"
                % max(1, ix["duration"] // 3000))],
            capture_output=True, text=True, timeout=900).stdout
        m = re.search(r"X-Chrys-Images: (\d+)", out, re.I)
        results["images"] = (int(out.split()[1]) if out else 0,
                             int(m.group(1)) if m else 0,
                             time.monotonic() - t)

    def event():
        t = time.monotonic()
        r = requests.post(n.url("big/x/events"), timeout=60,
                          json={"label": "largest", "pre": 300000,
                                "post": 1000})
        results["event"] = (r.status_code,
                            r.json().get("bytes") if r.ok else r.text,
                            time.monotonic() - t)

    log("lock: a clip of it all, 3000 images and an event of 300 s, "
        "at once")
    threads = [threading.Thread(target=f) for f in (clip, images, event)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(900)
    check_running(pub)

    after = prom(n, "chrys_zone_lock_max_seconds", "")
    cpu = prom(n, "chrys_zone_lock_max_cpu_seconds", "")
    slow_after = prom(n, "chrys_zone_lock_slow_total", "")
    res = {
        "buffer_bytes": ix["bytes"], "buffer_seconds": ix["duration"] / 1e3,
        "lock_max_ms_filling": round(before * 1000, 3),
        "lock_max_ms": round(after * 1000, 3),
        "lock_max_cpu_ms": round(cpu * 1000, 3),
        "holds_over_1ms": int(slow_after),
        "holds_over_1ms_during": int(slow_after - slow_before),
        "target": "< %.1f ms" % TARGET_LOCK_MS,
        "clip": results.get("clip"), "images": results.get("images"),
        "event": results.get("event"),
    }
    log("lock: longest hold %.3f ms (%.3f ms while filling), %d holds over "
        "1 ms; the most CPU a hold took %.3f ms; clip %s, images %s, "
        "event %s"
        % (res["lock_max_ms"], res["lock_max_ms_filling"],
           res["holds_over_1ms"], res["lock_max_cpu_ms"], res["clip"],
           res["images"], res["event"]))
    procs.stop(pub)
    procs.stop(n)
    return res


# ---------------------------------------------------------------- part 9

TLS_INGEST = 10     # s, part 9, each CPU window of a publisher


def example_nginx(procs, **kw):
    """nginx.conf.example as the tests run it (t/test_security.py)."""
    from test_security import ExampleNginx
    n = ExampleNginx(module=procs.module, **kw)
    procs.items.append(n)
    return n.start()


def cpu_ns(pid):
    """CPU time of a process, all its threads, in nanoseconds (schedstat:
    finer than clock ticks, for loads of a few tenths of a percent)."""
    total = 0
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/schedstat" % (base, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def nginx_ns(n):
    return sum(cpu_ns(pid) for pid in [n.master_pid()] + n.worker_pids())


def bench_tls(procs, source):
    """9. HTTPS against HTTP for latest.jpg; the server's CPU for an RTMPS
    publisher against an RTMP one."""
    from test_security import KEY, TOKEN
    print("9. TLS: latest.jpg over HTTPS / over HTTP (wrk -t2 -c64, "
          "keep-alive, 1 worker); RTMPS / RTMP ingest CPU",
          file=sys.stderr, flush=True)
    n = example_nginx(procs, workers=1)
    procs.publisher(n.rtmp("cam?key=" + KEY), source)
    wait_for(lambda: n.api("live/cam/latest.jpg").status_code == 200,
             timeout=30, what="a picture")
    urls = {"http": n.url("live/cam/latest.jpg"),
            "https": "https://127.0.0.1:%d/chrys/live/cam/latest.jpg"
                     % n.https_port}
    auth = ["Authorization: Bearer " + TOKEN]
    runs = {"http": [], "https": []}
    for kind in ("http", "https", "http", "https"):
        w = wrk(urls[kind], 2, 64, WRK_RUN, procs, headers=auth)
        runs[kind].append(w)
        log("%-6s %8.0f req/s  p50 %s ms p99 %s ms  non-2xx %d"
            % (kind, w["rps"], w.get("latency_p50_ms"),
               w.get("latency_p99_ms"), w["non_2xx"]))
    procs.stop_all()

    def mean(kind):
        return sum(w["rps"] for w in runs[kind]) / len(runs[kind])

    # ingest only: chrys off, so the decoder's CPU does not hide TLS's
    n = example_nginx(procs, workers=1, changes=[
        ("    live on;\n            chrys on;",
         "    live on;\n            chrys off;")])
    ingest = {"rtmp": [], "rtmps": []}
    publisher = {"rtmp": [], "rtmps": []}
    for kind in ("rtmp", "rtmps", "rtmp", "rtmps"):
        port = n.rtmp_port if kind == "rtmp" else n.rtmps_port
        p = procs.publisher("%s://127.0.0.1:%d/live/cam?key=%s"
                            % (kind, port, KEY), source)
        time.sleep(3)
        check_running(p)
        t0, p0, c0 = time.monotonic(), nginx_ns(n), cpu_ns(p.proc.pid)
        time.sleep(TLS_INGEST)
        check_running(p)
        dt = time.monotonic() - t0
        ingest[kind].append(100.0 * (nginx_ns(n) - p0) / 1e9 / dt)
        publisher[kind].append(100.0 * (cpu_ns(p.proc.pid) - c0) / 1e9 / dt)
        procs.stop(p)
        log("%-6s nginx %.2f%% CPU, ffmpeg publisher %.2f%%"
            % (kind, ingest[kind][-1], publisher[kind][-1]))
        time.sleep(1)

    def avg(values):
        return sum(values) / len(values)

    rtmp_cpu, rtmps_cpu = avg(ingest["rtmp"]), avg(ingest["rtmps"])
    return {
        "https_ratio": round(mean("https") / mean("http"), 3),
        "https_rps": round(mean("https"), 1),
        "http_rps": round(mean("http"), 1),
        "wrk": "wrk -t2 -c64 -d%ds --latency, Bearer header" % WRK_RUN,
        "runs": runs,
        "rtmps_cpu_ratio": round(rtmps_cpu / rtmp_cpu, 2) if rtmp_cpu
        else None,
        "rtmp_nginx_cpu_pct": round(rtmp_cpu, 2),
        "rtmps_nginx_cpu_pct": round(rtmps_cpu, 2),
        "rtmp_publisher_cpu_pct": round(avg(publisher["rtmp"]), 2),
        "rtmps_publisher_cpu_pct": round(avg(publisher["rtmps"]), 2),
        "ingest_seconds": TLS_INGEST,
    }


CLUSTER_HOP = 20    # s, part 10, of frames compared at front and node


def bench_cluster(procs, source):
    """10. latest.jpg through a cluster's front / from its node; the
    relay hop's latency."""
    from test_cluster import KEY, TOKEN, ClusterNginx
    print("10. cluster: latest.jpg through the front / from the node (wrk "
          "-t2 -c64, 1 worker each); the relay hop's latency",
          file=sys.stderr, flush=True)

    def start(n):
        procs.items.append(n)
        return n.start()

    nodes = [start(ClusterNginx("node", workers=1, module=procs.module))
             for _ in range(2)]
    # the front keeps a buffer of its own, only to time the frames' arrival
    front = ClusterNginx("front", nodes=nodes, workers=1,
                         module=procs.module)
    front.write_conf = _front_with_buffer(front.write_conf, front)
    front.write_conf()
    start(front)

    procs.publisher(front.rtmp("cam") + "?key=" + KEY, source)
    wait_for(lambda: front.get("live/cam/latest.jpg").status_code == 200,
             timeout=30, what="a picture through the front")
    owner = [n for n in nodes if "cam" in n.publishing()][0]

    auth = ["Authorization: Bearer " + TOKEN]
    urls = {"front": front.url("live/cam/latest.jpg"),
            "node": owner.url("live/cam/latest.jpg")}
    runs = {"front": [], "node": []}
    for kind in ("node", "front", "node", "front"):
        w = wrk(urls[kind], 2, 64, WRK_RUN, procs, headers=auth)
        runs[kind].append(w)
        log("%-6s %8.0f req/s  p50 %s ms p99 %s ms  non-2xx %d"
            % (kind, w["rps"], w.get("latency_p50_ms"),
               w.get("latency_p99_ms"), w["non_2xx"]))

    def mean(kind):
        return sum(w["rps"] for w in runs[kind]) / len(runs[kind])

    time.sleep(CLUSTER_HOP)
    at_front = front.http.get("http://127.0.0.1:%d/front-buffer/live/cam/"
                              "index.json?from=-%d"
                              % (front.http_port, CLUSTER_HOP * 1000),
                              timeout=10).json()["index"]
    at_node = owner.get("live/cam/index.json?from=-%d"
                        % (CLUSTER_HOP * 1000)).json()["index"]
    arrived = {f["pts"]: f["time"] for f in at_front}
    hops = [f["time"] - arrived[f["pts"]] for f in at_node
            if f["pts"] in arrived]
    log("relay hop: %d frames, p50 %s ms, p99 %s ms"
        % (len(hops), pctl(hops, 50), pctl(hops, 99)))
    return {
        "ratio": round(mean("front") / mean("node"), 3),
        "front_rps": round(mean("front"), 1),
        "node_rps": round(mean("node"), 1),
        "runs": runs,
        "hop_frames": len(hops),
        "hop_p50_ms": pctl(hops, 50),
        "hop_p99_ms": pctl(hops, 99),
        "hop_max_ms": max(hops) if hops else None,
    }


def _front_with_buffer(write_conf, front):
    """front.conf with a buffer of the camera on the front itself and its
    index at /front-buffer/: for timing, not for a real front."""
    def write(**changes):
        write_conf(**changes)
        with open(front.conf) as f:
            text = f.read()
        for old, new in [
                ("chrys_zone chrys 4m;", "chrys_zone chrys 64m;"),
                ("chrys_relay_drop on;",
                 "chrys_relay_drop on;\n"
                 "            chrys on;\n"
                 "            chrys_decode on_demand 1h;"),
                ("        location = /cluster/publish {",
                 "        location /front-buffer/ {\n"
                 "            chrys_api;\n"
                 "        }\n\n"
                 "        location = /cluster/publish {")]:
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        with open(front.conf, "w") as f:
            f.write(text)
    return write

def audio_source(source):
    """The bench stream with AAC audio (a 1 kHz tone, 48 kHz stereo, 128
    kbit/s, as a camera or OBS sends), cached next to it."""
    path = source[:-len(".flv")] + "-aac.flv"
    if not os.path.exists(path):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", source, "-f",
                        "lavfi", "-i", "sine=frequency=1000:sample_rate=48000",
                        "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a",
                        "aac", "-b:a", "128k", "-ac", "2", "-shortest", "-f",
                        "flv", path + ".part"], check=True)
        os.replace(path + ".part", path)
    return path


def bench_audio(procs, source):
    """4b. audio in the buffer: zone bytes per second of buffer with AAC,
    against the stream's own bytes per second (its video and audio
    packets, as ffprobe reads them from the file)."""
    path = audio_source(source)
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "packet=size:format=duration", "-of", "json", path],
                         capture_output=True, text=True, check=True).stdout
    info = json.loads(out)
    stream_rate = (sum(int(p["size"]) for p in info["packets"])
                   / float(info["format"]["duration"]))

    n = procs.nginx(workers=2, zone="256m", rtmp_extra="""
        application buf {
            live on;
            chrys on;
            chrys_buffer 30s 64m;
        }
    """)
    pub = procs.publisher(n.rtmp("x", app="buf"), path)
    log("audio: filling 30 s of buffer at 720p30 with AAC")
    wait_for(lambda: n.get("buf/x/index.json").status_code == 200
             and n.get("buf/x/index.json").json()["duration"] >= 29000,
             timeout=60, interval=1, what="a full buffer")
    check_running(pub)
    ix = n.get("buf/x/index.json").json()
    seconds = ix["duration"] / 1000.0
    zone_rate = ix["bytes"] / seconds
    res = {
        "buffer_seconds": seconds,
        "zone_bytes": ix["bytes"],
        "zone_bytes_per_s": zone_rate,
        "stream_bytes_per_s": stream_rate,
        "audio_frames": ix["audio"]["frames"] if ix["audio"] else 0,
        "memory_ratio": zone_rate / stream_rate,
    }
    log("audio: %.1f s, %d bytes in the zone (%.0f KB/s) for %.0f KB/s of "
        "stream with audio, %d AAC frames" % (seconds, ix["bytes"],
                                              zone_rate / 1024,
                                              stream_rate / 1024,
                                              res["audio_frames"]))
    procs.stop(pub)
    procs.stop(n)
    return res


def report(res):
    d, t, g = res.get("decode"), res.get("throughput"), res.get("age")
    b = res.get("buffer")
    au = res.get("audio")
    v = res.get("live")
    lines = ["chrys bench (%d cores, loopback), %s"
             % (res["cpus"], res["date"])]
    if d:
        lines.append(
            "1. decode CPU per 720p30 stream / ffmpeg -threads 1:  %5.2f  "
            "(target <= %.2f)   [A %.1f%% CPU (pool threads %.1f%%), "
            "ffmpeg %.1f%%, plain nginx ingest %.1f%%; fps decoded chrys "
            "%.1f, ffmpeg %s]"
            % (d["ratio"] or 0, TARGET_CPU, d["chrys_worker_cpu_pct"],
               d["chrys_thread_pool_cpu_pct"],
               d["ffmpeg_decoder_cpu_pct"], d["plain_nginx_cpu_pct"],
               d["chrys_decoded_fps"],
               "%.1f" % d["ffmpeg_decoded_fps"]
               if d["ffmpeg_decoded_fps"] is not None else "?"))
    if t:
        lines.append(
            "2. latest.jpg req/s / static jpeg req/s:             %5.2f  "
            "(target >= %.2f)   [chrys %s/s, static %s/s, %.0f KB; "
            "%d encodes, %d cache hits]"
            % (t["ratio"], TARGET_RPS, kfmt(t["chrys_rps"]),
               kfmt(t["static_rps"]), t["jpeg_bytes"] / 1024.0,
               t["jpeg_encodes"], t["jpeg_cache_hits"]))
    if g:
        i, l = g["idle"], g["load"]
        lines.append(
            "3. frame age at response, %d ms poller (%d workers): "
            "p50 %s ms p99 %s ms idle; p50 %s ms p99 %s ms under load "
            "(target p99 <= %d ms)   [max %s / %s ms, n %d / %d, wrk %s/s]"
            % (g["poll_ms"], g["workers"], i.get("p50_ms"), i.get("p99_ms"),
               l.get("p50_ms"), l.get("p99_ms"), TARGET_AGE,
               i.get("max_ms"), l.get("max_ms"), i["n"], l["n"],
               kfmt(l["wrk_rps"]) if l.get("wrk_rps") else "?"))
    if b:
        lines.append(
            "4. buffer: zone bytes per second / stream bytes per second:  "
            "%5.2f  (target <= 1.15)   [%.1f s buffered, %.1f MB]"
            % (b["memory_ratio"], b["buffer_seconds"],
               b["zone_bytes"] / 1048576.0))
        lines.append(
            "   images of 10 s: %.0f images/s / ffmpeg -threads 1 decode "
            "%.0f fps: %5.2f  (target >= 0.8)   [first image after %.0f "
            "ms, %d images in %.2f s]"
            % (b["images_per_s"], b["ffmpeg_decode_fps"],
               b["images_ratio"], b["images_first_s"] * 1000, b["images"],
               b["images_total_s"]))
        lines.append(
            "   clip.mp4 of 30 s: first byte after %.0f ms, all %.0f ms "
            "(%.1f MB, no re-encoding)"
            % (b["clip_ttfb_s"] * 1000, b["clip_total_s"] * 1000,
               b["clip_bytes"] / 1048576.0))
    if au:
        lines.append(
            "4b. buffer with AAC audio: zone bytes per second / stream "
            "bytes per second:  %5.2f  (target <= 1.10)   [%.1f s buffered, "
            "%.1f MB, %d AAC frames]"
            % (au["memory_ratio"], au["buffer_seconds"],
               au["zone_bytes"] / 1048576.0, au["audio_frames"]))
    if v:
        lines.append(
            "5. MJPEG to 50 clients: %.2f JPEG encodes a frame (target 1), "
            "CPU %.1fx one client's   [%.1f%% vs %.1f%% of a core]"
            % (v["mjpeg_encodes_per_frame"], v["mjpeg_cpu_ratio"],
               v["mjpeg_50"]["cpu_pct"], v["mjpeg_1"]["cpu_pct"]))
        lines.append(
            "   latest.raw bgr24 req/s / latest.jpg req/s: %5.2f   [%s/s of "
            "%.0f KB = %.0f MB/s, against %s/s of %.0f KB = %.0f MB/s]"
            % (v["raw_ratio"], kfmt(v["raw_rps"]), v["raw_bytes"] / 1024.0,
               v["raw_bytes_per_s"] / 1048576.0, kfmt(v["jpg_rps"]),
               v["jpg_bytes"] / 1024.0, v["jpg_bytes_per_s"] / 1048576.0))
        lines.append(
            "   resize to 640 wide and encode / encode at full size: %5.2f   "
            "[%.2f ms vs %.2f ms a picture]"
            % (v["resize_ratio"] or 0, v["encode_ms_640"],
               v["encode_ms_full"]))
    k = res.get("lock")
    if k:
        lines.append(
            "6. longest hold of the zone's lock, the largest clip, image "
            "series and event at once: %.3f ms, of which CPU at most "
            "%.3f ms  (target < %.1f ms)   [%d holds over 1 ms; %.0f MB "
            "buffered; %.3f ms while filling; clip %s]"
            % (k["lock_max_ms"], k["lock_max_cpu_ms"], TARGET_LOCK_MS,
               k["holds_over_1ms"], k["buffer_bytes"] / 1048576.0,
               k["lock_max_ms_filling"],
               "%d MB" % (k["clip"][1] / 1048576) if k["clip"] else "broke"))
    c = res.get("client")
    if c:
        lines.append("7. Python client: a loop on cam.frames() / the same "
                     "loop on raw HTTP, 720p30 (target fps >= 0.95)")
        for k, what in (("raw", "raw bgr24"), ("jpeg", "JPEG"),
                        ("raw_kept", "raw bgr24, freed memory kept"),
                        ("jpeg_kept", "JPEG, freed memory kept")):
            x = c["loops"][k]
            lines.append(
                "   %-29s fps %5.2f  CPU %5.2f   [%.1f / %.1f fps; %.1f / "
                "%.1f ms CPU, %.0f / %.0f page faults a frame]"
                % (what + ":", x["fps_ratio"], x["cpu_ratio"],
                   x["client"]["fps"], x["http"]["fps"],
                   x["client"]["cpu_ms_per_frame"],
                   x["http"]["cpu_ms_per_frame"],
                   x["client"]["faults_per_frame"],
                   x["http"]["faults_per_frame"]))
        lines.append(
            "   age of the frames a 500 ms/frame consumer gets: "
            "cam.frames() p50 %d ms p99 %d ms; cv2.VideoCapture(rtmp://) "
            "p50 %d ms p99 %d ms   [n %d / %d, max %d / %d ms]"
            % (c["client"]["p50_ms"], c["client"]["p99_ms"],
               c["opencv"]["p50_ms"], c["opencv"]["p99_ms"],
               c["client"]["n"], c["opencv"]["n"], c["client"]["max_ms"],
               c["opencv"]["max_ms"]))
    x = res.get("tls")
    if x:
        lines.append(
            "9. latest.jpg over HTTPS (keep-alive) / over HTTP:   %5.2f   "
            "[%s/s vs %s/s]"
            % (x["https_ratio"], kfmt(x["https_rps"]), kfmt(x["http_rps"])))
        lines.append(
            "   server CPU of a 720p30 publisher, RTMPS / RTMP (ingest "
            "only, chrys off): %s   [%.2f%% vs %.2f%% of a core, TLS "
            "%+.2f%%; the ffmpeg publisher %.2f%% vs %.2f%%]"
            % ("%.2f" % x["rtmps_cpu_ratio"] if x["rtmps_cpu_ratio"]
               else "?", x["rtmps_nginx_cpu_pct"], x["rtmp_nginx_cpu_pct"],
               x["rtmps_nginx_cpu_pct"] - x["rtmp_nginx_cpu_pct"],
               x["rtmps_publisher_cpu_pct"], x["rtmp_publisher_cpu_pct"]))
    x = res.get("cluster")
    if x:
        lines.append(
            "10. latest.jpg through a cluster's front / from the node "
            "(target >= 0.8): %5.2f   [%s/s vs %s/s]"
            % (x["ratio"], kfmt(x["front_rps"]), kfmt(x["node_rps"])))
        lines.append(
            "   the relay hop, front to node, a frame: p50 %s ms, p99 %s ms"
            "   [%d frames, max %s ms]"
            % (x["hop_p50_ms"], x["hop_p99_ms"], x["hop_frames"],
               x["hop_max_ms"]))
    if res.get("capacity"):
        lines += bench_capacity.report(res["capacity"])
    for e in res.get("errors", []):
        lines.append("error: " + e)
    for c in res.get("crashes", []):
        lines.append("nginx: " + c)
    print("\n".join(lines), flush=True)


def main():
    if not os.path.exists(MODULE):
        sys.exit("bench: run make first: %s is missing" % MODULE)

    def term(signum, frame):
        raise SystemExit(128 + signum)
    # Ctrl-C, even when started with SIGINT ignored (a background job)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, term)
    signal.signal(signal.SIGHUP, term)

    res = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "stream": "testsrc2 %dx%d %d fps, libx264 veryfast, GOP %d, no "
                  "B-frames" % (STREAM["width"], STREAM["height"],
                                STREAM["rate"], STREAM["gop"]),
        "errors": [],
    }
    print("chrys bench: %s, load average %.2f" % (res["stream"],
                                                 res["loadavg_before"][0]),
          file=sys.stderr, flush=True)
    source = testsrc_file(STREAM["name"], STREAM["width"], STREAM["height"],
                          STREAM["rate"], STREAM["seconds"], STREAM["gop"],
                          extra=STREAM["extra"])
    # nginx maps the module file: a rebuild copying over it while the bench
    # runs would crash the workers, so they load a copy of their own
    tmp = tempfile.mkdtemp(prefix="chrys-bench-")
    module = os.path.join(tmp, os.path.basename(MODULE))
    shutil.copy(MODULE, module)
    os.chmod(tmp, 0o755)
    started = time.monotonic()
    procs = Procs(module)
    # "t/bench.py buffer age" runs only those parts
    parts = sys.argv[1:] or ["decode", "throughput", "age", "buffer",
                             "audio", "live", "lock", "client", "capacity",
                             "tls", "cluster"]
    # the parts after the first two, each run alone, in this order
    alone = [
        ("age", lambda: bench_age(procs, source)),
        ("buffer", lambda: bench_buffer(procs, source)),
        ("audio", lambda: bench_audio(procs, source)),
        ("live", lambda: bench_live(procs, source)),
        ("lock", lambda: bench_lock(procs)),
        ("client", lambda: bench_client(procs, source)),
        ("tls", lambda: bench_tls(procs, source)),
        ("cluster", lambda: bench_cluster(procs, source)),
        ("capacity", lambda: bench_capacity.bench_capacity(
            procs, sys.modules[__name__], source, STREAM)),
    ]
    try:
        # throughput runs against part 1's nginx
        a = None
        if "decode" in parts or "throughput" in parts:
            try:
                res["decode"], a = bench_decode(procs, source)
            except Exception as e:
                res["errors"].append("decode: %r" % e)
        if a is not None and "throughput" in parts:
            try:
                res["throughput"] = bench_throughput(procs, a)
            except Exception as e:
                res["errors"].append("throughput: %r" % e)
        for name, run in alone:
            procs.stop_all()
            if name not in parts:
                continue
            try:
                res[name] = run()
            except Exception as e:
                res["errors"].append("%s: %r" % (name, e))
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    res["crashes"] = procs.crashes
    res["seconds"] = round(time.monotonic() - started, 1)
    res["loadavg_after"] = os.getloadavg()
    with open(OUT, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    print(file=sys.stderr)
    report(res)
    print("(%.0f s; figures in %s)" % (res["seconds"],
                                      os.path.relpath(OUT, TOP)), flush=True)
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
