"""The security setup of nginx.conf.example, tested as written: a stream
key checked by nginx-rtmp's on_publish against a local location, an API
token on the chrys_api location, RTMP playback for this host only.  The
TLS side (RTMPS, HTTPS, keys per camera, share links) is t/test_tls.py's.

The configuration is the example file itself, with only what a test must
change substituted (ports, paths, the worker count): each substitution
must match exactly once, so that this test notices the example changing.
"""

import os
import re
import shutil
import socket
import subprocess
import time

import pytest
import requests

from chrys import (CACHE, RTMP_MODULE, TOP, Nginx, free_port, frame_meta,
                   wait_for)

EXAMPLE = os.path.join(TOP, "nginx.conf.example")
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
# a CA and a server certificate, made once by the script "make run" uses
TLS = os.path.join(CACHE, "tls")


def example_text():
    with open(EXAMPLE) as f:
        return f.read()


def secret(variable):
    """The secret the example compares a variable with."""
    m = re.findall(r'if \(\$%s != "([^"]+)"\)' % variable, example_text())
    assert len(m) == 1, m
    return m[0]


def default_key():
    """The key of cameras without their own (the map's default)."""
    m = re.findall(r'map \$arg_name \$chrys_publish_key \{\s*'
                   r'default\s+"([^"]*)";', example_text())
    assert len(m) == 1, m
    return m[0]


def share_secret():
    m = re.findall(r'set \$chrys_share_secret "([^"]+)";', example_text())
    assert len(m) == 1, m
    return m[0]


KEY = default_key()
TOKEN = secret("chrys_token")
SHARE_SECRET = share_secret()


def make_tls():
    """The CA and certificate of scripts/tls-cert.sh, in t/.cache/tls."""
    subprocess.run([os.path.join(TOP, "scripts", "tls-cert.sh"), TLS],
                   check=True, timeout=60)
    return os.path.join(TLS, "ca.crt")


class ExampleNginx(Nginx):
    """nginx running nginx.conf.example, on free ports, under the test's
    prefix."""

    def __init__(self, workers=2, changes=(), log_level="info", keys="",
                 **kw):
        self.changes = list(changes)
        self.log_level = log_level
        self.keys = keys
        self.rtmps_port = free_port()
        self.proxied_port = free_port()
        self.https_port = free_port()
        make_tls()
        super().__init__(workers=workers, **kw)

    def write_conf(self, **changes):
        for k, v in changes.items():
            setattr(self, k, v)
        text = example_text()
        p = self.prefix
        for old, new in [
            ("load_module modules/ngx_rtmp_module.so;",
             "load_module %s;" % RTMP_MODULE),
            ("load_module modules/ngx_stream_module.so;",
             "load_module %s;" % STREAM_MODULE),
            ("load_module modules/ngx_chrys_module.so;",
             "load_module %s;" % self.module),
            ("worker_processes auto;",
             "worker_processes %d;" % self.workers),
            ("error_log stderr notice;",
             "error_log %s/logs/error.log %s;" % (p, self.log_level)),
            ("pid logs/nginx.pid;", "pid %s/logs/nginx.pid;" % p),
            ("listen 1935;", "listen 127.0.0.1:%d;" % self.rtmp_port),
            ("listen 8080;", "listen 127.0.0.1:%d;" % self.http_port),
            ("listen 8443 ssl http2;",
             "listen 127.0.0.1:%d ssl http2;" % self.https_port),
            ("listen 1936 ssl;", "listen 127.0.0.1:%d ssl;" % self.rtmps_port),
            ("listen 127.0.0.1:1937 proxy_protocol;",
             "listen 127.0.0.1:%d proxy_protocol;" % self.proxied_port),
            ("proxy_pass 127.0.0.1:1937;",
             "proxy_pass 127.0.0.1:%d;" % self.proxied_port),
            ("on_publish http://127.0.0.1:8080/auth/publish;",
             "on_publish http://127.0.0.1:%d/auth/publish;" % self.http_port),
            ("http {",
             "http {\n"
             "    client_body_temp_path %s/tmp/body;\n"
             "    proxy_temp_path %s/tmp/proxy;\n"
             "    fastcgi_temp_path %s/tmp/fastcgi;\n"
             "    uwsgi_temp_path %s/tmp/uwsgi;\n"
             "    scgi_temp_path %s/tmp/scgi;\n" % (p, p, p, p, p)),
        ] + self.changes:
            assert text.count(old) == 1, "%r in nginx.conf.example" % old
            text = text.replace(old, new)
        with open(self.conf, "w") as f:
            f.write(text)
        # what the example finds next to itself: the certificate and the
        # keys of the cameras
        tls = os.path.join(self.prefix, "tls")
        if not os.path.exists(tls):
            shutil.copytree(TLS, tls)
        self.write_keys(self.keys)

    def write_keys(self, keys):
        """The file of camera keys: "NAME KEY;" lines."""
        self.keys = keys
        with open(os.path.join(self.prefix, "chrys-keys.map"), "w") as f:
            f.write(keys)

    def _answers(self):
        # without the token: a 403 says it is up
        try:
            return requests.get(self.url("streams"),
                                timeout=1).status_code == 403
        except requests.RequestException:
            return False

    def api(self, path, **kw):
        """A request with the token, and no cookie."""
        kw.setdefault("timeout", 10)
        params = dict(kw.pop("params", None) or {}, token=TOKEN)
        return requests.get(self.url(path), params=params, **kw)

    def stream_names(self):
        r = self.api("streams")
        assert r.status_code == 200, r.text
        return [s["name"] for s in r.json()["streams"]]


