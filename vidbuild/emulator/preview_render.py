"""Draws and encodes an emulator preview: still cards (Pillow) as H.264 in MP4 (PyAV), and a JPEG thumbnail.

Cheap by construction: a card is drawn once per caption, straight in YCbCr (JPEG's full-range
BT.601, which the stream declares, so no colour conversion runs), and encoded as one still frame,
repeated only where a caption stays up longer than ``MAX_STILL_MS``; x264's fastest preset turns a
repeat into a few bytes of skipped blocks. Timestamps are in milliseconds, the precision a video's
stored duration has, and the last frame's duration is set, so the MP4 lasts exactly that long.
Encoding is single-threaded and has no clock in it: the same plan gives the same bytes.

Imports PyAV and Pillow (the ``preview`` extra): import this module only through ``preview.py``.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

import av
from PIL import Image, ImageDraw, ImageFont, features

from vidbuild.emulator import preview_captions as captions
from vidbuild.emulator.preview_plan import PreviewPlan
from vidbuild.emulator.preview_slices import (
    CODEC,
    MACROBLOCK,
    START_CODE,
    Band,
    Planes,
    check_headers,
    coded_size,
    encode_band,
    repeat_slice,
    stream_headers,
)

TIME_BASE: Final = Fraction(1, 1000)
MAX_STILL_MS: Final = 2000       # the lowest frame rate: 0.5 fps while one caption is up
CAPTION_LINES: Final = 2
JPEG_QUALITY: Final = 85

Colour = tuple[int, int, int]
# Splits card ``index``'s text into the captions shown one after another.
CueSplitter = Callable[[int], list[str]]
_WHITE: Final = (255, 255, 255)
_INK_DARK: Final = (24, 24, 28)
# Caption band and text: greys, whose chroma is neutral (128) in YCbCr.
_BAND_LUMA: Final = 16
_TEXT_LUMA: Final = 255
_NEUTRAL_CHROMA: Final = 128
_PLACEHOLDER: Final = (138, 143, 152)




@dataclass(frozen=True)
class Still:
    """One frame: ``card`` (index into the plan's cards) showing ``caption`` from ``start_ms`` on,
    for ``length_ms``; ``scene_start`` marks the first frame of a scene (encoded as a keyframe)."""

    card: int
    caption: str
    start_ms: int
    length_ms: int
    scene_start: bool


def encoder_problem() -> str | None:
    """Why previews can't be made here (PyAV's FFmpeg lacks H.264, Pillow FreeType), or None."""
    if CODEC not in av.codecs_available:
        return f"PyAV's FFmpeg has no {CODEC} encoder"
    if not features.check("freetype2"):
        return "Pillow has no FreeType, which captions need"
    return None


def render_mp4(plan: PreviewPlan) -> bytes:
    """The preview as an MP4: ``plan.width`` x ``plan.height``, ``plan.duration`` seconds, H.264."""
    artist = _Artist(plan)
    output = io.BytesIO()
    with av.open(output, "w", format="mp4") as container:
        stream = container.add_mux_stream("h264", width=plan.width, height=plan.height)
        stream.time_base = TIME_BASE
        pictures, since_idr, previous = 0, 0, None
        for still in stills(plan, artist.caption_cues):
            if (still.card, still.caption) == previous and not still.scene_start:
                since_idr += 1
                data = START_CODE + repeat_slice(plan.width, plan.height, since_idr)
            else:
                # The muxer takes the parameter sets from the first picture's (Annex B) bytes.
                headers = stream_headers(plan.width, plan.height) if pictures == 0 else b""
                data = headers + artist.picture(still.card, still.caption, pictures % 2)
                pictures, since_idr, previous = pictures + 1, 0, (still.card, still.caption)
            packet = av.Packet(data)
            packet.stream, packet.time_base = stream, TIME_BASE
            packet.pts = packet.dts = still.start_ms
            packet.duration = still.length_ms
            packet.is_keyframe = since_idr == 0
            container.mux(packet)
    return output.getvalue()


def render_thumbnail(plan: PreviewPlan) -> bytes:
    """The preview's first frame as a JPEG, full size."""
    artist = _Artist(plan)
    first = next(stills(plan, artist.caption_cues))
    output = io.BytesIO()
    artist.image(first.card, first.caption).save(output, "JPEG", quality=JPEG_QUALITY)
    return output.getvalue()


