"""Errors a client can meet, each a small JSON object with an "error"."""

import re
import socket
import time

import pytest
import requests

from chrys import frame_meta, wait_for


def raw_get(nginx, path, method="GET"):
    """Sends a request line as given, without any client-side escaping."""
    with socket.create_connection(("127.0.0.1", nginx.http_port),
                                  timeout=5) as s:
        s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                   % (method, path)).encode("latin-1"))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, head.decode("latin-1"), body


def assert_json_error(r, status, words=""):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    err = r.json()["error"]
    assert isinstance(err, str) and err
    assert words in err, err


def test_unknown_stream_is_404(nginx):
    assert_json_error(nginx.get("live/nobody/latest.jpg"), 404, "not found")
    assert_json_error(nginx.get("live/nobody/status"), 404, "not found")


def test_unknown_endpoint_is_404(nginx):
    assert_json_error(nginx.get("live/cam/nothing.gif"), 404)
    assert_json_error(nginx.get("a/b/c/d/e/f"), 404)
    assert_json_error(nginx.get("nothing"), 404)
    assert_json_error(nginx.get("live/cam/events/x"), 404)
    # the location's root is the dashboard
    assert nginx.get("").headers["Content-Type"].startswith("text/html")


def test_known_stream_without_a_frame_is_503_with_retry_after(nginx,
                                                              publish):
    # audio only: the stream is known, but no picture will come
    publish(nginx.rtmp("radio"), None,
            args=["-f", "lavfi", "-i", "sine=frequency=440", "-c:a", "aac"])
    wait_for(lambda: nginx.get("live/radio/status").status_code == 200,
             what="the stream to be listed")
    r = nginx.get("live/radio/latest.jpg")
    assert_json_error(r, 503, "no frame")
    assert r.headers["Retry-After"] == "1"
    assert nginx.status("radio")["publishing"] is True


@pytest.mark.parametrize("query, name", [
    ("quality=0", "quality"),
    ("quality=101", "quality"),
    ("quality=abc", "quality"),
    ("quality=", "quality"),
    ("quality=-5", "quality"),
    ("quality=50&quality=60", "quality"),
    ("quality=99999999999999999999999", "quality"),
    ("after=x", "after"),
    ("after=-1", "after"),
    ("timeout=60001", "timeout"),
    ("timeout=1e3", "timeout"),
])
def test_bad_parameter_is_400_naming_it(nginx, publish, source, query, name):
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    assert_json_error(nginx.get("live/cam/latest.jpg?" + query), 400,
                      '"%s"' % name)


def test_percent_encoded_parameters_are_decoded(nginx, publish, source):
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    r = nginx.get("live/cam/latest.jpg?quality=%35%30")
    assert r.status_code == 200
    assert r.headers["ETag"].endswith('/q50"')
    # unknown parameters (cache busters) are ignored
    assert nginx.get("live/cam/latest.jpg?_=123&x").status_code == 200


@pytest.mark.parametrize("path", [
    "/chrys/live/a%2Fb/latest.jpg",
    "/chrys/live/../latest.jpg",
    "/chrys/live/a..b/latest.jpg",
    "/chrys/live/%2e%2e/latest.jpg",
    "/chrys/live/a%01b/latest.jpg",
    "/chrys/live/a%7Fb/status",
    "/chrys/live/" + "n" * 256 + "/latest.jpg",
    "/chrys/live//latest.jpg",
])
def test_bad_stream_name_is_400(nginx, path):
    status, head, body = raw_get(nginx, path)
    assert status == 400, head
    assert b'"error"' in body


def test_a_255_byte_name_is_fine(nginx):
    status, _, body = raw_get(nginx, "/chrys/live/" + "n" * 255 + "/status")
    assert status == 404 and b"not found" in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(nginx, method):
    r = requests.request(method, nginx.url("live/cam/latest.jpg"),
                         data=b"x", timeout=5)
    assert_json_error(r, 405, "GET")
    assert r.headers["Allow"] == "GET, HEAD"


