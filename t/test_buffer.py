"""The stream buffer: frames before and after an event, frame-accurate, from
memory; clips and image series of a time range; events that keep them."""

import json
import re
import socket
import subprocess
import tempfile
import time

import requests

from chrys import SLOW, frame_meta, wait_for


def multipart(r):
    """The parts of a multipart/mixed response: (headers, body) pairs."""
    ctype = r.headers["Content-Type"]
    assert ctype.startswith("multipart/mixed; boundary=")
    boundary = ctype.split("boundary=")[1].encode()
    body = r.content
    assert body.endswith(b"--" + boundary + b"--\r\n")
    parts = []
    for chunk in body.split(b"--" + boundary)[1:-1]:
        assert chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n")
        head, _, data = chunk[2:-2].partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1)
                       for line in head.decode().split("\r\n"))
        assert int(headers["Content-Length"]) == len(data)
        parts.append((headers, data))
    return parts


def part_meta(headers):
    return {k: int(headers["X-Chrys-" + k.capitalize()])
            for k in ("seq", "pts", "time", "keyframe", "width", "height")}


def index(nginx, name="cam", app="live", query=""):
    r = nginx.get("%s/%s/index.json%s" % (app, name, query))
    assert r.status_code == 200, r.text
    return r.json()


def ffprobe(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames:format=duration",
         "-of", "json", path], capture_output=True, text=True, check=True)
    info = json.loads(out.stdout)
    return info["streams"][0], float(info["format"]["duration"])


