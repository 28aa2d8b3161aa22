"""Plumbing for the chrys tests: a real nginx with the built module, real
ffmpeg publishers, and reference frames decoded by ffmpeg from the very file
that is published.

Everything runs on 127.0.0.1 with free ports, under a temporary prefix.
"""

import io
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import numpy as np
import requests
from PIL import Image

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# make test-asan runs the suite against another build of the module, with
# more environment for nginx (only for nginx: not for pytest or ffmpeg):
#   CHRYS_MODULE         the module nginx loads (objs/asan/ngx_chrys_module.so)
#   CHRYS_NGINX_ENV      NAME=VALUE ... (shell quoting) added to nginx's
#                        environment; "{logs}" in a value is the test's own
#                        sanitizer log directory (sanitizer_logs below)
#   CHRYS_SANITIZER_LOGS where the per-test log directories go; conftest.py
#                        fails a test whose directory holds a report
#   CHRYS_SLOW           factor (default 1) for the few bounds that are
#                        pure timing (ASan makes the module several times
#                        slower); never for a picture, status or count
MODULE = os.environ.get("CHRYS_MODULE") or os.path.join(
    TOP, "objs", "ngx_chrys_module.so")
NGINX_ENV = dict(kv.split("=", 1) for kv in
                 shlex.split(os.environ.get("CHRYS_NGINX_ENV", "")))
SANITIZER_LOGS = os.environ.get("CHRYS_SANITIZER_LOGS")
SLOW = float(os.environ.get("CHRYS_SLOW") or 1)

# the current test's sanitizer log directory (conftest.py sets it)
sanitizer_logs = None
# what the sanitizers write at the head of a report
SANITIZER_REPORT = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer"
                              r"|runtime error:")
RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
CACHE = os.path.join(TOP, "t", ".cache")


# ports handed out in this run, never handed out twice
_given_ports = set()


