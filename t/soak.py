"""chrys under load, bounded in time, loopback only.

    make soak                          (60 s, 8 publishers, 500 clients)
    /usr/bin/python3 t/soak.py SECONDS CLIENTS

8 ffmpeg publishers and CLIENTS concurrent HTTP clients: wrk connections
asking for latest.jpg (every stream, several sizes), long polls
(latest.jpg?after=, each following the seq it saw), status and streams;
plus MJPEG readers and image-series and clip readers.  It prints the
statuses seen (every one must be expected), the workers' own memory and
the zone usage after warm-up and at the end, and the requests served.
t/test_soak.py runs a short form of it in the suite.
"""

import os
import re
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from chrys import Nginx, Publisher, Source  # noqa: E402

STREAMS = 8

WRK_SCRIPT = r"""
-- every connection picks its next request at random; long polls follow
-- the seq each thread saw last, for that stream
local streams = %(streams)d
local seen = {}

math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))

request = function()
    local s = math.random(streams)
    local r = math.random(100)
    local path
    if r <= 45 then
        local sizes = { "", "?width=320", "?quality=60", "?width=640&height=200" }
        path = "/chrys/live/s" .. s .. "/latest.jpg" .. sizes[math.random(4)]
    elseif r <= 75 then
        path = "/chrys/live/s" .. s .. "/latest.jpg?timeout=2000&after="
               .. (seen[s] or 0)
    elseif r <= 90 then
        path = "/chrys/live/s" .. s .. "/status"
    elseif r <= 95 then
        path = "/chrys/streams"
    else
        path = "/chrys/live/s" .. s .. "/index.json?from=-1000"
    end
    wrk.headers["X-Stream"] = tostring(s)
    return wrk.format("GET", path)
end

response = function(status, headers, body)
    if status >= 300 and status ~= 304 then
        io.write("unexpected status " .. status .. ": "
                 .. string.sub(body or "", 1, 200) .. "\n")
    end
    local seq = headers["X-Chrys-Seq"]
    local s = tonumber(headers["X-Stream"] or "")
    if seq and s then
        seen[s] = tonumber(seq)
    end
end

done = function(summary, latency, requests)
    io.write(string.format("wrk: %%d requests, %%d errors (connect %%d, "
        .. "read %%d, write %%d, status %%d, timeout %%d)\n",
        summary.requests,
        summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.status + summary.errors.timeout,
        summary.errors.connect, summary.errors.read, summary.errors.write,
        summary.errors.status, summary.errors.timeout))
end
"""


def worker_rss(nginx):
    """The workers' own memory (RssAnon): their RSS less the pages of the
    shared zone they touched (RssShmem, which the slab allocator spreads
    over the whole zone in time) and of files (RssFile)."""
    total = 0
    for pid in nginx.worker_pids():
        with open("/proc/%d/status" % pid) as f:
            total += int(re.search(r"RssAnon:\s+(\d+)", f.read()).group(1))
    return total * 1024


def zone_used(nginx):
    for line in nginx.get("metrics").text.splitlines():
        if line.startswith("chrys_zone_used_bytes "):
            return int(line.split()[1])
    return 0