def test_head_gives_the_headers_only(nginx, publish, source):
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    r = requests.head(nginx.url("live/cam/latest.jpg"), timeout=5)
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) > 1000
    assert r.content == b""
    assert int(r.headers["X-Chrys-Seq"]) > 0


def test_access_control_is_nginx_own(make_nginx, publish, source):
    nginx = make_nginx(http_extra="""
        location /private/ {
            auth_basic "cameras";
            auth_basic_user_file {prefix}/htpasswd;
            chrys_api;
        }
        location /local/ {
            allow 127.0.0.2;
            deny all;
            chrys_api;
        }
    """)
    with open(nginx.prefix + "/htpasswd", "w") as f:
        f.write("vision:{PLAIN}s3cret\n")

    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")

    base = "http://127.0.0.1:%d" % nginx.http_port
    r = requests.get(base + "/private/live/cam/latest.jpg", timeout=5)
    assert r.status_code == 401
    r = requests.get(base + "/private/live/cam/latest.jpg",
                     auth=("vision", "wrong"), timeout=5)
    assert r.status_code == 401
    r = requests.get(base + "/private/live/cam/latest.jpg",
                     auth=("vision", "s3cret"), timeout=5)
    assert r.status_code == 200
    assert source.psnr(r.content, frame_meta(r)["pts"]) >= 30

    r = requests.get(base + "/local/streams", timeout=5)
    assert r.status_code == 403


def test_zone_full_refuses_new_streams_only(make_nginx, publish, source,
                                            camera):
    """A 640x360 stream takes about 1 MB of pictures; in a 3 MB zone a
    third stream finds no room, and the first ones carry on."""
    nginx = make_nginx(zone="3m")
    for name in ("a", "b", "c", "d"):
        publish(nginx.rtmp(name), source.path)
        time.sleep(1)

    wait_for(lambda: "is full" in nginx.error_log(), what="a zone-full log")
    log = nginx.error_log()
    assert 'chrys: zone "chrys" is full' in log

    ok = [n for n in "abcd"
          if nginx.get("live/%s/latest.jpg" % n).status_code == 200]
    assert ok and ok == list("abcd"[:len(ok)]), ok
    assert len(ok) < 4

    for n in ok:
        for _ in range(5):
            r = nginx.get("live/%s/latest.jpg" % n)
            assert r.status_code == 200
            assert source.psnr(r.content, frame_meta(r)["pts"]) >= 30
            time.sleep(0.1)


