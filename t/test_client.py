"""The Python client (python/chrys) against a real nginx and publisher:
every call of it, each picture compared with its source frame.

Pictures are checked twice: whole (PSNR) and in 16x16 blocks (the lowest
PSNR of any block, block_psnr), which a picture that is right on average
but wrong in one place (a stale region, a frame counter off by one) fails.
Thresholds, measured on this suite's camera file (testsrc2 640x360, no
B-frames) over 35 raw pictures, 35 JPEG pictures and 90 images of a
series, against the right source frame and against its neighbours (one
frame before and after, half a second before, a second after):

| pictures                   | whole, right | block, right | block, wrong |
| raw bgr24 (latest.raw)     | identical    | identical    | <= 6.9 dB    |
| JPEG, cv2.imdecode         | 27.9-29.5 dB | 17.7-20.3 dB | <= 7.2 dB    |

raw bgr24 is converted from the decoded picture by libswscale, as ffmpeg
converts the reference: they came out identical.  The bar is 30 dB
whole and per block (what a wrong picture scores in its worst block is
below 7 dB).  A JPEG decoded by libjpeg (OpenCV, PIL) differs from
ffmpeg's decoding of it on testsrc2's one-pixel colour edges (see
decode_jpeg in t/chrys.py), most in the blocks with the sharpest colour
edges; the bars there are 26 dB whole (as t/test_examples.py) and 14 dB
per block, 6.8 dB above the best-scoring wrong picture and 3.7 dB below
the lowest right one.  The JPEG bytes themselves are held to the suite's
30 dB decoded by ffmpeg.
"""

import datetime
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
from PIL import Image

from chrys import SLOW, Publisher, decode_jpeg, psnr, wait_for
from python_client import PYTHONPATH, client
from test_security import KEY, TOKEN, ExampleNginx, wait_picture

PYTHON = "/usr/bin/python3"
RAW_DB = 30
JPEG_DB = 26
JPEG_BLOCK_DB = 14


def block_psnr(a, b, block=16):
    """The lowest PSNR of any block x block square of two pictures (the
    edge rows and columns that make no whole block are left out)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, "%s != %s" % (a.shape, b.shape)
    h, w = a.shape[0] - a.shape[0] % block, a.shape[1] - a.shape[1] % block
    d = (a[:h, :w] - b[:h, :w]) ** 2
    mse = d.reshape(h // block, block, w // block, block, -1).mean(
        axis=(1, 3, 4)).max()
    return 99.0 if mse == 0 else 10 * np.log10(255.0 * 255.0 / mse)


def assert_picture(frame, source):
    """frame (a chrys_client.Frame) is the source frame of its pts."""
    ref = source.frame(frame.pts)
    image = frame.image
    assert image.dtype == np.uint8
    assert image.shape == (frame.height, frame.width, 3) == ref.shape
    rgb = image[:, :, ::-1]         # BGR, as OpenCV's
    if frame.format == "raw":
        assert psnr(rgb, ref) >= RAW_DB, frame
        assert block_psnr(rgb, ref) >= RAW_DB, frame
    else:
        assert psnr(decode_jpeg(frame.jpeg), ref) >= 30, frame
        assert psnr(rgb, ref) >= JPEG_DB, frame
        assert block_psnr(rgb, ref) >= JPEG_BLOCK_DB, frame
    # the camera file's keyframes are the frames marked so
    assert frame.keyframe == bool(source.frames[source.index[frame.pts]][1])


@pytest.fixture
def cam(nginx, publish, camera):
    """nginx with the camera file (no B-frames, 20 s) publishing as
    live/cam from its start."""
    publish(nginx.rtmp("cam"), camera.path)
    nginx.wait_frame("cam")
    return nginx


def stream_of(nginx, name="cam", **kw):
    return client.connect(nginx.url("")).stream("live/" + name, **kw)


def test_latest_is_the_newest_picture_as_bgr_pixels(cam, camera):
    s = stream_of(cam)
    assert s.relay.loopback and s._format(None) == "raw"
    for _ in range(3):
        before = cam.status("cam")["last_seq"]
        f = s.latest()
        assert f.format == "raw" and f.jpeg is None
        assert f.seq >= before
        assert (f.width, f.height) == (640, 360)
        assert_picture(f, camera)
        # as an OpenCV user uses it: drawing on it works
        assert f.image.flags.writeable and f.image.flags.c_contiguous
        assert f.time.tzinfo == datetime.timezone.utc
        now = datetime.datetime.now(datetime.timezone.utc)
        assert abs((now - f.time).total_seconds()) < 5
        assert f.time_ms == int(f.time.timestamp() * 1000 + 0.5)
        assert 0 <= f.age_ms < 1000 * SLOW
        time.sleep(0.2)


def test_latest_as_jpeg_decoded_here(cam, camera):
    s = stream_of(cam, format="jpeg")
    f = s.latest()
    assert f.format == "jpeg" and f.jpeg[:2] == b"\xff\xd8"
    assert_picture(f, camera)
    # the same with a quality, and with the format chosen per call
    f = stream_of(cam).latest(format="jpeg", quality=95)
    assert f.format == "jpeg"
    assert_picture(f, camera)


def test_jpeg_decoded_by_pil_is_bgr_too(cam, camera, monkeypatch):
    """Without OpenCV the client decodes JPEG with PIL, and turns RGB
    into BGR: the same picture as OpenCV's (both are libjpeg)."""
    f = stream_of(cam, format="jpeg").latest()
    by_cv2 = f.image
    monkeypatch.setattr(sys.modules["chrys_client.frame"], "cv2", None)
    by_pil = client.decode_jpeg(f.jpeg)
    assert by_pil.shape == (360, 640, 3) and by_pil.dtype == np.uint8
    assert psnr(by_pil, by_cv2) >= 40
    assert psnr(by_pil[:, :, ::-1], camera.frame(f.pts)) >= JPEG_DB


