import hashlib
import os
import re
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import chrys  # noqa: E402
from chrys import (MODULE, SANITIZER_REPORT, Nginx, Publisher, Servers,  # noqa: E402
                   Source)

NGINX_LOG_LINE = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[")


@pytest.fixture(scope="session", autouse=True)
def built_module():
    assert os.path.exists(MODULE), "run make first: %s is missing" % MODULE


@pytest.fixture(autouse=True)
def sanitizer_reports(request):
    """Under make test-asan (CHRYS_SANITIZER_LOGS): gives the test its own
    directory for the sanitizers' logs of its nginx processes, and fails
    the test when one holds a report.  Autouse, so set up before and torn
    down after make_nginx, whose teardown stops nginx and waits for the
    master, which exits after its workers: every report, the leak checks
    of exiting processes included, is written by then.
    """
    if not chrys.SANITIZER_LOGS:
        yield
        return

    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
    if len(name) > 120:
        # a long parameter: cut, and told apart by a digest of the whole
        name = name[:100] + "_" + hashlib.sha1(name.encode()).hexdigest()[:12]
    logs = os.path.join(os.path.abspath(chrys.SANITIZER_LOGS), name)
    shutil.rmtree(logs, ignore_errors=True)
    os.makedirs(logs)
    # nginx's workers run as nobody when the tests run as root
    os.chmod(logs, 0o777)
    chrys.sanitizer_logs = logs

    yield

    chrys.sanitizer_logs = None
    reports = []
    for f in sorted(os.listdir(logs)):
        with open(os.path.join(logs, f), errors="replace") as fh:
            text = fh.read()
        m = SANITIZER_REPORT.search(text)
        if m:
            # from the line of the first report on, without the lines of
            # nginx's own if this is its error log, 300 lines at most
            start = text.rfind("\n", 0, m.start()) + 1
            lines = [l for l in text[start:].splitlines()
                     if not NGINX_LOG_LINE.match(l)][:300]
            reports.append("==== %s/%s\n%s" % (logs, f, "\n".join(lines)))
    if reports:
        text = "\n".join(reports)
        # shown even when another teardown (a crash that make_nginx saw)
        # fails first, which pytest would show alone
        request.node.add_report_section("teardown", "sanitizer reports",
                                        text)
        raise AssertionError("sanitizer reports:\n" + text)


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
    servers = Servers(Nginx)
    yield servers
    servers.finish()


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


@pytest.fixture
def make_example():
    """nginx.conf.example as written (t/test_security.py's ExampleNginx):
    starts such servers; checks at teardown that no worker crashed."""
    from test_security import ExampleNginx
    servers = Servers(ExampleNginx)
    yield servers
    servers.finish()
