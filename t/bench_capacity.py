"""8. a node's capacity ("t/bench.py capacity"), side by side in one run:

- the decode floor: cores x the fps of ffmpeg -threads 1 decoding the 720p
  file (best of 3) / 30;
- always-on: the most 720p30 cameras for which each of the watched ones
  (10, or all if fewer) keeps its frame age at p99 <= 100 ms (and no error,
  and decodes at >= 90 % of its frame rate), as a ratio to that floor;
- on_demand: nginx's CPU for N cameras nobody watches over the same N
  always-on; then the most cameras with 10 of them watched, as above, and
  the zone bytes a sleeping camera holds;
- the first picture of a sleeping camera: p50 and p99 of request to
  response (150 of them) over the time ffmpeg -threads 1 takes for one
  GOP of the same file.

The cameras are one t/rtmp.py process sending the pre-encoded file under
every name (it costs next to nothing a camera); watchers poll latest.jpg
every 250 ms with "If-None-Match: *" (a 304 carries X-Chrys-Age without a
JPEG encode).  Each trial is a fresh nginx (2 workers).
"""

import os
import subprocess
import sys
import threading
import time

import requests

from chrys import TOP, wait_for

PYTHON = "/usr/bin/python3"
RTMP = os.path.join(TOP, "t", "rtmp.py")

WATCHED = 10
AGE_P99 = 100        # ms
WARMUP = 12          # s: the zone's pages are touched, decoders settle
TRIAL = 26           # s of watching: 100 samples a watched camera
EVERY = 0.25         # s between a watcher's requests
BUFFER = "4s"        # each camera's buffer in the trials
MAX_CAMERAS = 400
FIRST = 150          # first pictures measured
FIRST_CAMERAS = 20

CAP_APP = """
        application cap {
            live on;
            chrys on;
            chrys_buffer %s;
            chrys_decode %s;
        }
"""


def log(msg):
    print("   " + msg, file=sys.stderr, flush=True)


def cpu_of(pids, ticks):
    return sum(ticks(p) for p in pids)


def start_node(procs, mode, n, idle="10s"):
    decode = "always" if mode == "always" else "on_demand " + idle
    return procs.nginx(workers=2, zone="%dm" % (64 + 6 * n),
                       rtmp_extra=CAP_APP % (BUFFER, decode))