def test_the_format_follows_the_host():
    """Raw pixels from this host, JPEG over a network (see
    Relay.stream)."""
    for url, fmt in [("http://127.0.0.1:8080/chrys/", "raw"),
                     ("http://localhost/chrys/", "raw"),
                     ("http://[::1]:8080/chrys/", "raw"),
                     ("https://relay:8443/chrys/", "jpeg"),
                     ("http://192.168.1.20:8080/chrys/", "jpeg")]:
        assert client.connect(url).stream("live/cam")._format(None) == fmt
    s = client.connect("https://relay:8443/chrys/").stream("live/cam",
                                                           format="raw")
    assert s._format(None) == "raw" and s._format("jpeg") == "jpeg"
    with pytest.raises(ValueError):
        s._format("png")


def test_a_stream_url_names_the_relay_and_the_stream():
    s = client.stream("https://relay:8443/chrys/live/cam", token="t")
    assert s.relay.url == "https://relay:8443/chrys/"
    assert (s.app, s.name) == ("live", "cam")
    assert s.relay.session.headers["Authorization"] == "Bearer t"
    s = client.stream("http://h/chrys/live/a%20b/")
    assert s.name == "a b" and s.url == "http://h/chrys/live/a%20b/"
    with pytest.raises(ValueError):
        client.stream("http://h/cam")


def test_times_and_durations():
    ms = client.duration_ms
    assert ms("200ms") == 200 and ms("5s") == 5000 and ms("1.5s") == 1500
    assert ms("2m") == 120000 and ms(0.25) == 250
    assert ms(datetime.timedelta(seconds=3)) == 3000
    t = client.time_param
    assert t("now") is None and t(None) is None
    assert t("-3s") == -3000 and t(-0.5) == -500
    assert t(datetime.timedelta(seconds=-2)) == -2000
    assert t(1700000000) == 1700000000000
    when = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.timezone.utc)
    assert t(when) == int(when.timestamp()) * 1000
    for bad in ("soon", "3s", "-3 parsecs", True):
        with pytest.raises(ValueError):
            t(bad)


