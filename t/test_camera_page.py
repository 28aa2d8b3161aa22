"""The camera page, ui/{app}/{name}, in a real browser: headless Chromium
driven over the DevTools protocol (t/browser.py) drags its timeline,
steps with the arrow keys, marks an event and plays its clip, as a person
would.  What it shows is compared with the source frames.

With CHRYS_SCREENSHOT=1 a screenshot is also saved as
docs/camera-page.png (for the README).
"""

import json
import os
import time
import urllib.parse

import numpy as np
import pytest

from browser import Browser
from chrys import SLOW, TOP, assert_blocks, wait_for
from test_dashboard import BARS, bar_mask
from test_security import KEY, TOKEN, wait_picture

DOCS_PNG = os.path.join(TOP, "docs", "camera-page.png")


@pytest.fixture
def cam(nginx, publish, camera):
    """A live camera (no B-frames: frames arrive in display order)."""
    publish(nginx.rtmp("cam"), camera.path)
    nginx.wait_frame("cam")
    return nginx


@pytest.fixture
def browser():
    b = Browser()
    yield b
    b.close()


def open_page(browser, nginx, name="cam"):
    browser.open(nginx.url("ui/live/" + name))
    browser.wait("document.getElementById('pic').naturalWidth > 0 && "
                 "buffer !== null", what="the live picture and the buffer")


def picture_area(browser, img):
    """The screenshot's pixels where the picture shows, 1:1 (the page shows
    a 640x360 picture at its size in a 1280 wide window)."""
    x, y, w, h = browser.rect("#pic")
    assert (round(w), round(h)) == (640, 360), (w, h)
    pixels = np.asarray(img.convert("RGB"))
    return pixels[round(y):round(y) + 360, round(x):round(x) + 640]


def shown(browser):
    """The X-Chrys-* of the picture the page shows, once no request is in
    flight any more."""
    browser.wait("inflight === null && document.getElementById('pic')"
                 ".dataset.seq !== undefined", what="the picture to settle")
    return browser.js("Object.assign({}, "
                      "document.getElementById('pic').dataset)")


def test_camera_page_shows_the_live_picture(cam, browser):
    open_page(browser, cam)
    assert browser.js("document.getElementById('title').textContent") \
        == "live/cam"
    browser.wait("document.getElementById('state').textContent === 'live'")
    browser.wait("document.querySelectorAll('#health dd').length >= 7")

    area = picture_area(browser, browser.screenshot())
    # testsrc2's bars, over most of their area (the moving things and the
    # JPEG aside)
    for colour, rgb in BARS.items():
        share = bar_mask(area, rgb).sum() / (640 / 7 * 360)
        assert share > 0.5, (colour, share)
    assert browser.js("document.getElementById('where').className") == "live"

    # its health: the figures of status, and a minute's sparkline drawn
    facts = browser.js("[...document.querySelectorAll('#health dt')]"
                       ".map(e => e.textContent)")
    for fact in ("state", "fps", "bitrate", "frame age", "decode errors",
                 "skipped", "buffer"):
        assert fact in facts, facts
    browser.wait("samples.length >= 3", what="3 s of health")
    lit = browser.js("(() => { const c = document.getElementById('spark');"
                     " const d = c.getContext('2d').getImageData(0, 0, "
                     "c.width, c.height).data; let n = 0; for (let i = 3; "
                     "i < d.length; i += 4) { n += d[i] > 0; } return n; "
                     "})()")
    assert lit > 20, "the sparkline has %d pixels drawn" % lit


