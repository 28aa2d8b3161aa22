"""Sound in the buffer: a stream's AAC audio kept with its video, in clips
and event clips in sync, its tone intact; other audio codecs named, not
kept."""

import json
import os
import subprocess
import tempfile
import time

import numpy as np
import pytest
import requests

from chrys import CACHE, SLOW, ffmpeg, wait_for, waiting_clients

TONE = 1000                 # Hz
RATE = 44100
AAC_FRAME = 1024 / RATE     # s


def media_file(name, audio, tone=TONE):
    """testsrc2 640x360 at 30 fps, GOP 30, 20 s, with a sine tone in
    "audio" (ffmpeg encoder arguments), as FLV; cached in t/.cache."""
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, name + ".flv")
    if not os.path.exists(path):
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
               "-f", "lavfi", "-i", "sine=frequency=%d:sample_rate=%d"
               % (tone, RATE), "-t", "20", "-c:v", "libx264", "-preset",
               "veryfast", "-g", "30", "-keyint_min", "30", "-bf", "0",
               "-pix_fmt", "yuv420p", *audio, "-f", "flv", path + ".part")
        os.replace(path + ".part", path)
    return path


@pytest.fixture(scope="module")
def aac_file():
    return media_file("testsrc2-aac-sine", ["-c:a", "aac", "-b:a", "96k"])


def probe(body):
    """Per stream of an MP4: codec, and the time its packets cover (s)."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(body)
        f.flush()
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries",
             "stream=index,codec_type,codec_name,sample_rate,channels:"
             "packet=stream_index,pts_time,duration_time", "-of", "json",
             f.name], capture_output=True, text=True, check=True)
    info = json.loads(out.stdout)
    streams = {}
    for s in info["streams"]:
        pkts = [p for p in info["packets"]
                if p["stream_index"] == s["index"]]
        pts = sorted(float(p["pts_time"]) for p in pkts)
        # the last one lasts as long as those before it, if it does not say
        last = float(pkts[-1].get("duration_time")
                     or np.median(np.diff(pts)))
        start, end = pts[0], pts[-1] + last
        streams[s["codec_type"]] = dict(s, start=start, end=end,
                                        packets=len(pkts))
    return streams


def tone_of(body):
    """The dominant frequency of a clip's audio, decoded by ffmpeg."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(body)
        f.flush()
        pcm = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", f.name, "-vn", "-f", "s16le",
             "-ac", "1", "-ar", str(RATE), "-"], capture_output=True,
            check=True).stdout
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    assert len(samples) > RATE // 2
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.argmax(spectrum) * RATE / len(samples)


def flv_audio_config(path):
    """The AudioSpecificConfig of an FLV file's AAC sequence header."""
    data = open(path, "rb").read()
    off = int.from_bytes(data[5:9], "big") + 4
    while off + 11 <= len(data):
        size = int.from_bytes(data[off + 1:off + 4], "big")
        body = data[off + 11:off + 11 + size]
        if data[off] == 8 and body[0] >> 4 == 10 and body[1] == 0:
            return body[2:]
        off += 11 + size + 4
    return None


def assert_in_sync(streams, channels=1):
    v, a = streams["video"], streams["audio"]
    assert a["codec_name"] == "aac"
    assert int(a["sample_rate"]) == RATE
    assert int(a["channels"]) == channels
    assert abs((a["end"] - a["start"]) - (v["end"] - v["start"])) \
        <= AAC_FRAME + 0.001, (a, v)
    assert abs(a["start"] - v["start"]) <= AAC_FRAME + 0.001, (a, v)


