"""Cameras and programs across the internet, with nginx.conf.example as
written: RTMPS in (nginx's stream module ends TLS and passes the bytes on
to nginx-rtmp on loopback, with the client's address in a PROXY protocol
header), HTTPS out (HTTP/2, verified against the CA that
scripts/tls-cert.sh makes), a publish key per camera from a file of
"NAME KEY;" lines, and links that expire for one camera
(scripts/share-link.sh, nginx's secure_link).
"""

import asyncio
import os
import re
import ssl
import subprocess
import time

import pytest
import requests

import rtmp
from chrys import SLOW, TOP, frame_meta, psnr, wait_for
from python_client import client
from test_security import (KEY, SHARE_SECRET, TLS, TOKEN, assert_forbidden,
                           make_tls)

CA = os.path.join(TLS, "ca.crt")
SHARE_LINK = os.path.join(TOP, "scripts", "share-link.sh")

# two cameras with keys of their own; any other camera has the default key
KEY1 = "9f86d081884c7d659a2feaa0c55ad015"
KEY2 = "60303ae22b998861bce3b28f33eec1be"
KEYS = "cam1  %s;\ncam2  %s;\n" % (KEY1, KEY2)


@pytest.fixture(scope="module", autouse=True)
def tls():
    make_tls()


def rtmps(nginx, name):
    return "rtmps://127.0.0.1:%d/live/%s" % (nginx.rtmps_port, name)


def https(nginx, path):
    return "https://127.0.0.1:%d/chrys/%s" % (nginx.https_port, path)


def bearer(token=TOKEN):
    return {"Authorization": "Bearer " + token}


def wait_picture(nginx, name):
    def ready():
        r = requests.get(https(nginx, "live/%s/latest.jpg" % name),
                         headers=bearer(), verify=CA, timeout=5)
        return r if r.status_code == 200 else None
    return wait_for(ready, timeout=30 * SLOW, interval=0.1,
                    what="a picture of live/%s" % name)


def assert_pictures_right(nginx, name, camera):
    wait_picture(nginx, name)
    for _ in range(3):
        r = requests.get(https(nginx, "live/%s/latest.jpg" % name),
                         headers=bearer(), verify=CA, timeout=5)
        assert r.status_code == 200
        assert camera.psnr(r.content, frame_meta(r)["pts"]) >= 30


def publishes(nginx, name):
    """How many publishers the stream has had (0: not in the zone)."""
    r = nginx.api("live/%s/status" % name)
    return r.json()["publishes"] if r.status_code == 200 else 0


def assert_refused(nginx, publisher, name, before=0):
    """The publisher was sent away, and the stream had no new publisher
    (it had "before" of them)."""
    try:
        code = publisher.proc.wait(timeout=30 * SLOW)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s is still publishing" % name)
    assert code != 0, name
    assert publishes(nginx, name) == before, name


@pytest.fixture
def example(make_example):
    return make_example(keys=KEYS)


# ---------------------------------------------------------------- RTMPS

def test_rtmps_with_the_cameras_key_gives_its_pictures(example, publish,
                                                       camera):
    publish(rtmps(example, "cam1?key=" + KEY1), camera.path)
    assert_pictures_right(example, "cam1", camera)
    # a camera not in the file: the default key, as a simple start
    publish(rtmps(example, "other?key=" + KEY), camera.path)
    assert_pictures_right(example, "other", camera)
    assert sorted(example.stream_names()) == ["cam1", "other"]


@pytest.mark.parametrize("name, query", [
    ("cam1", "?key=wrong"),
    ("cam1", ""),
    ("cam1", "?key=" + KEY1.upper()),
    ("cam1", "?key=" + KEY2),               # another camera's key
    ("cam1", "?key=" + KEY),                # the default is not cam1's key
    ("cam1", "?name=cam2&key=" + KEY2),     # nginx-rtmp's name comes first
    ("cam3", "?key=" + KEY1),               # a key is one camera's only
])
def test_rtmps_refuses_a_key_not_the_cameras(example, publish, camera,
                                             name, query):
    p = publish(rtmps(example, name + query), camera.path)
    assert_refused(example, p, name)
    assert "chrys: decoding" not in example.error_log()


