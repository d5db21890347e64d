"""Encodes a preview's still frames as H.264 slices, each band of the picture encoded once.

A caption changes only a band near the bottom of a card, and a campaign's rows share their
scenes' backdrops, so a frame is spliced from intra slices (an IDR picture): the backdrop above
and below the caption's band, encoded once per backdrop and kept, and the band, encoded per
caption (``preview_render`` says which rows). x264 encodes each band as a picture of its
own; intra prediction never reaches across a slice and deblocking is off, so a
band decodes the same placed lower in a taller picture once its slice header says where
(``first_mb_in_slice``, ITU-T H.264 7.3.3). The header also gets the frame's ``idr_pic_id``,
which must alternate between consecutive IDR pictures (7.4.3).

Bands are encoded with x264's ``ultrafast`` preset (CAVLC, no deblocking, baseline profile) and
``zerolatency`` tune (a packet per frame, none held back), at a constant quantiser, each frame
forced to be an IDR picture: a band's bytes depend on its pixels alone, whatever the encoder
encoded before, so encoders are kept (one per thread and band size) and the same plan always
gives the same bytes. The stream's parameter sets are those of an encoder opened at the whole
frame's size with the same options; they differ from a band's only in the picture size.

Failures are RuntimeErrors (x264 giving a stream set up otherwise than expected); ``preview.py``
logs them and serves the shipped file. Imports PyAV (the ``preview`` extra): import this module
only through ``preview_render.py``.
"""

from __future__ import annotations

import functools
import re
import threading
from fractions import Fraction
from typing import Final

import av
from av.codec.context import CodecContext
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType
from PIL import Image

CODEC: Final = "libx264"
PIXEL_FORMAT: Final = "yuvj420p"   # full range, as Pillow's YCbCr
ENCODER_OPTIONS: Final = {"preset": "ultrafast", "tune": "zerolatency", "qp": "26"}
MACROBLOCK: Final = 16
START_CODE: Final = b"\x00\x00\x00\x01"

_NAL_IDR_SLICE: Final = 5
_NAL_SPS: Final = 7
_NAL_PPS: Final = 8
# Profiles whose SPS carries chroma format and bit depths before log2_max_frame_num (7.3.2.1.1).
_HIGH_PROFILES: Final = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
_ESCAPE_NEEDED: Final = re.compile(b"\x00\x00(?=[\x00-\x03])")

Planes = tuple[Image.Image, Image.Image, Image.Image]


class Band:
    """One band of a picture encoded as an IDR picture of its own: its slices, ready to splice,
    and the parameter sets they were encoded with (``check_headers`` compares them)."""

    def __init__(self, slices: list[bytes], sps: bytes, pps: bytes) -> None:
        self.slices = slices
        self.pps = pps
        self.frame_num_bits = _frame_numbering(sps)[0]

    def placed(self, first_macroblock: int, idr_pic_id: int) -> list[bytes]:
        """The band's slices starting ``first_macroblock`` macroblocks into a frame."""
        return [_resliced(nal, first_macroblock, idr_pic_id, self.frame_num_bits)
                for nal in self.slices]