def responses(port, data, seconds=2):
    """Sends raw bytes on one connection and reads for a while: the status
    lines of every response that came back, and everything read."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.settimeout(0.5)
        got = b""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            got += chunk
    return re.findall(rb"(?:^|\n)(HTTP/1\.1 \d\d\d)", got), got


@pytest.mark.parametrize("path", ["/chrys/streams",
                                  "/chrys/live/cam/latest.jpg",
                                  "/chrys/live/nobody/events",
                                  "/chrys/nothing",
                                  "/chrys/live/cam/events?x=1"])
def test_a_body_is_never_read_as_the_next_request(nginx, publish, source,
                                                  path):
    """Behind a proxy that reuses connections, a POST's body read as the
    next request would answer another client: every answer, an error
    before the body was looked at too, leaves the connection at the next
    request."""
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")

    inner = b"GET /chrys/live/cam/status HTTP/1.1\r\nHost: x\r\n\r\n"
    if path.endswith("x=1"):
        # a body an event takes as JSON: not one, a 400
        inner = b'{"label": "x"}' + inner
    head = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
            % (path, len(inner))).encode()
    last = b"GET /chrys/streams HTTP/1.1\r\nHost: x\r\n" \
           b"Connection: close\r\n\r\n"

    lines, got = responses(nginx.http_port, head + inner + last)
    # one answer to the POST, one to the request after it, and none to
    # what its body held
    assert len(lines) == 2, got[:2000]
    assert b'\r\n\r\n{"app"' not in got


def test_an_event_body_over_the_limit_is_not_read_as_a_request(nginx,
                                                              publish,
                                                              source):
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")

    inner = (b"GET /chrys/live/cam/status HTTP/1.1\r\nHost: x\r\n\r\n"
             * 200)[:9000]
    head = b"POST /chrys/live/cam/events HTTP/1.1\r\nHost: x\r\n" \
           b"Content-Length: 9000\r\n\r\n"
    lines, got = responses(nginx.http_port, head + inner)
    assert lines and lines[0].startswith(b"HTTP/1.1 413"), got[:500]
    assert len(lines) == 1, got[:2000]
    assert b'\r\n\r\n{"app"' not in got


def test_replays_past_the_limit_are_503_with_retry_after(make_nginx,
                                                         publish, source):
    """chrys_max_replays: a worker decodes or remuxes so many requests of
    the buffer at once, so that a burst of them cannot queue up in the
    thread pool; the others are told to come back."""
    nginx = make_nginx(workers=1, http_extra="""
        location /one/ {
            chrys_api;
            chrys_max_replays 1;
        }
    """)
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    time.sleep(3)
    base = "http://127.0.0.1:%d/one/live/cam/" % nginx.http_port

    # an image series whose reader does not read holds its replay (tens
    # of megabytes: more than the sockets' buffers take)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", nginx.http_port))
    slow.sendall(b"GET /one/live/cam/images?from=-3000&quality=100"
                 b"&width=1280 HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        def refused():
            # (a Response of an error is falsy: hence the list)
            r = requests.get(base + "frame.jpg?time=-1000", timeout=10)
            return [r] if r.status_code == 503 else None

        r, = wait_for(refused, timeout=10, what="a refused replay")
        assert r.headers["Retry-After"] == "1"
        assert "chrys_max_replays" in r.json()["error"]
    finally:
        slow.close()

    # once it is gone, the next one is served
    def served():
        r = requests.get(base + "frame.jpg?time=-1000", timeout=10)
        return r if r.status_code == 200 else None

    r = wait_for(served, timeout=10, what="a replay served")
    assert source.psnr(r.content, frame_meta(r)["pts"]) >= 30


def test_a_picture_over_the_request_memory_is_400(make_nginx, publish,
                                                  source):
    nginx = make_nginx(http_extra="""
        location /small/ {
            chrys_api;
            chrys_request_memory 1m;
        }
    """)
    publish(nginx.rtmp("cam"), source.path)
    nginx.wait_frame("cam")
    time.sleep(1.5)
    base = "http://127.0.0.1:%d/small/live/cam/" % nginx.http_port

    # 640x360 in RGB: 691,200 bytes, within 1 MB; twice that size is not
    r = requests.get(base + "latest.raw?format=rgb24", timeout=10)
    assert r.status_code == 200 and len(r.content) == 640 * 360 * 3
    for query in ("latest.raw?format=rgb24&width=1280",
                  "latest.jpg?width=1280", "live.mjpg?width=1280",
                  "frame.jpg?time=-500&width=1280",
                  "images?from=-1000&width=1280"):
        r = requests.get(base + query, timeout=10)
        assert r.status_code == 400, (query, r.status_code)
        assert "chrys_request_memory" in r.json()["error"]
        assert '"width"' in r.json()["error"]


def test_pictures_over_chrys_max_picture_are_refused(make_nginx, publish,
                                                     source):
    """A publisher may send pictures of any size; over chrys_max_picture
    nothing of them is decoded or kept, and the status says why."""
    nginx = make_nginx(rtmp_extra="""
        application small {
            live on;
            chrys on;
            chrys_max_picture 320x240;
        }
    """)
    publish(nginx.rtmp("cam", app="small"), source.path)
    wait_for(lambda: nginx.get("small/cam/status").status_code == 200
             and nginx.status("cam", app="small")["error"],
             what="the refusal")
    st = nginx.status("cam", app="small")
    assert "chrys_max_picture 320x240" in st["error"]
    assert "640x360" in st["error"]
    time.sleep(1)
    assert nginx.get("small/cam/latest.jpg").status_code == 503
    st = nginx.status("cam", app="small")
    assert st["frames_decoded"] == 0 and st["frames_received"] > 20
    assert "more than \"chrys_max_picture 320x240\"" in nginx.error_log()