def _ports_to_give():
    """The ports below the kernel's ephemeral range (or above it, if it
    starts low): the range the clients' own connections take their local
    ports from is left to them."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(v) for v in f.read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    return (10000, lo - 1) if lo > 20000 else (hi + 1, 65535)


def free_port():
    """A TCP port nothing listens on now, for a server to bind later.  Not
    one of the kernel's ephemeral ports: bind(port 0) gives one of those,
    which a client's connection (ffmpeg, requests) may take as its own
    before the server binds it (CI saw nginx fail with "Address already in
    use" so)."""
    lo, hi = _ports_to_give()
    for _ in range(1000):
        port = random.randint(lo, hi)
        if port in _given_ports:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given_ports.add(port)
        return port
    raise RuntimeError("no free port in %d-%d" % (lo, hi))


def wait_for(check, timeout=10.0, interval=0.05, what="condition"):
    """Polls check() until it returns something truthy, and returns that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(interval)


def waiting_clients(nginx):
    """The requests that wait (long polls), from the metrics."""
    for line in nginx.get("metrics").text.splitlines():
        if line.startswith('chrys_http_clients{kind="waiting"} '):
            return int(line.split()[-1])
    raise AssertionError("no waiting client gauge in metrics")


def psnr(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, "%s != %s" % (a.shape, b.shape)
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return 99.0
    return 10 * np.log10(255.0 * 255.0 / mse)


# A picture is compared with its source frame in blocks too: a whole-frame
# PSNR hides a part of it that is wrong (a 48-row band left over from the
# previous frame scores 32.7 dB over the frame, a grey macroblock about
# 35).  Measured on testsrc2 through chrys: the worst 16x16 block of a
# right picture is 16.3 dB at JPEG quality 30, 18.1 at 50, 24 at 80, 35
# at 95; a band of the previous frame scores at most 10.4 dB in its worst
# block, a grey macroblock 6, another frame 4.6 to 7.4.
BLOCK = 16
BLOCK_MIN = 15.0


def worst_block(a, b, n=BLOCK):
    """The lowest PSNR of any n x n block of a against b (the blocks at the
    right and bottom edges as big as the picture leaves them)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, "%s != %s" % (a.shape, b.shape)
    h, w = a.shape[:2]
    worst = 99.0
    for y in range(0, h, n):
        d = (a[y:y + n] - b[y:y + n]) ** 2
        for x in range(0, w, n):
            mse = np.mean(d[:, x:x + n])
            if mse:
                worst = min(worst, 10 * np.log10(255.0 * 255.0 / mse))
    return worst


def assert_blocks(picture, ref, what="the picture"):
    """Every block of the picture is its reference's, as far as JPEG goes."""
    worst = worst_block(picture, ref)
    assert worst >= BLOCK_MIN, \
        "a %dx%d block of %s is %.1f dB off its source (at least %.1f)" \
        % (BLOCK, BLOCK, what, worst, BLOCK_MIN)


def decode_jpeg(body):
    """Decodes a JPEG to RGB the way the reference frames are decoded: by
    ffmpeg, whose YCbCr to RGB conversion repeats each chroma sample.

    libjpeg's default "fancy" chroma upsampling (PIL, OpenCV) filters the
    chroma planes instead; on testsrc2's one-pixel colour edges the two
    conversions alone differ by about 30 dB PSNR, whatever the encoder
    did, so comparing across them would measure the decoders, not chrys.
    """
    img = Image.open(io.BytesIO(body))
    assert img.format == "JPEG"
    img.verify()
    w, h = img.size
    out = subprocess.run(["ffmpeg", "-v", "error", "-f", "image2pipe",
                          "-c:v", "mjpeg", "-i", "-", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"],
                         input=body, capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(h, w, 3)


def decode_jpeg_libjpeg(body):
    """Decodes a JPEG as PIL and OpenCV users do (libjpeg defaults)."""
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


NGINX_CONF = """
load_module {rtmp_module};
load_module {module};

worker_processes {workers};
error_log {prefix}/logs/error.log info;
pid {prefix}/logs/nginx.pid;

events {{
    worker_connections 1024;
}}

rtmp {{
    chrys_zone chrys {zone};
    {rtmp_main}

    server {{
        listen 127.0.0.1:{rtmp_port};

        application live {{
            live on;
            chrys on;
        }}

        {rtmp_extra}
    }}
}}

http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;

    server {{
        listen 127.0.0.1:{http_port};

        location /chrys/ {{
            chrys_api;
            add_header X-Worker $pid always;
        }}

        {http_extra}
    }}
}}
"""


class Nginx:
    """Debian's nginx binary, loading the rtmp module and the built chrys
    module, from a temporary prefix."""

    def __init__(self, workers=2, zone="64m", rtmp_extra="", http_extra="",
                 module=MODULE, rtmp_main="", env=None):
        self.rtmp_main = rtmp_main
        logs = sanitizer_logs or SANITIZER_LOGS or tempfile.gettempdir()
        self.sanitizer_logs = sanitizer_logs
        env = dict(NGINX_ENV, **(env or {}))
        self.env = dict(os.environ, **{k: v.replace("{logs}", logs)
                                       for k, v in env.items()})
        self.module = module
        self.prefix = tempfile.mkdtemp(prefix="chrys-nginx-")
        self.rtmp_port = free_port()
        self.http_port = free_port()
        self.workers = workers
        self.zone = zone
        self.rtmp_extra = rtmp_extra
        self.http_extra = http_extra
        os.makedirs(os.path.join(self.prefix, "logs"))
        os.makedirs(os.path.join(self.prefix, "tmp"))
        os.chmod(self.prefix, 0o755)
        self.conf = os.path.join(self.prefix, "nginx.conf")
        self.write_conf()
        self.http = requests.Session()

    def write_conf(self, **changes):
        for k, v in changes.items():
            setattr(self, k, v)
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF.format(
                rtmp_module=RTMP_MODULE, module=self.module,
                prefix=self.prefix,
                workers=self.workers, zone=self.zone,
                rtmp_main=self.rtmp_main,
                rtmp_port=self.rtmp_port, http_port=self.http_port,
                rtmp_extra=self.rtmp_extra.replace("{rtmp_port}",
                                                   str(self.rtmp_port)),
                http_extra=self.http_extra.replace("{prefix}", self.prefix)))

    def nginx(self, *args):
        return subprocess.run(["nginx", "-p", self.prefix, "-c", self.conf]
                              + list(args), capture_output=True, text=True,
                              timeout=30, env=self.env)

    def start(self):
        r = self.nginx()
        assert r.returncode == 0, r.stderr
        wait_for(self._answers, what="nginx to answer")
        wait_for(lambda: len(self.worker_pids()) == self.workers,
                 what="nginx workers")
        return self

    def _answers(self):
        try:
            return self.http.get(self.url("streams"), timeout=1).ok
        except requests.RequestException:
            return False

    def master_pid(self):
        with open(os.path.join(self.prefix, "logs", "nginx.pid")) as f:
            return int(f.read())

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.master_pid())],
                             capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def reload(self):
        old = set(self.worker_pids())
        r = self.nginx("-s", "reload")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: len(set(self.worker_pids()) - old) == self.workers,
                 what="new workers after reload")

    def stop(self):
        try:
            pid = self.master_pid()
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        # the master exits after its workers: by then their sanitizer
        # reports, and its own, are written (make test-asan)
        deadline = time.monotonic() + 10 * SLOW
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)

    def error_log(self):
        with open(os.path.join(self.prefix, "logs", "error.log"),
                  errors="replace") as f:
            return f.read()

    def crashes(self):
        """Lines that say a worker died or nginx hit an alert; a worker a
        test killed with SIGKILL (and the lock the master then freed) are
        not crashes."""
        return [l for l in self.error_log().splitlines()
                if ("exited on signal" in l or "[alert]" in l
                    or "[emerg]" in l)
                and "exited on signal 9" not in l
                and "was locked by" not in l]

    def cleanup(self):
        self.stop()
        if self.sanitizer_logs:
            # UBSan reports to stderr, that is to this log: kept with the
            # test's sanitizer logs, where conftest.py looks for reports
            try:
                if SANITIZER_REPORT.search(self.error_log()):
                    shutil.copy(os.path.join(self.prefix, "logs",
                                             "error.log"),
                                os.path.join(self.sanitizer_logs,
                                             "error.log.%d" % self.http_port))
            except OSError:
                pass
        shutil.rmtree(self.prefix, ignore_errors=True)

    def url(self, path):
        return "http://127.0.0.1:%d/chrys/%s" % (self.http_port, path)

    def rtmp(self, name, app="live"):
        return "rtmp://127.0.0.1:%d/%s/%s" % (self.rtmp_port, app, name)

    def get(self, path, **kw):
        kw.setdefault("timeout", 10)
        return self.http.get(self.url(path), **kw)

    def status(self, name, app="live"):
        r = self.get("%s/%s/status" % (app, name))
        assert r.status_code == 200, r.text
        return r.json()

    def wait_frame(self, name, app="live", timeout=15):
        """Waits until the stream serves a picture; returns the response."""
        def ready():
            r = self.get("%s/%s/latest.jpg" % (app, name))
            return r if r.status_code == 200 else None
        return wait_for(ready, timeout=timeout, interval=0.1,
                        what="a frame of %s/%s" % (app, name))


