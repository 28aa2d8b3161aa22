"""A chrys cluster on one machine, from examples/cluster/ as written (only
its addresses changed): a front and three nodes.  Cameras publish to the
front, which relays each to the node its name hashes to; pictures are
read through the front from that node.  A node killed with SIGKILL: its
cameras, dropped by the front, publish again and come back on the other
nodes, while the other cameras never stop."""

import os
import signal
import subprocess
import threading
import time
import urllib.parse

import pytest
import requests

from chrys import (RTMP_MODULE, SLOW, TOP, Nginx, Servers,
                   frame_meta, wait_for)

EXAMPLES = os.path.join(TOP, "examples", "cluster")
KEY = "change-me-publish-key"
TOKEN = "change-me-api-token"
CAMERAS = ["cam%02d" % i for i in range(12)]
LOOP_MS = 20000


class ClusterNginx(Nginx):
    """nginx running examples/cluster/ROLE.conf (front or node) on free
    ports under the test's prefix; a front is given its nodes."""

    def __init__(self, role, nodes=(), workers=2, **kw):
        self.role = role
        self.nodes = list(nodes)
        super().__init__(workers=workers, **kw)
        self.http.headers["Authorization"] = "Bearer " + TOKEN

    def write_conf(self, **changes):
        for k, v in changes.items():
            setattr(self, k, v)
        with open(os.path.join(EXAMPLES, self.role + ".conf")) as f:
            text = f.read()
        p = self.prefix
        replace = [
            ("load_module modules/ngx_rtmp_module.so;",
             "load_module %s;" % RTMP_MODULE),
            ("load_module modules/ngx_chrys_module.so;",
             "load_module %s;" % self.module),
            ("worker_processes auto;", "worker_processes %d;" % self.workers),
            ("error_log stderr notice;",
             "error_log %s/logs/error.log info;" % p),
            ("pid logs/nginx.pid;", "pid %s/logs/nginx.pid;" % p),
            ("listen 1935;", "listen 127.0.0.1:%d;" % self.rtmp_port),
            ("listen 8080;", "listen 127.0.0.1:%d;" % self.http_port),
            ("http {",
             "http {\n"
             "    client_body_temp_path %s/tmp/body;\n"
             "    proxy_temp_path %s/tmp/proxy;\n"
             "    fastcgi_temp_path %s/tmp/fastcgi;\n"
             "    uwsgi_temp_path %s/tmp/uwsgi;\n"
             "    scgi_temp_path %s/tmp/scgi;\n" % (p, p, p, p, p)),
        ]
        if self.role == "front":
            replace.append(("on_publish http://127.0.0.1:8080/",
                            "on_publish http://127.0.0.1:%d/"
                            % self.http_port))
            with open(os.path.join(p, "cluster-nodes.conf"), "w") as f:
                for n in self.nodes:
                    f.write("server 127.0.0.1:%d max_fails=1 "
                            "fail_timeout=10s;\n" % n.http_port)
        else:
            replace.append(('"127.0.0.1:1935"',
                            '"127.0.0.1:%d"' % self.rtmp_port))
        for old, new in replace:
            assert text.count(old) == 1, "%r in %s.conf" % (old, self.role)
            text = text.replace(old, new)
        with open(self.conf, "w") as f:
            f.write(text)

    def _answers(self):
        try:
            r = self.http.get("http://127.0.0.1:%d/chrys/streams"
                              % self.http_port, timeout=1)
            return r.status_code in (200, 404)
        except requests.RequestException:
            return False

    def kill(self):
        """SIGKILL to the master and its workers, as a machine dies."""
        pids = [self.master_pid()] + self.worker_pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not any(_alive(pid) for pid in pids),
                 what="nginx killed")

    def publishing(self):
        """The names of the streams this node receives now."""
        r = self.get("streams")
        assert r.status_code == 200, r.text
        return {s["name"] for s in r.json()["streams"] if s["publishing"]}


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Camera:
    """An ffmpeg publisher to the front that, like a camera, publishes
    again a second after its connection is lost."""

    def __init__(self, url, path):
        self.url, self.path = url, path
        self.proc = None
        self.starts = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            self.proc = subprocess.Popen(
                ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
                 "-re", "-stream_loop", "-1", "-i", self.path, "-c", "copy",
                 "-f", "flv", self.url],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.starts += 1
            self.proc.wait()
            time.sleep(1)

    def stop(self):
        self.stopping = True
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(timeout=5)
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def cluster(camera):
    """Three nodes and a front, twelve cameras publishing to the front."""
    servers = Servers(ClusterNginx)
    cams = []
    try:
        nodes = [servers(role="node") for _ in range(3)]
        front = servers(role="front", nodes=nodes)
        for name in CAMERAS:
            cams.append(Camera("%s?key=%s" % (front.rtmp(name), KEY),
                               camera.path))
        for name in CAMERAS:
            front.wait_frame(name, timeout=30 * SLOW)
        yield front, nodes, cams
    finally:
        for c in cams:
            c.stop()
        servers.finish()


