"""chrys: the newest picture of a camera as a numpy array, in one call.

    import chrys

    cam = chrys.connect("https://relay:8443/chrys/", token="...").stream(
        "live/cam")
    frame = cam.latest()        # frame.image: numpy uint8 HxWx3, BGR
    for frame in cam.frames():  # the newest new picture each time
        ...                     # however slow this is: never a backlog

    cam.at("-3s")                               # the picture shown then
    for f in cam.between("-10s", "now", every="200ms"):   # the past
        ...
    ev = cam.event(label="person", pre="5s", post="5s")   # kept frames
    ev.clip("event.mp4")
    cam.clip("last10.mp4", start="-10s")

The client of chrys, the nginx module that decodes RTMP camera streams and
serves their pictures over HTTP (see the chrys README).  It needs requests
and numpy; OpenCV (or PIL) to decode JPEG.  Errors are chrys.Error
subclasses: NotFound, Gone, Unauthorized, BadRequest, Timeout
(Unreachable), ServerError.  The command line: python3 -m chrys --help.
"""

from .client import Event, Relay, Stream, connect, duration_ms, stream, \
    time_param
from .errors import BadRequest, Error, Gone, NotFound, ServerError, \
    Timeout, Unauthorized, Unreachable
from .frame import Frame, decode_jpeg

__version__ = "0.1.0"

__all__ = ["connect", "stream", "Relay", "Stream", "Event", "Frame",
           "Error", "BadRequest", "Unauthorized", "NotFound", "Gone",
           "Timeout", "Unreachable", "ServerError", "decode_jpeg",
           "duration_ms", "time_param"]
