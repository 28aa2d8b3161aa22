"""chrys_decode on_demand: a stream nobody asks pictures of is not decoded;
the first request decodes from the newest keyframe to the newest frame
and answers with the newest picture, exact; asking keeps it decoded."""

import re
import socket
import threading
import time

import requests

from chrys import SLOW, Nginx, Source, frame_meta, wait_for

IDLE = "chrys_decode on_demand 1s;"

NOBUF = """
        application nobuf {
            live on;
            chrys on;
            chrys_buffer off;
        }
"""


def metric(nginx, name, stream):
    for line in nginx.get("metrics").text.splitlines():
        if line.startswith(name + "{") and ('name="%s"' % stream) in line:
            return float(line.split()[-1])
    raise AssertionError("no %s for %s" % (name, stream))


def status(nginx, name, app="live"):
    """The stream's status, or {} while it is not there yet."""
    r = nginx.get("%s/%s/status" % (app, name))
    assert r.status_code in (200, 404), (r.status_code, r.text)
    return r.json() if r.status_code == 200 else {}


def asleep(nginx, name, app="live"):
    s = status(nginx, name, app)
    return s.get("publishing") and not s["decoding"]


def wait_asleep(nginx, name, app="live"):
    wait_for(lambda: asleep(nginx, name, app), timeout=15 * SLOW,
             what="%s/%s to sleep" % (app, name))


def first_picture(nginx, source, name, app="live", path="latest.jpg"):
    """Asks a sleeping stream for a picture: it is the newest one (but for
    the frames B-frame reordering holds back: x264's 3 B-frames, a
    pyramid), and the source frame in every block."""
    before = nginx.status(name, app)["frames_received"]
    r = nginx.get("%s/%s/%s" % (app, name, path), timeout=15 * SLOW)
    assert r.status_code == 200, (r.status_code, r.text[:200])
    m = frame_meta(r)
    assert m["seq"] >= before - 8, (m["seq"], before)
    assert m["age"] < 2000 * SLOW, m
    assert source.psnr(r.content, m["pts"]) >= 30
    return m


def test_idle_stream_sleeps_and_wakes_with_the_newest_picture(
        make_nginx, publish, source):
    """Nobody asks: nothing is decoded, status and metrics say so.  Each
    time somebody asks again after a quiet second, the answer is the
    newest frame, right in every block; idle, watched, idle, watched."""
    nginx = make_nginx(rtmp_main=IDLE)
    publish(nginx.rtmp("cam"), source.path)

    wait_for(lambda: status(nginx, "cam").get("frames_received", 0) > 40,
             timeout=15 * SLOW, what="frames to arrive")
    s = nginx.status("cam")
    assert s["publishing"] and not s["decoding"]
    assert s["frames_decoded"] == 0 and s["last_seq"] == 0
    assert (s["width"], s["height"]) == (640, 360)
    assert metric(nginx, "chrys_decoding", "cam") == 0
    assert metric(nginx, "chrys_publishing", "cam") == 1
    assert 'chrys: decoding "live/cam" on demand' in nginx.error_log()

    for cycle in range(4):
        first_picture(nginx, source, "cam")
        assert nginx.status("cam")["decoding"]
        assert metric(nginx, "chrys_decoding", "cam") == 1

        # watched: every answer is a current, right picture
        for _ in range(5):
            r = nginx.get("live/cam/latest.jpg")
            assert r.status_code == 200
            m = frame_meta(r)
            assert source.psnr(r.content, m["pts"]) >= 30
            time.sleep(0.1)

        # idle again: decoding stops, the count stays
        wait_asleep(nginx, "cam")
        decoded = nginx.status("cam")["frames_decoded"]
        time.sleep(0.5)
        assert nginx.status("cam")["frames_decoded"] == decoded