def owners(nodes):
    """{camera: [the nodes that receive it]}."""
    found = {}
    for i, n in enumerate(nodes):
        for name in n.publishing():
            found.setdefault(name, []).append(i)
    return found


def metric_lines(front):
    """{sample: value} of the front's /chrys/metrics; fails unless each
    family is in one piece, its # HELP and # TYPE once (Prometheus)."""
    r = front.get("metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples, families, current = {}, [], None
    for line in r.text.splitlines():
        if line.startswith("# HELP "):
            current = line.split()[2]
            assert current not in families, "%s twice" % current
            families.append(current)
        elif line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            assert key.split("{")[0] == current, line
            samples[key] = value
    return samples


def assert_right_picture(front, camera, name):
    r = front.get("live/%s/latest.jpg" % name)
    assert r.status_code == 200, "%s: %d %s" % (name, r.status_code, r.text)
    pts = frame_meta(r)["pts"]
    assert camera.psnr(r.content, pts % LOOP_MS) >= 30
    return r


def test_each_camera_is_decoded_on_one_node_and_read_through_the_front(
        cluster, camera):
    front, nodes, _ = cluster

    found = owners(nodes)
    assert sorted(found) == CAMERAS
    assert all(len(on) == 1 for on in found.values()), found
    # the hash spreads them (12 names over 3 nodes)
    assert len({on[0] for on in found.values()}) >= 2, found

    for name in CAMERAS:
        assert_right_picture(front, camera, name)
        # and the front's answer is the owner's stream: its status too
        st = front.get("live/%s/status" % name).json()
        assert st["publishing"] is True and st["name"] == name

    # the front's one view: every camera once, with its node; every node up
    view = front.get("streams").json()
    addr = ["127.0.0.1:%d" % n.http_port for n in nodes]
    assert sorted(st["name"] for st in view["streams"]) == CAMERAS
    for st in view["streams"]:
        assert st["node"] == addr[found[st["name"]][0]], st
    assert view["nodes"] == [{"node": a, "up": True, "status": 200}
                             for a in addr]
    metrics = metric_lines(front)
    for name in CAMERAS:
        node = addr[found[name][0]]
        assert metrics['chrys_publishing{node="%s",app="live",name="%s"}'
                       % (node, name)] == "1"
    for a in addr:
        assert metrics['chrys_node_up{node="%s"}' % a] == "1"

    # the dashboard, from a node, through the front
    r = front.http.get("http://127.0.0.1:%d/chrys/" % front.http_port,
                       timeout=10)
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]

    # a long poll, MJPEG and the buffer stream through the front
    r = front.get("live/cam00/latest.jpg")
    seq = frame_meta(r)["seq"]
    r = front.get("live/cam00/latest.jpg?after=%d" % seq)
    assert r.status_code == 200 and frame_meta(r)["seq"] != seq
    with front.http.get(front.url("live/cam00/live.mjpg"), stream=True,
                        timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith(
            "multipart/x-mixed-replace")
        assert next(r.iter_content(4096))
    r = front.get("live/cam00/index.json")
    assert r.status_code == 200 and r.json()["frames"] > 0

    # without the token the front refuses, and so does a node
    assert requests.get(front.url("live/cam00/latest.jpg"),
                        timeout=5).status_code == 403
    assert requests.get(nodes[0].url("streams"), timeout=5).status_code == 403


def test_fronts_with_the_same_files_agree_on_every_owner(cluster, camera):
    """A second front, started later, asks each camera's pictures of the
    node the first front relayed it to, at once (its access log names the
    one node it asked)."""
    front, nodes, _ = cluster
    found = owners(nodes)
    servers = Servers(ClusterNginx)
    try:
        other = servers(role="front", nodes=nodes)
        for name in CAMERAS:
            assert_right_picture(other, camera, name)
        with open(os.path.join(other.prefix, "logs", "access.log")) as f:
            asked = {}
            for line in f:
                if "latest.jpg" in line:
                    name = line.split("/chrys/live/")[1].split("/")[0]
                    asked[name] = line.split()[-1]
        for name in CAMERAS:
            assert asked[name] == "127.0.0.1:%d" \
                % nodes[found[name][0]].http_port, (name, asked[name])
    finally:
        servers.finish()


def test_a_publisher_without_its_key_is_refused_at_the_front(cluster):
    front, nodes, _ = cluster
    r = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
         "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-t", "2",
         "-c:v", "libx264", "-f", "flv",
         front.rtmp("intruder") + "?key=wrong"],
        capture_output=True, timeout=30)
    assert r.returncode != 0
    assert "intruder" not in owners(nodes)