def test_a_camera_is_rekeyed_and_revoked_with_a_reload(example, publish,
                                                       camera):
    cam1 = publish(rtmps(example, "cam1?key=" + KEY1), camera.path,
                   loop=True)
    wait_picture(example, "cam1")

    # cam2 gets a new key, cam3 comes: one edit, one reload
    new2 = "1b4f0e9851971998e732078544c96b36"
    example.write_keys("cam1  %s;\ncam2  %s;\ncam3  %s;\n"
                       % (KEY1, new2, KEY2))
    example.reload()
    assert_refused(example, publish(rtmps(example, "cam2?key=" + KEY2),
                                    camera.path), "cam2")
    publish(rtmps(example, "cam2?key=" + new2), camera.path)
    cam3 = publish(rtmps(example, "cam3?key=" + KEY2), camera.path)
    wait_picture(example, "cam2")
    wait_picture(example, "cam3")
    cam3.stop()

    # cam3 revoked: its line gone, and the default key off
    example.changes.append(('default  "%s";' % KEY, 'default  "";'))
    example.write_keys("cam1  %s;\ncam2  %s;\n" % (KEY1, new2))
    example.write_conf()
    example.reload()
    for key in (KEY2, "", KEY):
        assert_refused(example, publish(rtmps(example, "cam3?key=" + key),
                                        camera.path), "cam3", before=1)
    # the camera publishing all along was not disturbed
    assert cam1.running()
    assert_pictures_right(example, "cam1", camera)


def test_plain_rtmp_to_the_tls_port_fails(example, publish, camera):
    url = "rtmp://127.0.0.1:%d/live/cam1?key=%s" % (example.rtmps_port,
                                                    KEY1)
    assert_refused(example, publish(url, camera.path), "cam1")


def test_rtmps_carries_the_publishers_own_address(make_example, camera):
    """nginx-rtmp sees the publisher's address through the PROXY protocol
    header, not the TLS listener's 127.0.0.1: "allow publish" works on
    it (here: 127.0.0.2 only)."""
    example = make_example(keys=KEYS, changes=[(
        "allow play 127.0.0.1;",
        "allow publish 127.0.0.2;\n            deny publish all;\n"
        "            allow play 127.0.0.1;")])
    context = ssl.create_default_context(cafile=CA)
    tags = rtmp.video_tags(camera.path)[:60]
    url = "rtmps://127.0.0.1:%d/live" % example.rtmps_port

    def publish_from(addr):
        return asyncio.run(asyncio.wait_for(
            rtmp.publish(url, "cam1?key=" + KEY1, tags, ssl=context,
                         local_addr=(addr, 0)), 30 * SLOW))

    assert publish_from("127.0.0.2") == 60
    with pytest.raises((RuntimeError, OSError,
                        asyncio.IncompleteReadError)):
        publish_from("127.0.0.1")
    assert "access forbidden by rule" in example.error_log()


# ---------------------------------------------------------------- HTTPS

def test_the_api_over_https_is_verified_against_the_ca(example, publish,
                                                       camera):
    publish(rtmps(example, "cam1?key=" + KEY1), camera.path)
    wait_picture(example, "cam1")

    # with the token in a header, and in the URL
    r = requests.get(https(example, "live/cam1/latest.jpg"),
                     headers=bearer(), verify=CA, timeout=5)
    assert r.status_code == 200
    assert camera.psnr(r.content, frame_meta(r)["pts"]) >= 30
    r = requests.get(https(example, "live/cam1/latest.jpg?token=" + TOKEN),
                     verify=CA, timeout=5)
    assert r.status_code == 200
    assert camera.psnr(r.content, frame_meta(r)["pts"]) >= 30
    for wrong in ("wrong", KEY1, SHARE_SECRET):
        assert_forbidden(requests.get(https(example, "streams"), verify=CA,
                                      headers=bearer(wrong), timeout=5))

    # a client that trusts only the system's CAs refuses the certificate
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(https(example, "streams"), headers=bearer(),
                     timeout=5)

    # HTTP/2, the long poll and MJPEG included, curl checking the CA
    out = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", CA, "-o", "/dev/null",
         "-H", "Authorization: Bearer " + TOKEN,
         "-w", "%{http_version} %{http_code} %{content_type}\n",
         https(example, "live/cam1/latest.jpg?after=0"),
         "--next", "--http2", "--cacert", CA, "-o", "/dev/null",
         "-H", "Authorization: Bearer " + TOKEN, "--max-time", "2",
         "-w", "%{http_version} %{http_code} %{content_type}\n",
         https(example, "live/cam1/live.mjpg?fps=5")],
        capture_output=True, text=True, timeout=30).stdout.splitlines()
    assert out[0] == "2 200 image/jpeg", out
    assert out[1].startswith("2 200 multipart/x-mixed-replace"), out