def test_width_and_height_pass_through(cam, camera):
    s = stream_of(cam)
    f = s.latest(width=320)
    assert f.image.shape == (180, 320, 3) and (f.width, f.height) == \
        (320, 180)
    # scaled by libswscale on the server, by PIL here: 25 dB whole, as
    # t/test_live.py's test of scaled raw pixels
    ref = np.asarray(Image.fromarray(np.asarray(camera.frame(f.pts)))
                     .resize((320, 180), Image.BILINEAR))
    assert psnr(f.image[:, :, ::-1], ref) >= 25
    f = s.latest(format="jpeg", height=90)
    assert f.image.shape == (90, 160, 3)


def test_frames_with_a_consumer_slower_than_the_camera(cam, camera):
    """500 ms of work per frame against a 30 fps camera: each frame is
    the newest when the loop asks for it (at least as new as what the
    server had just before), younger than the work of one frame (a reader
    that fell behind gets frames at least that old: a loaded machine can
    take more than a frame interval to decode and answer), right, never
    the same twice, in order."""
    s = stream_of(cam)
    it = s.frames(timeout=10)
    got = []
    for _ in range(8):
        before = cam.status("cam")["last_seq"]
        f = next(it)
        got.append(f)
        assert f.seq >= before, (f.seq, before)
        assert f.age_ms < 300 * SLOW, f
        assert_picture(f, camera)
        time.sleep(0.5)                 # the slow work
    seqs = [f.seq for f in got]
    pts = [f.pts for f in got]
    assert all(a < b for a, b in zip(seqs, seqs[1:])), seqs
    assert all(a < b for a, b in zip(pts, pts[1:])), pts


def test_frames_of_a_fast_consumer_are_every_picture_once(nginx, publish,
                                                         source):
    """With B-frames (pictures in display order, seqs not): none twice,
    none going back in time."""
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    seqs, pts = [], []
    for f in stream_of(nginx).frames(timeout=10):
        seqs.append(f.seq)
        pts.append(f.pts)
        assert_picture(f, source)
        if len(seqs) == 40:
            break
    assert len(set(seqs)) == len(seqs), seqs
    assert all(a < b for a, b in zip(pts, pts[1:])), pts


def test_a_publisher_that_leaves_and_returns_mid_loop(nginx, camera):
    """The loop goes on through the publisher's absence: no exception,
    no picture twice, the seq rising across the reconnect, every picture
    right (pts start again with the new publish)."""
    pub = Publisher(nginx.rtmp("cam"), camera.path)
    try:
        nginx.wait_frame("cam")
        it = stream_of(nginx).frames(timeout=30 * SLOW)
        got = [next(it) for _ in range(5)]
        pub.kill()
        time.sleep(2)
        pub = Publisher(nginx.rtmp("cam"), camera.path)
        seen_publishes = set()
        while len(got) < 25:
            got.append(next(it))
            seen_publishes.add(nginx.status("cam")["publishes"])
        assert 2 in seen_publishes
    finally:
        pub.kill()
    seqs = [f.seq for f in got]
    assert all(a < b for a, b in zip(seqs, seqs[1:])), seqs
    for f in got:
        assert_picture(f, camera)
    # the second publish starts again at its first frame
    assert any(b.pts < a.pts for a, b in zip(got, got[1:]))


def test_a_relay_restarted_mid_loop(nginx, camera):
    """nginx stopped and started again under the loop (connections
    refused, then a stream it does not know until the publisher is back,
    with seqs from 1 again): the loop waits and goes on, every picture
    right."""
    pub = Publisher(nginx.rtmp("cam"), camera.path)
    try:
        nginx.wait_frame("cam")
        it = stream_of(nginx).frames(timeout=30 * SLOW)
        before = [next(it) for _ in range(3)]
        nginx.stop()
        pub.kill()
        wait_for(lambda: not nginx._answers(), what="nginx to stop")
        nginx.start()
        pub = Publisher(nginx.rtmp("cam"), camera.path)
        after = [next(it) for _ in range(10)]
    finally:
        pub.kill()
    assert nginx.status("cam")["publishes"] == 1     # a new zone
    assert after[0].time > before[-1].time
    for f in before + after:
        assert_picture(f, camera)
    seqs = [f.seq for f in after]
    assert all(a < b for a, b in zip(seqs, seqs[1:])), seqs