def test_names_past_ascii_hash_alike_on_both_routes(cluster, camera):
    """A name with letters past ASCII and "+" reaches the front's
    on_publish escaped by nginx-rtmp, and its pictures' path decoded by
    nginx: the front hashes both by the same key ($chrys_cluster_key), so
    each is read from the node it was relayed to."""
    front, nodes, _ = cluster
    names = ["c\u00e1mara+%d" % i for i in range(6)]
    cams = [Camera("%s?key=%s" % (front.rtmp(name), KEY), camera.path)
            for name in names]
    try:
        for name in names:
            front.wait_frame(urllib.parse.quote(name), timeout=30 * SLOW)
        log = os.path.join(front.prefix, "logs", "access.log")
        seen = os.path.getsize(log)
        found = owners(nodes)
        for name in names:
            assert len(found.get(name, [])) == 1, (name, found)
            assert_right_picture(front, camera, urllib.parse.quote(name))
            st = front.get("live/%s/status" % urllib.parse.quote(name))
            assert st.json()["name"] == name
        # spread over the nodes by the hash, not all on one by chance
        assert len({found[name][0] for name in names}) >= 2, found
        # asked of the owner at once (the front's access log names every
        # node it asked: a 404 of another first would be there too)
        with open(log, "rb") as f:
            f.seek(seen)
            lines = f.read().decode().splitlines()
        for i, name in enumerate(names):
            owner = "127.0.0.1:%d" % nodes[found[name][0]].http_port
            asked = [line.split(None, 9)[9] for line in lines
                     if "mara+%d/latest.jpg" % i in line]
            assert asked and all(a == owner for a in asked), \
                (name, owner, asked)
    finally:
        for c in cams:
            c.stop()


class Reader(threading.Thread):
    """Reads one camera through the front with long polls, picture after
    picture, and keeps every answer."""

    def __init__(self, front, name):
        super().__init__(daemon=True)
        self.front, self.name = front, name
        self.answers = []       # (monotonic time, status, seq)
        self.bodies = []        # a picture now and then: (pts, body)
        self.stopping = False
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer " + TOKEN

    def run(self):
        seq = 0
        while not self.stopping:
            try:
                r = self.session.get(
                    self.front.url("live/%s/latest.jpg?after=%d"
                                   % (self.name, seq)), timeout=10)
            except requests.RequestException as e:
                self.answers.append((time.monotonic(), repr(e), None))
                continue
            if r.status_code == 200:
                m = frame_meta(r)
                seq = m["seq"]
                if len(self.answers) % 15 == 0:
                    self.bodies.append((m["pts"], r.content))
                self.answers.append((time.monotonic(), 200, seq))
            else:
                self.answers.append((time.monotonic(), r.status_code, None))