def test_the_python_client_verifies_the_ca(example, publish, camera):
    publish(rtmps(example, "cam1?key=" + KEY1), camera.path)
    wait_picture(example, "cam1")
    s = client.connect(https(example, ""), token=TOKEN, ca=CA).stream(
        "live/cam1")
    frame = s.latest()
    assert psnr(frame.image[:, :, ::-1], camera.frame(frame.pts)) >= 26
    # without the CA file: the system's CAs, which do not know it
    with pytest.raises(client.Error, match="TLS"):
        client.connect(https(example, ""), token=TOKEN).stream(
            "live/cam1").latest()


def test_the_dashboard_cookie_is_secure_over_https(example):
    r = requests.get(https(example, "?token=" + TOKEN), verify=CA,
                     timeout=5)
    assert r.status_code == 200
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("chrys_token=%s;" % TOKEN)
    assert cookie.endswith("; Secure")
    # plain HTTP (a browser would drop a Secure cookie from it)
    r = requests.get(example.url("?token=" + TOKEN), timeout=5)
    assert "Secure" not in r.headers["Set-Cookie"]


# ---------------------------------------------------------------- links

def share_link(nginx, stream, seconds):
    out = subprocess.run(
        [SHARE_LINK, stream, str(seconds)], capture_output=True, text=True,
        check=True, timeout=30,
        env=dict(os.environ, CHRYS_CONF=nginx.conf,
                 CHRYS_URL="https://127.0.0.1:%d" % nginx.https_port))
    page, jpg, mjpg = out.stdout.split()
    assert jpg == page + "latest.jpg" and mjpg == page + "live.mjpg"
    return page


