"""Faults, damage and server life: chrys keeps serving correct pictures, or
none, but never garbage, and never takes nginx down."""

import os
import re
import signal
import struct
import threading
import time

import pytest
import requests

from chrys import CACHE, SLOW, Source, ffmpeg, frame_meta, wait_for


def served(nginx, source, seconds, name="cam", period=None, every=0.15,
           app="live", least=0):
    """Polls latest.jpg for a while, and on until it has `least` pictures
    (a loaded machine checks fewer in a while); returns [(seq, pts,
    right)], right meaning the source frame of pts in every block.  Every
    answer counts: one that is not a picture, or a picture whose pts names
    no frame of the source, fails the test."""
    out = []
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end or len(out) < least:
        assert time.monotonic() < end + 30 * SLOW, \
            "%d pictures in %.0f s" % (len(out), time.monotonic() - start)
        r = nginx.get("%s/%s/latest.jpg" % (app, name))
        assert r.status_code == 200, (r.status_code, r.text[:200])
        m = frame_meta(r)
        pts = m["pts"] % period if period else m["pts"]
        assert pts in source.index, "pts %d names no source frame" % pts
        out.append((m["seq"], m["pts"], source.right(r.content, pts)))
        time.sleep(every)
    return out


def damaged(name, source, bsf):
    """The camera file passed through ffmpeg's noise filter."""
    path = os.path.join(CACHE, name + ".flv")
    if not os.path.exists(path):
        ffmpeg("-i", source.path, "-c", "copy", "-bsf:v", bsf, path)
    return path


def publish_as_is(publish, url, path, **kw):
    """Publishes a file keeping its timestamps (a file missing its first
    packets would otherwise be shifted to start at 0)."""
    return publish(url, None, args=["-copyts", "-i", path, "-c", "copy"],
                   **kw)


