"""`vidbuild review`: the page's place, its rows against `vidbuild plan`, names from the cached
catalogues, escaping, --open, and refusals. The CLI runs as a subprocess against the in-process
emulator; the page itself is exercised in a real browser in test_review_browser.py."""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vidbuild.planner.decide import Summary
from vidbuild.report.review import ReviewRow, SceneView, render_page

REPO = Path(__file__).resolve().parent.parent
HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_ATTRIBUTE = '" onerror="alert(1)'
HOSTILE_CLOSE = "</script><script>alert(2)</script>"
HOSTILE_CELL = '"' + HOSTILE_ATTRIBUTE.replace('"', '""') + '"'    # as a CSV cell

PROJECT = {
    "campaign/vidbuild.yaml": """
        version: 1
        name: review-me
        data: {source: people.csv, key: "{{ row.id }}"}
        video:
          title: "Hello {{ row.name }}"
        defaults:
          avatar: {avatar_id: Daisy-inskirt-20220818}
          voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}
          background: {type: color, value: "#0B1F3A"}
        scenes:
          - id: intro
            voice: {text: "Hi {{ row.name }}, this is for you."}
          - id: extra
            when: "row.plan == 'pro'"
            voice: {text: "Pro tip: {{ row.tip }}"}
        output: "out/{{ key }}.mp4"
        """,
    "campaign/people.csv": "id,name,plan,tip\n"
                           "a,Ana,pro,one two three four five six seven eight nine ten\n"
                           "b,Ben,basic,\n"
                           f"c,{HOSTILE_SCRIPT},pro,{HOSTILE_CELL}\n"
                           f"d,{HOSTILE_CLOSE},basic,\n",
}


def vidbuild(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "vidbuild", *args], cwd=cwd, capture_output=True,
                            text=True, timeout=120, env={**os.environ, **(env or {})})
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    return result


class _PageReader(html.parser.HTMLParser):
    """The page as the browser's parser sees it: the filter data, the rows' cell texts, every
    element's attributes and every script element."""

    def __init__(self) -> None:
        super().__init__()
        self.data: Any = None
        self.scripts: list[dict[str, str | None]] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.rows: list[dict[str, str]] = []
        self._cell: str | None = None
        self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes += attrs
        named = dict(attrs)
        if tag == "script":
            self.scripts.append(named)
            self._in_data = named.get("id") == "review-data"
        if tag == "tr" and named.get("class") == "row":
            self.rows.append({})
        if tag == "td" and self.rows:
            self._cell = named.get("class") or ""
            self.rows[-1][self._cell] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        if tag == "script":
            self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.data = json.loads(data)
        elif self._cell is not None:
            self.rows[-1][self._cell] += " " + data   # tags separate words, as on screen


def read_page(path: Path) -> _PageReader:
    reader = _PageReader()
    reader.feed(path.read_text(encoding="utf-8"))
    return reader


@pytest.fixture
def campaign(write_tree: Callable[[dict[str, str]], Path]) -> Path:
    return write_tree(PROJECT) / "campaign"


def test_review_before_a_build_shows_every_row_as_plan_decides_it(campaign: Path) -> None:
    result = vidbuild("review", cwd=campaign)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "out/review.html\n"     # beside the manifest, in the outputs' directory
    page = read_page(campaign / "out" / "review.html")
    planned = [json.loads(line) for line in vidbuild("plan", "--json", cwd=campaign).stdout.splitlines()]
    steps, summary = planned[:-1], planned[-1]
    assert [entry["action"] for entry in page.data] == [step["action"] for step in steps]
    assert [" ".join(row["key"].split()) for row in page.rows] == [
        "a Hello Ana", "b Hello Ben", f"c Hello {HOSTILE_SCRIPT}", f"d Hello {HOSTILE_CLOSE}"]
    for row, step in zip(page.rows, steps, strict=True):
        assert step["reason"] in row["plan"]
    credits = [float(re.search(r"([\d.]+) credits", row["estimate"]).group(1))  # type: ignore[union-attr]
               for row in page.rows]
    assert round(sum(credits), 2) == pytest.approx(summary["estimated_credits"], abs=0.02)
    assert f"estimated <strong>{summary['estimated_credits']}</strong> credits" in " ".join(
        (campaign / "out" / "review.html").read_text(encoding="utf-8").split())
    assert all("not built" in row["result"] for row in page.rows)


