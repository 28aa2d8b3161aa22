"""A headless Chromium that a test drives: the DevTools protocol over
--remote-debugging-pipe (JSON messages ended by a NUL byte on the
browser's fds 3 and 4), so no WebSocket library is needed.

    with Browser() as b:
        b.open(url)
        b.wait("document.querySelector('#pic').naturalWidth > 0")
        b.drag((x0, y), (x1, y))
        png = b.screenshot()
"""

import base64
import fcntl
import io
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

from PIL import Image

from chrys import SLOW, wait_for

CHROMIUM = "/usr/bin/chromium"


class Browser:

    def __init__(self, width=1280, height=900, mobile=False):
        assert os.path.exists(CHROMIUM), "chromium is missing: make test-deps"
        self.profile = tempfile.mkdtemp(prefix="chrys-chromium-")
        to_browser = os.pipe()
        from_browser = os.pipe()
        # the pipes go to the browser as its fds 3 and 4, through copies
        # above them so that the two dup2 cannot clobber each other
        r = fcntl.fcntl(to_browser[0], fcntl.F_DUPFD, 10)
        w = fcntl.fcntl(from_browser[1], fcntl.F_DUPFD, 10)

        def fds():
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--user-data-dir=" + self.profile,
             "--autoplay-policy=no-user-gesture-required",
             "--window-size=%d,%d" % (width, height),
             "--remote-debugging-pipe", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=fds, start_new_session=True)
        for fd in (r, w, to_browser[0], from_browser[1]):
            os.close(fd)
        self.out = to_browser[1]
        self.inp = from_browser[0]
        self.buf = b""
        self.next_id = 0
        self.session = None
        try:
            self._attach(width, height, mobile)
        except BaseException:
            self.close()
            raise

    def _attach(self, width, height, mobile):
        def page():
            return [t for t in self.call("Target.getTargets")
                    ["targetInfos"] if t["type"] == "page"]
        page = wait_for(page, timeout=30 * SLOW, interval=0.1,
                        what="chromium's page")[0]
        self.session = self.call("Target.attachToTarget",
                                 targetId=page["targetId"],
                                 flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        # the viewport itself that size (the window has a frame too); a
        # phone's with mobile (its meta viewport heeded)
        self.call("Emulation.setDeviceMetricsOverride", width=width,
                  height=height, deviceScaleFactor=1, mobile=mobile)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        os.close(self.out)
        os.close(self.inp)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _message(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError("chromium said nothing for %s s"
                                     % timeout)
            ready, _, _ = select.select([self.inp], [], [], 0.5)
            if ready:
                data = os.read(self.inp, 1 << 20)
                if not data:
                    raise AssertionError("chromium went away")
                self.buf += data
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, timeout=30 * SLOW, **params):
        """One DevTools command; its result (the events on the way are
        dropped: tests poll the page's state instead)."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            msg["sessionId"] = self.session
        os.write(self.out, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._message(timeout)
            if m.get("id") == self.next_id:
                assert "error" not in m, (method, m["error"])
                return m["result"]

    def open(self, url):
        self.call("Page.navigate", url=url)

    def js(self, expression):
        """The value of a JavaScript expression in the page (promises
        awaited)."""
        r = self.call("Runtime.evaluate", expression=expression,
                      returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in r, r["exceptionDetails"]
        return r["result"].get("value")

    def wait(self, expression, timeout=15, what=None):
        """Polls a JavaScript expression until it is truthy; its value.
        An exception counts as false: the page may not be there yet."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            v = self.js("(() => { try { return (%s); } catch (e) { "
                        "return false; } })()" % expression)
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %s"
                                     % (what or expression))
            time.sleep(0.1)

    def rect(self, selector):
        """(x, y, width, height) of an element in the viewport."""
        return self.js("(() => { const r = document.querySelector(%s)"
                       ".getBoundingClientRect(); return [r.x, r.y, "
                       "r.width, r.height]; })()" % json.dumps(selector))

    def mouse(self, kind, x, y, buttons=1):
        self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y,
                  button="left", buttons=buttons, clickCount=1)

    def drag(self, start, end, steps=10):
        """Presses the left button at start, moves to end, releases."""
        self.mouse("mousePressed", *start)
        for i in range(1, steps + 1):
            x = start[0] + (end[0] - start[0]) * i / steps
            y = start[1] + (end[1] - start[1]) * i / steps
            self.mouse("mouseMoved", x, y)
            time.sleep(0.02)
        self.mouse("mouseReleased", *end, buttons=0)

    def click(self, selector):
        x, y, w, h = self.rect(selector)
        self.mouse("mousePressed", x + w / 2, y + h / 2)
        self.mouse("mouseReleased", x + w / 2, y + h / 2, buttons=0)

    def key(self, name, code):
        """A key press, e.g. key("ArrowRight", 39)."""
        for kind in ("rawKeyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=name,
                      code=name, windowsVirtualKeyCode=code)

    def screenshot(self):
        """The viewport as a PIL image."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        return Image.open(io.BytesIO(base64.b64decode(data)))
