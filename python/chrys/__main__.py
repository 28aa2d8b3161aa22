"""The chrys command line.

    python3 -m chrys snapshot URL out.jpg [--at -3s]
    python3 -m chrys watch URL [--frames N]
    python3 -m chrys save URL DIR [--from -10s] [--to now] [--every 1s]
    python3 -m chrys clip URL out.mp4 [--from -10s] [--to now]
    python3 -m chrys status URL

URL is a stream's URL, https://relay:8443/chrys/live/cam.  The API token
comes from --token or the environment's CHRYS_TOKEN; --ca names a CA file
to verify the relay's TLS certificate with.  Times: "-10s", "-500ms",
"now", Unix seconds, or an ISO 8601 date (2026-12-01T10:00:00Z).
"""

import argparse
import collections
import datetime
import os
import sys
import time

from . import client
from .errors import Error

TIME_OPTIONS = ("--at", "--from", "--to")


def when(text):
    """A point in time from the command line."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    client.time_param(text)     # raises ValueError if not a time
    return text


def duration(text):
    client.duration_ms(text)
    return text


def parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--token", default=os.environ.get("CHRYS_TOKEN"),
                        help="the API token (default: $CHRYS_TOKEN)")
    common.add_argument("--ca", metavar="FILE",
                        help="CA file (PEM) to verify the relay's TLS "
                             "certificate with")
    common.add_argument("--timeout", type=float, default=30.0,
                        metavar="S", help="seconds to wait for the relay "
                                          "or a picture (default 30)")

    ap = argparse.ArgumentParser(
        prog="python3 -m chrys", description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("snapshot", parents=[common],
                       help="the newest picture (or one of the past) to "
                            "a file")
    p.add_argument("url")
    p.add_argument("out", help="file to write: .jpg as served, other "
                               "extensions (.png) encoded here")
    p.add_argument("--at", type=when, metavar="TIME",
                   help="the picture shown then, from the buffer")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--quality", type=int)

    p = sub.add_parser("watch", parents=[common],
                       help="follow the stream: seq, age and fps of each "
                            "new picture")
    p.add_argument("url")
    p.add_argument("--frames", type=int, default=0, metavar="N",
                   help="stop after N pictures (default: Ctrl-C)")
    p.add_argument("--format", choices=("auto", "raw", "jpeg"),
                   default="auto")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)

    p = sub.add_parser("save", parents=[common],
                       help="pictures of a time range as JPEG files")
    p.add_argument("url")
    p.add_argument("dir")
    p.add_argument("--from", dest="start", type=when, metavar="TIME",
                   help="default: the start of the buffer")
    p.add_argument("--to", dest="end", type=when, metavar="TIME",
                   help="default: now")
    p.add_argument("--every", type=duration, metavar="DURATION",
                   help="one picture per DURATION (1s, 200ms); default: "
                        "every picture")
    p.add_argument("--limit", type=int, metavar="N")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--quality", type=int)

    p = sub.add_parser("clip", parents=[common],
                       help="a time range as MP4, not re-encoded")
    p.add_argument("url")
    p.add_argument("out")
    p.add_argument("--from", dest="start", type=when, default="-10s",
                   metavar="TIME", help="default: -10s")
    p.add_argument("--to", dest="end", type=when, metavar="TIME",
                   help="default: now")

    p = sub.add_parser("status", parents=[common],
                       help="the stream's state, as JSON")
    p.add_argument("url")
    return ap


def join_negative_times(argv):
    """"--from -10s" as "--from=-10s": argparse takes "-10s" for an
    option."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a in TIME_OPTIONS and i + 1 < len(argv) \
                and argv[i + 1].startswith("-"):
            out.append(a + "=" + argv[i + 1])
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def open_stream(args, **kw):
    return client.stream(args.url, token=args.token, ca=args.ca,
                         timeout=args.timeout, wait=args.timeout, **kw)


def snapshot(args):
    cam = open_stream(args)
    if args.at is not None:
        frame = cam.at(args.at, width=args.width, height=args.height,
                       quality=args.quality)
    else:
        frame = cam.latest(format="jpeg", width=args.width,
                           height=args.height, quality=args.quality)
    frame.save(args.out)
    print("%s: seq %d, %dx%d, %s UTC, age %d ms"
          % (args.out, frame.seq, frame.width, frame.height,
             frame.time.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
             frame.age_ms))


def watch(args):
    cam = open_stream(args, format=args.format)
    recent = collections.deque()
    count = 0
    for frame in cam.frames(timeout=args.timeout, width=args.width,
                            height=args.height):
        count += 1
        now = time.monotonic()
        recent.append(now)
        while now - recent[0] > 1.0:
            recent.popleft()
        span = now - recent[0]
        fps = (len(recent) - 1) / span if span > 0 else 0.0
        print("seq %d age %d ms %.1f fps %dx%d%s"
              % (frame.seq, frame.age_ms, fps, frame.width, frame.height,
                 " key" if frame.keyframe else ""), flush=True)
        if args.frames and count >= args.frames:
            break


def save(args):
    cam = open_stream(args)
    os.makedirs(args.dir, exist_ok=True)
    count = 0
    for frame in cam.between(args.start, args.end, every=args.every,
                             limit=args.limit, width=args.width,
                             height=args.height, quality=args.quality):
        name = os.path.join(args.dir, "%d-%d.jpg" % (frame.time_ms,
                                                     frame.seq))
        frame.save(name)
        count += 1
    print("%d pictures in %s" % (count, args.dir))


def clip(args):
    cam = open_stream(args)
    n = cam.clip(args.out, start=args.start, end=args.end)
    print("%s: %d bytes" % (args.out, n))


def status(args):
    import json
    print(json.dumps(open_stream(args).status(), indent=2))


def main(argv=None):
    args = parser().parse_args(join_negative_times(
        sys.argv[1:] if argv is None else argv))
    try:
        {"snapshot": snapshot, "watch": watch, "save": save, "clip": clip,
         "status": status}[args.command](args)
    except Error as e:
        print("chrys: %s" % e, file=sys.stderr)
        return 1
    except ValueError as e:
        print("chrys: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
