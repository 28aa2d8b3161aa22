"""The dashboard in a real browser: headless Chromium loads the page, which
reads "streams" and shows each stream's newest picture in an <img>.

With CHRYS_SCREENSHOT=1 the screenshot is also saved as docs/dashboard.png
(for the README).
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import numpy as np
import pytest
from PIL import Image

from chrys import TOP, wait_for, waiting_clients

CHROMIUM = "/usr/bin/chromium"
DOCS_PNG = os.path.join(TOP, "docs", "dashboard.png")

# testsrc2's colour bars, as the page shows them: JPEG at quality 70 and
# scaled by the browser, so within a tolerance of the pure colours
BARS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
        "yellow": (255, 255, 0), "cyan": (0, 255, 255),
        "magenta": (255, 0, 255)}
TOLERANCE = 40

def chromium(url, *args, timeout=60):
    """Runs headless Chromium once on url, with a profile of its own.

    An <img> of a multipart/x-mixed-replace stream never finishes loading,
    so the page's load event never comes.  --virtual-time-budget lets the
    page run for that much (virtual) time and then takes the screenshot or
    dumps the DOM anyway; 3 s is enough for the script to read "streams"
    and for the first pictures to come.  The subprocess timeout bounds the
    whole run should Chromium hang regardless.
    """
    assert os.path.exists(CHROMIUM), "chromium is missing: make test-deps"
    profile = tempfile.mkdtemp(prefix="chrys-chromium-")
    # a session of its own: on a timeout the whole browser goes, renderer
    # and helper processes included
    p = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--user-data-dir=" + profile,
         "--window-size=1280,900", "--virtual-time-budget=3000"]
        + list(args) + [url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise AssertionError("chromium took more than %s s" % timeout)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert p.returncode == 0, err.decode(errors="replace")[-3000:]
    return out


def bar_mask(pixels, colour):
    diff = np.abs(pixels.astype(np.int16) - np.array(colour, np.int16))
    return (diff <= TOLERANCE).all(axis=2)


def pictures(pixels):
    """The horizontal spans of the screenshot where testsrc2's bars show:
    runs of columns with many bar-coloured pixels, as (x0, x1)."""
    mask = np.zeros(pixels.shape[:2], bool)
    for colour in BARS.values():
        mask |= bar_mask(pixels, colour)
    columns = mask.sum(axis=0) >= 50
    spans = []
    for x, on in enumerate(columns):
        if not on:
            continue
        if spans and x - spans[-1][1] <= 4:
            # within a picture: the columns between two bars are of
            # neither colour
            spans[-1][1] = x + 1
        else:
            spans.append([x, x + 1])
    return [tuple(s) for s in spans if s[1] - s[0] >= 100]


@pytest.fixture
def two_streams(nginx, publish, camera, source):
    # one after the other: the page lists them in that order
    publish(nginx.rtmp("cam"), camera.path)
    nginx.wait_frame("cam")
    publish(nginx.rtmp("door"), source.path)
    nginx.wait_frame("door")
    return nginx


def test_dashboard_screenshot_shows_live_pictures(two_streams, tmp_path):
    nginx = two_streams
    docs = os.environ.get("CHRYS_SCREENSHOT") == "1"
    if docs:
        # past the publishers' first second, when ffmpeg -re sends faster
        # and the page would show more than 30 fps
        time.sleep(2.5)
    shot = str(tmp_path / "dashboard.png")
    chromium(nginx.url(""), "--screenshot=" + shot)

    img = Image.open(shot)
    assert img.size == (1280, 900)
    pixels = np.asarray(img.convert("RGB"))

    # two pictures side by side (the grid's columns are 360 px or more)
    spans = pictures(pixels)
    assert len(spans) == 2, spans
    for x0, x1 in spans:
        assert x1 - x0 >= 300, spans
        region = pixels[:, x0:x1]
        # every bar shows, over most of the area it has in testsrc2: a
        # seventh of the picture's width, its whole height (16:9), less
        # what the moving things over it hide
        bar = (x1 - x0) / 7 * (x1 - x0) * 9 / 16
        for name, colour in BARS.items():
            share = bar_mask(region, colour).sum() / bar
            assert share > 0.5, (name, (x0, x1), share)

    # the page's dark background elsewhere: nothing but the pictures is
    # bar-coloured
    assert not bar_mask(pixels[:, spans[-1][1] + 20:], BARS["red"]).any()

    if docs:
        save_for_docs(img, spans)

    # Chromium is gone: so are its long polls
    wait_for(lambda: waiting_clients(nginx) == 0, timeout=10,
             what="the browser's long polls to go away")


def save_for_docs(img, spans):
    """docs/dashboard.png: the screenshot without the empty page below
    and beside the cards, as a small PNG."""
    pixels = np.asarray(img.convert("RGB")).astype(np.int16)
    background = pixels[-1, -1]
    used = (np.abs(pixels - background) > 8).any(axis=2)
    rows = np.nonzero(used[:, :spans[-1][1]].any(axis=1))[0]
    width = min(img.size[0], spans[-1][1] + 10)
    height = min(img.size[1], rows[-1] + 11)
    os.makedirs(os.path.dirname(DOCS_PNG), exist_ok=True)
    img.convert("RGB").crop((0, 0, width, height)).save(DOCS_PNG,
                                                        optimize=True)


def test_dashboard_dom(two_streams):
    nginx = two_streams
    for path in ("", "ui/"):
        dom = chromium(nginx.url(path), "--dump-dom").decode()
        # the state that the page's script wrote into it
        assert '<span id="summary">2 streams, 2 publishing</span>' in dom, \
            dom[:2000]
        for name in ("cam", "door"):
            assert ('<div class="name">live/%s</div>' % name) in dom, path
            assert ('data-stream="/chrys/live/%s/"' % name) in dom, path
            assert 'src="blob:' in dom, path
        assert dom.count("live \u00b7 h264 640x360 \u00b7 ") == 2, dom
        assert '<div id="empty" hidden="">' in dom


def test_keyframe_thumbnails_leave_on_demand_streams_asleep(make_nginx,
                                                            publish, camera,
                                                            tmp_path):
    """chrys_decode on_demand: the dashboard's ?thumbs=keyframe shows each
    stream's newest keyframe from its buffer, and says the stream is live
    but not decoded, without waking it."""
    nginx = make_nginx(rtmp_main="chrys_decode on_demand 1s;")
    publish(nginx.rtmp("cam"), camera.path)

    def asleep():
        r = nginx.get("live/cam/status")
        return r.status_code == 200 and r.json()["publishing"] \
            and not r.json()["decoding"]

    wait_for(asleep, timeout=15, what="the stream to sleep")
    time.sleep(1.5)

    shot = str(tmp_path / "keyframes.png")
    chromium(nginx.url("ui/?thumbs=keyframe"), "--screenshot=" + shot)
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    spans = pictures(pixels)
    assert len(spans) == 1, spans

    dom = chromium(nginx.url("ui/?thumbs=keyframe"), "--dump-dom").decode()
    assert "live, not decoded \u00b7 h264 640x360" in dom, dom[:2000]
    assert asleep()
    assert nginx.status("cam")["frames_decoded"] == 0
