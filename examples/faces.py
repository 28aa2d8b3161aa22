#!/usr/bin/env python3
"""Face detection on the newest frame of a chrys stream, whenever the
detector is ready for the next one.

    python3 faces.py [URL] [--frames N] [--out DIR] [--token TOKEN]

URL is the stream's, http://HOST:8080/chrys/live/cam.  cam.frames() gives
the newest picture the camera has sent that this program has not seen yet,
waiting for the next one if there is none: however slow the detection, the
program never works through a backlog of old frames, it skips the frames
it had no time for.  A publisher that leaves and comes back is waited for.

Needs the chrys client (pip install ./python, or run from the chrys source
tree), python3-opencv and the Haar cascades of OpenCV (Debian:
opencv-data).  The API token comes from --token or CHRYS_TOKEN.
"""

import argparse
import os
import sys
import time

import cv2

try:
    import chrys
except ImportError:     # not installed: the client of this source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(
        __file__)), os.pardir, "python"))
    import chrys

DEFAULT_URL = "http://127.0.0.1:8080/chrys/live/cam"
CASCADE = "haarcascade_frontalface_default.xml"


def load_cascade():
    """OpenCV's frontal face detector: from Debian's opencv-data, or from
    the cv2.data module of the pip wheels."""
    places = ["/usr/share/opencv4/haarcascades"]
    if hasattr(cv2, "data"):
        places.append(cv2.data.haarcascades)
    for place in places:
        path = os.path.join(place, CASCADE)
        if os.path.exists(path):
            cascade = cv2.CascadeClassifier(path)
            if not cascade.empty():
                return cascade
    sys.exit("%s not found in %s (install opencv-data)"
             % (CASCADE, " or ".join(places)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("url", nargs="?", default=DEFAULT_URL,
                    help="the stream's URL (default: %(default)s)")
    ap.add_argument("--frames", type=int, default=0, metavar="N",
                    help="stop after N frames (default: run until Ctrl-C)")
    ap.add_argument("--out", metavar="DIR",
                    help="write each frame, boxes drawn, as DIR/SEQ.jpg")
    ap.add_argument("--token", default=os.environ.get("CHRYS_TOKEN"),
                    help="the API token (default: $CHRYS_TOKEN)")
    args = ap.parse_args()

    cascade = load_cascade()
    if args.out:
        os.makedirs(args.out, exist_ok=True)

    cam = chrys.stream(args.url, token=args.token)
    for count, frame in enumerate(cam.frames(), 1):
        image = frame.image             # numpy BGR, as OpenCV's own

        # ... your slow code: here, OpenCV's Haar face detector ...
        start = time.monotonic()
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        faces = cascade.detectMultiScale(gray, scaleFactor=1.1,
                                         minNeighbors=5, minSize=(30, 30))
        took = (time.monotonic() - start) * 1000

        for (x, y, w, h) in faces:
            cv2.rectangle(image, (x, y), (x + w, y + h), (0, 255, 0), 2)
        print("seq %d age %d ms shape %s faces %d detect %.0f ms"
              % (frame.seq, frame.age_ms, image.shape, len(faces), took),
              flush=True)
        if args.out:
            cv2.imwrite(os.path.join(args.out, "%d.jpg" % frame.seq), image)
        if count == args.frames:
            break
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except chrys.Error as e:
        # 404: no such stream; 403: the token; the message says which
        sys.exit("faces.py: %s" % e)
    except KeyboardInterrupt:
        pass