def coded_size(width: int, height: int) -> tuple[int, int]:
    """The frame size in whole macroblocks (the stream crops back to ``width`` x ``height``)."""
    return -(-width // MACROBLOCK) * MACROBLOCK, -(-height // MACROBLOCK) * MACROBLOCK


def encode_band(planes: Planes, top: int, height: int) -> Band:
    """Rows ``top`` to ``top + height`` of a picture's 4:2:0 ``planes`` (luma size, half-size
    chroma) as a band; ``top`` and ``height`` are multiples of ``MACROBLOCK``, and rows or
    columns past the picture's edge are encoded as black (the stream crops them)."""
    width = coded_size(planes[0].width, 1)[0]
    frame = av.VideoFrame(width, height, PIXEL_FORMAT)
    for plane, (source, scale) in zip(frame.planes, ((planes[0], 1), (planes[1], 2), (planes[2], 2)),
                                      strict=True):
        plane.update(source.crop((0, top // scale, plane.line_size,
                                  (top + height) // scale)).tobytes())
    frame.pict_type = PictureType.I
    encoder = _encoder(width, height)
    frame.pts = encoder.frames_encoded = encoder.frames_encoded + 1
    data = b"".join(bytes(packet) for packet in encoder.context.encode(frame))
    units = _nal_units(data)
    return Band([unit for unit in units if unit[0] & 0x1F == _NAL_IDR_SLICE],
                _unit(units, _NAL_SPS), _unit(units, _NAL_PPS))


@functools.cache
def stream_headers(width: int, height: int) -> bytes:
    """The sequence and picture parameter sets (Annex B) of a ``width`` x ``height`` stream."""
    context = _open_encoder(width, height, global_header=True)
    return bytes(context.extradata or b"")


def check_headers(width: int, height: int, band: Band) -> None:
    """Raise RuntimeError (x264 set up in a way this module doesn't expect) unless ``band``
    splices into a ``width`` x ``height`` stream (the same picture parameter set and
    ``frame_num`` width) and the stream can repeat a picture as ``repeat_slice`` writes it."""
    units = _nal_units(stream_headers(width, height))
    pps = _unit(units, _NAL_PPS)
    if pps != band.pps or _frame_numbering(_unit(units, _NAL_SPS)) != (band.frame_num_bits, 2):
        raise RuntimeError(f"x264's {width}x{height} stream is set up unlike its bands")
    bits = _Bits(_unescaped(pps[1:]))
    bits.golomb()
    bits.golomb()
    entropy, _, slice_groups, references = bits.read(1), bits.read(1), bits.golomb(), bits.golomb()
    bits.golomb()
    weighted, _, _, _, _, deblocking_control, _, redundant = (
        bits.read(1), bits.read(2), bits.golomb(), bits.golomb(), bits.golomb(), bits.read(1),
        bits.read(1), bits.read(1))
    if (entropy, slice_groups, references, weighted, deblocking_control, redundant) != (0, 0, 0, 0, 1, 0):
        raise RuntimeError(f"x264's picture parameter set {pps.hex()} is not the one expected")


@functools.cache
def repeat_slice(width: int, height: int, frame_num: int) -> bytes:
    """A P picture that repeats the one before: one slice whose macroblocks are all skipped
    (``mb_skip_run``, 7.3.4; a skipped macroblock among skipped ones has no motion, 8.4.1.1).
    A reference picture (``nal_ref_idc`` 2), ``frame_num`` counting from the last IDR picture,
    for ``check_headers``'s parameter sets: CAVLC, one reference, deblocking off."""
    coded_width, coded_height = coded_size(width, height)
    bits = _frame_numbering(_unit(_nal_units(stream_headers(width, height)), _NAL_SPS))[0]
    fields = [_golomb_code(0), _golomb_code(5), _golomb_code(0),   # first_mb, P, PPS 0
              (frame_num % (1 << bits), bits),
              (0, 3),            # no num_ref_idx override, no list modification, sliding window
              _golomb_code(0),   # slice_qp_delta 0 (se(v) 0 is ue(v) 0)
              _golomb_code(1),   # disable_deblocking_filter_idc: off, as x264's pictures
              _golomb_code(coded_width * coded_height // MACROBLOCK ** 2), (1, 1)]  # + stop bit
    value, size = 0, 0
    for code, length in fields:
        value, size = (value << length) | code, size + length
    value <<= -size % 8
    return bytes([0x41]) + _escaped(value.to_bytes((size + 7) // 8, "big"))


class _Encoder:
    def __init__(self, context: VideoCodecContext) -> None:
        self.context = context
        self.frames_encoded = 0


class _ThreadEncoders(threading.local):
    """Each thread's band encoders by size: an x264 encoder is used by one thread at a time."""

    def __init__(self) -> None:
        self.by_size: dict[tuple[int, int], _Encoder] = {}


_ENCODERS: Final = _ThreadEncoders()


def _encoder(width: int, height: int) -> _Encoder:
    encoders = _ENCODERS.by_size
    if (width, height) not in encoders:
        encoders[(width, height)] = _Encoder(_open_encoder(width, height, global_header=False))
    return encoders[(width, height)]


def _open_encoder(width: int, height: int, *, global_header: bool) -> VideoCodecContext:
    context = CodecContext.create(CODEC, "w")
    if not isinstance(context, VideoCodecContext):
        raise RuntimeError(f"PyAV's {CODEC} is not a video encoder")
    context.width, context.height, context.pix_fmt = width, height, PIXEL_FORMAT
    context.time_base = Fraction(1, 1000)
    context.thread_count = 1
    context.options = dict(ENCODER_OPTIONS)
    if global_header:
        # As a muxer asks: parameter sets apart (the extradata) instead of before each picture.
        context.flags |= av.codec.context.Flags.global_header
    context.open()
    return context


def _nal_units(annex_b: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (a unit never ends in a zero byte: 7.4.1)."""
    return [unit.rstrip(b"\x00") for unit in annex_b.split(b"\x00\x00\x01") if unit.strip(b"\x00")]


def _unit(units: list[bytes], kind: int) -> bytes:
    unit = next((unit for unit in units if unit[0] & 0x1F == kind), None)
    if unit is None:
        raise RuntimeError(f"x264 gave no NAL unit of type {kind} where one was due")
    return unit


def _frame_numbering(sps: bytes) -> tuple[int, int]:
    """``log2_max_frame_num`` and ``pic_order_cnt_type`` of a sequence parameter set (7.3.2.1.1)."""
    bits = _Bits(_unescaped(sps[1:64]))
    profile = bits.read(8)
    bits.read(16)         # constraint flags, level_idc
    bits.golomb()         # seq_parameter_set_id
    if profile in _HIGH_PROFILES:
        if bits.golomb() == 3:   # chroma_format_idc 4:4:4
            bits.read(1)
        bits.golomb()
        bits.golomb()
        bits.read(1)
        if bits.read(1):
            raise RuntimeError("x264 gave a sequence parameter set with scaling matrices")
    return bits.golomb() + 4, bits.golomb()


def _resliced(nal: bytes, first_macroblock: int, idr_pic_id: int, frame_num_bits: int) -> bytes:
    """An IDR slice NAL unit moved ``first_macroblock`` macroblocks on, with ``idr_pic_id``.

    The slice data (CAVLC: no byte alignment inside) is kept bit for bit behind the new header
    fields; its stop bit and zero padding are redone for the new length (7.3.2.11).
    """
    payload = _unescaped(nal[1:])
    bits = _Bits(payload[:32])
    fields = [_golomb_code(bits.golomb() + first_macroblock),   # first_mb_in_slice
              _golomb_code(bits.golomb()),                      # slice_type
              _golomb_code(bits.golomb()),                      # pic_parameter_set_id
              (bits.read(frame_num_bits), frame_num_bits)]      # frame_num
    bits.golomb()                                               # the old idr_pic_id
    fields.append(_golomb_code(idr_pic_id))
    kept = 8 * len(payload) - bits.at
    rest = int.from_bytes(payload, "big") & ((1 << kept) - 1)
    padding = (rest & -rest).bit_length() - 1
    value, size = 0, 0
    for code, length in [*fields, (rest >> padding, kept - padding)]:
        value, size = (value << length) | code, size + length
    value <<= -size % 8
    return nal[:1] + _escaped(value.to_bytes((size + 7) // 8, "big"))


def _golomb_code(number: int) -> tuple[int, int]:
    """ue(v) (9.1): ``number + 1`` in binary after as many zeros as it has bits, less one."""
    code = number + 1
    return code, 2 * code.bit_length() - 1


def _unescaped(payload: bytes) -> bytes:
    """The payload without its emulation prevention bytes (7.4.1)."""
    return payload.replace(b"\x00\x00\x03", b"\x00\x00")


def _escaped(payload: bytes) -> bytes:
    return _ESCAPE_NEEDED.sub(b"\x00\x00\x03", payload)


class _Bits:
    """Reads a bit string from its start: fixed-width fields and ue(v) codes."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._size = 8 * len(data)
        self.at = 0

    def read(self, count: int) -> int:
        self.at += count
        if self.at > self._size:
            raise RuntimeError("x264 gave a NAL unit shorter than its header")
        return (self._value >> (self._size - self.at)) & ((1 << count) - 1)

    def golomb(self) -> int:
        zeros = 0
        while self.read(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.read(zeros)
