"""Hostile HTTP input, table-driven: every parameter of every endpoint with
empty, negative, huge, non-numeric, repeated and percent-encoded values;
path traversal, long names, control characters, long URIs, unknown
endpoints; stream names that need escaping in every response.

Each row says exactly what it expects: a 4xx with a JSON error from chrys,
an error nginx gives itself before chrys sees the request (HTML), or the
answer of a value that is legitimately accepted ("%31" is "1", unknown
parameters are ignored).  Nothing ever answers 5xx, no response header
holds a raw CR or LF, nginx logs no crash, and after all of it the stream
still serves the right pictures.

Requests go through a raw socket client: nothing is normalized or escaped
on the way, and every byte of the response head is seen.
"""

import html
import json
import re
import socket
import time
import urllib.parse

import pytest

from chrys import Nginx, Publisher, Servers, wait_for

# the looped camera file is 20 s long: a looped publisher's timestamps
# advance by that much each time round
LOOP_MS = 20000

# "app/name/seq/qQUALITY[/WxH]", names percent-encoded
ETAG = re.compile(r'^"[^"/]+/[^"/]+/\d+/q\d+(/\d+x\d+)?"$')

MAXINT = 2 ** 63 - 1
T53 = 2 ** 53


# --------------------------------------------------------------------------
# a raw HTTP/1.1 client


class Response:
    def __init__(self, data, head_only=False):
        self.data = data
        if not data.startswith(b"HTTP/"):
            # nothing, or an HTTP/0.9 answer: a body without a head
            self.status = None
            self.lines = []
            self.headers = {}
            self.body = data
            return
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split()[1])
        self.lines = lines[1:]
        self.headers = {}
        for line in self.lines:
            k, _, v = line.partition(b":")
            self.headers.setdefault(k.decode("latin-1").lower(),
                                    v.strip().decode("latin-1"))
        if (not head_only and self.header("transfer-encoding") == "chunked"):
            body = dechunk(body)
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%s %r>" % (self.status, self.data[:300])


def dechunk(body):
    out = b""
    while True:
        size, _, rest = body.partition(b"\r\n")
        n = int(size.split(b";")[0], 16)
        if n == 0:
            return out
        out += rest[:n]
        assert rest[n:n + 2] == b"\r\n", "bad chunk"
        body = rest[n + 2:]