@pytest.fixture
def example(make_example):
    return make_example()


def wait_picture(nginx, name):
    def ready():
        r = nginx.api("live/%s/latest.jpg" % name)
        return r if r.status_code == 200 else None
    return wait_for(ready, timeout=30, interval=0.1,
                    what="a picture of live/%s" % name)


def test_the_example_has_placeholders_to_change():
    text = example_text()
    assert "change-me" in KEY and "change-me" in TOKEN
    assert "change-me" in SHARE_SECRET
    assert "CHANGE" in text and "openssl rand -hex 16" in text


WRONG_KEYS = [
    "",                             # no key
    "?key=",
    "?key=wrong",
    "?key=" + KEY.upper(),          # the comparison is exact
    "?key=" + KEY + "x",
    "?key=" + KEY[:-1],
    "?key=%s" % KEY.replace("-", "%2D"),   # compared as sent, not decoded
    "?token=" + TOKEN,              # the API token is no publish key
    "?x=" + KEY,
    "?keys=" + KEY,
]


def test_a_wrong_or_missing_key_cannot_publish(example, publish, camera):
    # all at once, each under its own name
    procs = [(query, publish(example.rtmp("cam%d%s" % (i, query)),
                             camera.path))
             for i, query in enumerate(WRONG_KEYS)]
    still = []
    for query, p in procs:
        try:
            if p.proc.wait(timeout=30) == 0:
                still.append((query, "exit 0"))
        except subprocess.TimeoutExpired:
            still.append((query, "still publishing"))
    assert not still, still
    assert example.stream_names() == []
    log = example.error_log()
    assert log.count("notify: publish") == len(WRONG_KEYS)
    assert "chrys: decoding" not in log


def test_the_right_key_publishes_and_is_decoded(example, publish, camera):
    # other arguments may come along, before or after the key
    publish(example.rtmp("cam?x=1&key=%s&y=2" % KEY), camera.path)
    r = wait_picture(example, "cam")
    for _ in range(5):
        r = example.api("live/cam/latest.jpg")
        assert r.status_code == 200
        assert camera.psnr(r.content, frame_meta(r)["pts"]) >= 30
        time.sleep(0.1)
    # the stream is named without its arguments
    assert example.stream_names() == ["cam"]