def test_scenes_show_script_avatar_voice_background_and_the_estimate(campaign: Path) -> None:
    assert vidbuild("review", cwd=campaign).returncode == 0
    first = read_page(campaign / "out" / "review.html").rows[0]

    scenes = " ".join(first["scenes"].split())
    assert "intro avatar: Daisy-inskirt-20220818" in scenes      # no catalogue cached: the IDs
    assert "voice: 2d5b0e6cf36f460aa7fc47e3eee4ba54" in scenes
    assert "color #0B1F3A" in scenes
    assert "Hi Ana, this is for you." in scenes
    assert "Pro tip: one two three four five six seven eight nine ten" in scenes
    # 6 + 12 words at 2.5 words a second: the plan's estimate (decide.estimate_seconds).
    assert " ".join(first["estimate"].split()) == "7.2 s 0.12 credits"


def test_names_come_from_the_cached_catalogues(campaign: Path) -> None:
    for catalogue in ("avatars", "voices"):
        assert vidbuild(catalogue, cwd=campaign).returncode == 0   # cached in .vidbuild/
    assert vidbuild("review", cwd=campaign).returncode == 0
    scenes = " ".join(read_page(campaign / "out" / "review.html").rows[0]["scenes"].split())
    assert "avatar: Daisy in Skirt" in scenes
    assert "voice: Rachel - Friendly" in scenes


def test_after_a_build_rows_link_their_videos_and_show_their_state(campaign: Path) -> None:
    built = vidbuild("build", cwd=campaign, env={"VIDBUILD_EMULATOR_SPEED": "0"})
    assert built.returncode == 0, built.stderr
    (campaign / "out" / "b.jpg").write_bytes(b"\xff\xd8\xff\xd9")   # a thumbnail saved beside b's video

    assert vidbuild("review", cwd=campaign).returncode == 0
    text = (campaign / "out" / "review.html").read_text(encoding="utf-8")
    page = read_page(campaign / "out" / "review.html")
    assert re.findall(r'<video controls preload="metadata" src="([^"]+)"', text) == [
        "a.mp4", "b.mp4", "c.mp4", "d.mp4"]
    assert re.findall(r'<img class="thumbnail" src="([^"]+)"', text) == ["b.jpg"]
    manifest = json.loads((campaign / "out" / "manifest.json").read_text(encoding="utf-8"))
    for row, video in zip(page.rows, manifest["videos"], strict=True):
        assert " ".join(row["result"].split()) == f"downloaded {video['video_id']}"
        assert "up-to-date" in row["plan"]
    assert "earlier file" not in text


def test_a_changed_row_says_its_video_is_an_earlier_one(campaign: Path) -> None:
    assert vidbuild("build", cwd=campaign, env={"VIDBUILD_EMULATOR_SPEED": "0"}).returncode == 0
    data = campaign / "people.csv"
    data.write_text(data.read_text(encoding="utf-8").replace("b,Ben,", "b,Benjamin,"), encoding="utf-8")

    assert vidbuild("review", cwd=campaign).returncode == 0

    rows = read_page(campaign / "out" / "review.html").rows
    media = [" ".join(row["media"].split()) for row in rows]
    assert media[1] == "an earlier file: not this row's current video"
    assert [row for number, row in enumerate(media) if number != 1] == ["", "", ""]
    assert " ".join(rows[1]["plan"].split()) == "submit changed: title, video_inputs[0].voice.input_text"


