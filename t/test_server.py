"""chrys inside a running nginx: reloads, relays, codec changes."""

import os
import subprocess
import time

from chrys import CACHE, SLOW, Source, ffmpeg, frame_meta, wait_for


def test_zone_and_streams_survive_a_reload(nginx, publish, source):
    publish(nginx.rtmp("cam"), source.path)
    r = nginx.wait_frame("cam")
    seq = frame_meta(r)["seq"]

    nginx.reload()

    # the old worker keeps the publisher and goes on decoding into the zone
    wait_for(lambda: nginx.status("cam")["last_seq"] > seq + 30,
             what="frames after the reload")
    r = nginx.get("live/cam/latest.jpg")
    assert r.status_code == 200
    m = frame_meta(r)
    assert m["seq"] > seq
    assert source.psnr(r.content, m["pts"]) >= 30
    assert nginx.status("cam")["publishes"] == 1


def test_streams_pushed_by_a_relay_are_decoded(make_nginx, publish, source):
    nginx = make_nginx(rtmp_extra="""
        application ingest {
            live on;
            push rtmp://127.0.0.1:{rtmp_port}/relayed;
        }

        application relayed {
            live on;
            chrys on;
        }
    """)
    publish(nginx.rtmp("cam", app="ingest"), source.path)
    r = nginx.wait_frame("cam", app="relayed")
    assert source.psnr(r.content, frame_meta(r)["pts"]) >= 30
    # chrys is off where not asked for
    assert nginx.get("ingest/cam/status").status_code == 404


def test_streams_pulled_by_a_relay_are_decoded(make_nginx, publish, source):
    upstream = make_nginx(workers=1)
    nginx = make_nginx(rtmp_extra="""
        application pulled {
            live on;
            chrys on;
            pull rtmp://127.0.0.1:%d/live name=cam static;
        }
    """ % upstream.rtmp_port)
    publish(upstream.rtmp("cam"), source.path)
    r = nginx.wait_frame("cam", app="pulled", timeout=30)
    assert source.psnr(r.content, frame_meta(r)["pts"]) >= 30


def annexb(name, size):
    path = os.path.join(CACHE, "%s.h264" % name)
    if not os.path.exists(path):
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=%s:rate=30" % size,
               "-t", "4", "-c:v", "libx264", "-preset", "veryfast", "-g",
               "30", "-bf", "0", "-pix_fmt", "yuv420p", "-f", "h264", path)
    return path


def test_a_resolution_change_mid_stream_reinitialises(nginx, publish):
    """Two H.264 bitstreams back to back in one RTMP publish: the second
    brings its own SPS in-band; pictures change size and stay correct.
    Each is compared with its frame of the same encode, decoded alone:
    frame i of the publish is at i * 1000 / 30 ms."""
    parts = []
    for name, size in (("small", "320x240"), ("large", "480x270")):
        flv = os.path.join(CACHE, "%s-30.flv" % name)
        if not os.path.exists(flv):
            ffmpeg("-framerate", "30", "-i", annexb(name, size), "-c",
                   "copy", "-f", "flv", flv)
        w, h = map(int, size.split("x"))
        parts.append(Source("%s-30-ref" % name, width=w, height=h,
                            path=flv))
    small, large = parts
    both = os.path.join(CACHE, "small-large.h264")
    with open(both, "wb") as out:
        for name in ("small", "large"):
            with open(os.path.join(CACHE, "%s.h264" % name), "rb") as f:
                out.write(f.read())
    start = round(len(small.frames) * 1000 / 30)   # of the larger part

    publish(nginx.rtmp("cam"), None,
            args=["-framerate", "30", "-i", both, "-c", "copy"])

    r = nginx.wait_frame("cam")
    assert frame_meta(r)["width"] == 320

    sizes = set()
    deadline = time.monotonic() + 10 * SLOW
    while len(sizes) < 2 or time.monotonic() < deadline - 8 * SLOW:
        assert time.monotonic() < deadline, "no picture of both sizes"
        r = nginx.get("live/cam/latest.jpg")
        assert r.status_code == 200
        m = frame_meta(r)
        ref, pts = (small, m["pts"]) if m["pts"] < start \
            else (large, m["pts"] - start)
        assert (m["width"], m["height"]) == (ref.width, ref.height), m
        assert ref.psnr(r.content, pts) >= 30, m
        sizes.add(m["width"])
        time.sleep(0.1)

    st = nginx.status("cam")
    assert (st["width"], st["height"]) == (480, 270)
    assert st["decode_errors"] == 0


def test_b_frames_on_and_off_mid_stream(nginx, publish):
    """One publish whose encoder turns B-frames on, off and on again (x264
    -bf 3, 0, 3, two seconds each, joined by ffmpeg's concat demuxer): the
    new SPS/PPS come in-band, the decoder's reordering delay changes with
    them, and every picture stays correct and keeps coming.  Each is
    compared with the frame of its pts in the very file, decoded by
    ffmpeg."""
    flv = os.path.join(CACHE, "bframes-on-off.flv")
    if not os.path.exists(flv):
        listing = os.path.join(CACHE, "bframes-on-off.txt")
        with open(listing, "w") as f:
            for i, bf in enumerate((3, 0, 3)):
                ts = os.path.join(CACHE, "bframes-%d-%d.ts" % (i, bf))
                ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
                       "-t", "2", "-c:v", "libx264", "-preset", "veryfast",
                       "-g", "30", "-bf", str(bf), "-pix_fmt", "yuv420p",
                       "-f", "mpegts", ts)
                f.write("file '%s'\n" % ts)
        ffmpeg("-f", "concat", "-safe", "0", "-i", listing, "-c", "copy",
               "-f", "flv", flv)

    ref = Source("bframes-on-off-ref", width=320, height=240, path=flv)
    p = publish(nginx.rtmp("cam"), flv)
    nginx.wait_frame("cam")

    # the pictures until the file ends, each checked after: which part of
    # the file each comes from
    seen = {}
    while p.running():
        r = nginx.get("live/cam/latest.jpg")
        assert r.status_code == 200
        seen.setdefault(frame_meta(r)["seq"], (frame_meta(r), r.content))
        time.sleep(0.05)

    for m, body in seen.values():
        assert ref.psnr(body, m["pts"]) >= 30, m

    parts = [m["pts"] // 2000 for m, _ in seen.values()]
    assert all(parts.count(part) >= 3 for part in (0, 1, 2)), \
        sorted((m["seq"], m["pts"]) for m, _ in seen.values())
    assert nginx.status("cam")["decode_errors"] == 0


def test_applications_without_chrys_are_left_alone(make_nginx, publish,
                                                   source):
    nginx = make_nginx(rtmp_extra="""
        application plain {
            live on;
        }
    """)
    p = publish(nginx.rtmp("cam", app="plain"), source.path)
    time.sleep(2)
    assert p.running()
    assert nginx.get("plain/cam/status").status_code == 404
    assert nginx.get("streams").json() == {"streams": []}