def mangle_flv(src, dst, every, how):
    """Copies an FLV file, damaging every `every`-th AVC picture tag:
    "truncate" cuts its payload in half, "length" breaks the first NAL
    length, "forbidden" sets the forbidden bit of its first NAL unit."""
    with open(src, "rb") as f:
        data = f.read()
    out = bytearray(data[:13])
    off, n = 13, 0
    while off + 11 <= len(data):
        size = int.from_bytes(data[off + 1:off + 4], "big")
        head = bytearray(data[off:off + 11])
        body = bytearray(data[off + 11:off + 11 + size])
        if head[0] == 9 and len(body) > 9 and body[1] == 1 \
                and body[0] >> 4 == 2:
            n += 1
            if n % every == 0:
                if how == "truncate":
                    body = body[:len(body) // 2]
                elif how == "length":
                    body[5:9] = b"\xff\xff\xff\x7f"
                elif how == "forbidden":
                    body[9] |= 0x80
        head[1:4] = len(body).to_bytes(3, "big")
        out += head + body + struct.pack(">I", 11 + len(body))
        off += 11 + size + 4
    with open(dst, "wb") as f:
        f.write(out)
    return n


def test_lost_packets_never_show(nginx, publish, camera):
    """A camera or relay that loses packets: every 47th is gone.  libavcodec
    alone would fill the holes with grey; chrys sees the gap in frame_num
    and waits for the next IDR."""
    path = damaged("camera-drop47", camera,
                   "noise=drop=not(mod(n\\,47))")
    publish_as_is(publish, nginx.rtmp("cam"), path)
    nginx.wait_frame("cam")

    pictures = served(nginx, camera, 8, least=13)
    assert len(pictures) > 12
    bad = [p for p in pictures if not p[2]]
    assert not bad, bad

    st = nginx.status("cam")
    assert st["decode_errors"] >= 5
    assert st["frames_skipped"] > 0
    assert "frame_num" in (st["error"] or "") or st["decode_errors"]


def test_truncated_and_garbled_payloads(nginx, publish, camera):
    for how in ("truncate", "length", "forbidden"):
        path = os.path.join(CACHE, "camera-%s.flv" % how)
        if not os.path.exists(path):
            mangle_flv(camera.path, path, 37, how)

        p = publish_as_is(publish, nginx.rtmp(how), path)
        nginx.wait_frame(how)
        pictures = served(nginx, camera, 4, name=how, least=7)
        p.kill()

        assert len(pictures) > 6, how
        bad = [x for x in pictures if not x[2]]
        assert not bad, (how, bad)
        st = nginx.status(how)
        assert st["decode_errors"] >= 3, (how, st)

    # nothing else was harmed
    assert len(nginx.get("streams").json()["streams"]) == 3


@pytest.mark.parametrize("amount", [2000, 20000, 200000])
def test_bit_errors_are_counted_and_recovered_from(nginx, publish, camera,
                                                   amount):
    """Bytes flipped inside slices (ffmpeg's noise filter: one byte in
    `amount`) for the first 10 seconds.  Most damage makes libavcodec
    report an error, and chrys then waits for the next IDR; a flip it
    decodes without a word can show for a few frames until then (H.264
    carries no checksum).  Once the damage stops, every picture is right
    again within a GOP."""
    path = damaged("camera-noise-%d" % amount, camera,
                   "noise=amount=if(lt(n\\,300)\\,%d\\,0)" % amount)
    publish_as_is(publish, nginx.rtmp("cam"), path)
    nginx.wait_frame("cam", timeout=20)

    during = served(nginx, camera, 7)
    wait_for(lambda: nginx.status("cam")["frames_received"] > 340,
             timeout=20, what="the clean part of the stream")
    after = served(nginx, camera, 4)

    st = nginx.status("cam")
    assert st["decode_errors"] > 0
    good = [p for p in during if p[2]]
    print("during the damage: %d of %d pictures right, %d errors"
          % (len(good), len(during), st["decode_errors"]))
    # pictures were checked while the damage lasted, not only after it
    assert len(during) >= 10
    assert len(good) >= 0.8 * len(during)
    assert after and all(p[2] for p in after), after


def test_publisher_killed_mid_gop_comes_back(make_nginx, publish, camera):
    nginx = make_nginx(rtmp_extra="""
        application long {
            live on;
            chrys on;
            chrys_buffer 60s;
        }
    """)

    def status():
        return nginx.status("cam", app="long")

    p = publish(nginx.rtmp("cam", app="long"), camera.path)
    nginx.wait_frame("cam", app="long")
    time.sleep(1.4)                          # mid-GOP (GOP is 1 s)
    p.proc.send_signal(signal.SIGKILL)
    p.proc.wait()
    wait_for(lambda: not status()["publishing"],
             what="the publisher gone")
    last = status()["last_seq"]
    before = nginx.get("long/cam/index.json").json()

    for gap in (1, 20):
        time.sleep(gap)
        p = publish(nginx.rtmp("cam", app="long"), camera.path)
        t0 = time.monotonic()
        wait_for(lambda: status()["last_seq"] > last,
                 timeout=10, what="frames after the return")
        # within one GOP of the new publish
        assert time.monotonic() - t0 < 2.5 * SLOW
        pictures = served(nginx, camera, 2, name="cam", app="long")
        assert pictures and all(x[2] for x in pictures)
        assert all(x[0] > last for x in pictures)
        last = status()["last_seq"]
        p.proc.send_signal(signal.SIGKILL)
        p.proc.wait()
        wait_for(lambda: not status()["publishing"],
                 what="the publisher gone")

    # the history spans the gaps: old frames still decode
    after = nginx.get("long/cam/index.json").json()
    assert after["start"] <= before["index"][-1]["time"]
    f = before["index"][-15]
    r = nginx.get("long/cam/frame.jpg?seq=%d" % f["seq"])
    assert r.status_code == 200
    assert camera.psnr(r.content, f["pts"]) >= 30
    assert status()["publishes"] == 3


def test_a_pulled_stream_comes_back_by_itself(make_nginx, publish, camera):
    upstream = make_nginx(workers=1)
    nginx = make_nginx(rtmp_extra="""
        application pulled {
            live on;
            chrys on;
            pull rtmp://127.0.0.1:%d/live name=cam static;
        }
    """ % upstream.rtmp_port)

    p = publish(upstream.rtmp("cam"), camera.path, loop=True)
    nginx.wait_frame("cam", app="pulled", timeout=30)

    # the upstream goes away altogether, and comes back
    p.kill()
    upstream.stop()
    time.sleep(3)
    seq = nginx.status("cam", app="pulled")["last_seq"]
    upstream.start()
    publish(upstream.rtmp("cam"), camera.path, loop=True)

    wait_for(lambda: nginx.status("cam", app="pulled")["last_seq"] > seq + 30,
             timeout=40, interval=0.5, what="the pull to resume")
    r = nginx.get("pulled/cam/latest.jpg")
    assert camera.psnr(r.content, frame_meta(r)["pts"] % 20000) >= 30


def test_repeated_sequence_headers_and_tiny_streams(nginx, publish):
    # x264 repeating SPS/PPS in-band before every IDR
    repeat = Source("repeat-headers", width=320, height=240, seconds=6,
                    x264="repeat-headers=1", extra=["-bf", "0"])
    publish(nginx.rtmp("rep"), repeat.path)
    # 1 fps, 160x120
    tiny = Source("tiny-1fps", width=160, height=120, rate=1, seconds=20,
                  gop=2)
    publish(nginx.rtmp("tiny"), tiny.path)

    r = nginx.wait_frame("rep")
    assert repeat.psnr(r.content, frame_meta(r)["pts"]) >= 30
    r = nginx.wait_frame("tiny", timeout=20)
    m = frame_meta(r)
    assert (m["width"], m["height"]) == (160, 120)
    assert tiny.psnr(r.content, m["pts"]) >= 30
    seq = m["seq"]
    r = nginx.get("live/tiny/latest.jpg?after=%d&timeout=5000" % seq)
    assert r.status_code == 200
    assert frame_meta(r)["pts"] > m["pts"]       # the next picture
    assert nginx.status("rep")["decode_errors"] == 0


def test_a_4k_keyframe(make_nginx, publish):
    src = Source("uhd", width=3840, height=2160, rate=5, seconds=3, gop=5,
                 extra=["-bf", "0"])
    nginx = make_nginx(zone="256m", rtmp_extra="max_message 16M;")
    publish(nginx.rtmp("uhd"), src.path)
    r = nginx.wait_frame("uhd", timeout=30)
    m = frame_meta(r)
    assert (m["width"], m["height"]) == (3840, 2160)
    assert src.psnr(r.content, m["pts"]) >= 30


def test_reload_with_clients_waiting(nginx, publish, camera):
    publish(nginx.rtmp("cam"), camera.path, loop=True)
    # a stream that stopped: a long poll on it waits
    p = publish(nginx.rtmp("idle"), camera.path)
    nginx.wait_frame("cam")
    nginx.wait_frame("idle")
    p.stop()
    wait_for(lambda: not nginx.status("idle")["publishing"],
             what="idle to stop")
    idle = nginx.status("idle")["last_seq"]
    results = {}

    def long_poll():
        t0 = time.monotonic()
        results["poll"] = requests.get(
            nginx.url("live/idle/latest.jpg?after=%d&timeout=20000" % idle),
            timeout=30)
        results["poll_s"] = time.monotonic() - t0

    def mjpeg():
        r = requests.get(nginx.url("live/cam/live.mjpg"), stream=True,
                         timeout=30)
        n = sum(c.count(b"--chrysframe\r\n") for c in r.iter_content(65536))
        results["mjpeg"] = n

    threads = [threading.Thread(target=long_poll),
               threading.Thread(target=mjpeg)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    nginx.reload()
    for t in threads:
        t.join(timeout=40)

    # the old worker answered the long poll at once (no new frame: 204)
    # and ended the MJPEG stream, so that it could exit
    assert results["poll"].status_code == 204
    assert results["poll_s"] < 10
    assert results["mjpeg"] > 10
    # and service goes on in the new workers
    r = nginx.get("live/cam/latest.jpg")
    assert camera.psnr(r.content, frame_meta(r)["pts"] % 20000) >= 30


def test_kill_9_of_the_publishers_worker(nginx, publish, camera):
    publish(nginx.rtmp("other"), camera.path, loop=True)
    p = publish(nginx.rtmp("cam"), camera.path, loop=True)
    nginx.wait_frame("cam")
    nginx.wait_frame("other")

    owner = None
    for line in nginx.error_log().splitlines():
        m = re.search(r'(\d+)#\d+: .*chrys: decoding "live/cam"', line)
        if m:
            owner = int(m.group(1))
    assert owner in nginx.worker_pids()
    os.kill(owner, signal.SIGKILL)
    wait_for(lambda: owner not in nginx.worker_pids()
             and len(nginx.worker_pids()) == 2, what="a new worker")

    # the publisher lost its connection; the zone is fine
    p.proc.wait(timeout=20)
    wait_for(lambda: not nginx.status("cam")["publishing"],
             what="cam marked as not publishing")
    for _ in range(10):
        assert nginx.get("streams").status_code == 200
        assert nginx.get("live/cam/latest.jpg").status_code == 200

    publish(nginx.rtmp("cam"), camera.path, loop=True)
    seq = nginx.status("cam")["last_seq"]
    wait_for(lambda: nginx.status("cam")["last_seq"] > seq + 10,
             timeout=15, what="cam to resume")
    r = nginx.get("live/cam/latest.jpg")
    assert camera.psnr(r.content, frame_meta(r)["pts"] % 20000) >= 30
    r = nginx.get("live/other/latest.jpg")
    assert camera.psnr(r.content, frame_meta(r)["pts"] % 20000) >= 30


def test_one_and_four_workers(make_nginx, publish, camera):
    for workers in (1, 4):
        nginx = make_nginx(workers=workers)
        publish(nginx.rtmp("cam"), camera.path)
        nginx.wait_frame("cam")
        seen = set()
        for _ in range(30):
            r = requests.get(nginx.url("live/cam/latest.jpg"),
                             headers={"Connection": "close"}, timeout=5)
            assert r.status_code == 200
            assert camera.psnr(r.content, frame_meta(r)["pts"]) >= 30
            seen.add(r.headers["X-Worker"])
        assert len(seen) >= min(workers, 2)
        nginx.stop()
