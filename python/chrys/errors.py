"""The exceptions of the chrys client.

Every error the client raises is a chrys.Error; an HTTP error carries the
status and the server's own message (chrys answers every error with a JSON
object {"error": "..."}).
"""

import datetime

__all__ = ["Error", "BadRequest", "Unauthorized", "NotFound", "Gone",
           "Timeout", "Unreachable", "ServerError"]


class Error(Exception):
    """Anything that went wrong talking to chrys.

    status is the HTTP status (None when no answer came), message the
    server's "error" text, body the decoded JSON body (or {}), url the
    URL asked for (without any token).
    """

    def __init__(self, message, status=None, body=None, url=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body or {}
        self.url = url


class BadRequest(Error):
    """400: a parameter chrys refused; the message names it."""


class Unauthorized(Error):
    """401 or 403: the API token is missing or wrong."""


class NotFound(Error):
    """404: no such stream, event or endpoint, or a time in the future
    (then start and end say what the buffer holds, as in Gone)."""

    def __init__(self, message, status=None, body=None, url=None):
        super().__init__(message, status, body, url)
        self.start_ms = self.body.get("start")
        self.end_ms = self.body.get("end")
        self.start = _utc(self.start_ms)
        self.end = _utc(self.end_ms)


class Gone(NotFound):
    """410: the time asked for is no longer in the stream's buffer.

    start and end (datetime, UTC) are the first and last picture the
    buffer holds now; start_ms and end_ms the same as Unix ms.  A subclass
    of NotFound: both say "there is no such picture".
    """


class Timeout(Error, TimeoutError):
    """No picture (or no answer) came within the time allowed: the
    publisher is not there (503, long polls ending in 204) or the server
    cannot be reached.  Also a builtin TimeoutError."""


class Unreachable(Timeout):
    """The server could not be reached (connection refused, reset, DNS,
    TLS) for as long as the call was allowed to wait."""


class ServerError(Error):
    """Any other status: 409 (too many events), 507 (the event budget is
    spent), 5xx."""


def _utc(ms):
    if ms is None:
        return None
    return datetime.datetime.fromtimestamp(ms / 1000.0,
                                           datetime.timezone.utc)


def from_response(r, url):
    """The exception for an HTTP error response r."""
    try:
        body = r.json()
        if not isinstance(body, dict):
            body = {}
    except ValueError:
        body = {}
    text = body.get("error") or (r.text or "").strip()[:200] or r.reason
    status = r.status_code
    if status == 410 or (status == 404 and "start" in body):
        message = "%s: %s" % (url, text)
        if body.get("start") is not None and body.get("end") is not None:
            message += " (the buffer holds %s to %s UTC)" % (
                _clock(body["start"]), _clock(body["end"]))
        cls = Gone if status == 410 else NotFound
        return cls(message, status, body, url)
    cls = {400: BadRequest, 401: Unauthorized, 403: Unauthorized,
           404: NotFound}.get(status, ServerError)
    return cls("%s: %d %s" % (url, status, text), status, body, url)


def _clock(ms):
    if not ms:
        return "nothing"
    t = _utc(ms)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (t.microsecond // 1000)
