"""The floor: the least work any tool must do per row — render the same Jinja templates, build the
body, dump canonical JSON and hash it. Usage: python floor.py PROJECT_DIR (prints rows and seconds)."""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import time
from pathlib import Path

from jinja2 import Environment, StrictUndefined

sys.path.insert(0, str(Path(__file__).parent))
from campaign import TEMPLATES

AVATAR = {"type": "avatar", "avatar_id": "Daisy-inskirt-20220818", "avatar_style": "normal"}
PITCH_AVATAR = {"type": "avatar", "avatar_id": "Mark-costume-1234", "avatar_style": "normal"}
BACKGROUND = {"type": "color", "value": "#0B1F3A"}


def main(directory: Path) -> None:
    started = time.perf_counter()
    environment = Environment(undefined=StrictUndefined)
    compiled = {name: environment.from_string(text) for name, text in TEMPLATES.items()}
    variables = {"company": "Acme"}
    count = 0
    with open(directory / "customers.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            context = {"row": row, "vars": variables}
            scenes = [{"character": PITCH_AVATAR if name == "pitch" else AVATAR,
                       "voice": {"type": "text", "voice_id": "2d5b0e6cf36f460aa7fc47e3eee4ba54",
                                 "speed": 1.0, "input_text": compiled[name].render(context)},
                       "background": BACKGROUND} for name in ("intro", "pitch", "outro")]
            body = {"title": compiled["title"].render(context),
                    "dimension": {"width": 1280, "height": 720}, "video_inputs": scenes}
            text = json.dumps({"format": 1, "endpoint": "POST /v2/video/generate", "body": body},
                              sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            hashlib.sha256(text.encode()).hexdigest()
            count += 1
    print(json.dumps({"rows": count, "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
