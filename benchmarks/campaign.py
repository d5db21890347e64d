"""Synthetic campaigns for the benchmarks: a CSV of N customers and a three-scene project."""

from __future__ import annotations

import csv
import random
from pathlib import Path

FIRST_NAMES = ["Ana", "Ben", "Chloé", "Dmitri", "Ema", "Farid", "Greta", "Hiro", "Ines", "Jonas"]
CITIES = ["Lisbon", "Berlin", "Lyon", "Riga", "Cairo", "Oslo", "Osaka", "Porto", "Izmir", "Graz"]
PLANS = ["basic", "pro", "team"]

# Three scenes, each with a templated script; the title and output are templated too.
TEMPLATES = {
    "title": "Welcome {{ row.first_name }}",
    "intro": "Hi {{ row.first_name }}, welcome to {{ vars.company }}! We're glad you're here.",
    "pitch": ("Your {{ row.plan }} plan in {{ row.city }} comes with {{ row.seats }} seats "
              "and priority support."),
    "outro": "Thanks for joining us, {{ row.first_name }}. See you soon!",
}

PROJECT = """\
version: 1
name: bench-{rows}
vars: {{company: Acme}}
data:
  source: customers.csv
  key: "{{{{ row.customer_id }}}}"
video:
  title: "{title}"
  dimension: {{width: 1280, height: 720}}
defaults:
  avatar: {{avatar_id: Daisy-inskirt-20220818, avatar_style: normal}}
  voice: {{voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54, speed: 1.0}}
  background: {{type: color, value: "#0B1F3A"}}
scenes:
  - id: intro
    voice: {{text: "{intro}"}}
  - id: pitch
    avatar: {{avatar_id: Mark-costume-1234}}
    voice: {{text: "{pitch}"}}
  - id: outro
    voice: {{text: "{outro}"}}
output: "out/{{{{ key }}}}.mp4"
"""


def write_campaign(directory: Path, rows: int, seed: int = 7) -> Path:
    """Write vidbuild.yaml and customers.csv with ``rows`` rows; return the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vidbuild.yaml").write_text(PROJECT.format(rows=rows, **TEMPLATES), encoding="utf-8")
    pick = random.Random(seed)
    with open(directory / "customers.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["customer_id", "first_name", "plan", "city", "seats"])
        for index in range(rows):
            writer.writerow([f"c{index:07d}", pick.choice(FIRST_NAMES), pick.choice(PLANS),
                             pick.choice(CITIES), pick.randint(1, 50)])
    return directory