def test_a_stream_without_buffer_keeps_its_last_gop(make_nginx, publish,
                                                   source):
    """chrys_buffer off under on_demand: what catching up needs (the
    packets since the last keyframe) is kept all the same."""
    nginx = make_nginx(rtmp_main=IDLE, rtmp_extra=NOBUF)
    publish(nginx.rtmp("cam", app="nobuf"), source.path)

    wait_asleep(nginx, "cam", app="nobuf")
    time.sleep(1.3)
    for _ in range(3):
        first_picture(nginx, source, "cam", app="nobuf")
        assert nginx.status("cam", "nobuf")["frames_decoded"] > 0
        wait_asleep(nginx, "cam", app="nobuf")
        time.sleep(0.7)

    # no buffer to show for it
    r = nginx.get("nobuf/cam/frame.jpg?time=-500")
    assert r.status_code != 200, r.status_code


def test_long_polls_and_mjpeg_wake_and_keep_it_decoded(make_nginx, publish,
                                                      source):
    nginx = make_nginx(rtmp_main=IDLE)
    publish(nginx.rtmp("cam"), source.path)
    wait_asleep(nginx, "cam")

    # a long poll after a seq that is no picture now wakes it
    r = nginx.get("live/cam/latest.jpg?after=1&timeout=5000",
                  timeout=15 * SLOW)
    assert r.status_code == 200, (r.status_code, r.text[:200])
    m = frame_meta(r)
    assert source.psnr(r.content, m["pts"]) >= 30
    wait_asleep(nginx, "cam")

    # MJPEG: its parts are right, and while it reads the stream stays
    # decoded, well past the idle time
    s = socket.create_connection(("127.0.0.1", nginx.http_port))
    s.sendall(b"GET /chrys/live/cam/live.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(10 * SLOW)
    data = b""
    parts = []
    end = time.monotonic() + 3
    try:
        while time.monotonic() < end or len(parts) < 10:
            chunk = s.recv(65536)
            assert chunk, "the server closed the MJPEG stream"
            data += chunk
            while True:
                head = re.search(rb"--chrysframe\r\n(.*?)\r\n\r\n", data,
                                 re.S)
                if not head:
                    break
                n = int(re.search(rb"Content-Length: (\d+)",
                                  head.group(1)).group(1))
                start = head.end()
                if len(data) < start + n:
                    break
                pts = int(re.search(rb"X-Chrys-Pts: (-?\d+)",
                                    head.group(1)).group(1))
                parts.append((pts, data[start:start + n]))
                data = data[start + n:]
            assert nginx.status("cam")["decoding"] or len(parts) == 0
    finally:
        s.close()

    assert len(parts) >= 10
    for pts, jpeg in parts[::3]:
        assert source.psnr(jpeg, pts) >= 30


def test_many_sleeping_streams_and_a_burst_of_first_requests(
        make_nginx, publish, camera):
    """Eight cameras nobody watches; then everyone asks at once, five
    requests per camera: every answer is the newest picture, right, and
    each camera caught up once (first requests share one decode)."""
    nginx = make_nginx(rtmp_main=IDLE, zone="128m")
    names = ["cam%d" % i for i in range(8)]
    for name in names:
        publish(nginx.rtmp(name), camera.path)
    for name in names:
        wait_asleep(nginx, name)
    time.sleep(1)

    before = {n: nginx.status(n) for n in names}
    answers, problems = [], []

    def ask(name):
        try:
            s = requests.Session()
            r = s.get(nginx.url("live/%s/latest.jpg" % name),
                      timeout=20 * SLOW)
            if r.status_code != 200:
                problems.append((name, r.status_code, r.text[:100]))
                return
            answers.append((name, frame_meta(r), r.content))
        except Exception as e:              # every answer counts
            problems.append((name, repr(e)))

    threads = [threading.Thread(target=ask, args=(n,))
               for n in names for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not problems, problems
    assert len(answers) == 5 * len(names)
    for name, m, body in answers:
        assert m["seq"] >= before[name]["frames_received"], (name, m)
        assert camera.psnr(body, m["pts"]) >= 30

    # one catch-up each: at most a GOP (30) more than the frames received
    for name in names:
        after = nginx.status(name)
        decoded = after["frames_decoded"] - before[name]["frames_decoded"]
        received = (after["frames_received"]
                    - before[name]["frames_received"])
        assert decoded <= 30 + received + 2, (name, decoded, received)


def test_reconnect_at_another_size_while_asleep(make_nginx, publish,
                                                camera):
    """The camera leaves while nobody watches (its last picture is decoded
    then, and stays), comes back at another size and sleeps again: the
    first picture is of the new size, right."""
    small = Source("testsrc2-320x180-30-nob", width=320, height=180,
                   extra=["-bf", "0"])
    nginx = make_nginx(rtmp_main=IDLE)
    p = publish(nginx.rtmp("cam"), camera.path)
    wait_asleep(nginx, "cam")
    time.sleep(1)
    p.stop()

    wait_for(lambda: not nginx.status("cam")["publishing"],
             timeout=10 * SLOW, what="the publisher to leave")
    last = nginx.status("cam")
    r = nginx.get("live/cam/latest.jpg")
    assert r.status_code == 200, (r.status_code, r.text[:200])
    m = frame_meta(r)
    assert m["seq"] >= last["frames_received"] - 1, (m, last)
    assert camera.psnr(r.content, m["pts"]) >= 30

    publish(nginx.rtmp("cam"), small.path)
    wait_for(lambda: status(nginx, "cam")["publishes"] == 2
             and asleep(nginx, "cam"),
             timeout=15 * SLOW, what="the new publish to sleep")
    time.sleep(1)
    m = first_picture(nginx, small, "cam")
    assert (m["width"], m["height"]) == (320, 180)


def test_events_and_the_buffer_need_no_decoding(make_nginx, publish,
                                                source):
    """Frames of the buffer and of events come from the buffer: they are
    served while the live decoder sleeps, and leave it asleep."""
    nginx = make_nginx(rtmp_main=IDLE)
    publish(nginx.rtmp("cam"), source.path)
    wait_asleep(nginx, "cam")
    time.sleep(2)

    r = nginx.get("live/cam/frame.jpg?time=-1000")
    assert r.status_code == 200, (r.status_code, r.text[:200])
    assert source.psnr(r.content, frame_meta(r)["pts"]) >= 30

    r = nginx.http.post(nginx.url("live/cam/events"),
                        json={"label": "door", "pre": 1000, "post": 0},
                        timeout=10)
    assert r.status_code == 201, (r.status_code, r.text)
    event = r.json()
    assert event["frames"] > 0, event
    r = nginx.get("live/cam/events/%d/images?limit=3" % event["id"])
    assert r.status_code == 200, (r.status_code, r.text[:200])
    parts = r.content.split(b"\r\n--")
    pictures = 0
    for part in parts:
        head, _, body = part.partition(b"\r\n\r\n")
        pts = re.search(rb"X-Chrys-Pts: (-?\d+)", head)
        if pts and b"image/jpeg" in head:
            assert source.psnr(body.rstrip(b"\r\n-"),
                               int(pts.group(1))) >= 30
            pictures += 1
    assert pictures == 3

    assert asleep(nginx, "cam")


def test_bad_chrys_decode_is_refused_with_a_clear_error():
    for bad, says in (("chrys_decode sometimes;", "always"),
                      ("chrys_decode on_demand forever;", "idle time"),
                      ("chrys_decode on_demand 25h;", "idle time"),
                      ("chrys_decode always 10s;", "always")):
        n = Nginx(rtmp_main=bad)
        try:
            r = n.nginx("-t")
            assert r.returncode != 0, bad
            assert says in r.stderr and "chrys_decode" in r.stderr, r.stderr
        finally:
            n.cleanup()
