#!/usr/bin/python3
"""Writes the seed corpus of t/fuzz: seeds/avc, seeds/query and seeds/json.

    python3 t/fuzz/seeds.py

The avc seeds are video tag bodies of real FLV files that ffmpeg makes
(H.264 with libx264, and Sorenson H.263), some cut short, and inputs in
fuzz_avc's second reading: one byte of record length, an
AVCDecoderConfigurationRecord, then a video message.  The query seeds are
query strings and paths of the chrys API, the json seeds bodies of its
POSTs, good and bad.  Regression inputs, saved from
crashes, go in by hand as seeds/NAME/regress-*; this leaves them alone.
"""

import os
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

QUERIES = {
    'q-latest': 'quality=80&after=12&timeout=5000',
    'q-images': 'from=-5000&to=-1000&interval=200&limit=10',
    'q-raw': 'format=bgr24&width=320&fit=fill',
    'q-frame': 'time=-2000&keyframe=1&quality=50',
    'q-mjpg': 'fps=10&width=640&height=480&fit=contain',
    'q-seq': 'seq=42&format=yuv420p',
    'q-escaped': 'quality=%39%30&format=gray%38',
    'q-busters': '_=1700000000000&token=abc&after=0',
    'q-repeated': 'quality=80&quality=90',
    'q-unknown-word': 'format=jpeg',
    'q-out-of-range': 'limit=100000',
    'q-too-long': 'after=1234567890123456789',
    'q-question-mark': 'after=1%3f2&to',
    'p-latest': 'live/cam/latest.jpg',
    'p-escaped-slash': 'live/a%2Fb/status',
    'p-dotdot': '..%2f/x',
    'p-escaped-dots': 'live/%2e%2e/latest.jpg',
    'p-dot': 'live/./status',
    'p-control': 'live/a%00b/status',
    'p-trailing-slash': 'live/cam/',
    'p-too-many': 'a/b/c/d/e/f',
    'p-event': 'live/cam/events/12',
    'p-utf8': 'live/cam\u00e9ra/latest.jpg',
    'p-name-255': 'live/' + 'n' * 255 + '/status',
    'p-name-256': 'live/' + 'n' * 256 + '/status',
}


BODIES = {
    'j-event': '{"label": "person", "pre": 5000, "post": 5000, '
               '"meta": {"score": 0.97, "box": [10, 20, 30, 40]}}',
    'j-empty': '{}',
    'j-blank': ' \r\n\t',
    'j-escapes': '{"label": "a\\"b\\\\c\\u00e9\\n", "meta": "\\/"}',
    'j-numbers': '[0, -0, 1.5, -2e10, 3E+2, 4e-2, 123456789012345678901]',
    'j-words': '[true, false, null, [], {}, ""]',
    'j-deep': '[' * 16 + ']' * 16,
    'j-too-deep': '{"meta": ' + '[' * 17 + ']' * 17 + '}',
    'j-repeated': '{"pre": 1, "pre": 2}',
    'j-bad-leading-zero': '{"pre": 012}',
    'j-bad-trailing': '{"pre": 1} x',
    'j-bad-comma': '{"pre": 1,}',
    'j-bad-control': '{"label": "a\x01b"}',
    'j-bad-escape': '{"label": "\\x"}',
    'j-not-object': '[1, 2]',
    'j-cut': '{"label": "per',
    'j-utf8': '{"label": "caf\u00e9 \u4eba"}',
    # bodies of POST {app}/{name}/data, any JSON value, and hostile ones
    'j-data-sensor': '{"sensor": "door", "open": true, "t": 21.5}',
    'j-data-string': '"a plain string"',
    'j-data-number': '-12.5e3',
    'j-data-nested-deep': '{"a":' * 17 + '1' + '}' * 17,
    'j-data-long-string': '"' + 'x' * 1500 + '"',
    'j-data-two-values': '{"a":1} {"b":2}',
}