def probe_clip(body):
    """A clip as ffprobe sees it, (stream, duration), once ffmpeg decoded
    the whole of it without a word."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(body)
        f.flush()
        stream, duration = ffprobe(f.name)
        decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", f.name,
                                  "-f", "null", "-"], capture_output=True,
                                 text=True)
    assert decoded.returncode == 0 and decoded.stderr == "", decoded.stderr
    return stream, duration


def test_index_describes_the_buffer(nginx, publish, source):
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    time.sleep(3)

    ix = index(nginx)
    assert ix["app"] == "live" and ix["name"] == "cam"
    assert ix["codec"] == {"name": "h264", "width": 640, "height": 360,
                           "profile": 100, "level": 30}
    assert ix["frames"] == len(ix["index"]) >= 80
    assert ix["end"] - ix["start"] == ix["duration"] >= 2500
    assert 25 <= ix["fps"] <= 35
    assert ix["bytes"] > sum(f["size"] for f in ix["index"])
    assert ix["window"] == 10000

    frames = ix["index"]
    assert [f["seq"] for f in frames] == sorted(f["seq"] for f in frames)
    assert frames[0]["keyframe"] is True
    keys = [f for f in frames if f["keyframe"]]
    assert len(keys) >= 2          # GOP 30 at 30 fps

    # a range
    mid = frames[len(frames) // 2]["time"]
    part = index(nginx, query="?from=%d&to=%d" % (mid - 500, mid + 500))
    assert part["frames"] == ix["frames"] or part["frames"] >= ix["frames"]
    assert all(mid - 500 <= f["time"] <= mid + 500 for f in part["index"])
    assert 20 <= len(part["index"]) <= 40


def test_the_window_holds_what_chrys_buffer_says(make_nginx, publish,
                                                 camera):
    nginx = make_nginx(rtmp_extra="""
        application short {
            live on;
            chrys on;
            chrys_buffer 3s;
        }
    """)
    publish(nginx.rtmp("cam", app="short"), camera.path)
    nginx.wait_frame("cam", app="short")
    time.sleep(6)

    for _ in range(5):
        ix = index(nginx, app="short")
        # whole GOPs (1 s) go: between 2 and 3 s are kept
        assert 2000 <= ix["duration"] <= 3000, ix["duration"]
        assert ix["index"][0]["keyframe"] is True
        time.sleep(0.4)


def test_the_byte_cap_holds(make_nginx, publish, camera):
    nginx = make_nginx(rtmp_extra="""
        application capped {
            live on;
            chrys on;
            chrys_buffer 60s 1m;
        }
    """)
    publish(nginx.rtmp("cam", app="capped"), camera.path, realtime=False,
            loop=True)
    nginx.wait_frame("cam", app="capped")
    time.sleep(2)

    for _ in range(5):
        ix = index(nginx, app="capped")
        assert ix["max_bytes"] == 1024 * 1024
        assert ix["bytes"] <= 1024 * 1024
        assert ix["frames"] > 30
        assert ix["index"][0]["keyframe"] is True
        time.sleep(0.3)


def test_frame_at_a_time_is_the_frame_shown_then(make_nginx, publish,
                                                 source):
    # a minute of buffer: the frames listed stay while they are checked
    nginx = make_nginx(rtmp_extra="""
        application long {
            live on;
            chrys on;
            chrys_buffer 60s;
        }
    """)
    publish(nginx.rtmp("cam", app="long"), source.path)
    nginx.wait_frame("cam", app="long")
    time.sleep(3)

    frames = index(nginx, app="long")["index"]
    # keyframes and frames deep inside a GOP, with B-frames around
    for f in frames[::7]:
        r = nginx.get("long/cam/frame.jpg?time=%d" % f["time"])
        assert r.status_code == 200, r.text
        m = frame_meta(r)
        # the last frame that arrived at or before that time
        expect = [g for g in frames if g["time"] <= f["time"]][-1]
        assert m["seq"] == expect["seq"]
        assert m["pts"] == expect["pts"]
        assert m["time"] == expect["time"]
        assert m["keyframe"] == int(expect["keyframe"])
        assert source.psnr(r.content, m["pts"]) >= 30

        r = nginx.get("long/cam/frame.jpg?seq=%d" % f["seq"])
        assert r.status_code == 200
        assert frame_meta(r)["seq"] == f["seq"]
        assert source.psnr(r.content, f["pts"]) >= 30


def test_frame_keyframe_gives_the_keyframe_at_or_before(nginx, publish,
                                                        source):
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    time.sleep(3)

    frames = index(nginx)["index"]
    f = frames[45]
    key = [g for g in frames[:46] if g["keyframe"]][-1]
    r = nginx.get("live/cam/frame.jpg?seq=%d&keyframe=1" % f["seq"])
    assert r.status_code == 200
    m = frame_meta(r)
    assert m["seq"] == key["seq"] and m["keyframe"] == 1
    assert source.psnr(r.content, key["pts"]) >= 30


def test_relative_times_count_back_from_now(nginx, publish, source):
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    time.sleep(3)

    asked = time.time() * 1000
    r = nginx.get("live/cam/frame.jpg?time=-1000")
    answered = time.time() * 1000
    assert r.status_code == 200
    m = frame_meta(r)
    # the last frame that arrived 1 s before the server read the request
    assert asked - 1000 - 100 <= m["time"] <= answered - 1000
    assert source.psnr(r.content, m["pts"]) >= 30


def test_images_with_an_interval(nginx, publish, source):
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    time.sleep(4)

    frames = index(nginx)["index"]
    t0, t1 = frames[5]["time"], frames[5]["time"] + 3000

    r = nginx.get("live/cam/images?from=%d&to=%d&interval=500&quality=90"
                  % (t0, t1))
    assert r.status_code == 200
    parts = multipart(r)

    # the first frame at or after each step of 500 ms, as index.json says
    expect, nxt = [], t0
    for f in frames:
        if nxt <= f["time"] <= t1:
            expect.append(f["seq"])
            nxt = f["time"] + 500
    assert int(r.headers["X-Chrys-Images"]) == len(expect) == len(parts)
    assert len(parts) in (6, 7)

    metas = [part_meta(h) for h, _ in parts]
    assert sorted(m["seq"] for m in metas) == expect
    assert [m["time"] for m in metas] == sorted(m["time"] for m in metas)
    for (h, body), m in zip(parts, metas):
        assert h["Content-Type"] == "image/jpeg"
        assert source.psnr(body, m["pts"]) >= 30


def test_images_of_every_frame_in_order(nginx, publish, source):
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    time.sleep(4)

    frames = index(nginx)["index"]
    t0, t1 = frames[3]["time"], frames[70]["time"]
    parts = multipart(nginx.get("live/cam/images?from=%d&to=%d"
                                % (t0, t1)))
    seqs = [f["seq"] for f in frames if t0 <= f["time"] <= t1]
    metas = [part_meta(h) for h, _ in parts]
    assert sorted(m["seq"] for m in metas) == seqs
    # display order: presentation times rise
    assert [m["pts"] for m in metas] == sorted(m["pts"] for m in metas)
    for (_, body), m in list(zip(parts, metas))[::9]:
        assert source.psnr(body, m["pts"]) >= 30

    limited = multipart(nginx.get("live/cam/images?from=%d&to=%d&limit=5"
                                  % (t0, t1)))
    # the first five frames of the range, in display order
    assert sorted(part_meta(h)["seq"] for h, _ in limited) == seqs[:5]


def test_clip_plays_with_the_expected_duration(nginx, publish, source):
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    time.sleep(6)

    frames = index(nginx)["index"]
    t0, t1 = frames[40]["time"], frames[40]["time"] + 3000

    r = nginx.get("live/cam/clip.mp4?from=%d&to=%d" % (t0, t1))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "video/mp4"

    stream, duration = probe_clip(r.content)
    assert stream["codec_name"] == "h264"
    assert (stream["width"], stream["height"]) == (640, 360)
    # from the keyframe at or before "from": at most one GOP (30) more
    in_range = [f for f in frames if t0 <= f["time"] <= t1]
    frames_read = int(stream["nb_read_frames"])
    assert len(in_range) <= frames_read <= len(in_range) + 30
    assert 2.9 <= duration <= 4.1


def test_a_clip_across_a_reconnect_is_whole(nginx, publish, camera):
    """The camera leaves and comes back: its timestamps start again, the
    buffer goes on.  A clip over both publishes has every frame of them,
    in order, and plays to its end (MP4 takes only increasing times)."""
    first = publish(nginx.rtmp("cam"), camera.path)
    nginx.wait_frame("cam")
    time.sleep(2)
    first.stop()
    wait_for(lambda: not nginx.status("cam")["publishing"],
             timeout=10, what="the publisher to leave")
    publish(nginx.rtmp("cam"), camera.path)
    wait_for(lambda: nginx.status("cam")["publishes"] == 2
             and nginx.status("cam")["publishing"], timeout=10,
             what="the camera to come back")
    time.sleep(2)

    frames = index(nginx)["index"]
    t0, t1 = frames[0]["time"], frames[-1]["time"]
    r = nginx.get("live/cam/clip.mp4?from=%d&to=%d" % (t0, t1))
    assert r.status_code == 200

    stream, duration = probe_clip(r.content)
    in_range = [f for f in frames if t0 <= f["time"] <= t1]
    assert int(stream["nb_read_frames"]) == len(in_range)
    # both publishes' frames, one after the other: about as long as they
    assert duration >= 0.9 * len(in_range) / 30.0, (duration, len(in_range))


def test_an_event_keeps_its_frames_after_the_window_moved_on(
        make_nginx, publish, camera):
    source = camera
    nginx = make_nginx(rtmp_extra="""
        application short {
            live on;
            chrys on;
            chrys_buffer 2s;
        }
    """)
    publish(nginx.rtmp("cam", app="short"), source.path)
    nginx.wait_frame("cam", app="short")
    time.sleep(2.5)

    r = requests.post(nginx.url("short/cam/events"),
                      json={"label": "person", "pre": 1000, "post": 1000,
                            "meta": {"score": 0.97, "box": [10, 20, 30, 40]}},
                      timeout=5)
    assert r.status_code == 201, r.text
    ev = r.json()
    assert ev["label"] == "person"
    assert ev["meta"] == {"score": 0.97, "box": [10, 20, 30, 40]}
    assert ev["to"] - ev["from"] == 2000
    assert ev["complete"] is False

    time.sleep(1.5)
    ev = nginx.get("short/cam/events/%d" % ev["id"]).json()
    assert ev["complete"] is True
    assert ev["truncated"] is False
    assert ev["start"] <= ev["from"] and ev["end"] >= ev["to"] - 100

    # the stream's own buffer has moved past the event
    time.sleep(3)
    assert index(nginx, app="short")["start"] > ev["to"]
    r = nginx.get("short/cam/frame.jpg?time=%d" % ev["time"])
    assert r.status_code == 410
    assert r.json()["start"] > ev["to"]

    r = nginx.get("short/cam/events/%d/images" % ev["id"])
    assert r.status_code == 200
    parts = multipart(r)
    assert 55 <= len(parts) <= 62          # 2 s at 30 fps
    for headers, body in parts[::6]:
        m = part_meta(headers)
        assert ev["from"] <= m["time"] <= ev["to"]
        assert source.psnr(body, m["pts"] % 20000) >= 30

    r = nginx.get("short/cam/events/%d/clip.mp4" % ev["id"])
    assert r.status_code == 200
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(r.content)
        f.flush()
        stream, duration = ffprobe(f.name)
    assert 60 <= int(stream["nb_read_frames"]) <= 60 + 31

    listed = nginx.get("short/cam/events").json()["events"]
    assert [e["id"] for e in listed] == [ev["id"]]

    r = requests.delete(nginx.url("short/cam/events/%d" % ev["id"]),
                        timeout=5)
    assert r.status_code == 200
    assert nginx.get("short/cam/events/%d" % ev["id"]).status_code == 404
    assert nginx.get("short/cam/events/%d/images"
                     % ev["id"]).status_code == 404
    assert nginx.get("short/cam/events").json() == {"events": []}


def test_the_buffer_outlives_a_disconnect(nginx, publish, source):
    p = publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    time.sleep(2)
    p.stop()
    wait_for(lambda: not nginx.status("cam")["publishing"],
             what="publishing false")

    before = index(nginx)
    time.sleep(1)
    assert index(nginx)["index"] == before["index"]
    f = before["index"][20]
    r = nginx.get("live/cam/frame.jpg?seq=%d" % f["seq"])
    assert r.status_code == 200
    assert source.psnr(r.content, f["pts"]) >= 30

    publish(nginx.rtmp("cam"), source.path)
    wait_for(lambda: index(nginx)["frames"] > before["frames"] + 30,
             what="the buffer to go on")
    after = index(nginx)
    assert after["start"] == before["start"]
    seqs = [g["seq"] for g in after["index"]]
    assert seqs == sorted(seqs)
    # the old frames still decode, and so do the new ones
    r = nginx.get("live/cam/frame.jpg?seq=%d" % f["seq"])
    assert source.psnr(r.content, f["pts"]) >= 30
    g = after["index"][-5]
    r = nginx.get("live/cam/frame.jpg?seq=%d" % g["seq"])
    assert r.status_code == 200
    assert source.psnr(r.content, g["pts"]) >= 30


def test_times_outside_the_buffer(nginx, publish, source):
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    time.sleep(2)
    ix = index(nginx)

    r = nginx.get("live/cam/frame.jpg?time=%d" % (ix["start"] - 1000))
    assert r.status_code == 410
    body = r.json()
    assert body["error"] and body["start"] >= ix["start"]
    assert body["end"] >= ix["end"]

    future = int(time.time() * 1000) + 60000
    r = nginx.get("live/cam/frame.jpg?time=%d" % future)
    assert r.status_code == 404 and "future" in r.json()["error"]

    assert nginx.get("live/cam/frame.jpg?seq=999999999").status_code == 404
    assert nginx.get("live/cam/images?from=1&to=1000").status_code == 410
    assert nginx.get("live/cam/clip.mp4?from=%d" % future).status_code == 404
    r = nginx.get("live/cam/frame.jpg")
    assert r.status_code == 400 and "time" in r.json()["error"]
    r = nginx.get("live/cam/images?from=%d&to=%d" % (ix["end"],
                                                     ix["start"]))
    assert r.status_code == 400 and '"from"' in r.json()["error"]


def test_too_many_images_is_400_naming_the_cap(make_nginx, publish, camera):
    nginx = make_nginx(rtmp_extra="""
        application long {
            live on;
            chrys on;
            chrys_buffer 600s;
        }
    """)
    fast = publish(nginx.rtmp("cam", app="long"), camera.path,
                   realtime=False, loop=True)
    wait_for(lambda: nginx.get("long/cam/index.json").status_code == 200
             and index(nginx, app="long")["frames"] > 3100,
             what="3100 frames buffered")
    # a publisher this fast makes the buffer drop its oldest GOPs (its
    # size) while a request reads them: the buffer stays as it is once
    # nginx has read what the publisher had sent before it was killed
    fast.kill()
    wait_for(lambda: not nginx.status("cam", app="long")["publishing"],
             what="the killed publisher's stream closed")
    r = nginx.get("long/cam/images")
    assert r.status_code == 400
    assert "3000" in r.json()["error"] and "limit" in r.json()["error"]
    assert nginx.get("long/cam/images?limit=3001").status_code == 400
    r = nginx.get("long/cam/images?limit=3")
    assert r.status_code == 200 and len(multipart(r)) == 3


def test_event_errors(nginx, publish, source):
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")

    url = nginx.url("live/cam/events")
    for body, word in [(b"[1,2]", "JSON object"),
                       (b"{\"label\": 5}", "label"),
                       (b"{\"pre\": -1}", "pre"),
                       (b"{\"post\": \"x\"}", "post"),
                       (b"{\"post\": 300001}", "post"),
                       (b"{\"label\": \"a\"", "JSON object"),
                       (b"{\"meta\": {\"a\": [1, }}", "JSON object"),
                       (b"{\"label\": \"" + b"x" * 200 + b"\"}", "label")]:
        r = requests.post(url, data=body, timeout=5)
        assert r.status_code == 400, (body, r.text)
        assert word in r.json()["error"], (body, r.text)

    r = requests.post(url, data=b"{\"meta\": \"" + b"x" * 9000 + b"\"}",
                      timeout=5)
    assert r.status_code == 413

    assert nginx.get("live/cam/events/99").status_code == 404
    assert requests.delete(nginx.url("live/cam/events/99"),
                           timeout=5).status_code == 404
    r = requests.put(url, timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD, POST"


def test_events_beyond_the_budget_are_refused(make_nginx, publish, camera):
    nginx = make_nginx(rtmp_main="chrys_event_budget 2m;")

    publish(nginx.rtmp("cam"), camera.path)
    nginx.wait_frame("cam")
    time.sleep(2)

    url = nginx.url("live/cam/events")
    codes = []
    for _ in range(12):
        r = requests.post(url, json={"pre": 2000, "post": 2000}, timeout=5)
        codes.append(r.status_code)
        if r.status_code == 507:
            assert "budget" in r.json()["error"]
            break
    assert codes[0] == 201 and codes[-1] == 507, codes

    # the stream and the events already made are unharmed
    ev = nginx.get("live/cam/events").json()["events"][0]
    r = nginx.get("live/cam/events/%d/images?limit=3" % ev["id"])
    assert r.status_code == 200 and len(multipart(r)) == 3
    assert nginx.get("live/cam/latest.jpg").status_code == 200


def open_series(nginx, path, rcvbuf=4096, connection="keep-alive"):
    """A client with a small receive buffer that asks for an image series
    and reads its head: the socket, and what it read."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", nginx.http_port))
    s.sendall(("GET /chrys/%s HTTP/1.1\r\nHost: x\r\nConnection: %s\r\n"
               "\r\n" % (path, connection)).encode())
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(4096)
    return s, got


