"""What the emulator's previews cost: previews encoded per second, and a build with them against one without.

    python benchmarks/previews.py [--previews 200] [--rows 200]

(1) Encodes ``--previews`` previews in this process, each of a distinct three-scene body (the
campaign's scripts with a different name and city per row, 1280x720, ~10 s), as the emulator does
on a first download (plan + MP4), and prints previews per second (wall and CPU) and the projected
time for 10,000; then again with every caption distinct (the row number in each script), so no
caption picture is shared between rows (the campaign's ten first names repeat every ten rows).
(2) Writes the synthetic campaign of ``--rows`` rows (benchmarks/campaign.py)
twice and builds each against the built-in emulator with renders instant
(``VIDBUILD_EMULATOR_SPEED=0``, as benchmarks/run.py's cold build), once with
``VIDBUILD_EMULATOR_PREVIEWS=on`` and once ``off``; prints both times and their ratio. Runs are
noisy on a shared 2-core machine: take the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from campaign import CITIES, FIRST_NAMES, write_campaign  # noqa: E402
from run import measure, vidbuild  # noqa: E402

from vidbuild.emulator.preview_plan import plan_preview  # noqa: E402
from vidbuild.emulator.preview_render import render_mp4  # noqa: E402
from vidbuild.emulator.store import Video  # noqa: E402

DAISY, MARK = "Daisy-inskirt-20220818", "Mark-costume-1234"
RACHEL = "2d5b0e6cf36f460aa7fc47e3eee4ba54"


def body(index: int, distinct: bool = False) -> dict[str, object]:
    """Row ``index``'s three-scene legacy body, as the campaign's templates render it
    (``distinct``: with the row number in each script)."""
    name, city = FIRST_NAMES[index % len(FIRST_NAMES)], CITIES[index // len(FIRST_NAMES) % len(CITIES)]
    if distinct:
        name = f"{name} {index}"
    scripts = [f"Hi {name}, welcome to Acme! We're glad you're here.",
               f"Your pro plan in {city} comes with {index % 50 + 1} seats and priority support.",
               f"Thanks for joining us, {name}. See you soon!"]
    scenes = [{"character": {"type": "avatar", "avatar_id": avatar, "avatar_style": "normal"},
               "voice": {"type": "text", "voice_id": RACHEL, "input_text": script, "speed": 1.0},
               "background": {"type": "color", "value": "#0B1F3A"}}
              for avatar, script in zip((DAISY, MARK, DAISY), scripts, strict=True)]
    return {"video_inputs": scenes, "dimension": {"width": 1280, "height": 720},
            "title": f"Welcome {name}"}


def encode_rate(count: int, distinct: bool = False) -> dict[str, float]:
    """Previews per second over ``count`` distinct bodies, wall and CPU time."""
    from vidbuild.emulator import render

    videos = []
    for index in range(count):
        content = body(index + (count if distinct else 0), distinct)
        seconds = round(render.video_seconds("video", content), 3)
        videos.append(Video(f"v{index}", "video", None, None, True, 0.0, 0.0, seconds, None, "",
                            json.dumps(content)))
    render_mp4(plan_preview(videos[0]))   # imports and font loading, once per process
    wall, cpu = time.perf_counter(), time.process_time()
    size = sum(len(render_mp4(plan_preview(video))) for video in videos)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"previews": count, "per_second_wall": round(count / wall, 1),
            "per_second_cpu": round(count / cpu, 1), "ms_each_wall": round(1000 * wall / count, 2),
            "mean_kib": round(size / count / 1024, 1),
            "projected_10000_s": round(10_000 * wall / count, 1),
            "mean_video_seconds": round(sum(v.duration for v in videos) / count, 2)}


def build_times(rows: int, workdir: Path) -> dict[str, float]:
    """Cold build wall times with previews on and off, and their ratio."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "VIDBUILD_"))}
    env["VIDBUILD_EMULATOR_SPEED"] = "0"
    seconds = {}
    for mode in ("off", "on"):
        project = write_campaign(workdir / f"previews-{mode}", rows)
        seconds[mode] = measure(vidbuild("build", ".", "-j", "64"), project,
                                {**env, "VIDBUILD_EMULATOR_PREVIEWS": mode})["seconds"]
    return {"rows": rows, "without_previews_s": seconds["off"], "with_previews_s": seconds["on"],
            "ratio": round(seconds["on"] / seconds["off"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previews", type=int, default=200, help="previews to encode in process")
    parser.add_argument("--rows", type=int, default=200, help="rows of each of the two builds")
    args = parser.parse_args()
    rates = {"campaign": encode_rate(args.previews),
             "distinct_captions": encode_rate(args.previews, distinct=True)}
    for label, rate in rates.items():
        print(f"encode ({label}): {rate['per_second_wall']} previews/s wall "
              f"({rate['per_second_cpu']}/s CPU), {rate['ms_each_wall']} ms each, "
              f"{rate['mean_kib']} KiB, {rate['mean_video_seconds']} s of video each; "
              f"10,000 in ~{rate['projected_10000_s']} s")
    with tempfile.TemporaryDirectory() as work:
        builds = build_times(args.rows, Path(work))
    print(f"build of {builds['rows']} rows: {builds['without_previews_s']} s without previews, "
          f"{builds['with_previews_s']} s with; ratio {builds['ratio']}")
    print(json.dumps({"encode": rates, "build": builds}))


if __name__ == "__main__":
    main()