def test_an_agent_row_shows_its_prompt_and_length(tmp_path: Path) -> None:
    project = tmp_path / "agent"
    shutil.copytree(REPO / "projects" / "agent-intro", project)

    assert vidbuild("review", cwd=project).returncode == 0

    first = read_page(project / "out" / "review.html").rows[0]
    assert " ".join(first["scenes"].split()) == (
        "agent avatar: Daisy-inskirt-20220818 agent, landscape orientation A 30-second introduction to "
        "Acme Cloud for developers, in a technical tone. End with an invitation to start a free trial.")
    assert " ".join(first["estimate"].split()) == "30.0 s 0.5 credits"


def test_every_value_is_escaped_and_the_filter_data_cannot_close_its_script(campaign: Path) -> None:
    assert vidbuild("review", cwd=campaign).returncode == 0
    text = (campaign / "out" / "review.html").read_text(encoding="utf-8")
    page = read_page(campaign / "out" / "review.html")

    assert [script.get("id") for script in page.scripts] == ["review-data", None]   # ours alone
    assert [name for name, _ in page.attributes if name.startswith("on")] == []
    assert HOSTILE_SCRIPT not in text and HOSTILE_CLOSE not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    searched = [entry["text"] for entry in page.data]
    assert HOSTILE_SCRIPT in searched[2] and HOSTILE_ATTRIBUTE.lower() in searched[2]
    assert HOSTILE_CLOSE in searched[3]     # JSON-escaped in the page, whole once parsed


def test_a_row_value_cannot_become_markup_even_in_attributes() -> None:
    hostile = SceneView(label='x" onmouseover="alert(1)', script=HOSTILE_SCRIPT, avatar=None, voice=None,
                        background='color "><img src=x onerror=alert(1)>', colour='#fff" onclick="alert(1)')
    row = ReviewRow(key="k", title=HOSTILE_ATTRIBUTE, scenes=(hostile,), seconds=1.0, credits=0.02,
                    action="submit", reason="new", output="out/k.mp4", status="not built",
                    video_id=None, error=HOSTILE_SCRIPT, video='x.mp4" onerror="alert(1)')
    reader = _PageReader()
    reader.feed(render_page([row], Summary(), "p"))

    assert [name for name, _ in reader.attributes if name.startswith("on")] == []
    assert len(reader.scripts) == 2
    assert ('src', 'x.mp4" onerror="alert(1)') in reader.attributes   # one attribute, value intact


def test_open_hands_the_page_to_the_browser(campaign: Path, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "fake-browser"
    browser.write_text(f"#!/bin/sh\nprintf '%s' \"$1\" > {opened}\n", encoding="utf-8")
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)

    result = vidbuild("review", "--open", cwd=campaign, env={"BROWSER": f"{browser} %s"})

    assert result.returncode == 0, result.stderr
    assert opened.read_text(encoding="utf-8") == (campaign / "out" / "review.html").resolve().as_uri()


def test_an_invalid_project_writes_no_page(campaign: Path) -> None:
    (campaign / "people.csv").write_text("id,name,plan,tip\na,Ana,pro,x\na,Ann,basic,\n", encoding="utf-8")

    result = vidbuild("review", cwd=campaign)

    assert result.returncode == 2
    assert "duplicate key 'a'" in result.stderr
    assert not (campaign / "out").exists()


def test_a_row_whose_output_is_the_page_is_refused(campaign: Path) -> None:
    project = campaign / "vidbuild.yaml"
    project.write_text(project.read_text(encoding="utf-8").replace(
        'output: "out/{{ key }}.mp4"', 'output: "out/{{ key }}"'), encoding="utf-8")
    (campaign / "people.csv").write_text("id,name,plan,tip\nreview.html,Ana,pro,x\nb,Ben,basic,\n",
                                         encoding="utf-8")

    result = vidbuild("review", cwd=campaign)

    assert result.returncode == 2
    assert result.stderr == ("vidbuild: error: row review.html's output is out/review.html, where the "
                             "review page goes: choose another output name\n")