def test_a_share_link_opens_its_camera_until_it_expires(example, publish,
                                                        camera):
    cam1 = publish(rtmps(example, "cam1?key=" + KEY1), camera.path)
    publish(rtmps(example, "cam2?key=" + KEY2), camera.path)
    wait_picture(example, "cam1")
    wait_picture(example, "cam2")

    seconds = int(8 * SLOW)
    link = share_link(example, "live/cam1", seconds)
    given = time.time()

    # a page for a browser: the camera's live picture, and nothing else
    r = requests.get(link, verify=CA, timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html"
    assert '<img src="live.mjpg?fps=10"' in r.text
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]

    # its camera's pictures, with their parameters, no token needed
    r = requests.get(link + "latest.jpg", verify=CA, timeout=5)
    assert r.status_code == 200, r.text
    assert camera.psnr(r.content, frame_meta(r)["pts"]) >= 30
    r = requests.get(link + "latest.jpg?width=320", verify=CA, timeout=5)
    assert r.status_code == 200
    mjpeg = requests.get(link + "live.mjpg?fps=5", verify=CA, stream=True,
                         timeout=5)
    assert mjpeg.status_code == 200
    assert mjpeg.headers["Content-Type"].startswith(
        "multipart/x-mixed-replace")

    # nothing else: another camera, another endpoint, the API itself
    base = link.rstrip("/").rsplit("/", 2)[0] + "/"
    for url in [base + "live/cam2/latest.jpg", base + "live/cam2/live.mjpg",
                base + "live/cam1/status", base + "live/cam1/frame.jpg",
                base + "live/cam1/images", base + "live/cam1/clip.mp4",
                base + "live/cam1/latest.raw", base + "live/cam2/",
                base + "streams", base + "metrics",
                base + "live/cam1/../cam2/latest.jpg",
                base + "live/cam1/latest.jpg/x",
                link.replace("/live/cam1/", "/other/cam1/") + "latest.jpg"]:
        r = requests.get(url, verify=CA, timeout=5)
        assert r.status_code in (403, 404), (url, r.status_code)
        assert "X-Chrys-Seq" not in r.headers
    for path in ("streams", "live/cam1/latest.jpg", "live/cam2/latest.jpg"):
        assert_forbidden(requests.get(https(example, path), verify=CA,
                                      timeout=5))
    # the internal location behind the links is not reachable itself
    r = requests.get("https://127.0.0.1:%d/chrys-share/live/cam1/latest.jpg"
                     % example.https_port, verify=CA, timeout=5)
    assert r.status_code == 404

    # a later expiry, or a signature changed, is no link of this server
    expires = int(re.search(r"/share/(\d+)/", link).group(1))
    r = requests.get(link.replace("/%d/" % expires, "/%d/" % (expires + 1))
                     + "latest.jpg", verify=CA, timeout=5)
    assert r.status_code == 403
    sig = link.split("/")[-4]
    r = requests.get(link.replace(sig, sig[::-1]) + "latest.jpg",
                     verify=CA, timeout=5)
    assert r.status_code == 403

    # until it expires: then 410, for a picture as for a live stream (the
    # camera gone by then, so that no new picture wakes the MJPEG reader)
    cam1.stop()
    time.sleep(max(0, given + seconds + 1.5 - time.time()))
    for what in ("latest.jpg", "live.mjpg"):
        r = requests.get(link + what, verify=CA, timeout=5)
        assert r.status_code == 410, r.text
        assert r.json() == {"error": "this link has expired"}
    assert requests.get(link, verify=CA, timeout=5).status_code == 410
    # and the live stream opened before ends (chrys_mjpeg_until)
    body = mjpeg.raw.read()
    assert body.count(b"Content-Type: image/jpeg") >= 1
    assert body.endswith(b"--chrysframe--\r\n")
    mjpeg.close()


def test_no_log_holds_a_key_a_token_or_a_link(make_example, publish, camera):
    example = make_example(keys=KEYS, log_level="notice")
    publish(rtmps(example, "cam1?key=" + KEY1), camera.path)
    wait_picture(example, "cam1")
    link = share_link(example, "live/cam1", 60)
    sig = link.split("/")[-4]

    requests.get(https(example, "live/cam1/latest.jpg?token=" + TOKEN),
                 verify=CA, timeout=5)
    requests.get(https(example, "streams"), headers=bearer(), verify=CA,
                 timeout=5)
    requests.get(https(example, "?token=" + TOKEN), verify=CA, timeout=5)
    for what in ("latest.jpg", "live/cam1/status", "nothing"):
        requests.get(link + what, verify=CA, timeout=5)
    requests.get(link.replace("cam1", "cam2") + "latest.jpg", verify=CA,
                 timeout=5)
    refused = publish(rtmps(example, "cam2?key=" + KEY1), camera.path)
    refused.proc.wait(timeout=30 * SLOW)
    wrong = publish("rtmp://127.0.0.1:%d/live/cam1?key=%s"
                    % (example.rtmp_port, KEY2[::-1]), camera.path)
    wrong.proc.wait(timeout=30 * SLOW)
    time.sleep(1)
    example.stop()

    logs = os.path.join(example.prefix, "logs")
    names = sorted(os.listdir(logs))
    assert "access.log" in names and "rtmp-access.log" in names, names
    for name in names:
        with open(os.path.join(logs, name), "rb") as f:
            text = f.read()
        for secret in (KEY, KEY1, KEY2, KEY2[::-1], TOKEN, SHARE_SECRET,
                       sig):
            assert secret.encode() not in text, (name, secret)
    with open(os.path.join(logs, "access.log")) as f:
        lines = f.read()
    assert "/share/" in lines and "/chrys-share/live/cam1/latest.jpg" in lines