class Readers:
    """MJPEG, image-series and clip readers, counting their statuses."""

    def __init__(self, nginx, mjpeg, walkers):
        self.nginx = nginx
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses = {}
        self.parts = 0
        self.threads = [threading.Thread(target=self.mjpeg, args=(i,))
                        for i in range(mjpeg)]
        self.threads += [threading.Thread(target=self.walk, args=(i,))
                         for i in range(walkers)]

    def count(self, status):
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def mjpeg(self, i):
        while not self.stop.is_set():
            try:
                r = requests.get(self.nginx.url(
                    "live/s%d/live.mjpg?width=320&fps=10" % (i % STREAMS + 1)),
                    stream=True, timeout=10)
                self.count(r.status_code)
                for chunk in r.iter_content(16384):
                    with self.lock:
                        self.parts += chunk.count(b"--chrysframe\r\n")
                    if self.stop.is_set():
                        break
                r.close()
            except requests.RequestException:
                self.count("error")

    def walk(self, i):
        kinds = ["images?from=-2000&to=-1000&interval=250&width=320",
                 "clip.mp4?from=-3000"]
        n = 0
        while not self.stop.is_set():
            try:
                r = requests.get(self.nginx.url("live/s%d/%s" % (
                    (i + n) % STREAMS + 1, kinds[n % 2])), timeout=20)
                self.count(r.status_code)
            except requests.RequestException:
                self.count("error")
            n += 1

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def soak(seconds, clients, warmup=10, quiet=False):
    """Runs the soak; returns its figures."""
    def say(msg):
        if not quiet:
            print(msg, flush=True)

    source = Source("testsrc2-640x360-30-nob", extra=["-bf", "0"])
    nginx = Nginx(workers=2, zone="256m")
    nginx.start()
    pubs = []
    try:
        for i in range(STREAMS):
            pubs.append(Publisher(nginx.rtmp("s%d" % (i + 1)), source.path,
                                  loop=True))
        for i in range(STREAMS):
            nginx.wait_frame("s%d" % (i + 1), timeout=30)

        mjpeg = max(2, clients // 25)
        walkers = max(1, clients // 100)
        conns = clients - mjpeg - walkers
        script = tempfile.NamedTemporaryFile("w", suffix=".lua",
                                             delete=False)
        script.write(WRK_SCRIPT % {"streams": STREAMS})
        script.close()

        # the buffers need a few seconds before the ranges the readers
        # ask for are in them
        time.sleep(4)
        readers = Readers(nginx, mjpeg, walkers)
        readers.start()

        say("soak: %d s, %d publishers, %d wrk connections, %d MJPEG "
            "readers, %d buffer readers" % (seconds, STREAMS, conns, mjpeg,
                                            walkers))
        import subprocess
        wrk = subprocess.Popen(
            ["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds, "--timeout",
             "10s", "-s", script.name,
             "http://127.0.0.1:%d" % nginx.http_port],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        time.sleep(min(warmup, seconds / 3))
        rss0, zone0 = worker_rss(nginx), zone_used(nginx)
        samples = []
        while wrk.poll() is None:
            samples.append((round(worker_rss(nginx) / 1048576.0, 1),
                            round(zone_used(nginx) / 1048576.0, 1)))
            time.sleep(5)
        out, _ = wrk.communicate(timeout=60)
        rss1, zone1 = worker_rss(nginx), zone_used(nginx)
        readers.finish()
        os.unlink(script.name)

        m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
        non2xx = int(m.group(1)) if m else 0
        m = re.search(r"wrk: (\d+) requests, (\d+) errors", out)
        requests_done = int(m.group(1)) if m else 0
        errors = int(m.group(2)) if m else -1
        m = re.search(r"Requests/sec:\s*([\d.]+)", out)
        rps = float(m.group(1)) if m else 0

        crashes = nginx.crashes()
        res = {
            "seconds": seconds, "clients": clients, "publishers": STREAMS,
            "wrk_requests": requests_done, "wrk_rps": rps,
            "wrk_non_2xx": non2xx, "wrk_errors": errors,
            "reader_statuses": readers.statuses, "mjpeg_parts": readers.parts,
            "rss_after_warmup": rss0, "rss_end": rss1,
            "zone_after_warmup": zone0, "zone_end": zone1,
            "publishers_alive": sum(p.running() for p in pubs),
            "crashes": crashes,
            "samples_mb": samples,
        }
        say(out.strip())
        say("soak: %d requests (%.0f/s), %d not 2xx/3xx, %d socket errors; "
            "readers %s, %d MJPEG parts"
            % (requests_done, rps, non2xx, errors, readers.statuses,
               readers.parts))
        say("soak: worker memory (RssAnon) %.1f MB after warm-up, %.1f MB at the end; "
            "zone %.1f MB, %.1f MB; %d of %d publishers still up; "
            "crashes: %s"
            % (rss0 / 1048576.0, rss1 / 1048576.0, zone0 / 1048576.0,
               zone1 / 1048576.0, res["publishers_alive"], STREAMS,
               crashes or "none"))
        say("soak: worker memory and zone every 5 s, MB: %s" % samples)
        return res
    finally:
        for p in pubs:
            p.kill()
        nginx.cleanup()


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    res = soak(seconds, clients)
    bad = (res["wrk_non_2xx"] or res["wrk_errors"] or res["crashes"]
           or set(res["reader_statuses"]) - {200})
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