def test_a_refused_publisher_does_not_disturb_the_stream(example, publish,
                                                         camera):
    good = publish(example.rtmp("cam?key=" + KEY), camera.path)
    wait_picture(example, "cam")
    seq = frame_meta(example.api("live/cam/latest.jpg"))["seq"]

    bad = publish(example.rtmp("cam?key=wrong"), camera.path)
    assert bad.proc.wait(timeout=30) != 0
    assert good.running()

    r = example.api("live/cam/latest.jpg", timeout=30,
                    params={"after": seq, "timeout": 20000})
    assert r.status_code == 200
    assert frame_meta(r)["seq"] > seq
    assert camera.psnr(r.content, frame_meta(r)["pts"]) >= 30
    assert example.api("live/cam/status").json()["publishes"] == 1


def raw_get(port, path, source="127.0.0.1"):
    """A GET from a given local address (any of 127.0.0.0/8)."""
    with socket.socket() as s:
        s.settimeout(5)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(("GET %s HTTP/1.0\r\nHost: x\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split()[1])


def test_the_publish_check_answers_nginx_rtmp_only(example):
    port = example.http_port
    assert raw_get(port, "/auth/publish?name=cam&key=" + KEY) == 204
    assert raw_get(port, "/auth/publish?name=cam&key=wrong") == 403
    assert raw_get(port, "/auth/publish?name=cam") == 403
    # from elsewhere, the right key is no different from a wrong one
    assert raw_get(port, "/auth/publish?name=cam&key=" + KEY,
                   source="127.0.0.2") == 403
    assert raw_get(port, "/auth/publish?name=cam&key=wrong",
                   source="127.0.0.2") == 403


ENDPOINTS = ["", "ui/", "streams", "metrics", "live/cam/latest.jpg",
             "live/cam/latest.raw?format=gray8", "live/cam/live.mjpg",
             "live/cam/status", "live/cam/index.json",
             "live/cam/frame.jpg?time=-500", "live/cam/images?limit=1",
             "live/cam/clip.mp4?from=-1000", "live/cam/events",
             "live/cam/events/1", "live/nobody/latest.jpg", "nothing"]


def assert_forbidden(r):
    assert r.status_code == 403, (r.status_code, r.text[:200])
    assert r.headers["Content-Type"] == "application/json"
    assert "token" in r.json()["error"]
    assert "Set-Cookie" not in r.headers
    assert "X-Chrys-Seq" not in r.headers


WRONG_TOKENS = [None, "", "wrong", TOKEN.upper(), TOKEN + "x", TOKEN[:-1],
                KEY]


def test_the_api_refuses_a_client_without_the_token(example, publish,
                                                    camera):
    publish(example.rtmp("cam?key=" + KEY), camera.path)
    wait_picture(example, "cam")
    for token in WRONG_TOKENS:
        for path in ENDPOINTS:
            url = example.url(path)
            if token is not None:
                url += ("&" if "?" in url else "?") + "token=" + token
            r = requests.get(url, timeout=5, stream=True)
            try:
                assert_forbidden(r)
            finally:
                r.close()
        # nor in a cookie
        r = requests.get(example.url("streams"), timeout=5,
                         cookies={"chrys_token": token or ""})
        assert_forbidden(r)
    # compared as sent, not percent-decoded (requests would decode an
    # encoded "-", an unreserved character, before sending it)
    assert raw_get(example.http_port, "/chrys/streams?token="
                   + TOKEN.replace("-", "%2D")) == 403
    assert raw_get(example.http_port, "/chrys/streams?token=" + TOKEN) == 200
    # a POST makes no event
    r = requests.post(example.url("live/cam/events"), json={}, timeout=5)
    assert_forbidden(r)
    assert example.api("live/cam/events").json() == {"events": []}


def test_a_bearer_header_carries_the_token(example, publish, camera):
    """The token in an Authorization header keeps it out of URLs (and
    so out of access logs and browser histories)."""
    publish(example.rtmp("cam?key=" + KEY), camera.path)
    wait_picture(example, "cam")

    r = requests.get(example.url("live/cam/latest.jpg"), timeout=5,
                     headers={"Authorization": "Bearer " + TOKEN})
    assert r.status_code == 200, r.text[:200]
    assert camera.psnr(r.content, frame_meta(r)["pts"]) >= 30
    # a header does not set the browser cookie
    assert "Set-Cookie" not in r.headers

    for token in WRONG_TOKENS[1:]:
        for auth in ("Bearer " + token, "Basic " + TOKEN, TOKEN,
                     "Bearer  " + token + " x"):
            r = requests.get(example.url("streams"), timeout=5,
                             headers={"Authorization": auth})
            assert_forbidden(r)


def test_the_token_gives_pictures(example, publish, camera):
    publish(example.rtmp("cam?key=" + KEY), camera.path)
    wait_picture(example, "cam")

    for _ in range(5):
        r = example.api("live/cam/latest.jpg")
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "image/jpeg"
        assert camera.psnr(r.content, frame_meta(r)["pts"]) >= 30
        time.sleep(0.1)

    # the token goes along with the endpoints' own parameters
    seq = frame_meta(r)["seq"]
    r = example.api("live/cam/latest.jpg", timeout=30,
                    params={"after": seq, "timeout": 20000, "quality": 60})
    assert r.status_code == 200, r.status_code
    assert frame_meta(r)["seq"] > seq
    assert r.headers["ETag"].endswith('/q60"')
    assert camera.psnr(r.content, frame_meta(r)["pts"]) >= 30

    # the same with the token in the URL, as OpenCV or a browser gets it
    r = requests.get(example.url("live/cam/latest.jpg?quality=50&token="
                                 + TOKEN), timeout=5)
    assert r.status_code == 200
    assert camera.psnr(r.content, frame_meta(r)["pts"]) >= 27

    # the API's own errors are still its own
    r = example.api("live/nobody/latest.jpg")
    assert r.status_code == 404
    assert r.json() == {"error": "stream not found"}
    r = example.api("live/cam/latest.jpg", params={"quality": "0"})
    assert r.status_code == 400 and '"quality"' in r.json()["error"]

    assert example.api("metrics").text.count('name="cam"') >= 10


def test_the_dashboard_keeps_the_token_in_a_cookie(example, publish,
                                                   camera):
    """The dashboard page builds its own URLs (streams, live.mjpg), which
    carry no token: opening it with ?token= leaves a cookie that the
    browser sends along with them."""
    publish(example.rtmp("cam?key=" + KEY), camera.path)
    wait_picture(example, "cam")

    browser = requests.Session()
    r = browser.get(example.url("?token=" + TOKEN), timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("chrys_token=%s;" % TOKEN)
    for attr in ("Path=/chrys/", "HttpOnly", "SameSite=Strict"):
        assert attr in cookie

    # what the page then asks, without any token in the URL
    r = browser.get(example.url("streams"), timeout=5)
    assert r.status_code == 200
    assert [s["name"] for s in r.json()["streams"]] == ["cam"]
    assert "Set-Cookie" not in r.headers
    r = browser.get(example.url("live/cam/latest.jpg"), timeout=5)
    assert r.status_code == 200
    assert camera.psnr(r.content, frame_meta(r)["pts"]) >= 30
    r = browser.get(example.url("live/cam/live.mjpg?width=640&fps=10"),
                    stream=True, timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
    r.close()

    # a wrong token in the URL is not saved over the right cookie
    r = browser.get(example.url("streams?token=wrong"), timeout=5)
    assert_forbidden(r)
    assert browser.get(example.url("streams"), timeout=5).status_code == 200

    # without the cookie, nothing
    browser.cookies.clear()
    assert_forbidden(browser.get(example.url("streams"), timeout=5))


@pytest.mark.parametrize("allow, plays", [
    ("127.0.0.1", True),        # as in the example: this host plays
    ("127.0.0.2", False),       # any other address is denied
])
def test_rtmp_playback_is_for_this_host_only(make_example, publish, camera,
                                             allow, plays):
    # one worker: nginx-rtmp plays a stream from its publisher's worker only
    nginx = make_example(workers=1, changes=[
        ("allow play 127.0.0.1;", "allow play %s;" % allow)])
    publish(nginx.rtmp("cam?key=" + KEY), camera.path)
    wait_picture(nginx, "cam")
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error",
                        "-rw_timeout", "5000000", "-analyzeduration",
                        "300000", "-i", nginx.rtmp("cam"),
                        "-frames:v", "1", "-f", "null", "-"],
                       capture_output=True, text=True, timeout=30)
    assert (r.returncode == 0) == plays, r.stderr
    assert ("access forbidden by rule" in nginx.error_log()) == (not plays)


def test_no_log_holds_the_key_or_the_token(make_example, publish, camera):
    """The example as it is (its log levels and formats): after publishing
    with the key and reading with the token, in a header and in URLs, with
    errors on the way, no log line holds either."""
    example = make_example(log_level="notice")
    cam = publish(example.rtmp("cam?key=" + KEY), camera.path)
    wait_picture(example, "cam")

    bearer = {"Authorization": "Bearer " + TOKEN}
    for path in ("live/cam/latest.jpg", "live/cam/status", "streams",
                 "live/cam/frame.jpg?time=-500", "live/nobody/status",
                 "live/cam/latest.jpg?quality=0",
                 "live/cam/images?from=-1000&limit=3", "metrics", ""):
        for kw in ({"headers": bearer}, {"params": {"token": TOKEN}}):
            requests.get(example.url(path), timeout=10, **kw)
    r = requests.get(example.url("live/cam/live.mjpg?token=" + TOKEN),
                     stream=True, timeout=10)
    next(iter(r.iter_content(4096)))
    r.close()
    # a publish with a wrong key is refused, and logged
    p = publish(example.rtmp("other?key=" + KEY[::-1]), camera.path)
    p.proc.wait(timeout=10)
    cam.stop()
    time.sleep(1)

    example.stop()

    logs = os.path.join(example.prefix, "logs")
    names = sorted(os.listdir(logs))
    assert "access.log" in names and "rtmp-access.log" in names, names
    for name in names:
        with open(os.path.join(logs, name), "rb") as f:
            text = f.read()
        assert text or name.endswith(".pid"), name
        assert KEY.encode() not in text, name
        assert TOKEN.encode() not in text, name
        assert KEY[::-1].encode() not in text, name

    with open(os.path.join(logs, "access.log")) as f:
        lines = f.read()
    assert '"GET /chrys/live/cam/latest.jpg HTTP/1.1" 200' in lines
    assert '"GET /chrys/live/nobody/status HTTP/1.1" 404' in lines
    with open(os.path.join(logs, "rtmp-access.log")) as f:
        assert '"live" "cam"' in f.read()


def test_chrys_log_lines_carry_no_query_string(make_example, publish,
                                               camera):
    """chrys's own lines in the error log name the request without its
    query string (here an MJPEG reader that stopped reading, let go after
    send_timeout), as nginx's own would not."""
    example = make_example(changes=[(
        "add_header Set-Cookie $chrys_token_cookie;",
        "add_header Set-Cookie $chrys_token_cookie;\n"
        "            send_timeout 1s;")])
    publish(example.rtmp("cam?key=" + KEY), camera.path)
    wait_picture(example, "cam")

    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", example.http_port))
    s.sendall(("GET /chrys/live/cam/live.mjpg?quality=95&token=%s HTTP/1.1"
               "\r\nHost: x\r\n\r\n" % TOKEN).encode())
    try:
        wait_for(lambda: "client timed out" in example.error_log(),
                 timeout=20, what="the reader let go")
    finally:
        s.close()

    lines = [l for l in example.error_log().splitlines()
             if "client timed out" in l]
    assert lines and all("/chrys/live/cam/live.mjpg" in l for l in lines)
    assert not [l for l in lines if TOKEN in l or "?" in l], lines