def test_clip_carries_the_sound_in_sync(nginx, publish, aac_file):
    publish(nginx.rtmp("cam"), aac_file)
    nginx.wait_frame("cam")
    time.sleep(4 * SLOW)

    ix = nginx.get("live/cam/index.json").json()
    assert ix["audio"]["name"] == "aac"
    assert ix["audio"]["rate"] == RATE and ix["audio"]["channels"] == 1
    # about 43 AAC frames a second of the buffer
    assert ix["audio"]["frames"] >= 30 * ix["duration"] / 1000

    st = nginx.status("cam")
    assert st["audio"] == {"codec": "aac", "rate": RATE, "channels": 1,
                           "kept": True}

    t0 = ix["start"] + 500
    t1 = ix["start"] + 2500
    r = nginx.get("live/cam/clip.mp4?from=%d&to=%d" % (t0, t1))
    assert r.status_code == 200
    streams = probe(r.content)
    assert_in_sync(streams)
    assert streams["video"]["end"] - streams["video"]["start"] >= 1.9
    assert abs(tone_of(r.content) - TONE) < 5

    # without the sound, on request
    r = nginx.get("live/cam/clip.mp4?from=%d&to=%d&audio=0" % (t0, t1))
    assert r.status_code == 200
    assert list(probe(r.content)) == ["video"]


def publish_twice(nginx, publish, first_media, second_media, seconds):
    """Publishes first_media for "seconds", then, once that publisher has
    left, second_media for 2.5 s (both within the buffer's 10 s, however
    slow the server; fixed waits, as SLOW would push the first out).
    Returns the buffer's index and the place of the second publish's
    first frame in it (where the pts go back)."""
    first = publish(nginx.rtmp("cam"), first_media)
    nginx.wait_frame("cam")
    time.sleep(seconds)
    first.stop()
    wait_for(lambda: not nginx.status("cam")["publishing"],
             timeout=10, what="the publisher to leave")
    publish(nginx.rtmp("cam"), second_media)
    wait_for(lambda: nginx.status("cam")["publishes"] == 2
             and nginx.status("cam")["publishing"], timeout=10,
             what="the camera to come back")
    time.sleep(2.5)

    frames = nginx.get("live/cam/index.json").json()["index"]
    back = next(i for i in range(1, len(frames))
                if frames[i]["pts"] < frames[i - 1]["pts"])
    return frames, back


def test_a_clip_across_a_reconnect_keeps_its_sound_in_sync(nginx, publish,
                                                          aac_file):
    """The camera leaves and comes back, its timestamps starting again.
    The clip's video goes on a frame after its last one, the gap between
    the publishes left out (test_buffer.py); the sound goes on with the
    same offset, so the two tracks end together as in a clip of one
    publish, and the sound after the reconnect is there."""
    frames, back = publish_twice(nginx, publish, aac_file, aac_file, 2)
    assert back >= 30 and len(frames) - back >= 30, back

    # half a second short of the newest frame, whose sound may be on its way
    frames = frames[:-15]
    t0, t1 = frames[0]["time"], frames[-1]["time"]
    r = nginx.get("live/cam/clip.mp4?from=%d&to=%d" % (t0, t1))
    assert r.status_code == 200
    streams = probe(r.content)
    v, a = streams["video"], streams["audio"]
    assert v["packets"] == len(frames)
    # one timeline without the gap: the video as long as its frames
    assert abs((v["end"] - v["start"]) - len(frames) / 30.0) <= 0.1, v
    # the sound on the video's offset after the reconnect too: the two
    # start and end within an AAC frame, as in a clip of one publish
    assert_in_sync(streams)
    # and no hole where the publisher came back: a frame every 23 ms, but
    # for the few where the first publish's sound outlasted its video
    assert a["packets"] >= (a["end"] - a["start"]) / AAC_FRAME - 4, a
    assert abs(tone_of(r.content) - TONE) < 5


