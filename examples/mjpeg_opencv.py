#!/usr/bin/env python3
"""Reads a chrys live.mjpg stream with OpenCV, frame after frame.

    python3 mjpeg_opencv.py [URL] [--frames N] [--show]

live.mjpg is an ordinary MJPEG-over-HTTP stream (multipart/x-mixed-replace),
so anything that plays an IP camera's MJPEG URL reads it: OpenCV, VLC,
ffmpeg, an <img> tag.  Add parameters to the URL to shape it:

    live.mjpg?fps=10               at most 10 pictures a second
    live.mjpg?width=640            scaled (height follows the aspect ratio)
    live.mjpg?width=640&height=640&fit=contain    letterboxed to a square
    live.mjpg?quality=60           JPEG quality

This suits code that keeps up with the camera (display, recording, a fast
detector).  If your per-frame work is slower than the stream, prefer the
chrys client's cam.frames() loop, as faces.py: a stream sends frames in
order, and whatever sits in the TCP buffers between nginx and you is old by
the time you read it, while frames() (latest.jpg?after=SEQ underneath)
always answers with the newest frame.
"""

import argparse
import collections
import sys
import time

import cv2

DEFAULT_URL = "http://127.0.0.1:8080/chrys/live/cam/live.mjpg"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("url", nargs="?", default=DEFAULT_URL,
                    help="the live.mjpg URL (default: %(default)s)")
    ap.add_argument("--frames", type=int, default=0, metavar="N",
                    help="stop after N frames (default: run until the "
                         "stream ends or you press Ctrl-C)")
    ap.add_argument("--show", action="store_true",
                    help="display the frames in a window (q or Esc quits)")
    args = ap.parse_args()

    # The FFmpeg backend of OpenCV reads MJPEG over HTTP.  Naming it keeps
    # OpenCV from trying another backend (GStreamer) when the URL fails.
    cap = cv2.VideoCapture(args.url, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        print("cannot open %s" % args.url, file=sys.stderr)
        return 1

    recent = collections.deque()    # arrival times of the last second
    count = 0
    ended = False

    try:
        while args.frames <= 0 or count < args.frames:
            # Blocks until the next part of the stream has arrived and is
            # decoded: a numpy array of shape (height, width, 3), in BGR.
            ok, frame = cap.read()
            if not ok:
                # nginx ended the response (it restarted), the network
                # failed, or no frame came for 30 s: OpenCV's FFmpeg
                # backend gives up then, while nginx would keep the
                # response open until the publisher is back.  A
                # long-running program would open the URL again here.
                print("the stream ended after %d frames" % count,
                      file=sys.stderr)
                ended = True
                break

            count += 1
            now = time.monotonic()
            recent.append(now)
            while now - recent[0] > 1.0:
                recent.popleft()
            span = now - recent[0]
            fps = (len(recent) - 1) / span if span > 0 else 0.0

            print("frame %d shape %s %.1f fps" % (count, frame.shape, fps),
                  flush=True)

            # ... your processing here: frame is a plain BGR numpy array ...

            if args.show:
                cv2.imshow(args.url, frame)
                if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                    break
    except KeyboardInterrupt:
        pass
    finally:
        cap.release()
        if args.show:
            cv2.destroyAllWindows()

    # the stream ended before the N frames asked for: say so in the status
    return 1 if ended and args.frames > 0 else 0


if __name__ == "__main__":
    sys.exit(main())