def test_latest_waits_for_a_publisher_with_no_picture_yet(nginx, publish,
                                                          camera):
    """503 (the stream is known, no picture yet: an audio-only publisher
    here) is waited through, up to the timeout."""
    audio = publish(nginx.rtmp("cam"), args=[
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-c:a", "aac"])
    wait_for(lambda: nginx.get("live/cam/status").status_code == 200,
             what="the audio stream")
    assert nginx.get("live/cam/latest.raw?format=bgr24").status_code == 503
    s = stream_of(nginx)

    t0 = time.monotonic()
    with pytest.raises(client.Timeout) as e:
        s.latest(timeout=2)
    took = time.monotonic() - t0
    assert 2 <= took < 2 + 5 * SLOW
    assert "503" in str(e.value)
    assert isinstance(e.value, TimeoutError)

    result = {}

    def wait():
        try:
            result["frame"] = s.latest(timeout=30 * SLOW)
        except Exception as ex:     # shown by the assertion below
            result["error"] = ex

    th = threading.Thread(target=wait)
    th.start()
    time.sleep(1.5)
    audio.kill()
    publish(nginx.rtmp("cam"), camera.path)
    th.join(40 * SLOW)
    assert "frame" in result, result
    assert_picture(result["frame"], camera)


def test_an_unknown_stream_is_not_found_at_once(nginx):
    s = stream_of(nginx, name="nobody")
    t0 = time.monotonic()
    with pytest.raises(client.NotFound) as e:
        s.latest()
    assert time.monotonic() - t0 < 5
    assert e.value.status == 404
    assert "stream not found" in str(e.value)
    with pytest.raises(client.NotFound):
        s.status()
    with pytest.raises(client.NotFound):
        next(s.frames())


def test_an_unreachable_relay_is_a_timeout(nginx):
    s = client.connect("http://127.0.0.1:%d/chrys/" % nginx.http_port
                       ).stream("live/cam")
    nginx.stop()
    t0 = time.monotonic()
    with pytest.raises(client.Unreachable):
        s.latest(timeout=1)
    assert time.monotonic() - t0 < 1 + 5 * SLOW


def test_at_a_time_is_the_picture_shown_then(cam, camera):
    time.sleep(2)
    s = stream_of(cam)
    ix = s.index()
    assert ix["frames"] == len(ix["index"]) > 30
    for e in ix["index"][5::13]:
        when = datetime.datetime.fromtimestamp(e["time"] / 1000.0,
                                               datetime.timezone.utc)
        f = s.at(when)
        shown = [g for g in ix["index"] if g["time"] <= e["time"]][-1]
        assert (f.seq, f.pts, f.time_ms) == (shown["seq"], shown["pts"],
                                             shown["time"])
        assert f.time == when
        assert_picture(f, camera)
        # the same time as Unix seconds
        assert s.at(e["time"] / 1000.0).seq == shown["seq"]
    # relative to now, and the keyframe before
    f = s.at("-1s")
    assert 500 <= f.age_ms <= 1000 + 1000 * SLOW
    assert_picture(f, camera)
    k = s.at(f.time, keyframe=True)
    assert k.keyframe and k.seq <= f.seq and k.seq > f.seq - 30
    assert_picture(k, camera)
    # by number
    assert s.frame(ix["index"][10]["seq"]).seq == ix["index"][10]["seq"]


def test_a_time_outside_the_buffer(cam):
    time.sleep(1)
    s = stream_of(cam)
    ix = s.index()
    with pytest.raises(client.Gone) as e:
        s.at(time.time() - 3600)
    g = e.value
    assert g.status == 410
    # the buffer's range, in the exception and its message
    assert g.start_ms == ix["start"]
    assert g.start == datetime.datetime.fromtimestamp(
        ix["start"] / 1000.0, datetime.timezone.utc)
    assert g.end_ms >= ix["end"]
    assert "the buffer holds" in str(g) and g.start.strftime("%H:%M:%S") \
        in str(g)
    assert isinstance(g, client.NotFound)
    with pytest.raises(client.Gone):
        list(s.between(time.time() - 3600, time.time() - 3599))
    # the future is not found, and says the range too
    with pytest.raises(client.NotFound) as e:
        s.at(time.time() + 60)
    assert not isinstance(e.value, client.Gone) and e.value.end_ms


def test_between_every(cam, camera):
    time.sleep(4)
    s = stream_of(cam)
    ix = s.index()["index"]
    start, end = ix[10]["time"], ix[10]["time"] + 2000
    frames = list(s.between(start / 1000.0, end / 1000.0, every="200ms"))
    # the server's choice: the first frame of each 200 ms
    want, nxt = [], start
    for e in ix:
        if nxt <= e["time"] <= end:
            want.append(e["seq"])
            nxt = e["time"] + 200
    assert [f.seq for f in frames] == want
    for f in frames:
        assert start <= f.time_ms <= end
        assert f.format == "jpeg"
        assert_picture(f, camera)


def test_between_in_pages_gives_each_frame_once(cam, camera, monkeypatch):
    """Long ranges come PAGE frames a request: the pages join without a
    frame missing or twice."""
    time.sleep(3)
    s = stream_of(cam)
    ix = s.index()["index"]
    start, end = ix[3]["time"], ix[-5]["time"]
    want = [e["seq"] for e in ix if start <= e["time"] <= end]
    monkeypatch.setattr(sys.modules["chrys_client.client"], "PAGE", 7)
    frames = list(s.between(start / 1000.0, end / 1000.0))
    assert [f.seq for f in frames] == want
    # with limit and every as well
    frames = list(s.between(start / 1000.0, end / 1000.0, every="100ms",
                            limit=12))
    assert len(frames) == 12
    assert all(b.time_ms - a.time_ms >= 100
               for a, b in zip(frames, frames[1:]))
    for f in frames[::4]:
        assert_picture(f, camera)


def test_between_is_read_as_it_is_iterated(cam):
    """A series is read part by part: stopping after the first frame
    leaves the rest unread, and a relative range works."""
    time.sleep(3)
    s = stream_of(cam)
    it = s.between("-3s", "-1s")
    first = next(it)
    assert first.width == 640
    it.close()
    frames = list(s.between("-2s", "now", every="1s"))
    assert 1 <= len(frames) <= 3
    assert all(f.age_ms <= 2000 + 1000 * SLOW for f in frames)


def ffprobe(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames", "-of", "json",
         str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["streams"][0]


def test_clip(cam, tmp_path):
    time.sleep(3)
    s = stream_of(cam)
    path = tmp_path / "last2.mp4"
    n = s.clip(str(path), start="-2s")
    assert n == path.stat().st_size > 10000
    info = ffprobe(path)
    assert (info["codec_name"], info["width"], info["height"]) == \
        ("h264", 640, 360)
    # from the keyframe at or before the start: 2 s and up to a GOP more
    assert 50 <= int(info["nb_read_frames"]) <= 100


def test_an_event_keeps_its_frames(cam, camera, tmp_path):
    time.sleep(1.5)
    s = stream_of(cam)
    ev = s.event(label="person", pre="1s", post="1s", meta={"score": 0.9})
    assert ev.label == "person" and ev.meta == {"score": 0.9}
    assert (ev.end - ev.start).total_seconds() == 2
    assert not ev.complete
    assert [e.id for e in s.events()] == [ev.id]

    frames = list(ev.frames())      # waits for the post window
    assert ev.complete
    assert len(frames) >= 40
    for f in frames:
        assert ev.start <= f.time <= ev.end
    for f in frames[::5]:
        assert_picture(f, camera)
    assert [f.seq for f in ev.frames(every="500ms")] == \
        [f.seq for f in frames if f.seq in
         {g.seq for g in ev.frames(every="500ms")}]

    path = tmp_path / "e.mp4"
    assert ev.clip(str(path)) > 10000
    info = ffprobe(path)
    assert info["codec_name"] == "h264" and int(info["nb_read_frames"]) \
        >= 40

    assert s.get_event(ev.id).complete
    ev.delete()
    with pytest.raises(client.NotFound):
        s.get_event(ev.id)


def test_status_and_streams(cam):
    relay = client.connect(cam.url(""))
    st = relay.stream("live/cam").status()
    assert st["publishing"] is True and st["width"] == 640
    assert [x["name"] for x in relay.streams()] == ["cam"]


def test_one_connection_is_kept_alive(make_nginx, publish, camera):
    """Every call of a relay goes over one kept-alive connection: nginx
    numbers its connections ($connection), and all answers name one."""
    nginx = make_nginx(http_extra="""
        location /c/ {
            chrys_api;
            add_header X-Connection $connection always;
        }
    """)
    publish(nginx.rtmp("cam"), camera.path)
    nginx.wait_frame("cam")
    conns = []
    relay = client.connect("http://127.0.0.1:%d/c/" % nginx.http_port)
    relay.session.hooks["response"].append(
        lambda r, **kw: conns.append(r.headers["X-Connection"]))
    s = relay.stream("live/cam")
    it = s.frames()
    for _ in range(5):
        next(it)
        s.status()
        s.latest(format="jpeg")
    relay.streams()
    assert len(conns) == 16 and len(set(conns)) == 1, conns


# ---------------------------------------------------------------- token

@pytest.fixture
def example(publish, camera):
    """nginx.conf.example, publishing the camera with the publish key."""
    n = ExampleNginx().start()
    try:
        publish(n.rtmp("cam?key=" + KEY), camera.path)
        wait_picture(n, "cam")
        yield n
    finally:
        crashes = n.crashes()
        n.cleanup()
        assert not crashes, crashes


def test_the_token_goes_in_a_bearer_header(example, camera):
    urls = []
    relay = client.connect(example.url(""), token=TOKEN)
    relay.session.hooks["response"].append(lambda r, **kw: urls.append(
        (r.request.url, r.request.headers.get("Authorization"))))
    s = relay.stream("live/cam")
    assert_picture(s.latest(), camera)
    assert_picture(next(s.frames()), camera)
    assert urls and all(TOKEN not in u and auth == "Bearer " + TOKEN
                        for u, auth in urls)


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x"])
def test_a_bad_token_is_unauthorized(example, token):
    s = client.connect(example.url(""), token=token).stream("live/cam")
    with pytest.raises(client.Unauthorized) as e:
        s.latest()
    assert e.value.status == 403 and "token" in str(e.value)
    with pytest.raises(client.Unauthorized):
        s.relay.streams()
    with pytest.raises(client.Unauthorized):
        next(s.frames())


# ---------------------------------------------------------------- TLS

class _Streams(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"streams": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_tls_is_verified_against_a_ca_file(tmp_path):
    """An HTTPS server whose certificate a CA of the test signed: refused
    without the CA file, answered with it."""
    ca_key, ca = tmp_path / "ca.key", tmp_path / "ca.pem"
    key, csr, cert = (tmp_path / "s.key", tmp_path / "s.csr",
                      tmp_path / "s.pem")
    ext = tmp_path / "ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")

    def openssl(*args):
        subprocess.run(["openssl"] + list(args), check=True,
                       capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=chrys test CA", "-keyout", str(ca_key),
            "-out", str(ca))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=relay",
            "-keyout", str(key), "-out", str(csr))
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey",
            str(ca_key), "-CAcreateserial", "-days", "2", "-extfile",
            str(ext), "-out", str(cert))

    server = HTTPServer(("127.0.0.1", 0), _Streams)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    th = threading.Thread(target=server.serve_forever, daemon=True)
    th.start()
    try:
        url = "https://127.0.0.1:%d/chrys/" % server.server_address[1]
        with pytest.raises(client.Error) as e:
            client.connect(url).streams()
        assert "TLS" in str(e.value) and not isinstance(e.value,
                                                        client.Timeout)
        assert client.connect(url, ca=str(ca)).streams() == []
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- CLI

def cli(*args, env=None, timeout=60, ok=True):
    r = subprocess.run([PYTHON, "-m", "chrys"] + list(args),
                       capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, PYTHONPATH=PYTHONPATH,
                                **(env or {})),
                       cwd="/")
    if ok:
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r