def read_all(s, got, timeout):
    """Reads a chunked response to its end; returns its body."""
    s.settimeout(timeout)
    while not got.endswith(b"\r\n0\r\n\r\n"):
        chunk = s.recv(65536)
        assert chunk, "the server closed the connection: %r" % got[-200:]
        got += chunk
    head, _, chunked = got.partition(b"\r\n\r\n")
    body = b""
    while True:
        size, _, rest = chunked.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            return head, body
        body += rest[:n]
        chunked = rest[n + 2:]


def test_a_slow_image_series_reader_gets_every_part(nginx, publish, source):
    """A reader with a 4 KB receive buffer that stops reading for 10 s:
    the series waits for it, and when it reads again it gets every part."""
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    time.sleep(4)

    s, got = open_series(nginx, "live/cam/images?from=-3000&quality=95")
    try:
        time.sleep(10)
        head, body = read_all(s, got, 30 * SLOW)
    finally:
        s.close()

    count = int(re.search(rb"X-Chrys-Images: (\d+)", head).group(1))
    boundary = re.search(rb"boundary=(\S+)", head).group(1)
    parts = body.split(b"--" + boundary)[1:-1]
    assert count >= 80 and len(parts) == count
    for part in parts[::10]:
        headers, _, jpeg = part.partition(b"\r\n\r\n")
        pts = int(re.search(rb"X-Chrys-Pts: (\d+)", headers).group(1))
        assert source.psnr(jpeg[:-2], pts) >= 30