def test_dragging_the_timeline_shows_the_frame_of_that_time(
        cam, browser, camera):
    # a few seconds in the buffer to drag through
    wait_for(lambda: cam.get("live/cam/index.json").json()["duration"]
             >= 3000, timeout=10 * SLOW, what="3 s in the buffer")
    open_page(browser, cam)
    browser.wait("buffer.duration >= 3000")

    # the page's frame.jpg requests, counted as they go
    browser.js("window.frames_asked = 0; window.frames_open = 0; "
               "window.frames_most = 0; const f = window.fetch; "
               "window.fetch = async (url, o) => { "
               "  if (!String(url).includes('/frame.jpg')) return f(url, o);"
               "  frames_asked++; frames_open++; "
               "  frames_most = Math.max(frames_most, frames_open); "
               "  try { return await f(url, o); } "
               "  finally { frames_open--; } }")
    x, y, w, h = browser.rect("#timeline")
    browser.drag((x + w * 0.9, y + h / 2), (x + w * 0.3, y + h / 2),
                 steps=30)
    got = shown(browser)
    # at most one in flight
    assert browser.js("frames_most") == 1
    assert 1 <= browser.js("frames_asked") <= 32
    asked = browser.js("cursor")
    assert browser.js("document.getElementById('where').className") == "past"

    # the frame of that time: the last that arrived at or before it
    index = cam.get("live/cam/index.json").json()["index"]
    before = [f for f in index if f["time"] <= asked]
    assert before, (asked, index[0])
    want = before[-1]
    assert int(got["seq"]) == want["seq"], (got, want)
    assert int(got["pts"]) == want["pts"]
    assert_blocks(picture_area(browser, browser.screenshot()),
                  camera.frame(want["pts"]), "the page's picture of seq %d"
                  % want["seq"])
    shown_text = browser.js("document.getElementById('where').textContent")
    assert ("seq %d" % want["seq"]) in shown_text, shown_text

    # a frame on with the arrow key, and back
    for key, code, by in (("ArrowRight", 39, 1), ("ArrowLeft", 37, -1)):
        seq = int(got["seq"])
        browser.key(key, code)
        browser.wait("document.getElementById('pic').dataset.seq == %d"
                     % (seq + by))
        got = shown(browser)
        frame = [f for f in index if f["seq"] == seq + by][0]
        assert int(got["pts"]) == frame["pts"]
        assert_blocks(picture_area(browser, browser.screenshot()),
                      camera.frame(frame["pts"]),
                      "the picture of seq %d" % frame["seq"])

    # moves faster than the pictures come: the positions the drag outran
    # are never asked for, and at its end what it outran is cancelled
    asked = browser.js("frames_asked")
    start = browser.js("buffer.start")
    browser.js("{ const s = %d; seekTime(s + 1000); seekTime(s + 1100); "
               "seekTime(s + 1200); seekTime(s + 1300); }" % start)
    shown(browser)
    assert browser.js("frames_asked") == asked + 2
    assert browser.js("want") == "time=%d" % (start + 1300)
    browser.js("window.frames_aborted = 0; { const s = %d; "
               "seekTime(s + 1500); inflight.signal.onabort = () => "
               "frames_aborted++; seekTime(s + 1600); settle(); }" % start)
    got = shown(browser)
    assert browser.js("frames_aborted") == 1
    assert browser.js("frames_most") == 1

    # and back to live
    browser.click("#live")
    browser.wait("document.getElementById('where').className === 'live' "
                 "&& +document.getElementById('pic').dataset.seq > %s"
                 % got["seq"])


def test_an_event_marked_on_the_page_has_a_thumbnail_and_its_clip_plays(
        cam, browser):
    open_page(browser, cam)
    browser.js("document.getElementById('label').value = 'person';"
               "document.getElementById('pre').value = 1000;"
               "document.getElementById('post').value = 1000;")
    browser.click("#mark")

    browser.wait("document.querySelector('#events li .label') && "
                 "document.querySelector('#events li .label').textContent"
                 ".startsWith('person')", what="the event in the list")
    events = cam.get("live/cam/events").json()["events"]
    assert len(events) == 1 and events[0]["label"] == "person", events
    ev = events[0]
    assert (ev["pre"], ev["post"]) == (1000, 1000)

    # its thumbnail: the middle frame, small
    browser.wait("document.querySelector('#events li img').naturalWidth "
                 "=== 192", what="the event's thumbnail")

    ev = wait_for(lambda: (lambda e: e["complete"] and e)(
                  cam.get("live/cam/events/%d" % ev["id"]).json()),
                  timeout=10 * SLOW, what="the event's post window")
    browser.wait("!document.querySelector('#events li .meta').textContent"
                 ".includes('recording')", timeout=5)
    browser.click("#events li .act button")
    browser.wait("(() => { const v = document.querySelector('#events "
                 "video'); return v && v.duration > 0 && (v.ended || "
                 "v.currentTime >= v.duration - 0.05); })()", timeout=15,
                 what="the clip to play through")
    # its duration once played through (a fragmented MP4's grows while
    # its fragments load): its frames at the camera's 30 fps (their
    # arrival times stretch on a loaded machine); the event holds pre and
    # post from the keyframe before its start (GOP 30: a second)
    duration = browser.js("document.querySelector('#events video')"
                          ".duration")
    assert abs(duration - ev["frames"] / 30.0) <= 0.1, (duration, ev)
    assert ev["end"] - ev["start"] <= 2000 + 1000 + 100, ev
    assert browser.js("document.querySelector('#events video').error") \
        is None

    if os.environ.get("CHRYS_SCREENSHOT") == "1":
        browser.click("#timeline")
        shown(browser)
        bottom = browser.js("document.querySelector('main')"
                            ".getBoundingClientRect().bottom")
        img = browser.screenshot().convert("RGB")
        img.crop((0, 0, img.size[0], min(img.size[1], round(bottom) + 4))) \
            .save(DOCS_PNG, optimize=True)

    # download and delete
    href = browser.js("document.querySelector('#events li .act a').href")
    assert href.endswith("/chrys/live/cam/events/%d/clip.mp4" % ev["id"])
    browser.js("document.querySelectorAll('#events li .act button')[1]"
               ".click()")
    browser.wait("document.querySelectorAll('#events li').length === 0",
                 what="the deleted event to leave the list")
    assert cam.get("live/cam/events").json()["events"] == []


