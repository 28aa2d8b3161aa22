"""The chrys client: a relay (connect), its streams, their frames, events
and clips.

One requests.Session per Relay keeps its connections alive; the Streams of
a Relay share it.  A Relay is meant for one thread: give each thread its
own (connect() is cheap).
"""

import collections
import datetime
import ipaddress
import json
import re
import time
import urllib.parse

import requests

from . import errors
from .errors import Error, NotFound, Timeout, Unreachable
from .frame import Frame

__all__ = ["connect", "stream", "Relay", "Stream", "Event"]

# the longest a long poll waits on the server (its limit is 60 s): short
# enough that a dead connection is noticed, long enough to cost nothing
POLL_MS = 10000
# seconds to open a connection
CONNECT_TIMEOUT = 5.0
# waits between tries while the publisher is away or the server
# unreachable: doubling from the first to the last
BACKOFF = (0.1, 2.0)
# images a request of between() asks for at most (the server's limit is
# 3000 a request, more are asked for in further requests)
PAGE = 1000

# latest()'s default timeout: the stream's own wait
WAIT = object()

UTC = datetime.timezone.utc
_DURATION = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*"
                       r"(ms|s|m|min|h)?\s*$")
_SCALE = {"ms": 1, None: 1000, "s": 1000, "m": 60000, "min": 60000,
          "h": 3600000}


def connect(url, token=None, ca=None, timeout=30.0):
    """A Relay: the chrys API at url (e.g. "https://relay:8443/chrys/").

    token: the API token, sent as "Authorization: Bearer TOKEN" (never in
    the URL, so it stays out of logs).  ca: a CA file (PEM) to verify the
    server's TLS certificate with; by default the system's CAs.  TLS is
    always verified.  timeout: seconds a call waits for an answer (long
    polls add their own wait to it).
    """
    return Relay(url, token=token, ca=ca, timeout=timeout)


def stream(url, token=None, ca=None, timeout=30.0, **kw):
    """A Stream from its own URL, "https://relay:8443/chrys/live/cam": the
    API is the URL less its last two segments (application and name).
    Other keywords go to Relay.stream (format, quality, wait)."""
    parts = urllib.parse.urlsplit(url)
    segs = parts.path.rstrip("/").split("/")
    if len(segs) < 3 or not segs[-1] or not segs[-2]:
        raise ValueError("%s: not a stream URL (.../APP/NAME)" % url)
    base = urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, "/".join(segs[:-2]) + "/", "", ""))
    relay = Relay(base, token=token, ca=ca, timeout=timeout)
    return relay.stream(urllib.parse.unquote(segs[-2]) + "/"
                        + urllib.parse.unquote(segs[-1]), **kw)


# ---------------------------------------------------------------- times

def duration_ms(value):
    """Milliseconds of a duration: "200ms", "5s", "1.5s", "2m", "1h", a
    number of seconds, or a datetime.timedelta."""
    if isinstance(value, datetime.timedelta):
        return int(round(value.total_seconds() * 1000))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(round(value * 1000))
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return int(round(float(m.group(1)) * _SCALE[m.group(2)]))
    raise ValueError("not a duration: %r (say \"500ms\", \"5s\", \"2m\" "
                     "or a number of seconds)" % (value,))


def time_param(value):
    """The API's time parameter for a point in time, or None for "now"
    where the API's default is now.

    A datetime (naive ones are local time, as datetime.timestamp() takes
    them), a number of Unix seconds (time.time()), a negative number,
    string or timedelta for "that long ago" ("-3s", "-500ms",
    timedelta(seconds=-3)), or "now".  The API takes Unix ms, or negative
    ms relative to the server's clock: relative times are sent as such, so
    a client with a wrong clock still gets "3 s ago" right.
    """
    if value is None or (isinstance(value, str)
                         and value.strip().lower() == "now"):
        return None
    if isinstance(value, datetime.datetime):
        return int(round(value.timestamp() * 1000))
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and value >= 0:
        return int(round(value * 1000))
    ms = duration_ms(value)
    if ms >= 0:
        raise ValueError("%r: a relative time is in the past, \"-3s\"" %
                         (value,))
    # -0 would be Unix time 0: the last ms is as near to now as it gets
    return min(ms, -1)


def _now_param(value):
    """time_param, where "now" must be sent (frame.jpg needs a time)."""
    t = time_param(value)
    return -1 if t is None else t


def _is_loopback(host):
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _quote(name):
    return urllib.parse.quote(name, safe="")


