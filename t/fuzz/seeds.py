#!/usr/bin/python3
"""Writes the seed corpus of t/fuzz: seeds/avc, query, json and amf.

    python3 t/fuzz/seeds.py

The avc seeds are video tag bodies of real FLV files that ffmpeg makes
(H.264 with libx264, and Sorenson H.263), some cut short, inputs in
fuzz_avc's second reading: one byte of record length, an
AVCDecoderConfigurationRecord, then a video message, and the AAC
AudioSpecificConfigs of ffmpeg's encoder, with a PCE and without.  The
query seeds are query strings and paths of the chrys API, the json seeds
bodies of its POSTs, good and bad.  The amf seeds are payloads of RTMP
data messages (the AMF0 values after the message's name): those of the
script tags ffmpeg writes in an FLV file with subtitles (onMetaData,
onTextData), and made by hand, every AMF0 type chrys reads and what it
must refuse.  Regression inputs, saved from crashes, go in by hand as
seeds/NAME/regress-*; this leaves them alone.
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


def script_tags(path):
    """The bodies of the script (data) tags of an FLV file, after the
    name: what chrys converts."""
    data = open(path, 'rb').read()
    off = struct.unpack('>I', data[5:9])[0] + 4
    tags = []

    while off + 11 <= len(data):
        size = int.from_bytes(data[off + 1:off + 4], 'big')

        if data[off] == 18:
            body = data[off + 11:off + 11 + size]
            n = int.from_bytes(body[1:3], 'big')
            assert body[0] == 2, path
            tags.append((body[3:3 + n].decode(), body[3 + n:]))

        off += 11 + size + 4

    return tags


def amf_number(d):
    return b'\x00' + struct.pack('>d', d)


def amf_string(s):
    if isinstance(s, str):
        s = s.encode()
    return b'\x02' + struct.pack('>H', len(s)) + s


def amf_object(members, ecma=False):
    """An object (or an ECMA array) of (name, AMF0 value) pairs."""
    out = (b'\x08' + struct.pack('>I', len(members))) if ecma else b'\x03'
    for name, value in members:
        out += struct.pack('>H', len(name)) + name.encode() + value
    return out + b'\x00\x00\x09'


def amf_array(values):
    return b'\x0a' + struct.pack('>I', len(values)) + b''.join(values)


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


SUBTITLES = ('1\n00:00:00,000 --> 00:00:00,500\ncaf\u00e9 "one"\n\n'
             '2\n00:00:00,500 --> 00:00:01,000\nline\\two\n\n')

CUE = amf_object([('name', amf_string('door')),
                  ('time', amf_number(12.5)),
                  ('type', amf_string('event')),
                  ('parameters', amf_object([('id', amf_number(7)),
                                             ('open', b'\x01\x01')]))])

AMF = {
    # what an encoder sends with onCuePoint, and @setDataFrame's values
    'amf-cue-point': CUE,
    'amf-two-values': amf_string('a') + amf_number(-3),
    # each type: numbers, boolean, null, undefined, strict array, date,
    # long string
    'amf-types': (amf_number(1.5) + amf_number(-0.0) + amf_number(1e300)
                  + amf_number(5e-324) + b'\x01\x00\x05\x06'
                  + amf_array([amf_number(7), b'\x05'])
                  + b'\x0b' + struct.pack('>d', 1.4e12) + b'\x00\x00'
                  + b'\x0c\x00\x00\x00\x03abc'),
    'amf-nan-inf': (b'\x00\x7f\xf8\x00\x00\x00\x00\x00\x00'
                    + b'\x00\xff\xf0\x00\x00\x00\x00\x00\x00'),
    'amf-empty-object': b'\x03\x00\x00\x09' + amf_object([('', b'\x05')]),
    'amf-escapes': amf_string(b'q"b\\s/\n\t\x01\x1f\x7f'),
    # strings that are not UTF-8: a lone byte, an overlong form, a
    # surrogate, past U+10FFFF, a cut sequence, continuation bytes alone
    'amf-not-utf8': (amf_string(b'\xff\xfe') + amf_string(b'\xc0\xaf')
                     + amf_string(b'\xed\xa0\x80')
                     + amf_string(b'\xf4\x90\x80\x80')
                     + amf_string(b'caf\xc3') + amf_string(b'\x80\xbf')),
    'amf-utf8': amf_string('caf\u00e9 \u4eba \U0001f600'),
    'amf-deep-16': b'\x0a\x00\x00\x00\x01' * 16 + b'\x05',
    'amf-too-deep-17': b'\x0a\x00\x00\x00\x01' * 17 + b'\x05',
    'amf-objects-deep-16': b'\x03\x00\x01a' * 16 + b'\x05'
                           + b'\x00\x00\x09' * 16,
    # cut short, lying, and what chrys does not take
    'amf-cut-number': b'\x00\x3f\xf8',
    'amf-cut-string': b'\x02\x00\x09abc',
    'amf-cut-object': CUE[:-3],
    'amf-cut-long-string': b'\x0c\xff\xff\xff\xffabc',
    'amf-lying-array': b'\x0a\xff\xff\xff\xff\x05\x05',
    'amf-reference': b'\x07\x00\x01',
    'amf-amf3': b'\x11\x01',
    'amf-typed-object': b'\x10\x00\x01a\x00\x00\x09',
}


def subtitles(tmp):
    """The data tags of an FLV file with video and two subtitles."""
    srt = os.path.join(tmp, 'sub.srt')
    path = os.path.join(tmp, 'sub.flv')

    with open(srt, 'w', encoding='utf-8') as f:
        f.write(SUBTITLES)

    subprocess.run(['ffmpeg', '-loglevel', 'error', '-y', '-f', 'lavfi',
                    '-i', 'testsrc2=size=160x120:d=1', '-i', srt,
                    '-map', '0', '-map', '1', '-c:v', 'libx264',
                    '-c:s', 'text', '-f', 'flv', path], check=True)
    return script_tags(path)


def audio_config(tmp, layout):
    """The AudioSpecificConfig ffmpeg's AAC encoder writes for a layout,
    from the sequence header of an FLV file."""
    path = os.path.join(tmp, 'aac-%s.flv' % layout)
    subprocess.run(['ffmpeg', '-loglevel', 'error', '-y', '-f', 'lavfi',
                    '-i', 'sine=d=0.1', '-af',
                    'aformat=channel_layouts=' + layout, '-c:a', 'aac',
                    '-f', 'flv', path], check=True)
    data = open(path, 'rb').read()
    off = struct.unpack('>I', data[5:9])[0] + 4

    while data[off] != 8:
        off += 11 + int.from_bytes(data[off + 1:off + 4], 'big') + 4

    assert data[off + 11:off + 13] == b'\xaf\x00', path
    size = int.from_bytes(data[off + 1:off + 4], 'big')
    return data[off + 13:off + 11 + size]


def write(kind, name, data):
    assert len(data) < 2048, name
    with open(os.path.join(HERE, 'seeds', kind, name), 'wb') as f:
        f.write(data)


def main():
    for kind in ('avc', 'query', 'json', 'amf'):
        os.makedirs(os.path.join(HERE, 'seeds', kind), exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        header, idr, p1, p2, eos = ffmpeg(tmp, 'avc.flv', 'libx264', 3)
        flv1 = ffmpeg(tmp, 'flv1.flv', 'flv1', 2)
        data = subtitles(tmp)
        configs = {layout: audio_config(tmp, layout)
                   for layout in ('stereo', 'quad', 'hexagonal', '7.1')}

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

    # AudioSpecificConfigs: with a PCE (quad, hexagonal), and without
    for layout, config in configs.items():
        write('avc', 'aac-config-' + layout, config)

    for name, text in QUERIES.items():
        write('query', name, text.encode())

    for name, text in BODIES.items():
        write('json', name, text.encode())

    for name, raw in RAW_BODIES.items():
        write('json', name, raw)

    names = [name for name, _ in data]
    assert names == ['onMetaData', 'onTextData', 'onTextData'], names

    write('amf', 'flv-on-meta-data', data[0][1])
    write('amf', 'flv-on-text-data', data[1][1])
    write('amf', 'flv-on-text-data-2', data[2][1])
    write('amf', 'flv-on-meta-data-cut', data[0][1][:100])

    for name, raw in AMF.items():
        write('amf', name, raw)


if __name__ == '__main__':
    main()
