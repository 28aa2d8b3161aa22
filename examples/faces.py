#!/usr/bin/env python3
"""Face detection on the newest frame of a chrys stream, whenever the
detector is ready for the next one.

    python3 faces.py [URL] [--frames N] [--out DIR]

The loop asks latest.jpg for "the first frame newer than the one I had"
(after=SEQ).  If a newer frame exists it comes at once, else the request
waits for the next one.  So each answer is a frame this program has not
seen yet, and the newest there is: however slow the detection, the program
never works through a backlog of old frames, it skips the frames it had no
time for.

Needs python3-opencv, python3-requests and the Haar cascades of OpenCV
(Debian: opencv-data).
"""

import argparse
import os
import sys
import time

import cv2
import numpy as np
import requests

DEFAULT_URL = "http://127.0.0.1:8080/chrys/live/cam/latest.jpg"
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
                    help="the latest.jpg URL (default: %(default)s)")
    ap.add_argument("--frames", type=int, default=0, metavar="N",
                    help="stop after N frames (default: run until Ctrl-C)")
    ap.add_argument("--out", metavar="DIR",
                    help="write each frame, boxes drawn, as DIR/SEQ.jpg")
    args = ap.parse_args()

    cascade = load_cascade()
    if args.out:
        os.makedirs(args.out, exist_ok=True)

    session = requests.Session()    # one kept-alive connection
    seq = 0                         # the newest frame we have seen
    count = 0

    while args.frames <= 0 or count < args.frames:
        try:
            # "the first frame after seq; wait up to 10 s for it"
            r = session.get(args.url, timeout=15,
                            params={"after": seq, "timeout": 10000})
        except requests.ConnectionError as e:
            # nginx restarts or the network fails: try again in a second
            print("cannot reach %s: %s" % (args.url, e), file=sys.stderr)
            time.sleep(1)
            continue

        if r.status_code == 204:
            # no new frame for 10 s: the publisher is away; ask again
            print("no new frame for 10 s", file=sys.stderr)
            continue
        if r.status_code == 503:
            # the stream exists but no picture was decoded yet
            time.sleep(int(r.headers.get("Retry-After", "1")))
            continue
        if r.status_code != 200:
            # 404: no such stream; 400: a bad parameter.  The body says
            # which, as {"error": "..."}.
            sys.exit("%s: %d %s" % (args.url, r.status_code, r.text.strip()))

        # X-Chrys-Seq grows with every frame of the stream: asking for
        # after=seq next time can never give this frame again.
        seq = int(r.headers["X-Chrys-Seq"])
        age = int(r.headers["X-Chrys-Age"])   # ms since the frame arrived
        count += 1

        image = cv2.imdecode(np.frombuffer(r.content, np.uint8),
                             cv2.IMREAD_COLOR)

        # ... your slow code: here, OpenCV's Haar face detector ...
        start = time.monotonic()
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        faces = cascade.detectMultiScale(gray, scaleFactor=1.1,
                                         minNeighbors=5, minSize=(30, 30))
        took = (time.monotonic() - start) * 1000

        for (x, y, w, h) in faces:
            cv2.rectangle(image, (x, y), (x + w, y + h), (0, 255, 0), 2)

        print("seq %d age %d ms shape %s faces %d detect %.0f ms"
              % (seq, age, image.shape, len(faces), took), flush=True)

        if args.out:
            cv2.imwrite(os.path.join(args.out, "%d.jpg" % seq), image)

    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        pass
