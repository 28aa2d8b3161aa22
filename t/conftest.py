import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from chrys import MODULE, Nginx, Publisher, Source  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def built_module():
    assert os.path.exists(MODULE), "run make first: %s is missing" % MODULE


@pytest.fixture(scope="session")
def source():
    """640x360, 30 fps, 20 s, GOP 30, B-frames: the default test stream."""
    return Source("testsrc2-640x360-30")


@pytest.fixture(scope="session")
def camera():
    """Like an IP camera: no B-frames, so no reordering delay."""
    return Source("testsrc2-640x360-30-nob", extra=["-bf", "0"])


@pytest.fixture
def make_nginx():
    """Starts nginx servers; checks at teardown that no worker crashed."""
    servers = []

    def make(**kw):
        n = Nginx(**kw)
        servers.append(n)
        return n.start()

    yield make

    crashes = []
    for n in servers:
        crashes += n.crashes()
        n.cleanup()
    assert not crashes, "nginx logged crashes:\n" + "\n".join(crashes)


@pytest.fixture
def nginx(make_nginx):
    return make_nginx()


@pytest.fixture
def publish():
    """Starts ffmpeg publishers; stops them at teardown."""
    procs = []

    def start(url, *args, **kw):
        p = Publisher(url, *args, **kw)
        procs.append(p)
        return p

    yield start

    for p in procs:
        p.kill()
