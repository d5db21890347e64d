"""Encodes a preview's still pictures with x264 and muxes them into an MP4, both through PyAV.

Each distinct picture is encoded once, as an IDR picture (every frame a keyframe), by an x264
encoder kept per thread and picture size: ``ultrafast`` preset (baseline profile, which
Chromium plays), ``zerolatency`` tune (a packet per frame, none held back) and a constant
quantiser, so a picture's packet depends on its pixels alone and can be kept and reused by any
preview showing it. The packet carries x264's own parameter sets (an encoder with no global
header repeats them before each IDR picture); the muxer takes the MP4's ``avcC`` from the first
packet, and every encoder of a size has the same options, so the same parameter sets.

The one thing about a kept packet that depends on what its encoder did before is the IDR
picture's number, ``idr_pic_id``, which must differ between consecutive IDR pictures
(ITU-T H.264 7.4.3). x264 alternates an encoder's ``idr_pic_id`` between 0 and 1 (its
encoder.c, ``slice_init``), so a preview's pictures are numbered 0, 1, 0, ... or 1, 0, 1, ...:
``encode`` is asked for a number, ``Picture`` records it, and ``preview_render`` keeps a
picture under each number it was encoded with. Each thread keeps two encoders per size, so
two pictures wanting the same number in a row are both encoded once as a rule.

Failures are RuntimeErrors or PyAV's errors; ``preview.py`` logs them and serves the shipped
file. Imports PyAV (the ``preview`` extra): import this module only through ``preview_render.py``.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

import av
from av.codec.context import CodecContext
from av.video.codeccontext import VideoCodecContext
from PIL import Image

CODEC: Final = "libx264"
PIXEL_FORMAT: Final = "yuvj420p"   # full range, as Pillow's YCbCr
ENCODER_OPTIONS: Final = {"preset": "ultrafast", "tune": "zerolatency", "qp": "26"}
TIME_BASE: Final = Fraction(1, 1000)
IDR_PIC_IDS: Final = 2   # x264 alternates the IDR pictures of an encoder between 0 and 1

Planes = tuple[Image.Image, Image.Image, Image.Image]


@dataclass(frozen=True)
class Picture:
    """One still picture encoded: ``data``, a packet of one IDR access unit (Annex B, with its
    parameter sets), numbered ``idr_pic_id`` by its encoder."""

    data: bytes
    idr_pic_id: int


@dataclass(frozen=True)
class Shown:
    """``picture`` shown from ``start_ms`` for ``length_ms`` milliseconds."""

    picture: Picture
    start_ms: int
    length_ms: int


def encode(planes: Planes, number: int) -> list[Picture]:
    """A picture's 4:2:0 ``planes`` (luma, and chroma at half size) as an IDR picture numbered
    ``number`` (0 or 1): encoded on one of this thread's encoders for the luma plane's size
    that numbers its next picture so, and if neither does, encoded twice (the first picture,
    numbered otherwise, is kept too: the list has one or two pictures, the wanted one last)."""
    encoders = _encoders(*planes[0].size)
    ready = [encoder for encoder in encoders if encoder.pictures % IDR_PIC_IDS == number]
    if ready:
        return [_encoded(ready[0], planes)]
    return [_encoded(encoders[0], planes), _encoded(encoders[0], planes)]


def next_numbers(width: int, height: int) -> list[int]:
    """The numbers this thread's encoders for ``width`` x ``height`` give their next pictures."""
    return [encoder.pictures % IDR_PIC_IDS for encoder in _encoders(width, height)]


def _encoded(encoder: _Encoder, planes: Planes) -> Picture:
    width, height = planes[0].size
    frame = av.VideoFrame(width, height, PIXEL_FORMAT)
    for plane, source in zip(frame.planes, planes, strict=True):
        # Rows are ``line_size`` bytes apart; a crop past the image's edge pads them with zeros.
        if plane.line_size != source.width:
            source = source.crop((0, 0, plane.line_size, plane.height))
        plane.update(source.tobytes())
    frame.pts = encoder.pictures
    packets = encoder.context.encode(frame)
    if len(packets) != 1 or not packets[0].is_keyframe:
        raise RuntimeError(f"x264 gave {len(packets)} packets for a still picture, not one keyframe")
    number = encoder.pictures % IDR_PIC_IDS
    encoder.pictures += 1
    return Picture(bytes(packets[0]), number)


def mux(width: int, height: int, shown: Iterable[Shown]) -> bytes:
    """An MP4 of one ``width`` x ``height`` H.264 track showing each picture at its time, each
    sample lasting its ``length_ms``: the MP4 lasts until the last one ends."""
    output = io.BytesIO()
    with av.open(output, "w", format="mp4") as container:
        stream = container.add_mux_stream("h264", width=width, height=height)
        stream.time_base = TIME_BASE
        for item in shown:
            packet = av.Packet(item.picture.data)
            packet.stream, packet.time_base = stream, TIME_BASE
            packet.pts = packet.dts = item.start_ms
            packet.duration = item.length_ms
            packet.is_keyframe = True
            container.mux(packet)
    return output.getvalue()


class _Encoder:
    """An open x264 encoder and how many pictures it has encoded."""

    def __init__(self, context: VideoCodecContext) -> None:
        self.context = context
        self.pictures = 0


class _ThreadEncoders(threading.local):
    """Each thread's encoders by picture size: an x264 encoder is used by one thread at a time."""

    def __init__(self) -> None:
        self.by_size: dict[tuple[int, int], tuple[_Encoder, _Encoder]] = {}


_ENCODERS: Final = _ThreadEncoders()


def _encoders(width: int, height: int) -> tuple[_Encoder, _Encoder]:
    encoders = _ENCODERS.by_size
    if (width, height) not in encoders:
        encoders[(width, height)] = (_opened(width, height), _opened(width, height))
    return encoders[(width, height)]


def _opened(width: int, height: int) -> _Encoder:
    """A new encoder, past its first picture: x264 puts its version and options (an SEI
    message) before the first one only, and a kept picture shouldn't carry them."""
    context = CodecContext.create(CODEC, "w")
    if not isinstance(context, VideoCodecContext):
        raise RuntimeError(f"PyAV's {CODEC} is not a video encoder")
    context.width, context.height, context.pix_fmt = width, height, PIXEL_FORMAT
    context.time_base = TIME_BASE
    context.gop_size = 1   # every picture an IDR picture
    context.thread_count = 1
    context.options = dict(ENCODER_OPTIONS)
    context.open()
    encoder = _Encoder(context)
    blank = Image.new("L", (width, height))
    _encoded(encoder, (blank, blank.reduce(2), blank.reduce(2)))
    return encoder