def test_cli_snapshot_watch_save_clip_status(cam, camera, tmp_path):
    url = cam.url("live/cam")
    out = tmp_path / "now.jpg"
    r = cli("snapshot", url, str(out))
    assert r.stdout.startswith(str(out) + ": seq ")
    body = out.read_bytes()
    pts = None
    # the JPEG as served: the picture of the seq it names
    seq = int(r.stdout.split("seq ")[1].split(",")[0])
    ix = cam.get("live/cam/index.json").json()["index"]
    pts = [e["pts"] for e in ix if e["seq"] == seq][0]
    assert camera.psnr(body, pts) >= 30

    r = cli("watch", url, "--frames", "4")
    lines = r.stdout.splitlines()
    assert len(lines) == 4, lines
    for line in lines:
        assert line.startswith("seq ") and " ms " in line \
            and " fps 640x360" in line, line

    time.sleep(3)
    r = cli("save", url, str(tmp_path / "saved"), "--from", "-3s", "--to",
            "-1s", "--every", "1s")
    files = sorted(os.listdir(tmp_path / "saved"))
    assert 2 <= len(files) <= 3, files
    assert r.stdout.strip() == "%d pictures in %s" % (len(files),
                                                      tmp_path / "saved")
    for name in files:
        seq = int(name[:-4].split("-")[1])
        pts = [e["pts"] for e in cam.get("live/cam/index.json").json()
               ["index"] if e["seq"] == seq][0]
        assert camera.psnr((tmp_path / "saved" / name).read_bytes(),
                           pts) >= 30

    clip = tmp_path / "c.mp4"
    cli("clip", url, str(clip), "--from", "-2s")
    assert ffprobe(clip)["codec_name"] == "h264"

    r = cli("status", url)
    assert json.loads(r.stdout)["name"] == "cam"