# ---------------------------------------------------------------- relay

class Relay:
    """The chrys API of one nginx: its streams, over one kept-alive
    session.  Made by connect()."""

    def __init__(self, url, token=None, ca=None, timeout=30.0,
                 session=None):
        if not url.endswith("/"):
            url += "/"
        self.url = url
        self.timeout = timeout
        self.session = session or requests.Session()
        # given with each request: requests lets REQUESTS_CA_BUNDLE and
        # CURL_CA_BUNDLE override a session's own verify
        self.verify = ca if ca else True
        self.session.headers["User-Agent"] = "chrys-python"
        if token:
            self.session.headers["Authorization"] = "Bearer " + token
        self.loopback = _is_loopback(urllib.parse.urlsplit(url).hostname)

    def __repr__(self):
        return "<chrys.Relay %s>" % self.url

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Closes the kept-alive connections."""
        self.session.close()

    def stream(self, path, format="auto", quality=None, wait=10.0):
        """The Stream "app/name" (e.g. "live/cam").

        format: how latest() and frames() fetch pictures: "raw" (exact
        BGR pixels, latest.raw: no JPEG encode or decode, but 2.7 MB a
        720p picture), "jpeg" (latest.jpg, about 60 KB, decoded here with
        OpenCV or PIL, a few ms) or "auto": raw when the relay is this
        host (loopback: bytes cost nothing, decoding does), JPEG over a
        network (a gigabit link takes 22 ms for a raw 720p picture, a
        JPEG decode about 5).  quality: JPEG quality 1..100 (the server's
        default otherwise).  wait: seconds latest() waits for a picture
        while the publisher is not there (503) or the server cannot be
        reached, before chrys.Timeout.
        """
        app, _, name = path.strip("/").partition("/")
        if not app or not name or "/" in name:
            raise ValueError("%r: a stream is \"app/name\"" % path)
        return Stream(self, app, name, format=format, quality=quality,
                      wait=wait)

    def streams(self):
        """Every stream the relay knows: a list of status dicts (see
        Stream.status)."""
        return self.get_json("streams")["streams"]

    # -- plumbing shared with Stream and Event

    def request(self, method, path, params=None, timeout=None, ok=(200,),
                **kw):
        """One request; an HTTP status outside ok raises the chrys.Error
        for it, a connection failure chrys.Unreachable."""
        url = self.url + path
        try:
            r = self.session.request(
                method, url, params=params, verify=self.verify,
                timeout=(CONNECT_TIMEOUT, timeout or self.timeout), **kw)
        except requests.exceptions.SSLError as e:
            # not worth retrying: the certificate will not change
            raise Error("%s: TLS: %s" % (url, e), url=url) from e
        except requests.exceptions.Timeout as e:
            raise Timeout("%s: no answer: %s" % (url, e), url=url) from e
        except requests.exceptions.RequestException as e:
            raise Unreachable("%s: %s" % (url, e), url=url) from e
        if r.status_code not in ok:
            try:
                raise errors.from_response(r, url)
            finally:
                r.close()
        return r

    def get_json(self, path, params=None):
        return self.request("GET", path, params=params).json()


# ---------------------------------------------------------------- stream

class Stream:
    """One stream of a relay: its newest picture, a loop over new
    pictures, its past (the buffer), events and clips.  Made by
    Relay.stream() or chrys.stream()."""

    def __init__(self, relay, app, name, format="auto", quality=None,
                 wait=10.0):
        if format not in ("auto", "raw", "jpeg"):
            raise ValueError("format is \"auto\", \"raw\" or \"jpeg\"")
        self.relay = relay
        self.app, self.name = app, name
        self.path = "%s/%s/" % (_quote(app), _quote(name))
        self.format = format
        self.quality = quality
        self.wait = wait

    def __repr__(self):
        return "<chrys.Stream %s%s/%s>" % (self.relay.url, self.app,
                                          self.name)

    @property
    def url(self):
        return self.relay.url + self.path

    def _format(self, format):
        format = format or self.format
        if format == "auto":
            return "raw" if self.relay.loopback else "jpeg"
        if format not in ("raw", "jpeg"):
            raise ValueError("format is \"auto\", \"raw\" or \"jpeg\"")
        return format

    def _picture_params(self, format, width, height, fit, quality):
        params = {}
        if format == "raw":
            params["format"] = "bgr24"
        else:
            quality = quality or self.quality
            if quality:
                params["quality"] = int(quality)
        if width:
            params["width"] = int(width)
        if height:
            params["height"] = int(height)
        if fit:
            params["fit"] = fit
        return params

    # -- the newest picture

    def latest(self, after=None, timeout=WAIT, format=None, width=None,
               height=None, fit=None, quality=None):
        """The newest picture, as a Frame.

        after: a Frame (or its seq): wait for a picture other than that
        one (a long poll), as frames() does.  timeout: seconds to wait
        for a picture, through a publisher that is not there yet or gone
        (503, retried with backoff), long polls that end without one
        (204) and a server that cannot be reached; default the stream's
        wait (10 s); None waits forever.  Then chrys.Timeout.

        format: "raw", "jpeg" or "auto" (see Relay.stream).  width,
        height, fit: scale on the server ("contain" or "fill"); quality:
        JPEG quality.
        """
        if timeout is WAIT:
            timeout = self.wait
        return self._next(after, timeout, format, width, height, fit,
                          quality)

    def _next(self, after, timeout, format, width, height, fit, quality,
              known=False):
        """The next picture (see latest).  known: the stream was seen
        before, so "stream not found" means the relay restarted and the
        publisher is not back yet: waited for like a 503."""
        format = self._format(format)
        path = self.path + ("latest.raw" if format == "raw"
                            else "latest.jpg")
        params = self._picture_params(format, width, height, fit, quality)
        if isinstance(after, Frame):
            after = after.seq
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = BACKOFF[0]
        last_error = None

        while True:
            poll = POLL_MS
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    # the relay unreachable to the end, or else no picture
                    cls = Unreachable if isinstance(last_error,
                                                    Unreachable) \
                        else Timeout
                    raise cls("%s: no new picture within %.1f s%s"
                              % (self.url, timeout,
                                 " (%s)" % last_error
                                 if last_error else ""),
                              url=self.url + path) from None
                poll = max(1, min(poll, int(left * 1000)))
            if after is not None:
                params["after"] = int(after)
                params["timeout"] = poll
            try:
                r = self.relay.request("GET", path, params=params,
                                       timeout=self.relay.timeout
                                       + poll / 1000.0,
                                       ok=(200, 204, 503))
            except Unreachable as e:
                last_error = e
                r = None
            except NotFound as e:
                if not known or e.body.get("error") != "stream not found":
                    raise
                last_error = e
                r = None
            if r is not None and r.status_code == 200:
                return Frame.from_response(r, format)
            if r is not None and r.status_code == 204:
                # a long poll ended without a new picture: ask again
                delay = BACKOFF[0]
                continue
            # 503 (no picture yet) or the server unreachable: back off
            wait = delay
            if r is not None:
                last_error = "503: the stream has no picture yet"
                try:
                    wait = max(wait, float(r.headers.get("Retry-After",
                                                         0)))
                except ValueError:
                    pass
                r.close()
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            time.sleep(wait)
            delay = min(delay * 2, BACKOFF[1])

    def frames(self, timeout=None, format=None, width=None, height=None,
               fit=None, quality=None):
        """Frames, each the newest picture when you ask for it: never a
        backlog, never the same picture twice.

        Each step asks for "the newest picture other than the last one
        you got" (a long poll): if one is there it comes at once,
        otherwise the request waits for the next.  However slow the work
        between two steps, the next frame is the newest, not the one
        after the last.  The publisher leaving and coming back is
        invisible (the loop waits, and seq goes on rising).

        timeout: seconds without a new picture before chrys.Timeout;
        None (the default) waits as long as it takes.  The other
        arguments as for latest().
        """
        last = None
        # the last pictures given, by seq and arrival: none is given
        # twice (a relay restarted numbers its frames from 1 again)
        seen = []
        given = collections.deque(maxlen=2)
        while True:
            frame = self._next(last, timeout, format, width, height, fit,
                               quality, known=last is not None)
            repeated = (frame.seq, frame.time_ms) in seen
            last = frame.seq
            if repeated:
                # "another picture than SEQ" is what the server promises;
                # this keeps the promise of never twice if it did not
                continue
            seen.append((frame.seq, frame.time_ms))
            del seen[:-64]
            # The frame before stays referenced until this one's pixels
            # are made: a new picture then reuses the memory of the one
            # before it.  Freed first, glibc can give it back to the
            # kernel, and a new picture's pages are faulted in again, 1300
            # faults for a 720p JPEG decode (about 25 ms a frame in a VM
            # where they are dear, bench.py part 6).
            given.append(frame)
            yield frame

    # -- the past

    def at(self, when, keyframe=False, width=None, height=None, fit=None,
           quality=None):
        """The picture shown at a time (the last that arrived at or
        before it), a Frame decoded from JPEG.  when: a datetime, Unix
        seconds, "-3s" (see time_param).  keyframe: the keyframe at or
        before it instead (cheaper: nothing to decode past it).
        chrys.Gone if it is no longer in the buffer, chrys.NotFound if it
        is in the future."""
        params = self._picture_params("jpeg", width, height, fit, quality)
        params["time"] = _now_param(when)
        if keyframe:
            params["keyframe"] = 1
        r = self.relay.request("GET", self.path + "frame.jpg",
                               params=params)
        return Frame.from_response(r, "jpeg")

    def frame(self, seq, keyframe=False, width=None, height=None, fit=None,
              quality=None):
        """Frame number seq from the buffer (the last at or before it)."""
        params = self._picture_params("jpeg", width, height, fit, quality)
        params["seq"] = int(seq)
        if keyframe:
            params["keyframe"] = 1
        r = self.relay.request("GET", self.path + "frame.jpg",
                               params=params)
        return Frame.from_response(r, "jpeg")

    def between(self, start=None, end=None, every=None, limit=None,
                width=None, height=None, fit=None, quality=None):
        """Frames of a time range, in display order, as an iterator.

        start, end: points in time (see time_param); by default the whole
        buffer, up to now.  every: at most one frame per that duration
        ("200ms", "1s"), the first of each; by default every frame.
        limit: at most that many frames.

        The frames come from the server's images series (JPEG), decoded
        when you read frame.image: the response is read part by part as
        you iterate, so memory stays at one picture whatever the range.
        Long ranges are asked for PAGE (1000) frames at a time.  Stop
        early and the rest is not fetched.  chrys.Gone if the range ended
        before the buffer starts.
        """
        params = self._picture_params("jpeg", width, height, fit, quality)
        return _series(self.relay, self.path + "images", params, start, end,
                       every, limit)

    def index(self, start=None, end=None):
        """What the buffer holds (index.json): start, end, duration,
        frames, fps, bytes, codec, and "index", every frame of the range
        with seq, pts, time (Unix ms), keyframe and size."""
        params = {}
        if time_param(start) is not None:
            params["from"] = time_param(start)
        if time_param(end) is not None:
            params["to"] = time_param(end)
        return self.relay.get_json(self.path + "index.json", params=params)

    def clip(self, out, start="-10s", end=None, audio=True):
        """Writes the range as an MP4 file (fragmented, not re-encoded,
        from the keyframe at or before start) to out, a path or a binary
        file object; returns the number of bytes written.  start: default
        10 s ago; end: default now; audio=False leaves the sound out."""
        params = {"from": _now_param(start)}
        if time_param(end) is not None:
            params["to"] = time_param(end)
        if not audio:
            params["audio"] = 0
        return _download(self.relay, self.path + "clip.mp4", params, out)

    # -- timed data

    def data(self, start=None, end=None, after=None):
        """The timed data of the range (data.json): a list of dicts with
        seq, time (Unix ms), pts (stream ms, None for posted data),
        source ("rtmp" or "http"), type and data, oldest first; after: only
        those after that seq."""
        return _data(self.relay, self.path + "data.json", start, end, after)

    def follow_data(self, start="now", after=None, timeout=None):
        """The stream's data messages as they come, each once, in order
        (a long poll of data.json?after=): from those that arrive after
        start ("now" by default; a time as for data(), None for all that
        the buffer keeps), or after seq "after".  timeout: seconds without
        a message before chrys.Timeout; None waits as long as it takes."""
        params = {}
        if after is None:
            after = 0
            if start is not None:
                params["from"] = _now_param(start)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            poll = POLL_MS
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout("%s: no data message within %.1f s"
                                  % (self.url, timeout),
                                  url=self.url + "data.json")
                poll = max(1, min(poll, int(left * 1000)))
            params.update(after=after, timeout=poll)
            page = self.relay.request(
                "GET", self.path + "data.json", params=params,
                timeout=self.relay.timeout + poll / 1000.0).json()
            # the cursor says where the next question starts: "from" was
            # for the first one only
            params.pop("from", None)
            after = page["last"]
            for d in page["data"]:
                if deadline is not None:
                    deadline = time.monotonic() + timeout
                yield d

    def post_data(self, value):
        """Adds a JSON value to the stream's timed data at "now"; returns
        its time (Unix ms)."""
        r = self.relay.request("POST", self.path + "data",
                               data=json.dumps(value),
                               headers={"Content-Type": "application/json"},
                               ok=(201,))
        return r.json()["time"]

    # -- state

    def status(self):
        """The stream's state (a dict): publishing, codec, width, height,
        fps, bitrate, frames_received, frames_decoded, last_seq,
        last_time, last_age, publishes, error..."""
        return self.relay.get_json(self.path + "status")

    # -- events

    def event(self, label=None, pre="5s", post="5s", meta=None):
        """Marks now as an event: the server keeps the frames from pre
        before now to post after it, however far the buffer moves on.
        Returns the Event (its frames and clip can be read once its post
        window is over: Event.frames and Event.clip wait for that)."""
        body = {"pre": duration_ms(pre), "post": duration_ms(post)}
        if label is not None:
            body["label"] = label
        if meta is not None:
            body["meta"] = meta
        r = self.relay.request("POST", self.path + "events",
                               data=json.dumps(body),
                               headers={"Content-Type": "application/json"},
                               ok=(200, 201))
        return Event(self, r.json())

    def events(self):
        """The stream's events, oldest first."""
        return [Event(self, e) for e in
                self.relay.get_json(self.path + "events")["events"]]

    def get_event(self, id):
        """Event number id."""
        return Event(self, self.relay.get_json(self.path
                                               + "events/%d" % int(id)))