class Servers:
    """A fixture's nginx servers, of class cls (Nginx or a subclass),
    started as a test asks for them: servers(**kw).  finish() stops them
    and fails if a worker of any of them crashed."""

    def __init__(self, cls=Nginx):
        self.cls = cls
        self.servers = []

    def __call__(self, **kw):
        n = self.cls(**kw)
        self.servers.append(n)
        return n.start()

    def finish(self):
        crashes = []
        for n in self.servers:
            crashes += n.crashes()
            n.cleanup()
        assert not crashes, "nginx logged crashes:\n" + "\n".join(crashes)


class Publisher:
    """A real ffmpeg RTMP publisher."""

    def __init__(self, url, source=None, args=None, realtime=True, loop=False):
        cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error"]
        if realtime:
            cmd.append("-re")
        if loop:
            cmd += ["-stream_loop", "-1"]
        if source:
            cmd += ["-i", source, "-c", "copy"]
        cmd += list(args or []) + ["-f", "flv", url]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)

    def running(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def ffmpeg(*args):
    r = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel",
                        "error", "-y"] + list(args),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return r


def encode_testsrc(path, width, height, rate, seconds, gop, x264="",
                   extra=None):
    """Encodes testsrc2 to an H.264 FLV file (libx264 veryfast)."""
    ffmpeg("-f", "lavfi", "-i",
           "testsrc2=size=%dx%d:rate=%d" % (width, height, rate),
           "-t", str(seconds), "-c:v", "libx264",
           "-preset", "veryfast", "-g", str(gop),
           "-keyint_min", str(gop), "-pix_fmt", "yuv420p",
           *(["-x264-params", x264] if x264 else []),
           *(extra or []), "-f", "flv", path)