def test_a_dead_nodes_cameras_come_back_on_the_others(cluster, camera):
    front, nodes, cams = cluster
    found = owners(nodes)
    counts = [sum(1 for on in found.values() if on[0] == i)
              for i in range(3)]
    victim = counts.index(max(counts))
    lost = sorted(n for n, on in found.items() if on[0] == victim)
    kept = sorted(n for n, on in found.items() if on[0] != victim)
    assert lost and kept

    readers = [Reader(front, name) for name in kept]
    for r in readers:
        r.start()
    time.sleep(2)

    killed = time.monotonic()
    nodes[victim].kill()

    # the front drops the cameras whose relay broke; they publish again
    # and are decoded on the other nodes, read through the front
    def back():
        for name in lost:
            r = front.get("live/%s/status" % name)
            if r.status_code != 200 or not r.json()["publishing"]:
                return False
        return True
    wait_for(back, timeout=30 * SLOW, interval=0.2,
             what="the dead node's cameras on the others")
    for name in lost:
        front.wait_frame(name, timeout=10 * SLOW)
    took = time.monotonic() - killed
    print("the dead node's %d cameras back through the front after %.1f s"
          % (len(lost), took))

    # the front's view says which node is down, and lists the cameras
    # where they are now
    addr = ["127.0.0.1:%d" % n.http_port for n in nodes]
    view = front.get("streams").json()
    assert [n["up"] for n in view["nodes"]] == [i != victim for i in range(3)]
    assert sorted(st["name"] for st in view["streams"]
                  if st["publishing"]) == CAMERAS
    assert metric_lines(front)['chrys_node_up{node="%s"}'
                               % addr[victim]] == "0"

    alive = [n for i, n in enumerate(nodes) if i != victim]
    found = owners(alive)
    assert sorted(found) == CAMERAS, found
    assert all(len(on) == 1 for on in found.values()), found
    for name in CAMERAS:
        assert_right_picture(front, camera, name)
    for name in lost:
        assert cams[CAMERAS.index(name)].starts >= 2
    for name in kept:
        assert cams[CAMERAS.index(name)].starts == 1, \
            "%s was dropped though its node lives" % name

    # the node comes back: nothing breaks, the cameras publish where they
    # are until their next reconnect, and are still read through the front
    nodes[victim].start()
    time.sleep(3)
    for name in CAMERAS:
        assert_right_picture(front, camera, name)
    time.sleep(12 * SLOW)      # past the front's fail_timeout
    for name in CAMERAS:
        assert_right_picture(front, camera, name)
    view = front.get("streams").json()
    assert all(n["up"] for n in view["nodes"]), view["nodes"]

    # a camera of that node publishes again: it goes back to its own node
    name = lost[0]
    cams[CAMERAS.index(name)].proc.kill()
    wait_for(lambda: name in nodes[victim].publishing(), timeout=20 * SLOW,
             interval=0.2, what="%s back on its own node" % name)
    assert all(name not in n.publishing() for n in alive)
    front.wait_frame(name, timeout=10 * SLOW)
    assert_right_picture(front, camera, name)

    for r in readers:
        r.stopping = True
    for r in readers:
        r.join(timeout=15)

    # the other cameras never missed a picture
    for r in readers:
        bad = [a for a in r.answers if a[1] != 200]
        assert not bad, "%s: %s" % (r.name, bad[:5])
        times = [a[0] for a in r.answers]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert len(times) > 30 * 10, "%s: %d pictures" % (r.name, len(times))
        assert max(gaps) < 1.0 * SLOW, "%s: no picture for %.2f s" \
            % (r.name, max(gaps))
        seqs = [a[2] for a in r.answers]
        assert seqs == sorted(seqs), r.name
        for pts, body in r.bodies:
            assert camera.psnr(body, pts % LOOP_MS) >= 30
