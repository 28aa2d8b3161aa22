"""An RTSP camera brought in by nginx-rtmp's exec_static, as
nginx.conf.example shows (its commented "application cams", used here as
written but for the URLs): nginx runs ffmpeg, which reads the camera over
RTSP and publishes it, unchanged (-c copy), to chrys over RTMP.  The
camera is GStreamer's RTSP server (t/rtsp_server.py) serving the test
camera file, so every picture is checked against the file's own frames.
The camera goes away, or stops answering, and comes back: nginx-rtmp's
respawn brings the pictures back by themselves."""

import os
import re
import select
import signal
import subprocess
import tempfile
import time

import pytest

from chrys import (SLOW, TOP, assert_blocks, decode_jpeg, free_port,
                   frame_meta, psnr, wait_for)

# Debian's python3, the one with python3-gi and GStreamer's bindings
PYTHON = "/usr/bin/python3"
SERVER = os.path.join(TOP, "t", "rtsp_server.py")
FFMPEG = "/usr/bin/ffmpeg"


class RtspCamera:
    """t/rtsp_server.py in a subprocess: rtsp://127.0.0.1:PORT/cam."""

    def __init__(self, path):
        self.path = path
        self.port = free_port()
        self.url = "rtsp://127.0.0.1:%d/cam" % self.port
        self.log = tempfile.TemporaryFile(prefix="chrys-rtsp-")
        self.proc = None

    def start(self, timeout=15):
        self.proc = subprocess.Popen([PYTHON, SERVER, str(self.port),
                                      self.path], stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [],
                                    timeout * SLOW)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("rtsp_server: ready"):
            self.kill()
            self.log.seek(0)
            raise AssertionError("the RTSP server did not start: %r\n%s"
                                 % (line, self.log.read().decode(
                                     errors="replace")))
        return self

    def kill(self):
        """SIGKILL: the camera is gone at once, its connections closed."""
        if self.proc:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None


@pytest.fixture
def rtsp_camera(camera):
    cam = RtspCamera(camera.path)
    yield cam.start()
    cam.kill()
    cam.log.close()


EXAMPLE = os.path.join(TOP, "nginx.conf.example")


def example_cams(camera_url):
    """The commented "application cams" of nginx.conf.example, uncommented,
    reading the test's camera and publishing to the test's port; and
    ffmpeg started again 1 s after it exits instead of 5."""
    with open(EXAMPLE) as f:
        text = f.read()
    m = re.findall(r"^( *)# (application cams \{\n(?:\1#.*\n)*?)\1# \}\n",
                   text, re.M)
    assert len(m) == 1, "no commented application cams in nginx.conf.example"
    indent, block = m[0]
    block = re.sub(r"^%s# ?" % indent, "", block, flags=re.M) + "}\n"
    for old, new in [
            ("rtsp://USER:PASSWORD@192.0.2.10:554/stream1", camera_url),
            ("rtmp://127.0.0.1:1935/cams/door",
             "rtmp://127.0.0.1:{rtmp_port}/cams/cam")]:
        assert block.count(old) == 1, "%r in nginx.conf.example" % old
        block = block.replace(old, new)
    assert "exec_static %s " % FFMPEG in block, block
    return block + "respawn_timeout 1s;\n"


class Timeline:
    """Maps the pts of a publish to the camera file's.  ffmpeg's RTSP
    demuxer starts its timeline at the first packet it can time (here the
    file's second frame: the first two frames both get pts 0), so the pts
    are the file's less a constant, modulo the file's length as the
    server loops.  The constant is found once per publish, from the first
    picture: the frame of the file within 1 s of it that looks most like
    it.  Every picture must then be the file's frame at pts + constant."""

    def __init__(self, source):
        self.source = source
        self.period = round(len(source.frames) * 1000 / source.rate)
        self.pts = sorted(source.index)
        self.offset = None

    def psnr(self, body, pts):
        pixels = decode_jpeg(body)
        if self.offset is None:
            half = self.period // 2
            near = [x for x in self.pts
                    if abs((x - pts + half) % self.period - half) <= 1000]
            scores = {x: psnr(pixels, self.source.frame(x)) for x in near}
            self.offset = max(scores, key=scores.get) - pts
        # the file's frame at pts + offset: exactly, as 90 kHz RTP ticks
        # convert to whole ms both ways
        ref = self.source.frame((pts + self.offset) % self.period)
        assert_blocks(pixels, ref, "the picture of pts %d" % pts)
        return psnr(pixels, ref)


