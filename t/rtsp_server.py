#!/usr/bin/python3
"""A stand-in IP camera: GStreamer's RTSP server (gst-rtsp-server through
python3-gi) serving the H.264 of a test file, without re-encoding, at
rtsp://127.0.0.1:PORT/cam.

    /usr/bin/python3 t/rtsp_server.py PORT FILE

FILE is an FLV (what chrys.Source writes), or an MP4/MOV or Matroska file.
It plays in real time and loops: at the end of the file the demuxer seeks
back to its start, and the running time, so the RTP timestamps, go on
rising.  Every client gets its own pipeline, from the start of the file.
Prints "rtsp_server: ready rtsp://127.0.0.1:PORT/cam" once it listens;
SIGTERM, SIGINT or SIGKILL end it, and it can listen on the same port
again at once (the listening socket has SO_REUSEADDR).

Needs python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good
(flvdemux, qtdemux, matroskademux, rtph264pay) and gstreamer1.0-plugins-bad
(h264parse): Debian's /usr/bin/python3, not another interpreter.
"""

import os
import signal
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

DEMUXERS = {".flv": "flvdemux", ".mp4": "qtdemux", ".mov": "qtdemux",
            ".mkv": "matroskademux"}


class Factory(GstRtspServer.RTSPMediaFactory):
    """filesrc ! DEMUX ! h264parse ! rtph264pay name=pay0, the demuxer
    sent back to the start of the file at each end of it."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.demuxer = DEMUXERS.get(os.path.splitext(path)[1].lower(),
                                    "flvdemux")
        self.set_shared(False)

    def do_create_element(self, url):
        bin_ = Gst.Bin.new("cam")
        src = Gst.ElementFactory.make("filesrc")
        src.set_property("location", self.path)
        demux = Gst.ElementFactory.make(self.demuxer)
        parse = Gst.ElementFactory.make("h264parse")
        pay = Gst.ElementFactory.make("rtph264pay", "pay0")
        pay.set_property("pt", 96)
        # SPS and PPS before every IDR, as cameras send them: a client
        # that missed the SDP's sprop-parameter-sets can still decode
        pay.set_property("config-interval", -1)
        for e in (src, demux, parse, pay):
            bin_.add(e)
        src.link(demux)
        parse.link(pay)

        def pad_added(_demux, pad):
            caps = pad.get_current_caps() or pad.query_caps(None)
            if not caps.to_string().startswith("video/x-h264"):
                return
            if parse.get_static_pad("sink").is_linked():
                return
            pad.link(parse.get_static_pad("sink"))
            Looper(demux, pad)

        demux.connect("pad-added", pad_added)
        return bin_


class Looper:
    """Plays the file over and over: at its end, drops the demuxer's EOS
    and seeks it back to the start.  The seek is flushing (the demuxers do
    not restart after a non-flushing one once at EOS), but its flush stays
    behind this pad, and the pad's offset grows by the length of each pass:
    downstream sees one stream whose running time, so the RTP timestamps
    and the pacing, go on rising."""

    def __init__(self, demux, pad):
        self.demux, self.pad = demux, pad
        self.rewinding = False
        self.end = 0            # where this pass ends, in stream time
        self.last = None        # the previous buffer's timestamp
        self.frame = Gst.SECOND // 30   # the shortest gap between two
        pad.add_probe(Gst.PadProbeType.BUFFER
                      | Gst.PadProbeType.EVENT_DOWNSTREAM
                      | Gst.PadProbeType.EVENT_FLUSH, self.probe)

    def probe(self, pad, info):
        if info.type & Gst.PadProbeType.BUFFER:
            buf = info.get_buffer()
            ts = buf.pts if buf.pts != Gst.CLOCK_TIME_NONE else buf.dts
            if ts == Gst.CLOCK_TIME_NONE:
                return Gst.PadProbeReturn.OK
            if self.last is not None and ts != self.last:
                self.frame = min(self.frame, abs(ts - self.last))
            self.last = ts
            duration = buf.duration
            if duration == Gst.CLOCK_TIME_NONE or duration == 0:
                duration = self.frame
            self.end = max(self.end, ts + duration)
            return Gst.PadProbeReturn.OK

        kind = info.get_event().type
        if kind == Gst.EventType.EOS:
            if not self.rewinding:
                self.rewinding = True
                # not from the demuxer's streaming thread, which the seek
                # waits for
                threading.Thread(target=self.rewind, daemon=True).start()
            return Gst.PadProbeReturn.DROP
        if kind in (Gst.EventType.FLUSH_START, Gst.EventType.FLUSH_STOP):
            return (Gst.PadProbeReturn.DROP if self.rewinding
                    else Gst.PadProbeReturn.OK)
        if kind == Gst.EventType.SEGMENT:
            self.rewinding = False
        return Gst.PadProbeReturn.OK

    def rewind(self):
        self.pad.set_offset(self.pad.get_offset() + self.end)
        self.end = 0
        self.last = None
        self.demux.seek(1.0, Gst.Format.TIME, Gst.SeekFlags.FLUSH,
                        Gst.SeekType.SET, 0, Gst.SeekType.NONE, -1)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: %s PORT FILE" % sys.argv[0])
    port, path = int(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not os.path.isfile(path):
        sys.exit("rtsp_server: no such file: %s" % path)

    Gst.init(None)
    loop = GLib.MainLoop()
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    server.get_mount_points().add_factory("/cam", Factory(path))
    if server.attach(None) == 0:
        sys.exit("rtsp_server: cannot listen on 127.0.0.1:%d" % port)

    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)

    print("rtsp_server: ready rtsp://127.0.0.1:%d/cam" % port, flush=True)
    loop.run()


if __name__ == "__main__":
    main()