def testsrc_file(name, width=640, height=360, rate=30, seconds=20, gop=30,
                 x264="", extra=None):
    """Only the H.264 file of a testsrc2 stream, cached in t/.cache, without
    the decoded reference frames of Source (too big at 720p for long
    files): for the benchmarks.  Returns its path."""
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, name + ".flv")
    if not os.path.exists(path):
        part = path + ".part"
        try:
            encode_testsrc(part, width, height, rate, seconds, gop, x264,
                           extra)
            os.replace(part, path)
        finally:
            if os.path.exists(part):
                os.remove(part)
    return path


class Source:
    """An H.264 test file (testsrc2 with a frame counter, B-frames on) and
    its frames decoded by ffmpeg, indexed by presentation time in ms.
    With "path", an existing file instead (decoded the same way)."""

    def __init__(self, name, width=640, height=360, rate=30, seconds=20,
                 gop=30, x264="", extra=None, path=None):
        os.makedirs(CACHE, exist_ok=True)
        self.width, self.height, self.rate = width, height, rate
        self.path = path or os.path.join(CACHE, name + ".flv")
        raw = os.path.join(CACHE, name + ".rgb")
        index = os.path.join(CACHE, name + ".json")

        if not os.path.exists(index):
            if path is None:
                encode_testsrc(self.path, width, height, rate, seconds, gop,
                               x264, extra)
            ffmpeg("-i", self.path, "-fps_mode", "passthrough",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", raw)
            out = subprocess.run(
                ["ffprobe", "-v", "error", "-select_streams", "v",
                 "-show_entries", "frame=pts,key_frame", "-of", "json",
                 self.path], capture_output=True, text=True, check=True)
            frames = json.loads(out.stdout)["frames"]
            with open(index, "w") as f:
                json.dump([[fr["pts"], fr["key_frame"]] for fr in frames], f)

        with open(index) as f:
            self.frames = json.load(f)
        self.index = {pts: i for i, (pts, _) in enumerate(self.frames)}
        self.raw = np.memmap(raw, dtype=np.uint8, mode="r").reshape(
            -1, height, width, 3)
        assert len(self.raw) == len(self.frames)

    def frame(self, pts):
        """The reference picture shown at stream time pts (ms)."""
        assert pts in self.index, "no source frame with pts %d" % pts
        return self.raw[self.index[pts]]

    def compare(self, body, pts):
        """(PSNR of the whole picture, PSNR of its worst block) against
        the source frame of pts."""
        picture, ref = decode_jpeg(body), self.frame(pts)
        return psnr(picture, ref), worst_block(picture, ref)

    def psnr(self, body, pts):
        """The PSNR of the picture against the source frame of pts; fails
        the test at once if any block of it is not that frame's."""
        picture, ref = decode_jpeg(body), self.frame(pts)
        assert_blocks(picture, ref, "the picture of pts %d" % pts)
        return psnr(picture, ref)

    def right(self, body, pts, least=30):
        """Whether the picture is the source frame of pts, in every block
        (for tests that count wrong pictures rather than fail on one)."""
        whole, worst = self.compare(body, pts)
        return whole >= least and worst >= BLOCK_MIN


def headers_of(r):
    return {k: r.headers[k] for k in r.headers if k.lower().startswith("x-")}


def frame_meta(r):
    h = r.headers
    return {
        "seq": int(h["X-Chrys-Seq"]),
        "pts": int(h["X-Chrys-Pts"]),
        "time": int(h["X-Chrys-Time"]),
        "age": int(h["X-Chrys-Age"]),
        "keyframe": int(h["X-Chrys-Keyframe"]),
        "width": int(h["X-Chrys-Width"]),
        "height": int(h["X-Chrys-Height"]),
    }


ETAG = re.compile(r'^"[^"/]+/[^"/]+/\d+/q\d+"$')