HOSTILE = ['<img src=x onerror="window.pwned=1">',
           '"><script>window.pwned=2</script>',
           "</li><b>bold</b>&amp;"]


def test_hostile_labels_stay_text(cam, browser):
    for label in HOSTILE:
        r = cam.http.post(cam.url("live/cam/events"),
                          data=json.dumps({"label": label, "pre": 100,
                                           "post": 100,
                                           "meta": {"note": label}}),
                          timeout=10)
        assert r.status_code == 201, r.text
    open_page(browser, cam)
    browser.wait("document.querySelectorAll('#events li').length === 3")
    labels = browser.js("[...document.querySelectorAll('#events .label')]"
                        ".map(e => e.textContent)")
    assert sorted(l.split(" \u00b7 ")[0] for l in labels) == sorted(HOSTILE)
    # no element came of them: one picture (the thumbnail) per event
    assert browser.js("document.querySelectorAll('#events img').length") \
        == 3
    assert browser.js("document.querySelectorAll('#events b, #events "
                      "script').length") == 0
    time.sleep(0.5)
    assert browser.js("window.pwned === undefined")


def test_dashboard_tiles_link_to_the_camera_page(cam, browser):
    browser.open(cam.url(""))
    href = browser.wait("document.querySelector('#grid a') && "
                        "document.querySelector('#grid a').href")
    assert href.endswith("/chrys/ui/live/cam"), href
    browser.click("#grid a")
    browser.wait("location.pathname === '/chrys/ui/live/cam' && "
                 "document.getElementById('pic') && "
                 "document.getElementById('pic').naturalWidth > 0")

    # the endpoints of a stream whose app is "ui" stay its own
    r = cam.get("ui/cam/status")
    assert r.status_code == 404 and r.json()["error"] == "stream not found"


def test_event_frame_jpg_serves_the_events_own_frames(cam, camera):
    """events/ID/frame.jpg, the thumbnails' source: a frame of the event's
    copy, as frame.jpg is of the buffer."""
    r = cam.http.post(cam.url("live/cam/events"),
                      data='{"pre": 1000, "post": 500}', timeout=10)
    assert r.status_code == 201, r.text
    ev = r.json()
    path = "live/cam/events/%d/" % ev["id"]
    ev = wait_for(lambda: (lambda e: e["complete"] and e)(
                  cam.get(path.rstrip("/")).json()),
                  timeout=10 * SLOW, what="the event's post window")

    r = cam.get(path + "frame.jpg", params={"time": ev["time"]})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "image/jpeg"
    t = int(r.headers["X-Chrys-Time"])
    assert ev["start"] <= t <= ev["time"], (t, ev)
    camera.psnr(r.content, int(r.headers["X-Chrys-Pts"]))

    r = cam.get(path + "frame.jpg", params={"time": ev["time"],
                                            "width": 192})
    assert r.status_code == 200
    assert int(r.headers["X-Chrys-Width"]) == 192

    # before the event's frames: gone; no such event: 404
    r = cam.get(path + "frame.jpg", params={"time": ev["start"] - 1000})
    assert r.status_code == 410, r.text
    r = cam.get("live/cam/events/999/frame.jpg", params={"time": 1})
    assert r.status_code == 404, r.text