def pictures(nginx, timeline, count, timeout=20, every=0.1):
    """Polls latest.jpg until it served count different pictures:
    [(seq, pts, psnr)], psnr against the camera file's frame."""
    out = []
    deadline = time.monotonic() + timeout * SLOW
    while len(out) < count:
        assert time.monotonic() < deadline, \
            "%d pictures of %d in %d s: %s" % (len(out), count, timeout, out)
        r = nginx.get("cams/cam/latest.jpg")
        if r.status_code == 200:
            m = frame_meta(r)
            if not out or m["seq"] != out[-1][0]:
                out.append((m["seq"], m["pts"],
                            timeline.psnr(r.content, m["pts"])))
        time.sleep(every)
    return out


def ffmpeg_children(nginx):
    """The pids of the ffmpeg processes of nginx's workers."""
    pids = []
    for w in nginx.worker_pids():
        out = subprocess.run(["pgrep", "-P", str(w), "-x", "ffmpeg"],
                             capture_output=True, text=True).stdout
        pids += [int(p) for p in out.split()]
    return pids


def start(make_nginx, rtsp_camera, camera):
    """nginx with two workers and the example's application cams; returns
    it once the camera's pictures come, and are the file's."""
    nginx = make_nginx(workers=2, rtmp_extra=example_cams(rtsp_camera.url))
    nginx.wait_frame("cam", app="cams", timeout=30)
    wait_for(lambda: nginx.status("cam", app="cams")["last_seq"] > 30,
             timeout=20 * SLOW, interval=0.25, what="a second of pictures")
    check_pictures(nginx, camera, 0)
    return nginx


def check_pictures(nginx, camera, last):
    """Ten pictures in a row: newer than seq last, the file's own."""
    got = pictures(nginx, Timeline(camera), 10)
    seqs = [p[0] for p in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 10, got
    assert seqs[0] > last, (last, got)
    assert all(p[2] >= 30 for p in got), got


def comes_back(nginx, camera, last):
    """The pictures resume by themselves, and are the file's."""
    def status():
        return nginx.status("cam", app="cams")

    wait_for(lambda: status()["last_seq"] > last + 30, timeout=30 * SLOW,
             interval=0.25, what="pictures after the camera came back")
    check_pictures(nginx, camera, last)
    st = status()
    assert st["publishing"]
    assert st["publishes"] >= 2
    # still one ffmpeg for the two workers
    assert len(ffmpeg_children(nginx)) == 1
    assert not nginx.crashes(), nginx.crashes()


def test_rtsp_camera_through_exec_static(make_nginx, camera, rtsp_camera):
    nginx = start(make_nginx, rtsp_camera, camera)

    def status():
        return nginx.status("cam", app="cams")

    # one ffmpeg for the two workers: exec_static runs in the first only
    assert len(ffmpeg_children(nginx)) == 1

    # the camera goes away: ffmpeg sees its connection closed and exits,
    # the publish ends; nginx-rtmp starts ffmpeg again every second, which
    # exits at once while nothing listens on the camera's port
    rtsp_camera.kill()
    wait_for(lambda: not status()["publishing"], timeout=10 * SLOW,
             what="the publish to end")
    last = status()["last_seq"]
    time.sleep(2)
    assert not status()["publishing"]
    assert status()["last_seq"] == last

    # the camera comes back, on the same port: the next ffmpeg reads it
    rtsp_camera.start()
    comes_back(nginx, camera, last)

    # ffmpeg was started again and again: the first, at least one that
    # found nothing listening, and the one that got the camera back.
    # (nginx-rtmp 1.2.2 logs "exited; ignoring" for a child it does start
    # again: the two words of its message are swapped.)
    log = nginx.error_log()
    exec_lines = "\n".join(l for l in log.splitlines() if "exec:" in l)
    starts = log.count("exec: starting managed child '%s'" % FFMPEG)
    assert starts >= 3, exec_lines
    assert log.count("exec: child ") >= starts - 1, exec_lines


def test_a_frozen_rtsp_camera(make_nginx, camera, rtsp_camera):
    """A camera that stops sending but keeps its connection open (SIGSTOP:
    the kernel still holds its sockets and accepts connections): ffmpeg's
    -timeout ends it, then the next ffmpeg reads the camera when it wakes
    up."""
    nginx = start(make_nginx, rtsp_camera, camera)

    def status():
        return nginx.status("cam", app="cams")

    rtsp_camera.proc.send_signal(signal.SIGSTOP)
    try:
        # 5 s of -timeout for the stream, as long again for the TEARDOWN
        # ffmpeg sends on its way out
        t0 = time.monotonic()
        wait_for(lambda: not status()["publishing"], timeout=25 * SLOW,
                 interval=0.25, what="ffmpeg to give up on the camera")
        assert time.monotonic() - t0 >= 4, "gone before the -timeout"
        last = status()["last_seq"]
        time.sleep(2)
        assert status()["last_seq"] == last
    finally:
        rtsp_camera.proc.send_signal(signal.SIGCONT)
    comes_back(nginx, camera, last)