# ---------------------------------------------------------------- events

class Event:
    """A moment of a stream whose frames chrys keeps: id, label, time,
    start and end of its window (datetimes, UTC), complete (the post
    window is over), truncated, frames, bytes, meta; info is the server's
    whole JSON."""

    def __init__(self, stream, info):
        self.stream = stream
        self._made = time.monotonic()
        self._set(info)

    def _set(self, info):
        self.info = info
        self.id = info["id"]
        self.label = info.get("label")
        self.meta = info.get("meta")
        self.time = _utc(info.get("time"))
        self.start = _utc(info.get("from"))
        self.end = _utc(info.get("to"))
        self.complete = bool(info.get("complete"))
        self.truncated = bool(info.get("truncated"))
        self.frame_count = info.get("frames")
        self.bytes = info.get("bytes")

    def __repr__(self):
        return "<chrys.Event %d %r %s%s>" % (
            self.id, self.label, self.time and self.time.isoformat(),
            "" if self.complete else " (recording)")

    @property
    def path(self):
        return self.stream.path + "events/%d" % self.id

    def refresh(self):
        """Reads the event again from the server; returns it."""
        self._set(self.stream.relay.get_json(self.path))
        return self

    def wait(self, timeout=None):
        """Waits until the post window is over (complete); returns the
        event.  timeout: seconds, default the window's length and 10 s
        more."""
        info = self.info
        left = max(0.0, (info.get("to", 0) - info.get("time", 0)) / 1000.0
                   - (time.monotonic() - self._made))
        if timeout is None:
            timeout = left + 10.0
        deadline = time.monotonic() + timeout
        while not self.complete:
            self.refresh()
            if self.complete:
                break
            now = time.monotonic()
            if now >= deadline:
                raise Timeout("%s: event %d still recording after %.1f s"
                              % (self.stream.url, self.id, timeout))
            # until the window should be over, then in small steps
            left = max(0.0, (info.get("to", 0) - info.get("time", 0))
                       / 1000.0 - (now - self._made))
            time.sleep(min(max(left, 0.1), deadline - now))
        return self

    def frames(self, every=None, limit=None, width=None, height=None,
               fit=None, quality=None, wait=True):
        """The event's frames (as Stream.between, over the event's
        window).  wait: first wait until the post window is over."""
        if wait:
            self.wait()
        params = self.stream._picture_params("jpeg", width, height, fit,
                                             quality)
        return _series(self.stream.relay, self.path + "/images", params,
                       None, None, every, limit)

    def clip(self, out, wait=True):
        """Writes the event's clip (MP4) to out, a path or a binary file
        object; returns the bytes written.  wait: first wait until the
        post window is over."""
        if wait:
            self.wait()
        return _download(self.stream.relay, self.path + "/clip.mp4", {},
                         out)

    def data(self):
        """The timed data of the event's window, as Stream.data."""
        return _data(self.stream.relay, self.path + "/data.json", None, None,
                     None)

    def delete(self):
        """Lets go of the event's frames on the server."""
        self.stream.relay.request("DELETE", self.path, ok=(200, 204))


