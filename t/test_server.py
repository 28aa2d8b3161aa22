"""chrys inside a running nginx: reloads, relays, codec changes."""

import os
import subprocess
import time

from chrys import CACHE, Source, decode_jpeg, ffmpeg, frame_meta, psnr, \
    wait_for


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
    brings its own SPS in-band; pictures change size and stay correct."""
    small = annexb("small", "320x240")
    large = annexb("large", "480x270")
    both = os.path.join(CACHE, "small-large.h264")
    with open(both, "wb") as out:
        for p in (small, large):
            with open(p, "rb") as f:
                out.write(f.read())

    large_ref = Source("large-ref", width=480, height=270, seconds=4,
                       extra=["-bf", "0"])

    publish(nginx.rtmp("cam"), None,
            args=["-framerate", "30", "-i", both, "-c", "copy"])

    r = nginx.wait_frame("cam")
    assert frame_meta(r)["width"] == 320

    def large_frame():
        r = nginx.get("live/cam/latest.jpg")
        return r if frame_meta(r)["width"] == 480 else None

    r = wait_for(large_frame, timeout=15, what="the larger pictures")
    m = frame_meta(r)
    assert m["height"] == 270
    picture = decode_jpeg(r.content)
    best = max(psnr(picture, ref) for ref in large_ref.raw)
    assert best >= 30
    st = nginx.status("cam")
    assert (st["width"], st["height"]) == (480, 270)
    assert st["decode_errors"] == 0


def test_b_frames_on_and_off_mid_stream(nginx, publish):
    """One publish whose encoder turns B-frames on, off and on again (x264
    -bf 3, 0, 3, two seconds each, joined by ffmpeg's concat demuxer): the
    new SPS/PPS come in-band, the decoder's reordering delay changes with
    them, and every picture stays correct and keeps coming."""
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

    ref = Source("bframes-ref", width=320, height=240, seconds=2,
                 extra=["-bf", "0"])
    publish(nginx.rtmp("cam"), flv, loop=True)
    nginx.wait_frame("cam")

    # pictures over a little more than a pass of the file: which part of
    # it each comes from, and how like the test pattern it is
    seen = {}
    deadline = time.monotonic() + 7.5
    while time.monotonic() < deadline:
        r = nginx.get("live/cam/latest.jpg")
        m = frame_meta(r)
        if m["seq"] not in seen:
            seen[m["seq"]] = (m["pts"] % 6000 // 2000, m["pts"], r.content)
        time.sleep(0.1)

    parts = [part for part, _, _ in seen.values()]
    assert all(parts.count(part) >= 5 for part in (0, 1, 2)), \
        sorted((seq, part) for seq, (part, _, _) in seen.items())
    for seq, (part, pts, body) in sorted(seen.items()):
        # the frame of the pattern at its time in its part, give or take
        # the B-frames' delay and what ffmpeg moved to keep the
        # timestamps rising (the last frames of a part can come after
        # the next part's first timestamp)
        k = round(pts % 2000 * 30 / 1000)
        picture = decode_jpeg(body)
        best = max(psnr(picture, ref.raw[(k + d) % 60]) for d in range(-4, 5))
        assert best >= 30, (seq, part, pts, best)
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
