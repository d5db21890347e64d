"""Draws and encodes an emulator preview: still cards (Pillow) as H.264 in MP4 (PyAV), and a JPEG thumbnail.

Cheap by construction: a card is drawn once per caption, straight in YCbCr (JPEG's full-range
BT.601, which the stream declares, so no colour conversion runs), and shown as one still
picture for as long as the caption is up (variable frame durations). A picture is encoded once
(``preview_encode``) and kept by what it shows, so a campaign's rows, which share scenes and
many captions, reuse each other's pictures; the MP4 is muxed from the kept packets.
Timestamps are in milliseconds, the precision a video's stored duration has, and the last
picture's duration is set, so the MP4 lasts exactly that long.

Imports PyAV and Pillow (the ``preview`` extra): import this module only through ``preview.py``.
"""

from __future__ import annotations

import collections
import functools
import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

import av
from PIL import Image, ImageDraw, ImageFont, features

from vidbuild.emulator import preview_captions as captions
from vidbuild.emulator.preview_encode import (
    CODEC,
    IDR_PIC_IDS,
    Picture,
    Planes,
    Shown,
    encode,
    mux,
    next_numbers,
)
from vidbuild.emulator.preview_plan import PreviewPlan

KEPT_PICTURES: Final = 1024      # encoded pictures kept for the next previews (~20 KiB at 720p)
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
    """One picture: ``card`` (index into the plan's cards) showing ``caption`` from ``start_ms``
    on, for ``length_ms``."""

    card: int
    caption: str
    start_ms: int
    length_ms: int


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
    held = list(_held(stills(plan, artist.caption_cues)))
    # Consecutive IDR pictures are numbered unlike each other (see preview_encode): 0, 1, 0, ...
    # or 1, 0, 1, ..., whichever needs fewer pictures encoded.
    keys = [artist.key(still.card, still.caption) for still in held]
    ready = next_numbers(plan.width, plan.height)
    first = min(range(IDR_PIC_IDS), key=lambda number: _encodings(keys, number, ready))
    shown = [Shown(artist.picture(still.card, still.caption, (first + at) % IDR_PIC_IDS),
                   still.start_ms, still.length_ms) for at, still in enumerate(held)]
    return mux(plan.width, plan.height, shown)


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


def _held(frames: Iterator[Still]) -> Iterator[Still]:
    """The stills with a caption shown twice in a row (a script repeating itself) as one."""
    last: Still | None = None
    for still in frames:
        if last is not None and (last.card, last.caption) == (still.card, still.caption):
            last = Still(last.card, last.caption, last.start_ms, last.length_ms + still.length_ms)
            continue
        if last is not None:
            yield last
        last = still
    if last is not None:
        yield last


def _scene_stills(index: int, captions: list[str], start: int, end: int) -> Iterator[Still]:
    weights = [max(1, len(caption)) for caption in captions]
    done = 0
    for caption, weight in zip(captions, weights, strict=True):
        cue_start = start + (end - start) * done // sum(weights)
        done += weight
        cue_end = start + (end - start) * done // sum(weights)
        if cue_end > cue_start:
            yield Still(index, caption, cue_start, cue_end - cue_start)


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

    def key(self, index: int, caption: str) -> _PictureKey:
        """What card ``index`` with ``caption`` shows, as its kept pictures are found by."""
        return self._backdrop(index), caption

    def picture(self, index: int, caption: str, number: int) -> Picture:
        """Card ``index`` with ``caption`` encoded as an IDR picture numbered ``number``: the one
        kept, or encoded now and kept (with any other picture encoded on the way to it)."""
        key = self.key(index, caption)
        with _PICTURES_LOCK:
            kept = _PICTURES.get((*key, number))
            if kept is not None:
                _PICTURES.move_to_end((*key, number))
                return kept
        encoded = encode(self.planes(index, caption), number)
        with _PICTURES_LOCK:
            for picture in encoded:
                _PICTURES[(*key, picture.idr_pic_id)] = picture
            while len(_PICTURES) > KEPT_PICTURES:
                _PICTURES.popitem(last=False)
        return encoded[-1]

    def planes(self, index: int, caption: str) -> Planes:
        """Card ``index`` with ``caption`` as 4:2:0 planes: luma, and chroma at half size."""
        return _captioned_planes(self._backdrop(index), caption)

    def _backdrop(self, index: int) -> _Backdrop:
        card = self._plan.cards[index]
        names = " · ".join(part for part in (card.avatar, card.voice) if part)
        header = f"{index + 1}/{len(self._plan.cards)}" + (f" · {names}" if names else "")
        return _Backdrop(self._layout, card.colour, card.placeholder, bool(card.avatar), header)


_PictureKey = tuple[_Backdrop, str]   # a scene's backdrop and the caption on it
# Encoded pictures by what they show and their number, least recently used first; shared by
# the workers.
_PICTURES: Final[collections.OrderedDict[tuple[_Backdrop, str, int], Picture]] = \
    collections.OrderedDict()
_PICTURES_LOCK: Final = threading.Lock()


def _encodings(keys: list[_PictureKey], first: int, ready: list[int]) -> int:
    """How many pictures ``encode`` would encode to show ``keys`` numbered from ``first`` on,
    with this thread's encoders numbering their next pictures ``ready``."""
    ready, count = list(ready), 0
    with _PICTURES_LOCK:
        wanted = [(first + at) % IDR_PIC_IDS for at, key in enumerate(keys)
                  if (*key, (first + at) % IDR_PIC_IDS) not in _PICTURES]
    for number in wanted:
        if number in ready:
            ready[ready.index(number)] ^= 1
            count += 1
        else:
            count += 2   # twice on one encoder, which ends up numbering as it did
    return count


def _captioned_planes(backdrop: _Backdrop, caption: str) -> Planes:
    """The backdrop with ``caption`` as 4:2:0 planes: luma, and chroma at half size.

    The caption band and its text are grey, so its chroma is flat: only the luma plane gets
    text drawn, which spares a colour conversion and chroma scaling per caption.
    """
    luma, blue, red = _backdrop_planes(backdrop)
    planes = (luma.copy(), blue.copy(), red.copy())
    if caption:
        _draw_caption(backdrop.layout, planes, caption)
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


def _draw_caption(layout: _Layout, planes: Planes, caption: str) -> None:
    """Draw ``caption`` in its band on the frame's ``planes``."""
    m, p = layout.margin, layout.padding
    lines = caption.split("\n")
    top, bottom = layout.caption_top(len(lines)), layout.height - m
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