def stills(plan: PreviewPlan, cues: CueSplitter) -> Iterator[Still]:
    """The frames of ``plan`` in order; ``cues(card)`` splits a card's text into captions.

    Scene and caption boundaries are rounded to the millisecond from the running total, so the
    frames tile ``[0, duration]`` exactly; a caption's share of its scene follows its length.
    """
    total_ms = round(plan.duration * 1000)
    elapsed = 0.0
    for index, card in enumerate(plan.cards):
        start, elapsed = round(elapsed * 1000), elapsed + card.seconds
        end = total_ms if index == len(plan.cards) - 1 else min(round(elapsed * 1000), total_ms)
        yield from _scene_stills(index, cues(index), start, end)


def _scene_stills(index: int, captions: list[str], start: int, end: int) -> Iterator[Still]:
    weights = [max(1, len(caption)) for caption in captions]
    done, first = 0, True
    for caption, weight in zip(captions, weights, strict=True):
        cue_start = start + (end - start) * done // sum(weights)
        done += weight
        cue_end = start + (end - start) * done // sum(weights)
        for at in range(cue_start, cue_end, MAX_STILL_MS):
            yield Still(index, caption, at, min(MAX_STILL_MS, cue_end - at), first)
            first = False


@dataclass(frozen=True)
class _Layout:
    """Where things go in a ``width`` x ``height`` frame: margins and type sizes follow its short side."""

    width: int
    height: int

    @property
    def short(self) -> int:
        return min(self.width, self.height)

    @property
    def margin(self) -> int:
        return max(8, round(self.short * 0.06))

    @property
    def padding(self) -> int:
        return max(4, round(self.short * 0.02))

    @property
    def caption_size(self) -> int:
        return max(12, round(self.short * 0.05))

    @property
    def coded_height(self) -> int:
        return coded_size(self.width, self.height)[1]

    def band_rows(self, lines: int) -> tuple[int, int]:
        """The rows, in whole macroblocks, of the band of a caption of ``lines`` lines (none for
        0): above and below it, a scene's frames are its backdrop, whatever the caption."""
        if lines == 0:
            return self.coded_height, self.coded_height
        top = max(0, self.caption_top(lines) // MACROBLOCK * MACROBLOCK)
        return top, min(self.coded_height, -(-(self.height - self.margin + 1) // MACROBLOCK) * MACROBLOCK)

    @property
    def header_font(self) -> ImageFont.FreeTypeFont:
        return captions.font(max(10, round(self.short * 0.035)))

    def caption_top(self, lines: int) -> int:
        """The top row of the band of a caption of ``lines`` lines."""
        return self.height - self.margin - 2 * self.padding \
            - captions.block_height(self.caption_size, lines)


@dataclass(frozen=True)
class _Backdrop:
    """A scene's picture behind its captions: background or placeholder, avatar, header line."""

    layout: _Layout
    colour: str | None
    placeholder: str
    avatar: bool
    header: str


class _Artist:
    """Draws a plan's cards: captions on copies of each scene's backdrop."""

    def __init__(self, plan: PreviewPlan) -> None:
        self._plan = plan
        self._layout = _Layout(plan.width, plan.height)

    def caption_cues(self, index: int) -> list[str]:
        """The card's text as captions of at most ``CAPTION_LINES`` lines that fit the band."""
        layout = self._layout
        lines = captions.wrap(self._plan.cards[index].text, layout.caption_size,
                              layout.width - 2 * (layout.margin + layout.padding))
        groups = [lines[at:at + CAPTION_LINES] for at in range(0, len(lines), CAPTION_LINES)]
        return ["\n".join(group) for group in groups] or [""]

    def image(self, index: int, caption: str) -> Image.Image:
        """Card ``index`` with ``caption`` in its band, full size (the thumbnail)."""
        luma, blue, red = self.planes(index, caption)
        size = (self._layout.width, self._layout.height)
        return Image.merge("YCbCr", (luma, blue.resize(size), red.resize(size)))

    def picture(self, index: int, caption: str, idr_pic_id: int) -> bytes:
        """Card ``index`` with ``caption`` as an IDR picture's slices (Annex B): the caption's
        band, and the backdrop above and below it, both kept across previews."""
        layout, backdrop = self._layout, self._backdrop(index)
        top, bottom = layout.band_rows(caption.count("\n") + 1 if caption else 0)
        slices = [*_backdrop_slices(backdrop, 0, top, idr_pic_id)]
        if caption:
            slices += _caption_band(backdrop, caption, top, bottom).placed(
                top // MACROBLOCK * coded_size(layout.width, 1)[0] // MACROBLOCK, idr_pic_id)
        slices += _backdrop_slices(backdrop, bottom, layout.coded_height, idr_pic_id)
        return b"".join(START_CODE + nal for nal in slices)

    def planes(self, index: int, caption: str) -> Planes:
        """Card ``index`` with ``caption`` as 4:2:0 planes: luma, and chroma at half size."""
        return _captioned_planes(self._backdrop(index), caption, 0)

    def _backdrop(self, index: int) -> _Backdrop:
        card = self._plan.cards[index]
        names = " · ".join(part for part in (card.avatar, card.voice) if part)
        header = f"{index + 1}/{len(self._plan.cards)}" + (f" · {names}" if names else "")
        return _Backdrop(self._layout, card.colour, card.placeholder, bool(card.avatar), header)


@functools.lru_cache(maxsize=64)
def _backdrop_slices(backdrop: _Backdrop, top: int, bottom: int, idr_pic_id: int) -> tuple[bytes, ...]:
    """The slices of the backdrop's rows ``top`` to ``bottom`` (whole macroblocks), as picture
    ``idr_pic_id`` places them. Kept: a campaign's rows share their scenes' backdrops."""
    layout = backdrop.layout
    if top >= bottom:
        return ()
    band = encode_band(_backdrop_planes(backdrop), top, bottom - top)
    check_headers(layout.width, layout.height, band)
    return tuple(band.placed(top // MACROBLOCK * coded_size(layout.width, 1)[0] // MACROBLOCK,
                             idr_pic_id))


@functools.lru_cache(maxsize=256)
def _caption_band(backdrop: _Backdrop, caption: str, top: int, bottom: int) -> Band:
    """The backdrop's rows ``top`` to ``bottom`` with ``caption`` drawn, encoded. Kept: a
    campaign repeats captions (a scene without a name in it, a common first name)."""
    return encode_band(_captioned_planes(backdrop, caption, top), 0, bottom - top)


def _captioned_planes(backdrop: _Backdrop, caption: str, top: int) -> Planes:
    """The backdrop with ``caption`` as 4:2:0 planes from row ``top`` (even) down: luma, and
    chroma at half size.

    The caption band and its text are grey, so its chroma is flat: only the luma plane gets
    text drawn, which spares a colour conversion and chroma scaling per caption.
    """
    luma, blue, red = _backdrop_planes(backdrop)
    planes = (luma.crop((0, top, luma.width, luma.height)),
              blue.crop((0, top // 2, blue.width, blue.height)),
              red.crop((0, top // 2, red.width, red.height)))
    if caption:
        _draw_caption(backdrop.layout, planes, caption, top)
    return planes


@functools.lru_cache(maxsize=8)
def _backdrop_planes(backdrop: _Backdrop) -> Planes:
    """The backdrop's 4:2:0 planes. Kept for the next previews: a campaign's rows share their
    scenes' backgrounds, avatars and names, and differ in the captions drawn on copies."""
    luma, blue, red = _draw_backdrop(backdrop).split()
    return luma, blue.reduce(2), red.reduce(2)


def _draw_backdrop(backdrop: _Backdrop) -> Image.Image:
    layout = backdrop.layout
    background = _rgb(backdrop.colour) if backdrop.colour else _PLACEHOLDER
    ink = _ink_on(background)
    image = Image.new("YCbCr", (layout.width, layout.height), _ycbcr(background))
    draw = ImageDraw.Draw(image)
    if backdrop.colour is None:
        _draw_placeholder(draw, layout, backdrop.placeholder, ink)
    if backdrop.avatar:
        _draw_avatar(draw, layout, _mix(background, ink, 0.3))
    draw.text((layout.width // 2, layout.margin), backdrop.header, font=layout.header_font,
              fill=_ycbcr(ink), anchor="ma")
    return image


def _draw_placeholder(draw: ImageDraw.ImageDraw, layout: _Layout, label: str, ink: Colour) -> None:
    m, w, h = layout.margin, layout.width, layout.height
    line, width = _ycbcr(_mix(_PLACEHOLDER, ink, 0.25)), max(2, m // 8)
    draw.rectangle((m, m, w - m, h - m), outline=line, width=width)
    draw.line((m, m, w - m, h - m), fill=line, width=width)
    draw.line((m, h - m, w - m, m), fill=line, width=width)
    # Above the avatar, below the header line.
    draw.text((w // 2, round(h * 0.2)), label, font=layout.header_font, fill=_ycbcr(ink), anchor="mm")


def _draw_avatar(draw: ImageDraw.ImageDraw, layout: _Layout, colour: Colour) -> None:
    x, y = layout.width // 2, round(layout.height * 0.4)
    radius = round(layout.short * 0.1)
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=_ycbcr(colour))
    draw.chord((x - 2 * radius, y + round(1.2 * radius), x + 2 * radius, y + 5 * radius),
               180, 360, fill=_ycbcr(colour))


def _draw_caption(layout: _Layout, planes: Planes, caption: str, offset: int) -> None:
    """Draw ``caption`` in its band on ``planes``, which start at row ``offset`` of the frame."""
    m, p = layout.margin, layout.padding
    lines = caption.split("\n")
    top, bottom = layout.caption_top(len(lines)) - offset, layout.height - m - offset
    if top < 0:
        raise ValueError(f"a caption band from row {top + offset} reaches above row {offset}")
    ImageDraw.Draw(planes[0]).rectangle((m, top, layout.width - m, bottom), fill=_BAND_LUMA)
    captions.draw_lines(planes[0], lines, layout.caption_size, layout.width // 2, top + p, _TEXT_LUMA)
    for chroma in planes[1:]:
        ImageDraw.Draw(chroma).rectangle((m // 2, top // 2, (layout.width - m) // 2, bottom // 2),
                                         fill=_NEUTRAL_CHROMA)


@functools.cache
def _ycbcr(rgb: Colour) -> Colour:
    """An RGB colour in JFIF's YCbCr, converted by Pillow as it converts whole images."""
    pixel = Image.new("RGB", (1, 1), rgb).convert("YCbCr").getpixel((0, 0))
    assert isinstance(pixel, tuple)
    return (int(pixel[0]), int(pixel[1]), int(pixel[2]))


def _rgb(hex_colour: str) -> Colour:
    value = int(hex_colour[1:], 16)
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


def _ink_on(background: Colour) -> Colour:
    red, green, blue = background
    return _INK_DARK if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else _WHITE


def _mix(base: Colour, other: Colour, amount: float) -> Colour:
    red, green, blue = (round(b + (o - b) * amount) for b, o in zip(base, other, strict=True))
    return red, green, blue