def test_a_gone_image_series_reader_is_let_go(make_nginx, publish, source):
    """A reader that stops reading for good, and one that leaves: each is
    let go within send_timeout, with all it held, as for MJPEG; nginx
    leaves no socket behind when it quits."""
    nginx = make_nginx(http_extra="send_timeout 2s;")
    camera = publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    time.sleep(4)

    def walking():
        for line in nginx.get("metrics").text.splitlines():
            if line.startswith('chrys_http_clients{kind="buffer"}'):
                return int(line.split()[1])

    # whether the kernel's buffers took the whole series (the request then
    # ended) or nginx waited send_timeout for the silent reader, the
    # connection is closed: it asked for no other request
    silent, _ = open_series(nginx, "live/cam/images?from=-3000&quality=95",
                            connection="close")
    left, _ = open_series(nginx, "live/cam/clip.mp4?from=-3000")
    left.close()
    try:
        assert walking() >= 1
        wait_for(lambda: walking() == 0, timeout=10 * SLOW,
                 what="both readers let go")
        # the silent one's connection was closed by the server
        silent.settimeout(5)
        while silent.recv(65536):
            pass
    finally:
        silent.close()

    # nginx-rtmp keeps a worker for as long as a publisher stays
    camera.kill()
    r = nginx.nginx("-s", "quit")
    assert r.returncode == 0
    wait_for(lambda: "exit" in nginx.error_log().splitlines()[-1],
             timeout=10 * SLOW, what="nginx to quit")
    assert "open socket" not in nginx.error_log()