def test_a_clip_after_a_reconnect_has_the_sound_of_its_publish(
        nginx, publish, aac_file):
    """The camera comes back with another sound while its first publish,
    of the same stream times, is still in the buffer: a clip of the
    second publish only has the second publish's sound."""
    other = media_file("testsrc2-aac-sine-%d" % (TONE // 2),
                       ["-c:a", "aac", "-b:a", "96k"], tone=TONE // 2)
    frames, back = publish_twice(nginx, publish, aac_file, other, 3.5)

    # from a second into the second publish, its times those of the first
    t0, t1 = frames[back + 30]["time"], frames[-15]["time"]
    r = nginx.get("live/cam/clip.mp4?from=%d&to=%d" % (t0, t1))
    assert r.status_code == 200
    streams = probe(r.content)
    assert_in_sync(streams)
    assert abs(tone_of(r.content) - TONE // 2) < 5


def test_event_clip_has_its_sound(nginx, publish, aac_file):
    publish(nginx.rtmp("cam"), aac_file)
    nginx.wait_frame("cam")
    time.sleep(2.5 * SLOW)

    r = requests.post(nginx.url("live/cam/events"),
                      json={"label": "glass", "pre": 1500, "post": 1500},
                      timeout=5)
    assert r.status_code == 201, r.text
    ev = r.json()

    def complete():
        return nginx.get("live/cam/events/%d" % ev["id"]).json()["complete"]
    wait_for(complete, timeout=10 * SLOW, what="the event's window")

    r = nginx.get("live/cam/events/%d/clip.mp4" % ev["id"])
    assert r.status_code == 200
    streams = probe(r.content)
    assert_in_sync(streams)
    assert streams["video"]["end"] - streams["video"]["start"] >= 2.9
    assert abs(tone_of(r.content) - TONE) < 5

    # the frames are still right with the sound alongside
    r = nginx.get("live/cam/events/%d/frame.jpg?time=%d"
                  % (ev["id"], ev["time"]))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/jpeg"


def test_audio_leaves_the_buffer_with_its_video(make_nginx, publish,
                                                aac_file):
    nginx = make_nginx(rtmp_extra="""
        application short {
            live on;
            chrys on;
            chrys_buffer 2s;
        }
    """)
    publish(nginx.rtmp("cam", app="short"), aac_file)
    nginx.wait_frame("cam", app="short")
    time.sleep(5 * SLOW)

    ix = nginx.get("short/cam/index.json").json()
    video = sum(f["size"] for f in ix["index"])
    # 2 s and a GOP at most, at 43 AAC frames a second
    assert 40 <= ix["audio"]["frames"] <= 3.5 * 44
    # the buffer's bytes count the audio too
    assert ix["bytes"] > video + ix["audio"]["frames"] * 100


def test_channels_in_a_pce_are_kept(nginx, publish):
    # ffmpeg's AAC encoder describes quad (front and back pairs), which
    # has no channel configuration, by a program_config_element
    path = media_file("testsrc2-aac-quad-sine",
                      ["-af", "aformat=channel_layouts=quad", "-c:a", "aac",
                       "-b:a", "128k"])
    config = flv_audio_config(path)
    assert (config[1] >> 3) & 0x0f == 0, config.hex()

    publish(nginx.rtmp("cam"), path)
    nginx.wait_frame("cam")
    time.sleep(3 * SLOW)

    st = nginx.status("cam")
    assert st["audio"] == {"codec": "aac", "rate": RATE, "channels": 4,
                           "kept": True}
    ix = nginx.get("live/cam/index.json").json()
    assert ix["audio"]["channels"] == 4
    assert ix["audio"]["frames"] >= 30 * ix["duration"] / 1000

    r = nginx.get("live/cam/clip.mp4?from=%d&to=%d"
                  % (ix["start"] + 500, ix["start"] + 2500))
    assert r.status_code == 200
    assert_in_sync(probe(r.content), channels=4)
    assert abs(tone_of(r.content) - TONE) < 5


def test_another_audio_codec_is_named_not_kept(nginx, publish):
    path = media_file("testsrc2-adpcm-sine",
                      ["-c:a", "adpcm_swf", "-ar", "44100"])
    publish(nginx.rtmp("cam"), path)
    nginx.wait_frame("cam")
    time.sleep(2 * SLOW)

    st = nginx.status("cam")
    assert st["audio"]["codec"] == "adpcm"
    assert st["audio"]["kept"] is False
    assert nginx.get("live/cam/index.json").json()["audio"] is None

    ix = nginx.get("live/cam/index.json").json()
    r = nginx.get("live/cam/clip.mp4?from=%d&to=%d"
                  % (ix["start"], ix["start"] + 1000))
    assert r.status_code == 200
    assert list(probe(r.content)) == ["video"]
    assert "audio codec \"adpcm\"" in nginx.error_log()


# ---- timed data ----------------------------------------------------------

def srt_file(seconds=20):
    """A subtitle every second, "cue N" from N s to N s + 0.5 s."""
    path = os.path.join(CACHE, "cues.srt")
    with open(path, "w") as f:
        for n in range(1, seconds):
            f.write("%d\n00:00:%02d,000 --> 00:00:%02d,500\ncue %d\n\n"
                    % (n, n, n, n))
    return path


def publish_with_text(publish, url, media):
    """The media file with a text track, which FLV carries as onTextData."""
    return publish(url, args=["-i", media, "-i", srt_file(), "-map", "0",
                              "-map", "1", "-c:v", "copy", "-c:a", "copy",
                              "-c:s", "text"])


def data(nginx, query="", name="cam"):
    r = nginx.get("live/%s/data.json%s" % (name, query))
    assert r.status_code == 200, r.text
    return r.json()


def test_text_track_comes_back_at_its_time(nginx, publish, aac_file):
    publish_with_text(publish, nginx.rtmp("cam"), aac_file)
    nginx.wait_frame("cam")
    start = nginx.get("live/cam/index.json").json()["start"]
    time.sleep(5 * SLOW)

    got = data(nginx)["data"]
    texts = [d for d in got if d["type"] == "onTextData"]
    assert len(texts) >= 3, got
    for d in texts:
        n = int(d["data"]["text"].split()[1])
        assert d["data"] == {"type": "Text", "text": "cue %d" % n}
        assert d["source"] == "rtmp"
        # at its time in the stream, and arrived about then
        assert abs(d["pts"] - n * 1000) <= 100, d
    pts = [d["pts"] for d in texts]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
    ns = [int(d["data"]["text"].split()[1]) for d in texts]
    assert ns == list(range(ns[0], ns[0] + len(ns)))

    # by time
    mid = texts[len(texts) // 2]
    only = data(nginx, "?from=%d&to=%d" % (mid["time"], mid["time"]))
    assert [d["seq"] for d in only["data"]] == [mid["seq"]]
    assert start > 0


def test_posted_data_comes_back_in_order(nginx, publish, aac_file):
    publish(nginx.rtmp("cam"), aac_file)
    nginx.wait_frame("cam")

    sent = [{"sensor": "door", "open": i % 2 == 0, "n": i,
             "note": "caf\u00e9 \"quoted\" \\ <tag>"} for i in range(20)]
    times = []
    for body in sent:
        r = requests.post(nginx.url("live/cam/data"), json=body, timeout=5)
        assert r.status_code == 201, r.text
        times.append(r.json()["time"])

    got = data(nginx)
    posted = [d for d in got["data"] if d["source"] == "http"]
    assert [d["data"] for d in posted] == sent
    assert [d["time"] for d in posted] == times
    assert all(d["type"] == "http" and d["pts"] is None for d in posted)

    # after= gives what came since
    later = data(nginx, "?after=%d" % posted[9]["seq"])
    assert [d["data"]["n"] for d in later["data"]] == list(range(10, 20))
    assert later["last"] == posted[-1]["seq"]


HOSTILE = [
    b"[" * 100 + b"]" * 100,                       # too deep
    b'{"a":' * 40 + b"1" + b"}" * 40,
    b'"' + b"x" * 5000 + b'"',                     # over a message
    b'{"s":"\xff\xfe"}',                           # not UTF-8
    b'{"s":"\xc0\xaf"}',                           # overlong
    b'{"s":"\xed\xa0\x80"}',                       # a surrogate
    b'{"s":"\xc3\xff"}',                           # not a continuation
    b'"\xf8\x90\x80\x80"',                         # not a lead byte
    b"",
    b"{",
    b'{"a":1} {"b":2}',
    b"\x00",
    b'{"a":"\x01"}',
    b"[1,]",
]


def test_hostile_data_bodies_are_refused_and_harm_nothing(nginx, publish,
                                                          aac_file):
    publish(nginx.rtmp("cam"), aac_file)
    nginx.wait_frame("cam")

    for body in HOSTILE:
        r = requests.post(nginx.url("live/cam/data"), data=body,
                          headers={"Content-Type": "application/json"},
                          timeout=5)
        assert r.status_code == 400, (body[:40], r.status_code, r.text)
        assert r.json()["error"]

    r = requests.post(nginx.url("live/cam/data"), data=b"x" * 9000,
                      timeout=5)
    assert r.status_code == 413

    assert data(nginx)["data"] == []
    r = requests.post(nginx.url("live/cam/data"), json={"ok": True},
                      timeout=5)
    assert r.status_code == 201
    assert [d["data"] for d in data(nginx)["data"]] == [{"ok": True}]
    assert nginx.wait_frame("cam").status_code == 200


def test_an_event_keeps_the_data_of_its_window(nginx, publish, aac_file):
    publish_with_text(publish, nginx.rtmp("cam"), aac_file)
    nginx.wait_frame("cam")
    time.sleep(2.5 * SLOW)

    def post(n):
        r = requests.post(nginx.url("live/cam/data"), json={"n": n},
                          timeout=5)
        assert r.status_code == 201, r.text
        return r.json()["time"]

    before = post(1)
    time.sleep(0.3)
    r = requests.post(nginx.url("live/cam/events"),
                      json={"pre": 1000, "post": 1000}, timeout=5)
    assert r.status_code == 201, r.text
    ev = r.json()
    post(2)
    post(3)
    time.sleep(1.5 * SLOW)
    post(4)                                    # after the window

    got = nginx.get("live/cam/events/%d/data.json" % ev["id"]).json()["data"]
    assert all(ev["from"] <= d["time"] <= ev["to"] for d in got), got
    posted = [d["data"]["n"] for d in got if d["source"] == "http"]
    assert posted == ([1, 2, 3] if before >= ev["from"] else [2, 3])
    texts = [d for d in got if d["type"] == "onTextData"]
    assert 1 <= len(texts) <= 3, got

    assert nginx.get("live/cam/events/999/data.json").status_code == 404


def test_a_picture_tells_the_data_known_then(nginx, publish, aac_file):
    publish(nginx.rtmp("cam"), aac_file)
    nginx.wait_frame("cam")
    time.sleep(1)

    r = nginx.get("live/cam/frame.jpg?time=-100")
    assert r.status_code == 200 and "X-Chrys-Data-Time" not in r.headers

    r = requests.post(nginx.url("live/cam/data"), json={"door": "open"},
                      timeout=5)
    sent = r.json()["time"]
    time.sleep(1 * SLOW)

    r = nginx.get("live/cam/frame.jpg?time=%d" % (sent + 500))
    assert r.status_code == 200
    assert int(r.headers["X-Chrys-Data-Time"]) == sent
    known = data(nginx, "?to=%s" % r.headers["X-Chrys-Data-Time"])["data"]
    assert known[-1]["data"] == {"door": "open"}

    r = nginx.get("live/cam/frame.jpg?time=%d" % (sent - 300))
    assert r.status_code == 200 and "X-Chrys-Data-Time" not in r.headers

    r = nginx.get("live/cam/images?from=%d&to=%d" % (sent - 300, sent + 300))
    assert r.status_code == 200
    body = r.content
    assert body.count(b"X-Chrys-Data-Time: %d\r\n" % sent) >= 5


def test_python_client_reads_and_posts_data(nginx, publish, aac_file):
    from python_client import client

    publish(nginx.rtmp("cam"), aac_file)
    nginx.wait_frame("cam")
    cam = client.connect(nginx.url("")).stream("live/cam")

    times = [cam.post_data({"n": i}) for i in range(3)]
    got = cam.data()
    assert [d["data"] for d in got] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [d["time"] for d in got] == times
    assert [d["data"] for d in cam.data(after=got[0]["seq"])] == \
        [{"n": 1}, {"n": 2}]

    ev = cam.event(pre="1s", post="0s")
    ev.wait()
    assert [d["data"] for d in ev.data()] == [{"n": 0}, {"n": 1}, {"n": 2}]

    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        cam.clip(f.name, start="-1s", audio=False)
        assert list(probe(open(f.name, "rb").read())) == ["video"]


def test_data_long_poll_waits_for_the_next_message(nginx, publish,
                                                   aac_file):
    from concurrent.futures import ThreadPoolExecutor

    publish(nginx.rtmp("cam"), aac_file)
    nginx.wait_frame("cam")

    def post(n):
        r = requests.post(nginx.url("live/cam/data"), json={"n": n},
                          timeout=5)
        assert r.status_code == 201, r.text

    def poll(query, timeout=60):
        r = requests.get(nginx.url("live/cam/data.json" + query),
                         timeout=timeout)
        assert r.status_code == 200, r.text
        return r.json()

    post(0)
    first = data(nginx)["data"][0]["seq"]

    # nothing newer, no time to wait: at once, the cursor where it was
    assert poll("?after=%d&timeout=0" % first) == {"data": [],
                                                   "last": first}

    # 20 requests wait (in both workers) for the next message, well
    # within their timeout; one POST answers them all with it
    with ThreadPoolExecutor(20) as pool:
        polls = [pool.submit(poll, "?after=%d&timeout=30000" % first)
                 for _ in range(20)]
        wait_for(lambda: waiting_clients(nginx) == 20, what="20 polls waiting")
        assert not any(p.done() for p in polls)
        post(1)
        answers = [p.result(timeout=10 * SLOW) for p in polls]
    for a in answers:
        assert [d["data"] for d in a["data"]] == [{"n": 1}]
        assert a["last"] == first + 1
    assert waiting_clients(nginx) == 0

    # none came within the timeout: empty, and the cursor is the newest
    assert poll("?after=%d&timeout=200" % (first + 1)) == \
        {"data": [], "last": first + 1}
    # a question about a range that ends does not wait
    future = int(time.time() * 1000) + 600000
    assert poll("?after=%d&to=%d&timeout=30000" % (first + 1, future),
                timeout=5) == {"data": [], "last": first + 1}
    # a cursor that is no message's (a restarted relay): all that is kept
    got = poll("?after=%d&timeout=0" % (first + 10 ** 6))
    assert [d["data"] for d in got["data"]] == [{"n": 0}, {"n": 1}]

    # "from" relative to now keeps the time it was asked: the message
    # that comes while it waits is after it, the older ones are not
    with ThreadPoolExecutor(1) as pool:
        p = pool.submit(poll, "?from=-1&after=0&timeout=30000")
        wait_for(lambda: waiting_clients(nginx) == 1, what="the poll waiting")
        time.sleep(0.3)
        post(2)
        got = p.result(timeout=10 * SLOW)
    assert [d["data"] for d in got["data"]] == [{"n": 2}]

    # a client that leaves while it waits leaves nothing behind
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(nginx.url("live/cam/data.json?after=%d&timeout=30000"
                               % (first + 2)), timeout=0.5)
    wait_for(lambda: waiting_clients(nginx) == 0, what="the gone poll let go")
    post(3)
    assert poll("?after=%d" % (first + 2))["data"][0]["data"] == {"n": 3}


def test_python_client_follows_data_as_it_comes(nginx, publish, aac_file):
    from python_client import client

    pub = publish_with_text(publish, nginx.rtmp("cam"), aac_file)
    nginx.wait_frame("cam")
    cam = client.connect(nginx.url("")).stream("live/cam")
    time.sleep(1.5)                 # a cue or two before "now"

    # the text track's cues, one a second, each once, none skipped;
    # a POST in between comes in its place
    asked = int(time.time() * 1000)
    seen = []
    for d in cam.follow_data(timeout=10 * SLOW):
        seen.append(d)
        if len(seen) == 1:
            cam.post_data({"between": True})
        if len(seen) == 4:
            break
    seqs = [d["seq"] for d in seen]
    assert seqs == list(range(seqs[0], seqs[0] + 4))
    assert {"between": True} in [d["data"] for d in seen]
    cues = [int(d["data"]["text"].split()[1]) for d in seen
            if d["type"] == "onTextData"]
    assert cues == list(range(cues[0], cues[0] + len(cues)))
    # from "now": what came before it is not given
    assert all(d["time"] >= asked - 1 for d in seen)
    assert any(d["time"] < asked for d in cam.data())

    # the publisher gone, nothing comes: Timeout, not a hang
    pub.kill()
    newest = cam.data()[-1]["seq"]
    with pytest.raises(client.Timeout):
        next(cam.follow_data(after=newest, timeout=0.5))
