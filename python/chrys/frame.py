"""Frame: one picture of a stream with what chrys says about it.

Pixels come either raw (latest.raw?format=bgr24: exact, no decoding) or as
JPEG, decoded on first use of frame.image with OpenCV (cv2.imdecode) when
it is installed, else with PIL.  Either way frame.image is what OpenCV
works with: a writable numpy uint8 array of shape (height, width, 3), BGR.
"""

import datetime
import io

import numpy as np

__all__ = ["Frame", "decode_jpeg", "decode_raw"]

UTC = datetime.timezone.utc

try:
    import cv2
except ImportError:     # OpenCV is optional: PIL decodes then
    cv2 = None


def decode_jpeg(data):
    """A JPEG as a BGR uint8 array (height, width, 3): OpenCV if it is
    there, else PIL."""
    if cv2 is not None:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError("not a JPEG picture")
        return image
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("decoding JPEG needs OpenCV (python3-opencv) or "
                          "PIL (python3-pil); or ask for format=\"raw\"")
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def decode_raw(data, width, height, stride):
    """Packed BGR bytes, rows stride bytes apart, as a writable BGR array
    (a copy: the bytes of a response are read-only)."""
    rows = np.frombuffer(data, np.uint8, count=height * stride)
    rows = rows.reshape(height, stride)[:, :width * 3]
    return rows.reshape(height, width, 3).copy()


class Frame:
    """A picture and its metadata.

    image      numpy uint8 (height, width, 3), BGR as OpenCV's: decoded
               from the JPEG when first used
    jpeg       the JPEG as served (bytes), or None for raw pixels
    seq        the frame's number in the stream (rises in arrival order,
               across reconnects)
    pts        stream timestamp, ms
    time       when the frame's packet reached the relay (datetime, UTC)
    time_ms    the same as Unix ms
    age_ms     ms from then to the relay's answer
    keyframe   True for a keyframe
    width, height
    format     "raw" or "jpeg": how the pixels came
    """

    __slots__ = ("seq", "pts", "time_ms", "age_ms", "keyframe", "width",
                 "height", "format", "jpeg", "_image")

    def __init__(self, seq, pts, time_ms, age_ms, keyframe, width, height,
                 image=None, jpeg=None):
        self.seq = seq
        self.pts = pts
        self.time_ms = time_ms
        self.age_ms = age_ms
        self.keyframe = keyframe
        self.width = width
        self.height = height
        self.jpeg = jpeg
        self.format = "jpeg" if jpeg is not None else "raw"
        self._image = image

    @classmethod
    def from_headers(cls, headers, image=None, jpeg=None):
        """From X-Chrys-* headers (any mapping, names in any case)."""
        h = {k.lower(): v for k, v in headers.items()}

        def num(name):
            return int(h["x-chrys-" + name])

        return cls(seq=num("seq"), pts=num("pts"), time_ms=num("time"),
                   age_ms=int(h.get("x-chrys-age", 0)),
                   keyframe=num("keyframe") == 1, width=num("width"),
                   height=num("height"), image=image, jpeg=jpeg)

    @classmethod
    def from_response(cls, r, format):
        """From a latest.raw, latest.jpg or frame.jpg response."""
        if format == "raw":
            h = r.headers
            if h.get("X-Chrys-Format") != "bgr24":
                raise ValueError("raw pixels in %s, not bgr24"
                                 % h.get("X-Chrys-Format"))
            width = int(h["X-Chrys-Width"])
            height = int(h["X-Chrys-Height"])
            stride = int(h.get("X-Chrys-Stride", width * 3))
            image = decode_raw(r.content, width, height, stride)
            return cls.from_headers(h, image=image)
        return cls.from_headers(r.headers, jpeg=r.content)

    @property
    def image(self):
        if self._image is None:
            self._image = decode_jpeg(self.jpeg)
        return self._image

    @property
    def time(self):
        return datetime.datetime.fromtimestamp(self.time_ms / 1000.0, UTC)

    @property
    def shape(self):
        return (self.height, self.width, 3)

    def save(self, path):
        """Writes the picture to a file: the JPEG as served if it came as
        JPEG and path ends in .jpg/.jpeg, else encoded by OpenCV (or PIL)
        in the format the extension names."""
        lower = str(path).lower()
        if self.jpeg is not None and lower.endswith((".jpg", ".jpeg")):
            with open(path, "wb") as f:
                f.write(self.jpeg)
            return
        if cv2 is not None:
            if not cv2.imwrite(str(path), self.image):
                raise ValueError("OpenCV cannot write %s" % path)
            return
        from PIL import Image
        Image.fromarray(self.image[:, :, ::-1]).save(path)

    def __repr__(self):
        return ("<chrys.Frame seq=%d pts=%d %dx%d %s age=%dms%s>"
                % (self.seq, self.pts, self.width, self.height,
                   self.time.strftime("%H:%M:%S.%f")[:-3], self.age_ms,
                   " key" if self.keyframe else ""))