# bytes that are not UTF-8, in strings: the data endpoint refuses them
RAW_BODIES = {
    'j-data-not-utf8': b'{"s":"\xff\xfe"}',
    'j-data-overlong': b'{"s":"\xc0\xaf"}',
    'j-data-surrogate': b'{"s":"\xed\xa0\x80"}',
    'j-data-cut-utf8': b'"caf\xc3"',
}


def video_tags(path):
    """The bodies of the video tags of an FLV file."""
    data = open(path, 'rb').read()
    off = struct.unpack('>I', data[5:9])[0] + 4
    tags = []

    while off + 11 <= len(data):
        size = int.from_bytes(data[off + 1:off + 4], 'big')

        if data[off] == 9:
            tags.append(data[off + 11:off + 11 + size])

        off += 11 + size + 4

    return tags


def nal_units(au):
    """The NAL units of an access unit with 4-byte lengths."""
    nals = []
    i = 0

    while i < len(au):
        n = int.from_bytes(au[i:i + 4], 'big')
        nals.append(au[i + 4:i + 4 + n])
        i += 4 + n

    return nals


def ffmpeg(tmp, name, codec, frames):
    path = os.path.join(tmp, name)
    subprocess.run(['ffmpeg', '-loglevel', 'error', '-y', '-f', 'lavfi',
                    '-i', 'testsrc2=size=160x120', '-frames:v', str(frames),
                    '-c:v', codec, '-f', 'flv', path], check=True)
    return video_tags(path)


def write(kind, name, data):
    assert len(data) < 2048, name
    with open(os.path.join(HERE, 'seeds', kind, name), 'wb') as f:
        f.write(data)


def main():
    for kind in ('avc', 'query'):
        os.makedirs(os.path.join(HERE, 'seeds', kind), exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        header, idr, p1, p2, eos = ffmpeg(tmp, 'avc.flv', 'libx264', 3)
        flv1 = ffmpeg(tmp, 'flv1.flv', 'flv1', 2)

    assert header[:2] == b'\x17\x00' and eos[:2] == b'\x17\x02'
    assert idr[:2] == b'\x17\x01' and p1[:2] == b'\x27\x01'

    avcc = header[5:]
    slice_idr = nal_units(idr[5:])[-1]
    slice_p = nal_units(p1[5:])[-1]

    write('avc', 'avc-sequence-header', header)
    write('avc', 'avc-idr-truncated', idr[:300])
    write('avc', 'avc-p-frame', p1)
    write('avc', 'avc-p-frame-2', p2)
    write('avc', 'avc-end-of-sequence', eos)
    write('avc', 'flv1-keyframe', flv1[0][:200])
    write('avc', 'flv1-inter-frame', flv1[1][:200])

    # made by hand: the 2-byte "start of client-side seek" command frame
    write('avc', 'avc-info-frame', b'\x57\x00')

    # the IDR slice alone, cut short, with a length that frames it still
    cut = slice_idr[:300]
    write('avc', 'avc-idr-slice', idr[:5] + len(cut).to_bytes(4, 'big') + cut)

    # the record, then a message framed with the NAL length size it gives
    write('avc', 'split-avcc-p-frame', bytes([len(avcc)]) + avcc + p2)

    for size, au, cut in ((1, p1, slice_p[:120]), (2, idr, slice_idr[:200])):
        rec = bytearray(avcc)
        rec[4] = (rec[4] & 0xfc) | (size - 1)
        write('avc', 'split-avcc%d-%s' % (size, 'p-frame' if au is p1
                                           else 'idr-slice'),
              bytes([len(rec)]) + rec + au[:5]
              + len(cut).to_bytes(size, 'big') + cut)

    for name, text in QUERIES.items():
        write('query', name, text.encode())

    for name, text in BODIES.items():
        write('json', name, text.encode())

    for name, raw in RAW_BODIES.items():
        write('json', name, raw)


if __name__ == '__main__':
    main()
