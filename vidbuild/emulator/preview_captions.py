"""Sets a preview's captions: wraps a script into lines and draws them from cached word masks.

Each word is drawn once per type size (Pillow's own FreeType font) and kept as a mask; a line is
its words' masks pasted side by side, a space apart. A campaign's scripts share most of their
words, so most of a caption costs a paste. Wrapping measures lines the same way, so a line
drawn is exactly as wide as the line measured.

Imports Pillow (the ``preview`` extra): import this module only through ``preview_render.py``.
"""

from __future__ import annotations

import functools
import threading
from typing import Final

from PIL import Image, ImageDraw, ImageFont

LINE_GAP: Final = 4   # pixels between caption lines, Pillow's multiline default


class _ThreadFonts(threading.local):
    """Each thread's fonts by pixel size (see ``font``)."""

    def __init__(self) -> None:
        self.by_size: dict[int, ImageFont.FreeTypeFont] = {}


_FONTS: Final = _ThreadFonts()


def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's own font (FreeType, scalable: no system font is needed) at ``size`` pixels.

    One per thread: the emulator's server draws previews on several threads at once, and a
    FreeType face must not be used by two of them together. TypeError if Pillow was built
    without FreeType (``encoder_problem`` reports that first).
    """
    fonts = _FONTS.by_size
    if size not in fonts:
        loaded = ImageFont.load_default(size=size)
        if not isinstance(loaded, ImageFont.FreeTypeFont):
            raise TypeError("Pillow has no FreeType: previews need scalable type")
        fonts[size] = loaded
    return fonts[size]


@functools.cache
def line_height(size: int) -> int:
    """Pixels from one caption line's top to the next's, at type ``size``."""
    ascent, descent = font(size).getmetrics()
    return ascent + descent + LINE_GAP


def block_height(size: int, lines: int) -> int:
    """Pixels a caption of ``lines`` lines takes at type ``size``, from the first line's top."""
    return lines * line_height(size) - LINE_GAP


def wrap(text: str, size: int, width: int) -> list[str]:
    """Words in lines no wider than ``width`` pixels (a longer word gets a line of its own)."""
    lines: list[list[str]] = []
    used, space = 0.0, _word(size, " ")[3]
    for word in text.split():
        advance = _word(size, word)[3]
        if lines and used + space + advance <= width:
            lines[-1].append(word)
            used += space + advance
        else:
            lines.append([word])
            used = advance
    return [" ".join(line) for line in lines]


def draw_lines(luma: Image.Image, lines: list[str], size: int, centre: int, top: int,
               fill: int) -> None:
    """Draw ``lines`` centred on column ``centre`` from row ``top`` down, in grey ``fill``."""
    ascent = font(size).getmetrics()[0]
    for number, line in enumerate(lines):
        words = line.split(" ")
        baseline = top + ascent + number * line_height(size)
        pen = centre - _length(size, words) / 2
        for word in words:
            mask, left, rise, advance = _word(size, word)
            luma.paste(fill, (round(pen) + left, baseline + rise), mask)
            pen += advance + _word(size, " ")[3]


def _length(size: int, words: list[str]) -> float:
    return sum(_word(size, word)[3] for word in words) + (len(words) - 1) * _word(size, " ")[3]


@functools.lru_cache(maxsize=8192)
def _word(size: int, word: str) -> tuple[Image.Image, int, int, float]:
    """``word`` at type ``size``: its mask, the mask's offset from the pen on the baseline
    (x, y), and how far the pen moves on."""
    face = font(size)
    left, top, right, bottom = (int(edge) for edge in face.getbbox(word, anchor="ls"))
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)))
    ImageDraw.Draw(mask).text((-left, -top), word, font=face, fill=255, anchor="ls")
    return mask, left, top, face.getlength(word)