def _data(relay, path, start, end, after):
    """Every page of a data.json range: an answer holds at most 64 KB.
    timeout=0: a page asked "after" answers at once, not when the next
    message comes."""
    params = {"timeout": 0}
    if time_param(start) is not None:
        params["from"] = time_param(start)
    if time_param(end) is not None:
        params["to"] = time_param(end)
    out = []
    while True:
        if after is not None:
            params["after"] = after
        page = relay.get_json(path, params=params)
        if not page["data"]:
            return out
        out += page["data"]
        after = page["last"]


def _utc(ms):
    if ms is None:
        return None
    return datetime.datetime.fromtimestamp(ms / 1000.0, UTC)


# ---------------------------------------------------------------- series

def _series(relay, path, params, start, end, every, limit):
    """Frames of an images endpoint, page after page, streamed."""
    params = dict(params)
    start = time_param(start)
    end_param = time_param(end)
    interval = duration_ms(every) if every is not None else 0
    if interval < 0:
        raise ValueError("every must be positive")
    if interval:
        params["interval"] = interval
    left = None if limit is None else int(limit)
    first = True
    skip = set()

    while left is None or left > 0:
        page = PAGE if left is None else min(PAGE, left)
        params["limit"] = page
        if start is not None:
            params["from"] = start
        if end_param is not None:
            params["to"] = end_param
        asked = time.time()
        r = relay.request("GET", path, params=params, stream=True)
        with r:
            count = int(r.headers.get("X-Chrys-Images", 0))
            last_time = None
            got, new = set(), 0
            for frame in _parts(r):
                if first:
                    end_param = _fixed_end(end_param, frame, asked)
                    first = False
                got.add(frame.seq)
                if last_time is None or frame.time_ms > last_time:
                    last_time = frame.time_ms
                if frame.seq in skip:
                    continue
                new += 1
                if left is not None:
                    left -= 1
                yield frame
        if count < page or last_time is None or new == 0:
            return
        # the next page: from the last frame's time on (with an interval,
        # the next interval after it, as the server counts them); frames
        # of this page at that same time are not given twice
        start = last_time + interval
        skip = got