def test_cli_errors(cam):
    r = cli("snapshot", cam.url("live/nobody"), "/tmp/x.jpg", ok=False)
    assert r.returncode == 1 and "404 stream not found" in r.stderr
    r = cli("snapshot", cam.url("live/cam"), "/tmp/x.jpg", "--at",
            str(time.time() - 3600), ok=False)
    assert r.returncode == 1 and "the buffer holds" in r.stderr
    r = cli("save", cam.url("live/cam"), "/tmp/x", "--every", "soon",
            ok=False)
    assert r.returncode == 2


def test_cli_token_from_the_environment(example, tmp_path):
    url = example.url("live/cam")
    r = cli("snapshot", url, str(tmp_path / "a.jpg"),
            env={"CHRYS_TOKEN": TOKEN})
    assert (tmp_path / "a.jpg").read_bytes()[:2] == b"\xff\xd8"
    cli("status", url, "--token", TOKEN)
    r = cli("status", url, env={"CHRYS_TOKEN": "wrong"}, ok=False)
    assert r.returncode == 1 and "403" in r.stderr


# ---------------------------------------------------------------- install

def test_pip_installs_the_package_offline(tmp_path):
    """pip install ./python, with Debian's setuptools and no network: into
    a venv that sees the system's requests and numpy."""
    venv = tmp_path / "venv"
    subprocess.run([PYTHON, "-m", "venv", "--system-site-packages",
                    str(venv)], check=True, capture_output=True)
    # from a copy: setuptools builds in the source directory (build/,
    # chrys.egg-info), which must stay out of the tree
    src = tmp_path / "python"
    shutil.copytree(PYTHONPATH, src,
                    ignore=shutil.ignore_patterns("__pycache__", "build",
                                                  "*.egg-info"))
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-index",
                        "--no-deps", "--no-build-isolation", str(src)],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PIP_NO_INDEX="1"))
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([str(venv / "bin" / "python"), "-c",
                        "import chrys; print(chrys.__file__, "
                        "chrys.__version__, chrys.connect)"],
                       capture_output=True, text=True, cwd="/",
                       check=True)
    assert str(venv) in r.stdout, r.stdout
    r = subprocess.run([str(venv / "bin" / "chrys"), "--help"],
                       capture_output=True, text=True, check=True)
    assert "snapshot" in r.stdout