def start_fleet(procs, node, n, path):
    names = ["c%03d" % i for i in range(n)]
    url = "rtmp://127.0.0.1:%d/cap" % node.rtmp_port
    fleet = procs.popen([PYTHON, RTMP, url] + names
                        + ["-i", path, "--loops", "1000",
                           "--at-once", str(n)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def publishing():
        r = node.get("streams")
        return r.ok and sum(s["publishing"] for s in r.json()["streams"]) == n

    wait_for(publishing, timeout=60, interval=0.5,
             what="%d cameras to publish" % n)
    return names, fleet


def watch(node, names, seconds):
    """One thread a camera polling latest.jpg; returns {name: (ages,
    errors)}."""
    out = {}
    stop = time.monotonic() + seconds

    def one(name):
        s = requests.Session()
        url = node.url("cap/%s/latest.jpg" % name)
        ages, errors = [], 0
        k = 0
        start = time.monotonic()
        while time.monotonic() < stop:
            try:
                r = s.get(url, timeout=5, headers={"If-None-Match": "*"})
                if r.status_code in (200, 304):
                    ages.append(int(r.headers["X-Chrys-Age"]))
                else:
                    errors += 1
            except Exception:
                errors += 1
            k += 1
            delay = start + k * EVERY - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        out[name] = (ages, errors)

    threads = [threading.Thread(target=one, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def trial(procs, bench, mode, n, path):
    """n cameras, min(n, WATCHED) watched: whether each watched camera
    kept p99 age <= AGE_P99 with no error and its frame rate, and nginx's
    CPU."""
    node = start_node(procs, mode, n)
    try:
        names, fleet = start_fleet(procs, node, n, path)
        watched = names[:WATCHED]
        # the watched ones wake (on_demand) and warm up with the rest
        watch(node, watched, 1)
        time.sleep(WARMUP)
        pids = [node.master_pid()] + node.worker_pids()
        before = {w: node.get("cap/%s/status" % w).json()
                  for w in watched}
        c0, f0, t0 = (cpu_of(pids, bench.cpu_ticks),
                      bench.cpu_ticks(fleet.pid), time.monotonic())
        seen = watch(node, watched, TRIAL)
        c1, f1, t1 = (cpu_of(pids, bench.cpu_ticks),
                      bench.cpu_ticks(fleet.pid), time.monotonic())
        after = {w: node.get("cap/%s/status" % w).json() for w in watched}
        if fleet.poll() is not None:
            raise RuntimeError("the publisher died: %s" %
                               fleet.stderr.read().decode(errors="replace"))
        p99s, fps, errors, samples = [], [], 0, []
        for w in watched:
            ages, err = seen[w]
            errors += err
            samples.append(len(ages))
            if ages:
                p99s.append(bench.pctl(ages, 99))
            fps.append((after[w]["frames_decoded"]
                        - before[w]["frames_decoded"]) / (t1 - t0))
        res = {
            "mode": mode, "cameras": n, "watched": len(watched),
            "worst_p99_ms": max(p99s) if p99s else None,
            "min_samples": min(samples), "errors": errors,
            "min_decoded_fps": round(min(fps), 1),
            "nginx_cpu_pct": round(bench.percent(c1 - c0, t1 - t0), 1),
            "publisher_cpu_pct": round(bench.percent(f1 - f0, t1 - t0), 1),
        }
        res["ok"] = (res["worst_p99_ms"] is not None
                     and res["worst_p99_ms"] <= AGE_P99
                     and errors == 0 and min(samples) >= 100
                     and min(fps) >= 0.9 * 30)
        log("%s %d cameras: %s (worst p99 %s ms, %d errors, min fps %.1f, "
            "nginx %.0f%% CPU, publisher %.0f%%)"
            % (mode, n, "ok" if res["ok"] else "too many",
               res["worst_p99_ms"], errors, min(fps), res["nginx_cpu_pct"],
               res["publisher_cpu_pct"]))
        return res
    finally:
        procs.stop_all()


def search(procs, bench, mode, start, path):
    """The most cameras a trial passes with: grows by half until a trial
    fails (or MAX_CAMERAS), then bisects to within 5 %."""
    trials = []
    good, bad = 0, None
    n = start
    while True:
        r = trial(procs, bench, mode, n, path)
        trials.append(r)
        if r["ok"]:
            good = n
            if n >= MAX_CAMERAS:
                break
            n = min(MAX_CAMERAS, int(n * 1.5) + 1) if bad is None \
                else (good + bad) // 2
        else:
            bad = n
            n = (good + bad) // 2
        if bad is not None and (bad - good <= max(1, good // 20)
                                or n <= good):
            break
    return good, trials


def idle_cpu(procs, bench, mode, n, path, seconds=20):
    """nginx's CPU for n cameras nobody watches."""
    node = start_node(procs, mode, n)
    try:
        names, fleet = start_fleet(procs, node, n, path)
        time.sleep(WARMUP)
        pids = [node.master_pid()] + node.worker_pids()
        c0, t0 = cpu_of(pids, bench.cpu_ticks), time.monotonic()
        time.sleep(seconds)
        c1, t1 = cpu_of(pids, bench.cpu_ticks), time.monotonic()
        m = {}
        for line in node.get("metrics").text.splitlines():
            if line.startswith("chrys_zone_used_bytes"):
                m["used"] = int(line.split()[-1])
        streams = node.get("streams").json()["streams"]
        decoding = sum(s["decoding"] for s in streams)
        status = node.get("cap/%s/index.json" % names[0]).json()
        return {"cpu_pct": round(bench.percent(c1 - c0, t1 - t0), 1),
                "zone_used_bytes": m.get("used"), "decoding": decoding,
                "buffer_seconds": status.get("duration", 0) / 1000.0,
                "buffer_bytes": status.get("bytes")}
    finally:
        procs.stop_all()


def first_pictures(procs, bench, path):
    """Request-to-response times of first pictures of sleeping cameras."""
    node = start_node(procs, "on_demand", FIRST_CAMERAS, idle="1s")
    try:
        names, fleet = start_fleet(procs, node, FIRST_CAMERAS, path)
        time.sleep(WARMUP)
        s = requests.Session()
        times, errors, i = [], 0, 0
        deadline = time.monotonic() + 600
        while len(times) + errors < FIRST and time.monotonic() < deadline:
            name = names[i % len(names)]
            i += 1
            st = s.get(node.url("cap/%s/status" % name), timeout=5).json()
            if st["decoding"]:
                time.sleep(0.05)
                continue
            t0 = time.monotonic()
            r = s.get(node.url("cap/%s/latest.jpg" % name), timeout=15,
                      headers={"If-None-Match": "*"})
            ms = (time.monotonic() - t0) * 1000.0
            if r.status_code in (200, 304):
                times.append(ms)
            else:
                errors += 1
        return times, errors
    finally:
        procs.stop_all()


def ffmpeg_fps(path, frames):
    """ffmpeg -threads 1 decoding the file: frames per CPU second, best
    of 3."""
    best = 0.0
    for _ in range(3):
        t0 = os.times()
        subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel",
                        "error", "-threads", "1", "-i", path, "-f", "null",
                        "-"], check=True)
        t1 = os.times()
        cpu = (t1.children_user - t0.children_user
               + t1.children_system - t0.children_system)
        best = max(best, frames / cpu)
    return best


def bench_capacity(procs, bench, path, stream):
    print("8. capacity: 720p30 cameras on this node, always-on and "
          "on_demand", file=sys.stderr, flush=True)
    frames = stream["rate"] * stream["seconds"]
    fps = ffmpeg_fps(path, frames)
    cores = os.cpu_count()
    floor = cores * fps / stream["rate"]
    gop_ms = 1000.0 * stream["gop"] / fps
    log("ffmpeg -threads 1: %.0f fps; decode floor %.1f cameras; one GOP "
        "%.0f ms" % (fps, floor, gop_ms))

    always, always_trials = search(procs, bench, "always",
                                   max(5, int(floor * 0.6)), path)
    n_idle = max(5, min(20, always))
    idle_always = idle_cpu(procs, bench, "always", n_idle, path)
    idle_demand = idle_cpu(procs, bench, "on_demand", n_idle, path)
    log("%d cameras nobody watches: nginx %.1f%% CPU always, %.1f%% "
        "on_demand" % (n_idle, idle_always["cpu_pct"],
                       idle_demand["cpu_pct"]))
    demand, demand_trials = search(procs, bench, "on_demand",
                                   max(20, 2 * always), path)
    many = idle_cpu(procs, bench, "on_demand", max(demand, 20), path)
    times, errors = first_pictures(procs, bench, path)

    res = {
        "ffmpeg_fps": round(fps, 1), "cores": cores,
        "decode_floor": round(floor, 1), "gop_ms": round(gop_ms, 1),
        "always_cameras": always,
        "always_ratio": round(always / floor, 2) if floor else None,
        "always_trials": always_trials,
        "idle_cameras": n_idle,
        "idle_always": idle_always, "idle_on_demand": idle_demand,
        "idle_cpu_ratio": round(idle_demand["cpu_pct"]
                                / idle_always["cpu_pct"], 3)
        if idle_always["cpu_pct"] else None,
        "on_demand_cameras": demand,
        "on_demand_ratio": round(demand / always, 1) if always else None,
        "on_demand_trials": demand_trials,
        "many_idle": many,
        "zone_bytes_per_idle_camera":
            int(many["zone_used_bytes"] / max(demand, 20))
            if many.get("zone_used_bytes") else None,
        "first_n": len(times), "first_errors": errors,
    }
    if times:
        res["first_p50_ms"] = round(bench.pctl(times, 50), 1)
        res["first_p99_ms"] = round(bench.pctl(times, 99), 1)
        res["first_p50_ratio"] = round(res["first_p50_ms"] / gop_ms, 2)
        res["first_p99_ratio"] = round(res["first_p99_ms"] / gop_ms, 2)
    wt = [t for t in always_trials if t["ok"] and t["cameras"] == always]
    if wt:
        res["cpu_pct_per_watched_camera"] = round(
            wt[0]["nginx_cpu_pct"] / always, 2)
    return res


def report(c):
    lines = [
        "8. capacity, 720p30 cameras (floor: %d cores x %.0f fps of ffmpeg "
        "-threads 1 / 30 = %.1f)" % (c["cores"], c["ffmpeg_fps"],
                                     c["decode_floor"]),
        "   always-on, every watched p99 age <= %d ms:  %d cameras = %.2f x "
        "the floor  (target >= 0.85)" % (AGE_P99, c["always_cameras"],
                                         c["always_ratio"] or 0),
        "   on_demand nginx CPU, %d cameras nobody watches / always-on:  "
        "%.3f  (target <= 0.1)  [%.1f%% vs %.1f%%]"
        % (c["idle_cameras"], c["idle_cpu_ratio"] or 0,
           c["idle_on_demand"]["cpu_pct"], c["idle_always"]["cpu_pct"]),
        "   on_demand with %d watched:  %d cameras = %.1f x always-on  "
        "(target >= 10)" % (WATCHED, c["on_demand_cameras"],
                            c["on_demand_ratio"] or 0),
        "   zone bytes a sleeping camera (%s buffer): %s" %
        (BUFFER, c["zone_bytes_per_idle_camera"]),
    ]
    if c.get("first_n"):
        lines.append(
            "   first picture of a sleeping camera: p50 %.0f ms, p99 %.0f ms"
            " = %.2f / %.2f x one GOP of ffmpeg -threads 1 (%.0f ms)  "
            "(target p99 <= 1.5)  [%d samples, %d errors]"
            % (c["first_p50_ms"], c["first_p99_ms"], c["first_p50_ratio"],
               c["first_p99_ratio"], c["gop_ms"], c["first_n"],
               c["first_errors"]))
    return lines