def test_the_page_works_with_the_token_cookie(make_example, publish, camera,
                                              browser):
    """Under nginx.conf.example: opened once with ?token=, the page asks
    everything (index.json, status, frames, events, clips) with the
    cookie that left, and takes the token out of the address bar."""
    example = make_example()
    publish(example.rtmp("cam?key=" + KEY), camera.path)
    wait_picture(example, "cam")

    browser.open(example.url("ui/live/cam?token=" + TOKEN))
    browser.wait("document.getElementById('pic').naturalWidth > 0 && "
                 "buffer !== null && samples.length > 0")
    assert browser.js("location.search") == ""
    browser.js("document.getElementById('pre').value = 500;"
               "document.getElementById('post').value = 0;")
    browser.click("#mark")
    browser.wait("document.querySelector('#events li img') && "
                 "document.querySelector('#events li img').naturalWidth "
                 "=== 192", what="the event's thumbnail")
    browser.click("#timeline")
    assert shown(browser)["seq"]
    assert not browser.js("document.getElementById('msg').textContent")


def test_a_hostile_stream_name_stays_text(nginx, publish, camera, browser):
    name = "<i>cam\"&amp;'"
    publish(nginx.rtmp(name), camera.path)
    nginx.wait_frame(urllib.parse.quote(name, safe=""))
    browser.open(nginx.url("ui/live/" + urllib.parse.quote(name, safe="")))
    browser.wait("document.getElementById('pic').naturalWidth > 0 && "
                 "buffer !== null", what="the picture of the stream")
    assert browser.js("document.getElementById('title').textContent") \
        == "live/" + name
    assert browser.js("document.title") == "live/" + name + " \u00b7 chrys"
    assert browser.js("document.querySelectorAll('header i').length") == 0


def test_the_page_fits_a_phone(cam):
    """390 px wide, as a phone shows it: nothing wider than the screen,
    the picture as wide as it, the timeline draggable."""
    with Browser(390, 844, mobile=True) as phone:
        open_page(phone, cam)
        assert phone.js("document.documentElement.scrollWidth") <= 390
        x, y, w, h = phone.rect("#pic")
        assert x >= 0 and x + w <= 390 and w >= 350, (x, w)
        x, y, w, h = phone.rect("#timeline")
        assert w >= 350, w
        phone.drag((x + w * 0.8, y + h / 2), (x + w * 0.5, y + h / 2))
        assert shown(phone)["seq"]
        assert phone.js("document.getElementById('where').className") \
            == "past"


def test_the_page_says_when_the_camera_stopped(nginx, publish, camera,
                                                browser):
    p = publish(nginx.rtmp("cam"), camera.path)
    nginx.wait_frame("cam")
    open_page(browser, nginx)
    browser.wait("document.getElementById('state').textContent === 'live'")
    p.kill()
    state = browser.wait("document.getElementById('state').textContent "
                         "=== 'not publishing' && document.querySelector("
                         "'#health dd').textContent",
                         what="the page to see the publisher gone")
    assert state.startswith("not publishing, last frame "), state
    # the buffer stays, and with it the past
    browser.click("#timeline")
    assert shown(browser)["seq"]


def test_the_timeline_asks_only_for_what_is_new(make_nginx, publish, camera,
                                                browser):
    # a buffer short enough that frames leave it while the page is open
    nginx = make_nginx(rtmp_extra="""
        application short {
            live on;
            chrys on;
            chrys_buffer 3s;
        }
    """)
    publish(nginx.rtmp("cam", app="short"), camera.path)
    nginx.wait_frame("cam", app="short")
    browser.open(nginx.url("ui/short/cam"))
    browser.wait("buffer !== null && buffer.index.length > 0",
                 what="the buffer")
    browser.js("window.index_asked = []; const f = window.fetch; "
               "window.fetch = (url, o) => { "
               "  if (String(url).includes('/index.json')) "
               "    index_asked.push(String(url)); "
               "  return f(url, o); }")
    first = browser.js("buffer.index[0].seq")
    browser.wait("index_asked.length >= 5 && buffer.index[0].seq > %d"
                 % first, timeout=15, what="5 s of the page, frames evicted")

    # each second only what came since the last frame it knew
    asked = browser.js("index_asked")
    assert all("?from=" in url for url in asked), asked
    # and yet it holds the buffer as it is: no frame twice, none missed
    # (seqs one after the other), none that left the buffer
    page = browser.js("buffer.index.map(f => [f.seq, f.time])")
    seqs = [s for s, _ in page]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    server = nginx.get("short/cam/index.json").json()
    assert page[0][0] >= server["index"][0]["seq"] - 31, \
        (page[0], server["index"][0])
    on_both = {f["seq"]: f["time"] for f in server["index"]}
    assert all(on_both[s] == t for s, t in page if s in on_both)
