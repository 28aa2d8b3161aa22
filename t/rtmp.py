"""A small RTMP publisher for the tests and benchmarks that need many
cameras: it sends the video tags of an FLV file, as they are, under any
number of stream names at once, paced in real time, from one asyncio
loop.  One ffmpeg process a camera costs a core for a few dozen, and
ffmpeg's tee muxer opens its outputs one after the other; this costs
next to nothing per camera.

It speaks just what a publisher needs (RTMP spec 1.0: the plain
handshake, AMF0 commands connect, createStream and publish, then video
messages on one chunk stream) and reads what nginx-rtmp answers.

    python3 t/rtmp.py rtmp://127.0.0.1:1935/live NAME1 NAME2 ... -i FILE.flv

"""

import argparse
import asyncio
import os
import socket
import struct
import time

CHUNK = 65536


def amf_str(s):
    b = s.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def amf_num(n):
    return b"\x00" + struct.pack(">d", n)


def amf_obj(d):
    out = b"\x03"
    for k, v in d.items():
        kb = k.encode()
        out += struct.pack(">H", len(kb)) + kb
        out += amf_str(v) if isinstance(v, str) else amf_num(v)
    return out + b"\x00\x00\x09"


def chunk(csid, timestamp, mtype, stream, payload):
    """One message in one chunk (the chunk size is set above any message
    this sends), with a full header."""
    ts = min(timestamp, 0xffffff)
    head = bytes([csid & 0x3f]) + ts.to_bytes(3, "big") \
        + len(payload).to_bytes(3, "big") + bytes([mtype]) \
        + struct.pack("<I", stream)
    if ts == 0xffffff:
        head += struct.pack(">I", timestamp)
    return head + payload


def video_tags(path):
    """[(timestamp ms, body)] of the video tags of an FLV file."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:3] == b"FLV", path
    off = struct.unpack(">I", data[5:9])[0] + 4
    tags = []
    while off + 11 <= len(data):
        kind = data[off]
        size = int.from_bytes(data[off + 1:off + 4], "big")
        ts = int.from_bytes(data[off + 4:off + 7], "big") \
            | (data[off + 7] << 24)
        if kind == 9 and size:
            tags.append((ts, data[off + 11:off + 11 + size]))
        off += 11 + size + 4
    return tags


class Reader:
    """What nginx-rtmp sends back, as whole messages."""

    def __init__(self, reader):
        self.reader = reader
        self.size = 128
        self.heads = {}
        self.partial = {}

    async def message(self):
        while True:
            b = (await self.reader.readexactly(1))[0]
            fmt, csid = b >> 6, b & 0x3f
            if csid == 0:
                csid = 64 + (await self.reader.readexactly(1))[0]
            elif csid == 1:
                x = await self.reader.readexactly(2)
                csid = 64 + x[0] + 256 * x[1]
            ts, length, mtype, stream = self.heads.get(csid, (0, 0, 0, 0))
            n = (11, 7, 3, 0)[fmt]
            h = await self.reader.readexactly(n)
            if n:
                ts = int.from_bytes(h[0:3], "big")
            if n >= 7:
                length = int.from_bytes(h[3:6], "big")
                mtype = h[6]
            if n == 11:
                stream = struct.unpack("<I", h[7:11])[0]
            if n and ts == 0xffffff:
                await self.reader.readexactly(4)
            self.heads[csid] = (ts, length, mtype, stream)
            got = self.partial.get(csid, b"")
            got += await self.reader.readexactly(
                min(self.size, length - len(got)))
            if len(got) < length:
                self.partial[csid] = got
                continue
            self.partial.pop(csid, None)
            if mtype == 1:
                self.size = struct.unpack(">I", got[:4])[0] & 0x7fffffff
                continue
            return mtype, got


async def publish(url, name, tags, loops=1, nodelay=True, on_start=None,
                  ssl=None, local_addr=None):
    """Publishes the tags under "name" at url (rtmp://host:port/app, or
    rtmps:// with ssl, an SSLContext), in real time, from local_addr
    (host, port) if given; returns the number of video messages sent."""
    rest = url.split("://", 1)[1]
    hostport, app = rest.split("/", 1)
    host, port = hostport.split(":") if ":" in hostport else (hostport, 1935)
    reader, writer = await asyncio.open_connection(
        host, int(port), ssl=ssl, local_addr=local_addr,
        server_hostname=host if ssl else None)
    sock = writer.get_extra_info("socket")
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # the plain handshake
    c1 = struct.pack(">II", 0, 0) + os.urandom(1528)
    writer.write(b"\x03" + c1)
    s = await reader.readexactly(1 + 1536 + 1536)
    writer.write(s[1:1537])

    writer.write(chunk(2, 0, 1, 0, struct.pack(">I", CHUNK)))
    writer.write(chunk(3, 0, 20, 0, amf_str("connect") + amf_num(1)
                       + amf_obj({"app": app, "type": "nonprivate",
                                  "flashVer": "FMLE/3.0 (chrys tests)",
                                  "tcUrl": url})))
    writer.write(chunk(3, 0, 20, 0, amf_str("createStream") + amf_num(2)
                       + b"\x05"))
    await writer.drain()

    r = Reader(reader)
    stream = None
    while stream is None:
        mtype, body = await r.message()
        if mtype == 20 and body.startswith(amf_str("_result")) \
                and body[10:19] == amf_num(2):
            # _result, 2, null, stream id
            stream = int(struct.unpack(">d", body[-8:])[0])

    writer.write(chunk(3, 0, 20, stream, amf_str("publish") + amf_num(0)
                       + b"\x05" + amf_str(name) + amf_str("live")))
    await writer.drain()
    while True:
        mtype, body = await r.message()
        if mtype == 20 and b"NetStream.Publish.Start" in body:
            break
        if mtype == 20 and b"NetStream.Publish" in body:
            raise RuntimeError("publish of %s refused: %r" % (name, body))

    if on_start:
        on_start(name)

    sent = 0
    start = time.monotonic()
    last = tags[-1][0] + 33
    for loop in range(loops):
        for ts, body in tags:
            t = loop * last + ts
            delay = start + t / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(chunk(6, t, 9, stream, body))
            sent += 1
            if writer.transport.get_write_buffer_size() > 1 << 20:
                await writer.drain()
    await writer.drain()
    writer.close()
    try:
        await writer.wait_closed()
    except (ConnectionError, OSError):
        pass
    return sent


async def publish_many(url, names, path, at_once=100, loops=1):
    """Publishes the file under every name, at most at_once at a time."""
    tags = video_tags(path)
    gate = asyncio.Semaphore(at_once)

    async def one(name):
        async with gate:
            return await publish(url, name, tags, loops)

    return await asyncio.gather(*(one(n) for n in names))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url", help="rtmp://HOST:PORT/APP")
    ap.add_argument("names", nargs="+")
    ap.add_argument("-i", dest="path", required=True, help="an FLV file")
    ap.add_argument("--at-once", type=int, default=100)
    ap.add_argument("--loops", type=int, default=1)
    a = ap.parse_args()
    sent = asyncio.run(publish_many(a.url, a.names, a.path, a.at_once,
                                    a.loops))
    print("published %d streams, %d video messages" % (len(sent), sum(sent)))


if __name__ == "__main__":
    main()