def _fixed_end(end, frame, asked):
    """The end of a range as Unix ms, for the pages after the first: a
    relative end ("-2s", or none: now) means the server's clock when the
    first page was asked for, not when a later one is.  The server's
    clock is the frame's arrival time plus its age at the answer."""
    if end is not None and end >= 0:
        return end
    offset = frame.time_ms + frame.age_ms - time.time() * 1000
    return int(asked * 1000 + offset + (end or 0))


def _parts(r):
    """Frames of a multipart/mixed response, read as they come."""
    ctype = r.headers.get("Content-Type", "")
    m = re.search(r'boundary="?([^";]+)"?', ctype)
    if not ctype.startswith("multipart/") or not m:
        raise Error("%s: not a multipart answer: %s" % (r.url, ctype))
    mark = b"--" + m.group(1).encode()
    reader = _Reader(r.iter_content(65536))
    while True:
        line = reader.readline()
        if line is None:
            return      # cut short: what came is what there is
        line = line.rstrip(b"\r\n")
        if not line:
            continue
        if line == mark + b"--":
            return
        if line != mark:
            raise Error("%s: bad multipart line %r" % (r.url, line[:80]))
        headers = {}
        while True:
            line = reader.readline()
            if line is None:
                return
            line = line.rstrip(b"\r\n")
            if not line:
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        body = reader.read(int(headers["content-length"]))
        if body is None:
            return
        yield Frame.from_headers(headers, jpeg=body)


class _Reader:
    """Lines and counted bytes from an iterator of chunks."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.buf = bytearray()

    def _fill(self):
        for chunk in self.chunks:
            if chunk:
                self.buf += chunk
                return True
        return False

    def readline(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if not self._fill():
                return None

    def read(self, n):
        while len(self.buf) < n:
            if not self._fill():
                return None
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data


def _download(relay, path, params, out):
    r = relay.request("GET", path, params=params, stream=True)
    with r:
        if hasattr(out, "write"):
            return _copy(r, out)
        with open(out, "wb") as f:
            return _copy(r, f)


def _copy(r, f):
    n = 0
    for chunk in r.iter_content(1 << 16):
        f.write(chunk)
        n += len(chunk)
    return n