def request(port, target, method=b"GET", headers=b"", body=b"",
            head_only=False, timeout=20, body_apart=False):
    """Sends the request line as given (bytes, or str sent as UTF-8) and
    reads the response to its end, or its head only (live.mjpg).  With
    body_apart, the body follows the head a moment later, in two
    halves, as a slow client's body comes."""
    if isinstance(target, str):
        target = target.encode("utf-8")
    if isinstance(method, str):
        method = method.encode()
    req = (method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Connection: close\r\n" + headers)
    if body:
        req += b"Content-Length: %d\r\n" % len(body)
    req += b"\r\n"
    if not body_apart:
        req, body = req + body, b""
    data = b""
    with socket.create_connection(("127.0.0.1", port),
                                  timeout=timeout) as s:
        try:
            s.sendall(req)
            for half in (body[:len(body) // 2], body[len(body) // 2:]):
                if half:
                    time.sleep(0.05)
                    s.sendall(half)
        except OSError:
            # nginx answered (414) and closed before all of it was sent
            pass
        try:
            while not (head_only and b"\r\n\r\n" in data):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    return Response(data, head_only)


# a header line: a token, ": ", and a value without CR, LF or NUL
HEADER_LINE = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+: [^\r\n\x00]*$")


def head_problems(r):
    """What is wrong with the response head, if anything."""
    if r.status is None:
        return []
    bad = [l for l in r.lines if not HEADER_LINE.match(l)]
    bad += [l for l in r.lines if l.lower().startswith(b"x-injected")]
    return ["bad header line %r" % l for l in bad]


def is_chrys_error(r):
    if r.header("content-type") != "application/json":
        return False
    try:
        err = r.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(err, str) and err != ""


# --------------------------------------------------------------------------
# one nginx and one looped publisher for the whole module


class HostileNginx(Nginx):
    def error_log(self):
        # the log may hold any byte a client sent
        with open(self.prefix + "/logs/error.log", errors="replace") as f:
            return f.read()


@pytest.fixture(scope="module")
def srv(camera):
    """nginx with the camera publishing as live/cam, looped, a buffer
    that holds every frame of the module's run (seq 1 stays in it: 10
    minutes of a 1 Mbit/s stream), and one complete event."""
    n = HostileNginx(zone="192m", rtmp_main="chrys_buffer 600s 100m;")
    pub = None
    try:
        n.start()
        pub = Publisher(n.rtmp("cam"), camera.path, loop=True)
        n.wait_frame("cam")
        # two seconds of buffer: every range below finds its frames
        time.sleep(2)
        r = request(n.http_port, "/chrys/live/cam/events", b"POST",
                    b"Content-Type: application/json\r\n",
                    b'{"label":"hostile","pre":1000,"post":0}')
        assert r.status == 201, r
        n.event = r.json()["id"]
        assert n.event == 1     # the paths below spell it "%31", "01"
        time.sleep(0.1)
        # the dashboard page as it is served with one plain stream
        n.page = request(n.http_port, "/chrys/").body
        yield n
    finally:
        if pub:
            pub.kill()
        crashes = n.crashes()
        n.cleanup()
    assert not crashes, "nginx logged crashes:\n" + "\n".join(crashes)


@pytest.fixture(autouse=True)
def no_crash_after(request):
    """Each test that used the module's nginx leaves it without a crash
    (the module fixture checks once more at its end)."""
    yield
    if "srv" in request.fixturenames:
        n = request.getfixturevalue("srv")
        crashes = n.crashes()
        assert not crashes, "nginx logged crashes:\n" + "\n".join(crashes)


# --------------------------------------------------------------------------
# the table of parameters


# bounds as the module checks them; at most 18 digits whatever the bounds
BOUNDS = {
    "quality": (1, 100), "after": (0, MAXINT), "timeout": (0, 60000),
    "from": (-T53, T53), "to": (-T53, T53), "time": (-T53, T53),
    "seq": (1, MAXINT), "keyframe": (0, 1), "interval": (0, 3600000),
    "limit": (1, 3000), "width": (1, 7680), "height": (1, 4320),
    "fps": (1, 60),
}
WORDS = {"fit": ("contain", "fill"),
         "format": ("bgr24", "rgb24", "gray8", "yuv420p")}
PARAMS = list(BOUNDS) + list(WORDS)

# (as sent, the integer it means or None, the word it means or None)
VALUES = [
    ("", None, None),
    ("-1", -1, None),
    ("-0", 0, None),                    # a zero
    ("0", 0, None),
    ("1", 1, None),
    ("01", 1, None),
    ("0" * 17 + "1", 1, None),          # 18 digits: still read
    ("0" * 18 + "1", None, None),       # 19: not
    ("%31", 1, None),                   # percent-encoded "1"
    ("%2D1", -1, None),
    ("%2d%31", -1, None),
    ("1%2", 1, None),                   # a cut escape at the end is dropped
    ("99999999999999999999999", None, None),
    ("999999999999999999", 10 ** 18 - 1, None),
    ("-999999999999999999", -(10 ** 18 - 1), None),
    ("9223372036854775807", None, None),   # 19 digits, even INT64_MAX
    ("-9223372036854775808", None, None),
    ("1e3", None, None),
    ("0x10", None, None),
    ("%201", None, None),               # " 1"
    ("1%20", None, None),               # "1 "
    ("+1", None, None),
    ("%2B1", None, None),
    ("--1", None, None),
    ("-", None, "-"),
    ("%2D", None, "-"),
    ("1-", None, None),
    ("1.5", None, None),
    ("1,5", None, None),
    ("1=1", None, None),
    ("1?", None, None),
    ("%3F1", None, None),
    ("%00", None, None),
    ("1%00", None, None),
    ("%", None, None),
    ("%zz", None, None),
    ("%3", None, None),
    ("abc", None, None),
    ("null", None, None),
    ("%C3%BC", None, None),             # "ü", encoded
    ("\u00fc", None, None),             # and as raw UTF-8 bytes
    ("\u00e9\u00e9\u00e9", None, None),
    ("%0d%0aX-Injected:%201", None, None),
    ("1%0d%0a", None, None),
    ("1" * 31, None, None),
    ("1" * 4096, None, None),
    ("a" * 4096, None, None),
    # words
    ("contain", None, "contain"),
    ("fill", None, "fill"),
    ("%66ill", None, "fill"),
    ("FILL", None, None),
    ("fil", None, None),
    ("fill%00", None, None),
    ("fill%20", None, None),
    ("bgr24", None, "bgr24"),
    ("rgb24", None, "rgb24"),
    ("gray8", None, "gray8"),
    ("yuv420p", None, "yuv420p"),
    ("%62gr24", None, "bgr24"),
    ("BGR24", None, None),
    ("jpeg", None, None),
    ("bgr", None, None),
    ("bgr24bgr24bgr24bgr24bgr24bgr24bg", None, None),
]


def boundary_values(param):
    """Each parameter's own edges: its bounds and one past each."""
    if param in WORDS:
        return []
    lo, hi = BOUNDS[param]
    out = []
    for v, ok in ((lo, True), (hi, True), (lo - 1, False), (hi + 1, False)):
        s = str(v)
        if len(s.lstrip("-")) > 18:
            continue
        out.append((s, v if ok else None, None))
    if param == "width":
        out += [("1280", 1280, None), ("1281", 1281, None)]
    if param == "height":
        out += [("720", 720, None), ("721", 721, None)]
    return out


def parsed(param, num, word):
    """The value chrys reads, or None for a 400 naming the parameter."""
    if param in WORDS:
        if param == "format" and word == "-":
            return "-"
        return word if word in WORDS[param] else None
    lo, hi = BOUNDS[param]
    if num is None or not lo <= num <= hi:
        return None
    return num


# the endpoints: (name, path below /chrys/, base query, what a 200 is)
ENDPOINTS = [
    ("latest.jpg", "live/cam/latest.jpg", "", "jpeg"),
    ("latest.raw", "live/cam/latest.raw", "format=gray8", "raw"),
    ("live.mjpg", "live/cam/live.mjpg", "", "mjpeg"),
    ("status", "live/cam/status", "", "json"),
    ("index.json", "live/cam/index.json", "from=-1000", "json"),
    ("frame.jpg", "live/cam/frame.jpg", "time=-500", "jpeg"),
    ("images", "live/cam/images", "from=-1000&limit=2", "multipart"),
    ("clip.mp4", "live/cam/clip.mp4", "from=-1000", "mp4"),
    ("events", "live/cam/events", "", "json"),
    ("events/{id}", "live/cam/events/{id}", "", "json"),
    ("events/{id}/images", "live/cam/events/{id}/images", "limit=2",
     "multipart"),
    ("events/{id}/clip.mp4", "live/cam/events/{id}/clip.mp4", "", "mp4"),
    ("streams", "streams", "", "json"),
    ("metrics", "metrics", "", "metrics"),
    ("dashboard", "", "", "html"),
]
TOP_LEVEL = ("streams", "metrics", "dashboard")
PICTURES = ("latest.jpg", "latest.raw", "live.mjpg", "frame.jpg", "images",
            "events/{id}/images")
STREAM_RANGES = ("images", "clip.mp4")
EVENT_RANGES = ("events/{id}/images", "events/{id}/clip.mp4")


def when(v):
    """A time parameter's value: "recent" (ms before now), "past" (before
    the buffer: Unix time near 0, or so far back it is 0) or "future"."""
    if -10 ** 7 < v < 0:
        return "recent"
    if v > 10 ** 13:
        return "future"
    return "past"


def expect(ep, param, v):
    """The status of endpoint ep when its base query gets param=v, a
    value that parses (v not None).  The picture is 640x360; the event is
    complete (its window ended before the tests began)."""
    if ep in TOP_LEVEL:
        return 200      # no parameters at all: all of them are ignored
    if param in ("width", "height"):
        # at most twice the picture's size, where there is a picture
        limit = 1280 if param == "width" else 720
        return 400 if ep in PICTURES and v > limit else 200
    if param == "from":
        if ep in STREAM_RANGES:         # to: now
            return 404 if when(v) == "future" else 200
        if ep in EVENT_RANGES:          # to: the event's end
            return {"future": 404, "recent": 400, "past": 200}[when(v)]
    if param == "to":
        # from: 1 s ago, or the event's start
        if ep in STREAM_RANGES + EVENT_RANGES:
            return 400 if when(v) == "past" else 200
    if param == "time" and ep == "frame.jpg":
        return {"future": 404, "recent": 200, "past": 410}[when(v)]
    if param == "seq" and ep == "frame.jpg":
        return 200 if v == 1 else 404   # frame 1 is still in the buffer
    if param == "format" and ep == "latest.raw":
        # "-" stands for JPEG in the module's table of formats: no raw
        # format, as if none were given
        return 400 if v == "-" else 200
    return 200


def target(srv, path, query):
    return "/chrys/" + path.replace("{id}", str(srv.event)) + (
        "?" + query if query else "")


def with_param(base, param, raw):
    """The base query with param=raw in place of the base's own param."""
    kept = [kv for kv in base.split("&")
            if kv and kv.split("=")[0] != param]
    return "&".join(kept + ["%s=%s" % (param, raw)])


def check_ok(srv, kind, r):
    """What a 200 of the endpoint must be."""
    ct = r.header("content-type") or ""
    if kind == "jpeg":
        assert ct == "image/jpeg", ct
        assert r.body[:2] == b"\xff\xd8" and r.body[-2:] == b"\xff\xd9"
        assert ETAG.match(r.header("etag")), r.header("etag")
        assert int(r.header("x-chrys-seq")) > 0
    elif kind == "raw":
        assert ct == "application/octet-stream", ct
        fmt = r.header("x-chrys-format")
        assert fmt in WORDS["format"], fmt
        w, h = int(r.header("x-chrys-width")), int(r.header("x-chrys-height"))
        assert len(r.body) == raw_size(fmt, w, h, r), (len(r.body), w, h)
    elif kind == "mjpeg":
        assert ct == "multipart/x-mixed-replace; boundary=chrysframe", ct
    elif kind == "json":
        assert ct == "application/json", ct
        r.json()
    elif kind == "multipart":
        m = re.match(r"multipart/mixed; boundary=(\S+)$", ct)
        assert m, ct
        n = int(r.header("x-chrys-images"))
        parts = r.body.count(b"--" + m.group(1).encode() + b"\r\n")
        assert parts == n, (parts, n)
        assert r.body.endswith(b"--" + m.group(1).encode() + b"--\r\n")
    elif kind == "mp4":
        assert ct == "video/mp4", ct
        assert r.body[4:8] == b"ftyp"
    elif kind == "metrics":
        assert ct.startswith("text/plain"), ct
        assert b'chrys_publishing{app="live",name="cam"} 1' in r.body
    elif kind == "html":
        assert ct == "text/html; charset=utf-8", ct
        assert r.body == srv.page


def raw_size(fmt, w, h, r):
    """The bytes of a raw picture: packed rows of the stride, or the
    three planes of 4:2:0 one after the other."""
    stride = int(r.header("x-chrys-stride"))
    if fmt == "yuv420p":
        assert stride == w
        return w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2)
    assert stride == w * (1 if fmt == "gray8" else 3)
    return stride * h


def run_row(srv, ep, path, kind, query, status, param=None, words=""):
    """One request: the problems with its response, as strings."""
    r = request(srv.http_port, target(srv, path, query),
                head_only=(kind == "mjpeg" and status == 200))
    where = "%s?%s" % (ep, query[:120])
    problems = ["%s: %s" % (where, p) for p in head_problems(r)]
    if r.status != status:
        return problems + ["%s: %s, expected %s: %r"
                           % (where, r.status, status, r.body[:200])]
    try:
        if status >= 400:
            assert is_chrys_error(r), r
            err = r.json()["error"]
            if param:
                assert '"%s"' % param in err, err
            assert words in err, err
        elif status == 200:
            check_ok(srv, kind, r)
    except (AssertionError, ValueError) as e:
        problems.append("%s: %s %r" % (where, str(e).split("\n")[0], r))
    return problems


@pytest.mark.parametrize("ep, path, base, kind", ENDPOINTS,
                         ids=[e[0] for e in ENDPOINTS])
def test_every_parameter_with_hostile_values(srv, ep, path, base, kind):
    problems = []
    rows = 0
    for param in PARAMS:
        for raw, num, word in VALUES + boundary_values(param):
            v = parsed(param, num, word)
            query = with_param(base, param, raw)
            if ep in TOP_LEVEL:
                status, named = 200, None
            elif v is None:
                status, named = 400, param
            else:
                status, named = expect(ep, param, v), None
            problems += run_row(srv, ep, path, kind, query, status, named)
            rows += 1

        good = next(raw for raw, num, word in VALUES + boundary_values(param)
                    if parsed(param, num, word) is not None)
        others = [kv for kv in base.split("&")
                  if kv and kv.split("=")[0] != param]
        for part, words in [
            # twice, even with the same value
            ("%s=%s&%s=%s" % (param, good, param, good), "repeated"),
            ("%s=%s&x=1&%s" % (param, good, param), "repeated"),
            # a name without a value
            (param, ""),
        ]:
            query = "&".join(others + [part])
            if ep in TOP_LEVEL:
                problems += run_row(srv, ep, path, kind, query, 200)
            else:
                problems += run_row(srv, ep, path, kind, query, 400, param,
                                    words)
            rows += 1
        # names are matched as sent: other spellings are unknown, and
        # unknown parameters are ignored (here along with the base's own)
        for part in ["%s=abc" % param.upper(),
                     "%%%02X%s=abc" % (ord(param[0]), param[1:]),
                     "%s%%00=abc" % param, "%s_=abc" % param,
                     "_%s=abc" % param, "%%20%s=abc" % param]:
            query = "&".join([kv for kv in base.split("&") if kv] + [part])
            problems += run_row(srv, ep, path, kind, query, 200)
            rows += 1

    # queries of no parameter at all
    for query in ["", "&", "&&&", "=", "==", "=1", "&=&", "x", "x=", "?",
                  "x=%0d%0aX-Injected:%201", "x=%00", "x=\u00fc",
                  "x=" + "a" * 4000, "x=1&" * 500, "_=%s" % time.time()]:
        q = "&".join(s for s in (base, query) if s)
        problems += run_row(srv, ep, path, kind, q, 200)
        rows += 1

    assert rows > 800
    assert not problems, "%d of %d rows:\n%s" % (
        len(problems), rows, "\n".join(problems[:40]))


# --------------------------------------------------------------------------
# paths


# (request target, status, whose answer: "chrys" or "nginx")
PATHS = [
    # traversal, plain and encoded: nginx refuses what climbs above the
    # root; chrys sees the raw path, so ".." is a name it refuses, never
    # a step up
    ("/chrys/live/../latest.jpg", 400, "chrys"),
    ("/chrys/live/cam/../cam/status", 404, "chrys"),
    ("/chrys/../chrys/streams", 404, "chrys"),
    ("/chrys/./streams", 404, "chrys"),
    ("/chrys/live/cam/./status", 404, "chrys"),
    ("/chrys/live/./status", 400, "chrys"),
    ("/../chrys/streams", 400, "nginx"),
    ("/chrys/../../etc/passwd", 400, "nginx"),
    ("/chrys/%2e%2e/%2e%2e/etc/passwd", 400, "nginx"),
    ("/chrys/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 400, "nginx"),
    ("/chrys/live/%2e%2e/status", 400, "chrys"),
    ("/chrys/live/%2E%2E/status", 400, "chrys"),
    ("/chrys/live/.%2e/status", 400, "chrys"),
    ("/chrys/%2e%2e/cam/status", 404, "nginx"),     # /cam/status
    ("/chrys/live/a..b/status", 400, "chrys"),
    ("/chrys/live/cam%2F..%2F..%2Fstatus", 404, "chrys"),
    ("/chrys/live/a%2F..%2F..%2Fb/status", 400, "chrys"),
    ("/chrys/live/cam%2F/status", 400, "chrys"),
    ("/chrys/live%2Fcam/status", 404, "chrys"),
    ("/chrys/live/cam%2fstatus", 404, "chrys"),
    ("/chrys%2Fstreams", 200, "chrys"),     # nginx decodes it to match
    # slashes
    ("//chrys/streams", 200, "chrys"),
    ("/chrys//streams", 200, "chrys"),
    ("/chrys///streams", 404, "chrys"),
    ("/chrys//live/cam/status", 200, "chrys"),
    ("/chrys/live//status", 400, "chrys"),
    ("/chrys//cam/status", 404, "chrys"),
    ("/chrys/live/cam//status", 404, "chrys"),
    ("/chrys/live/cam/status/", 404, "chrys"),
    ("/chrys/streams/", 404, "chrys"),
    ("/chrys/ui//", 404, "chrys"),
    # backslashes are no separators
    ("/chrys/live/a\\b/status", 404, "chrys"),
    ("/chrys/live/..\\..\\etc/status", 400, "chrys"),
    ("/chrys/live/%5C..%5C/status", 400, "chrys"),
    ("/chrys/live\\cam\\status", 404, "chrys"),
    ("/chrys\\live\\cam\\status", 404, "nginx"),    # not the location
    # long names: 255 bytes is the most, however they are written
    ("/chrys/live/%s/status" % ("n" * 255), 404, "chrys"),
    ("/chrys/live/%s/status" % ("n" * 256), 400, "chrys"),
    ("/chrys/%s/cam/status" % ("a" * 256), 400, "chrys"),
    ("/chrys/live/%s/status" % ("n" * 4096), 400, "chrys"),
    ("/chrys/live/%s/status" % ("%41" * 255), 404, "chrys"),
    ("/chrys/live/%s/status" % ("%41" * 256), 400, "chrys"),
    ("/chrys/live/%s/status" % ("\u00fc" * 127 + "a"), 404, "chrys"),
    ("/chrys/live/%s/status" % ("\u00fc" * 128), 400, "chrys"),
    ("/chrys/live/%s/status" % ("%C3%BC" * 128), 400, "chrys"),
    ("/chrys/live/%s/latest.jpg" % ("n" * 256), 400, "chrys"),
    ("/chrys/live/%s/events/1/images" % ("n" * 256), 400, "chrys"),
    # control characters, encoded: refused in names; in the URL, nginx
    # refuses them itself
    ("/chrys/live/a%01b/status", 400, "chrys"),
    ("/chrys/live/a%0ab/status", 400, "chrys"),
    ("/chrys/live/a%0db/status", 400, "chrys"),
    ("/chrys/live/a%0d%0aX-Injected:%201/status", 400, "chrys"),
    ("/chrys/a%0d%0aX-Injected:%201/cam/latest.jpg", 400, "chrys"),
    ("/chrys/live/%0d%0a/latest.jpg", 400, "chrys"),
    ("/chrys/live/a%09b/status", 400, "chrys"),
    ("/chrys/live/a%7Fb/status", 400, "chrys"),
    # an encoded NUL nginx refuses itself anywhere in the path
    ("/chrys/live/%00/status", 400, "nginx"),
    ("/chrys/live/a%00b/status", 400, "nginx"),
    ("/chrys/live/cam%00/status", 400, "nginx"),
    (b"/chrys/live/a\x01b/status", 400, "nginx"),
    (b"/chrys/live/a\rb/status", 400, "nginx"),
    (b"/chrys/live/a\x00b/status", 400, "nginx"),
    (b"/chrys/live/a\x7fb/status", 400, "nginx"),
    (b"/chrys/live/cam/status?x=\x01", 400, "nginx"),
    # other bytes are name bytes
    (b"/chrys/live/\xff/status", 400, "chrys"),
    (b"/chrys/live/\xc3\xbc/status", 404, "chrys"),
    ("/chrys/live/%FF%FE/status", 400, "chrys"),
    ("/chrys/live/cam%20/status", 404, "chrys"),
    ("/chrys/live/%20cam/status", 404, "chrys"),
    ("/chrys/live/cam;x/status", 404, "chrys"),
    # endpoints are matched exactly
    ("/chrys/live/cam/latest.png", 404, "chrys"),
    ("/chrys/live/cam/latest.JPG", 404, "chrys"),
    ("/chrys/live/cam/LATEST.JPG", 404, "chrys"),
    ("/chrys/live/cam/latest.jpeg", 404, "chrys"),
    ("/chrys/live/cam/latest.jpg.bak", 404, "chrys"),
    ("/chrys/live/cam/latest.jpg/", 404, "chrys"),
    ("/chrys/live/cam/latest.jpg/x", 404, "chrys"),
    ("/chrys/live/cam/latest.jpg;x", 404, "chrys"),
    ("/chrys/live/cam/latest.jpg%00", 400, "nginx"),
    ("/chrys/live/cam/latest.jpg%00.png", 400, "nginx"),
    ("/chrys/live/cam/latest.jpg%0d%0aX-Injected:%201", 404, "chrys"),
    ("/chrys/live/cam/latest.jp%67", 200, "chrys"),     # "latest.jpg"
    ("/chrys/live/cam/latest", 404, "chrys"),
    ("/chrys/live/cam/.jpg", 404, "chrys"),
    ("/chrys/live/cam/status.json", 404, "chrys"),
    ("/chrys/live/cam/latest.raw.gz", 404, "chrys"),
    ("/chrys/live/cam/live.mjpeg", 404, "chrys"),
    ("/chrys/live/cam/index.JSON", 404, "chrys"),
    ("/chrys/live/cam/clip.mp5", 404, "chrys"),
    ("/chrys/live/cam/images.zip", 404, "chrys"),
    ("/chrys/live/cam/metrics", 404, "chrys"),
    ("/chrys/live/cam/streams", 404, "chrys"),
    ("/chrys/live/cam/ui", 404, "chrys"),
    ("/chrys/live/cam", 404, "chrys"),
    ("/chrys/live", 404, "chrys"),
    ("/chrys/STREAMS", 404, "chrys"),
    ("/chrys/streams.json", 404, "chrys"),
    ("/chrys/metrics/", 404, "chrys"),
    ("/chrys/live/cam/events/1/images/x", 404, "chrys"),
    ("/chrys/a/b/c/d/e/f/g/h", 404, "chrys"),
    ("/chrys/" + "a/" * 200 + "status", 404, "chrys"),
    ("/chrys/live/cam/status#x", 404, "chrys"),
    ("/chrys/live/cam/status?#x", 200, "chrys"),
    # event ids: positive decimal integers
    ("/chrys/live/cam/events/{id}", 200, "chrys"),
    ("/chrys/live/cam/events/%31", 200, "chrys"),
    ("/chrys/live/cam/events/01", 200, "chrys"),
    ("/chrys/live/cam/events/%30%31/clip.mp4", 200, "chrys"),
    ("/chrys/live/cam/events/0", 404, "chrys"),
    ("/chrys/live/cam/events/-1", 404, "chrys"),
    ("/chrys/live/cam/events/-0", 404, "chrys"),
    ("/chrys/live/cam/events/+1", 404, "chrys"),
    ("/chrys/live/cam/events/1e3", 404, "chrys"),
    ("/chrys/live/cam/events/0x1", 404, "chrys"),
    ("/chrys/live/cam/events/1.0", 404, "chrys"),
    ("/chrys/live/cam/events/abc", 404, "chrys"),
    ("/chrys/live/cam/events/%20{id}", 404, "chrys"),
    ("/chrys/live/cam/events/{id}%00", 400, "nginx"),
    ("/chrys/live/cam/events/{id}%0d%0aX-Injected:%201", 404, "chrys"),
    ("/chrys/live/cam/events/99999999999999999999999", 404, "chrys"),
    ("/chrys/live/cam/events/9223372036854775807", 404, "chrys"),
    ("/chrys/live/cam/events/9223372036854775808", 404, "chrys"),
    ("/chrys/live/cam/events/" + "1" * 4000, 404, "chrys"),
    ("/chrys/live/cam/events/", 404, "chrys"),
    ("/chrys/live/cam/events//images", 404, "chrys"),
    ("/chrys/live/cam/events/{id}/", 404, "chrys"),
    ("/chrys/live/cam/events/{id}/images/", 404, "chrys"),
    ("/chrys/live/cam/events/{id}/CLIP.MP4", 404, "chrys"),
    ("/chrys/live/cam/events/{id}/latest.jpg", 404, "chrys"),
    ("/chrys/live/cam/events/{id}/events", 404, "chrys"),
    ("/chrys/live/cam/events/{id}/clip.mp4", 200, "chrys"),
    ("/chrys/live/nobody/events/{id}", 404, "chrys"),
    ("/chrys/live/nobody/events/{id}/clip.mp4", 404, "chrys"),
    # the query string of a path that is refused anyway
    ("/chrys/live/../status?quality=abc", 400, "chrys"),
]


@pytest.mark.parametrize("path, status, whose", PATHS,
                         ids=["%d-%d" % (i, p[1]) for i, p in
                              enumerate(PATHS)])
def test_hostile_paths(srv, path, status, whose):
    if isinstance(path, str):
        path = path.replace("{id}", str(srv.event))
    r = request(srv.http_port, path)
    assert not head_problems(r), head_problems(r)
    assert r.status == status, r
    if whose == "chrys" and status >= 400:
        assert is_chrys_error(r), r
    if whose == "nginx":
        # nginx's own page: the request never reached chrys
        assert r.header("content-type") == "text/html", r
        assert b"<html>" in r.body


@pytest.mark.parametrize("method, path, status, whose", [
    ("OPTIONS", "/chrys/streams", 405, "chrys"),
    ("PROPFIND", "/chrys/live/cam/status", 405, "chrys"),
    ("FOO", "/chrys/live/cam/latest.jpg", 405, "chrys"),
    ("DELETE", "/chrys/live/cam/events", 405, "chrys"),
    ("DELETE", "/chrys/live/cam/events/99999", 404, "chrys"),
    ("POST", "/chrys/live/cam/events/{id}", 405, "chrys"),
    ("PUT", "/chrys/live/cam/events/{id}/clip.mp4", 405, "chrys"),
    ("POST", "/chrys/metrics", 405, "chrys"),
    ("TRACE", "/chrys/streams", 405, "nginx"),
    ("CONNECT", "/chrys/streams", 405, "nginx"),
    ("get", "/chrys/streams", 400, "nginx"),
    ("G\x01T", "/chrys/streams", 400, "nginx"),
])
def test_hostile_methods(srv, method, path, status, whose):
    r = request(srv.http_port, path.replace("{id}", str(srv.event)),
                method.encode("latin-1"))
    assert not head_problems(r), head_problems(r)
    assert r.status == status, r
    assert is_chrys_error(r) == (whose == "chrys"), r
    if status == 405 and whose == "chrys":
        assert r.header("allow").startswith("GET, HEAD")


def test_raw_line_breaks_in_the_request_line(srv):
    """A raw LF ends the request line: nginx reads what comes before it
    as an HTTP/0.9 request, whose answer has no head at all, so nothing
    that follows can become a response header."""
    r = request(srv.http_port, b"/chrys/live/a\nX-Injected: 1")
    assert r.status is None
    assert r.body.startswith(b'{"error":')
    assert b"X-Injected" not in r.data
    r = request(srv.http_port, b"/chrys/live/cam/status?x=1\r\nX-Injected: 1")
    assert b"X-Injected: 1\r\n" not in r.data.partition(b"\r\n\r\n")[0]


@pytest.mark.parametrize("size, status, whose", [
    (4000, 400, "chrys"),      # a name far over 255 bytes
    (8000, 400, "chrys"),      # still within nginx's 8 KB for the line
    (8300, 414, "nginx"),
    (65536, 414, "nginx"),
    (1 << 20, 414, "nginx"),
])
def test_very_long_uris(srv, size, status, whose):
    for path in ("/chrys/live/%s/latest.jpg" % ("n" * size),
                 "/chrys/live/cam/latest.jpg?quality=%s" % ("9" * size)):
        r = request(srv.http_port, path)
        assert not head_problems(r)
        assert r.status == status, r
        assert is_chrys_error(r) == (whose == "chrys"), r
    # a long query of unknown parameters is ignored
    if size <= 8000:
        r = request(srv.http_port, "/chrys/live/cam/status?" +
                    "x=1&" * (size // 4))
        assert r.status == 200, r


@pytest.mark.parametrize("value, status", [
    (b'"' + b"x" * 6000 + b'"', 200),
    (b",,,, , ,", 200),
    (b'"', 200),
    (b'"live/cam/1/q80", *', 304),
    (b"*", 304),
    (b'\xff\xfe"', 200),
    (b'"live/cam/' + b"9" * 100 + b'/q80"', 200),
])
def test_hostile_if_none_match(srv, value, status):
    r = request(srv.http_port, "/chrys/live/cam/latest.jpg",
                headers=b"If-None-Match: " + value + b"\r\n")
    assert not head_problems(r)
    assert r.status == status, r


@pytest.mark.parametrize("body, status, words", [
    (b"{", 400, "JSON object"),
    (b"[]", 400, "JSON object"),
    (b'"x"', 400, "JSON object"),
    (b"null", 400, "JSON object"),
    (b"{} {}", 400, "JSON object"),
    (b'{"pre":}', 400, "JSON object"),
    (b'{"pre":1,}', 400, "JSON object"),
    (b"{'pre':1}", 400, "JSON object"),
    (b'{"pre":-1}', 400, '"pre"'),
    (b'{"pre":"1000"}', 400, '"pre"'),
    (b'{"pre":1e3}', 400, '"pre"'),
    (b'{"pre":1.5}', 400, '"pre"'),
    (b'{"pre":300001}', 400, '"pre"'),
    (b'{"post":99999999999999999999999}', 400, '"post"'),
    (b'{"post":null}', 400, '"post"'),
    (b'{"label":1}', 400, '"label"'),
    (b'{"label":"' + b"x" * 200 + b'"}', 400, '"label"'),
    (b'{"label":"a\nb"}', 400, "JSON object"),     # raw control character
    (b'{"label":"a\\xb"}', 400, "JSON object"),    # bad escape
    (b'{"label":"\\u12"}', 400, "JSON object"),
    (b'{"meta":' + b"[" * 40 + b"]" * 40 + b"}", 400, "JSON object"),
    (b'{"pre":1' + b" " * 9000 + b"}", 413, "at most"),
    (b"\x00", 400, "JSON object"),
    (b"\xff\xfe{", 400, "JSON object"),
])
def test_hostile_event_bodies(srv, body, status, words):
    before = request(srv.http_port, "/chrys/live/cam/events").json()
    r = request(srv.http_port, "/chrys/live/cam/events", b"POST",
                b"Content-Type: application/json\r\n", body)
    assert not head_problems(r)
    assert r.status == status, r
    assert is_chrys_error(r), r
    assert words in r.json()["error"]
    after = request(srv.http_port, "/chrys/live/cam/events").json()
    assert after == before


@pytest.mark.parametrize("size, apart", [(100, True), (2000, False),
                                         (4000, False)])
def test_event_bodies_up_to_the_limit_are_read(srv, size, apart):
    body = json.dumps({"label": "big", "pre": 0, "post": 0,
                       "meta": "x" * size}).encode()
    r = request(srv.http_port, "/chrys/live/cam/events", b"POST",
                b"Content-Type: application/json\r\n", body,
                body_apart=apart)
    if r.status == 201:
        request(srv.http_port, "/chrys/live/cam/events/%d"
                % r.json()["id"], b"DELETE")
    assert r.status == 201, r


def test_labels_and_meta_go_out_as_valid_json(srv):
    """What a client puts in an event comes back in JSON that parses to
    the same: escapes, quotes, markup, unicode."""
    label = 'a"b\\c</script><i>\u00fc\u2028\U0001F600\t\n'
    meta = {"k\"\\": [1, -2.5e3, None, True, {"<": "\u0000"}]}
    body = json.dumps({"label": label, "pre": 0, "post": 0,
                       "meta": meta}).encode()
    r = request(srv.http_port, "/chrys/live/cam/events", b"POST",
                b"Content-Type: application/json\r\n", body)
    assert r.status == 201, r
    ev = r.json()
    assert ev["label"] == label and ev["meta"] == meta
    r = request(srv.http_port, "/chrys/live/cam/events/%d" % ev["id"])
    assert r.json()["label"] == label and r.json()["meta"] == meta
    listed = request(srv.http_port, "/chrys/live/cam/events").json()
    assert [e for e in listed["events"] if e["id"] == ev["id"]][0][
        "label"] == label
    r = request(srv.http_port, "/chrys/live/cam/events/%d" % ev["id"],
                b"DELETE")
    assert r.status == 200, r


@pytest.mark.parametrize("query, size", [
    ("width=1", (1, 1)),
    ("width=2", (2, 1)),
    ("width=3", (3, 2)),
    ("height=1", (2, 1)),
    ("width=1&height=1&fit=fill", (1, 1)),
    ("width=1280&height=1&fit=fill", (1280, 1)),
    ("width=1&height=720&fit=fill", (1, 720)),
    ("width=1279&height=719&fit=fill", (1279, 719)),
    ("width=641&height=361&fit=fill", (641, 361)),
    ("width=1&height=720", (1, 1)),            # contain: width decides
    ("width=1280&height=1", (2, 1)),           # contain: height decides
])
@pytest.mark.parametrize("fmt", ["jpeg", "bgr24", "rgb24", "gray8",
                                 "yuv420p"])
def test_odd_and_tiny_sizes(srv, query, size, fmt):
    if fmt == "jpeg":
        paths = ["live/cam/latest.jpg", "live/cam/frame.jpg?time=-500",
                 "live/cam/images?from=-1000&limit=1"]
    else:
        paths = ["live/cam/latest.raw?format=" + fmt]
    for path in paths:
        r = request(srv.http_port, "/chrys/" + path
                    + ("&" if "?" in path else "?") + query)
        assert r.status == 200, r
        assert not head_problems(r)
        w, h = size
        if path.startswith("live/cam/images"):
            assert b"X-Chrys-Width: %d\r\nX-Chrys-Height: %d\r\n" % (w, h) \
                in r.body
            continue
        assert (int(r.header("x-chrys-width")),
                int(r.header("x-chrys-height"))) == (w, h)
        if fmt == "jpeg":
            assert r.body[:2] == b"\xff\xd8"
            continue
        assert r.header("x-chrys-format") == fmt
        assert len(r.body) == raw_size(fmt, w, h, r), (len(r.body), w, h)


def test_a_placeholder_format_is_no_format(srv):
    """format= takes one of four words; "-" is the table's placeholder
    for JPEG, not a value a client may give."""
    for value in ("-", "%2D", "%2d"):
        r = request(srv.http_port,
                    "/chrys/live/cam/latest.raw?format=" + value)
        assert r.status == 400, r
        assert is_chrys_error(r) and '"format"' in r.json()["error"]


def test_the_stream_still_serves_correct_pictures(srv, camera):
    """After all of the above: no crash, the stream decodes on, and its
    pictures are the camera's."""
    assert not srv.crashes()
    st = request(srv.http_port, "/chrys/live/cam/status").json()
    assert st["publishing"] is True and st["decode_errors"] == 0, st
    assert st["error"] is None, st
    seq = 0
    for _ in range(5):
        # each a newer frame than the one before
        r = request(srv.http_port, "/chrys/live/cam/latest.jpg?after=%d"
                    "&timeout=20000" % seq)
        assert r.status == 200, r
        assert int(r.header("x-chrys-seq")) > seq
        seq, pts = int(r.header("x-chrys-seq")), int(r.header("x-chrys-pts"))
        assert camera.psnr(r.body, pts % LOOP_MS) >= 30
    for path in ("frame.jpg?time=-500", "frame.jpg?seq=1"):
        r = request(srv.http_port, "/chrys/live/cam/" + path)
        assert r.status == 200, r
        assert camera.psnr(r.body, int(r.header("x-chrys-pts")) % LOOP_MS) \
            >= 30
    assert request(srv.http_port, "/chrys/").body == srv.page


# --------------------------------------------------------------------------
# stream names that need escaping


# names ffmpeg publishes as they are (it sends the RTMP play path without
# decoding it; a space ends it, "?" starts nginx-rtmp's arguments, "/"
# would be the application's), and that chrys takes
NAMES = ['a"b', "a\\b", "<i>pwned<\\i>", "\u00fc", "a%b", "a%2Fb", "a'b",
         "a&b", "a#b", "a;b{}", "mp4:x", "\U0001F600", "\u2028",
         "a\\u0000b", "a\\nb", ".a", "x" * 255]

# names chrys refuses to decode: control characters, ".."  (Longer names
# never reach it: nginx-rtmp cuts them to 255 bytes.)
REFUSED = ["a\tb", "..", "a..b", ".", "a\x7fb"]
LONG = "y" * 300

# the metrics every stream has, one sample each
STREAM_METRICS = [
    "chrys_publishing", "chrys_decoding", "chrys_frames_received_total",
    "chrys_frames_decoded_total", "chrys_frames_skipped_total",
    "chrys_decode_errors_total", "chrys_decode_seconds_total",
    "chrys_jpeg_encodes_total", "chrys_jpeg_cache_hits_total",
    "chrys_jpeg_encode_seconds_total", "chrys_last_frame_age_seconds",
    "chrys_fps", "chrys_bitrate_bits_per_second", "chrys_buffer_bytes",
    "chrys_buffer_seconds", "chrys_events"]


def prometheus_samples(text):
    """The samples of a Prometheus text exposition, read strictly:
    [(metric, {label: value}, value)].  Label values are unescaped as
    Prometheus does (\\\\, \\" and \\n); anything else fails."""
    samples = []
    for line in text.split("\n"):
        if line == "" or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
        assert m, line
        name, i, labels = m.group(1), m.end(), {}
        if line[i] == "{":
            i += 1
            while line[i] != "}":
                m = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="').match(line, i)
                assert m, line
                i, value = m.end(), ""
                while line[i] != '"':
                    if line[i] == "\\":
                        esc = line[i + 1]
                        assert esc in '\\"n', line
                        value += "\n" if esc == "n" else esc
                        i += 2
                    else:
                        value += line[i]
                        i += 1
                labels[m.group(1)] = value
                i += 1
                if line[i] == ",":
                    i += 1
            i += 1
        assert line[i] == " ", line
        samples.append((name, labels, float(line[i + 1:])))
    return samples


def prometheus_label(s):
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@pytest.fixture
def make_hostile():
    servers = Servers(HostileNginx)
    yield servers
    servers.finish()


def publish_names(nginx, publish, camera, names):
    """Publishes each name, as bytes on ffmpeg's command line."""
    procs = []
    for name in names:
        url = nginx.rtmp("").encode() + (
            name if isinstance(name, bytes) else name.encode())
        procs.append(publish(url, camera.path, loop=True))
    return procs


def test_names_are_escaped_in_every_response(make_hostile, publish, camera):
    nginx = make_hostile()
    port = nginx.http_port
    page = request(port, "/chrys/").body

    publish_names(nginx, publish, camera, NAMES + REFUSED + [LONG])

    def listed():
        r = request(port, "/chrys/streams")
        assert r.status == 200 and not head_problems(r), r
        names = [s["name"] for s in json.loads(r.body)["streams"]]
        return names if len(names) >= len(NAMES) + 1 else None
    names = wait_for(listed, timeout=30, what="every stream listed")
    assert sorted(names) == sorted(NAMES + [LONG[:255]])

    for name in NAMES:
        path = "/chrys/live/%s/" % urllib.parse.quote(name, safe="")
        what = repr(name)

        r = request(port, path + "status")
        assert r.status == 200 and not head_problems(r), (what, r)
        st = json.loads(r.body)
        assert (st["app"], st["name"]) == ("live", name), what

        r = wait_for(lambda: (lambda r: r if r.status == 200 else None)(
            request(port, path + "latest.jpg")), timeout=30,
            what="a picture of %s" % what)
        assert not head_problems(r), (what, r)
        seq = int(r.header("x-chrys-seq"))
        etag = '"live/%s/%d/q80"' % (urllib.parse.quote(name, safe="-._~"),
                                     seq)
        assert r.header("etag") == etag, what
        assert ETAG.match(etag)
        r = request(port, path + "latest.jpg",
                    headers=b"If-None-Match: " + etag.encode() + b"\r\n")
        assert r.status in (304, 200) and not head_problems(r), (what, r)
        if r.status == 200:
            # a newer frame came meanwhile: it has its own tag
            assert r.header("etag") != etag

        r = request(port, path + "latest.raw?format=gray8&width=64")
        assert r.status == 200 and not head_problems(r), (what, r)
        assert r.header("etag").startswith(
            '"live/%s/' % urllib.parse.quote(name, safe="-._~"))

        r = request(port, path + "index.json?from=-500")
        assert r.status == 200 and not head_problems(r), (what, r)
        assert json.loads(r.body)["name"] == name

        r = request(port, path + "images?from=-1000&limit=2&width=64")
        assert r.status == 200 and not head_problems(r), (what, r)
        for part in r.body.split(b"\r\n--")[:-1]:
            for line in part.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
                assert HEADER_LINE.match(line), (what, line)

        r = request(port, path + "live.mjpg?width=64", head_only=True)
        assert r.status == 200 and not head_problems(r), (what, r)

        r = request(port, path + "events", b"POST")
        assert r.status == 201 and not head_problems(r), (what, r)

    # metrics: every stream's samples under its exact name, escaped as
    # Prometheus reads label values
    r = request(port, "/chrys/metrics")
    assert r.status == 200 and not head_problems(r), r
    text = r.body.decode("utf-8")
    samples = prometheus_samples(text)
    for name in NAMES:
        mine = {s[0] for s in samples
                if s[1] == {"app": "live", "name": name}}
        assert mine == set(STREAM_METRICS), (name, mine)
        assert ('chrys_publishing{app="live",name="%s"} 1\n'
                % prometheus_label(name)) in text, name

    # refused names: not decoded, said so in the log; asked for, a 400
    assert "is not decoded" in nginx.error_log()
    assert nginx.error_log().count("is not decoded") == len(REFUSED)
    for name in REFUSED:
        r = request(port, "/chrys/live/%s/status"
                    % urllib.parse.quote(name, safe=""))
        assert r.status == 400 and is_chrys_error(r), (name, r)

    # the dashboard is one static page, whatever the streams are called
    for path in ("/chrys/", "/chrys/ui/", "/chrys/?<i>x</i>",
                 "/chrys/ui/?name=%3Ci%3E"):
        r = request(port, path)
        assert r.status == 200 and not head_problems(r), r
        assert r.body == page, path
    assert b"innerHTML" not in page and b"outerHTML" not in page
    assert b"insertAdjacentHTML" not in page and b"document.write" not in page
    assert b"textContent" in page


def test_the_dashboard_shows_names_as_text(make_hostile, publish, camera):
    """In a real browser: each name is the text of its card, none becomes
    markup, and each card's picture URL is the name encoded."""
    from test_dashboard import chromium

    # seven: more than the six connections a browser opens to a host,
    # which the page's short long polls share
    names = ['a"b&c', "a\\b%", "<i>pwned<\\i>", "\u00fc\U0001F600",
             "<script>alert(1)<\\script>", "'onerror='x", "a+b=c"]
    nginx = make_hostile()
    publish_names(nginx, publish, camera, names)
    for name in names:
        path = "/chrys/live/%s/latest.jpg" % urllib.parse.quote(name, safe="")
        wait_for(lambda: request(nginx.http_port, path).status == 200,
                 timeout=30, what="a picture of %r" % name)

    dom = chromium(nginx.url(""), "--dump-dom").decode()
    assert ('<span id="summary">%d streams, %d publishing</span>'
            % (len(names), len(names))) in dom, dom[:3000]
    for name in names:
        text = html.escape("live/" + name, quote=False)
        assert '<div class="name">%s</div>' % text in dom, name
        src = urllib.parse.quote(name, safe="-_.!~*'()")
        assert 'data-stream="/chrys/live/%s/"' % src in dom, name
    assert "<i>pwned" not in dom and "<script>alert" not in dom


def test_a_name_that_is_not_utf8_breaks_no_response(make_hostile, publish,
                                                    camera):
    nginx = make_hostile()
    # a byte that is never UTF-8, an overlong "/", a surrogate
    bad = [b"a\xffb", b"a\xc0\xafb", b"a\xed\xa0\x80b"]
    publish_names(nginx, publish, camera, bad + [b"cam"])
    port = nginx.http_port

    # the names that are not UTF-8 are refused, and say so in the log
    wait_for(lambda: request(port, "/chrys/live/cam/status").status == 200,
             timeout=30, what="the stream with the good name")
    logged = ['"live/%s" (%%-escaped) is not decoded'
              % urllib.parse.quote(b, safe="") for b in bad]
    wait_for(lambda: all(x in nginx.error_log() for x in logged) or None,
             timeout=10, what="the refusals in the log, escaped")
    # (nginx-rtmp's own "publish:" line has them raw)
    assert not [l for l in nginx.error_log().splitlines()
                if "chrys:" in l and "\ufffd" in l]
    r = request(port, "/chrys/metrics")
    assert r.body.count(b"chrys_publishing{") == 1, r.body
    # every response stays UTF-8
    for path in ("/chrys/streams", "/chrys/metrics",
                 "/chrys/live/cam/status"):
        r = request(port, path)
        assert r.status == 200, r
        r.body.decode("utf-8")
        if path != "/chrys/metrics":
            json.loads(r.body)
    # the stream with the good name carries on, in the metrics too
    text = request(port, "/chrys/metrics").body.decode("utf-8")
    assert 'chrys_publishing{app="live",name="cam"} 1' in text
