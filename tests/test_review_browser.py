"""The review page in a real headless Chromium (Debian's, driven by Playwright; see browser.py):
it loads without console errors, shows every row, filters, shows hostile cells as text without
running them, plays the emulator's videos after a build, and can be screenshotted."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import launched

ROWS = 40
HOSTILE = {"c-007": "<script>alert(1)</script>", "c-008": '" onerror="alert(1)',
           "c-009": "</script><script>alert(2)</script>", "c-010": "<img src=x onerror=alert(3)>"}


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _campaign(root: Path) -> Path:
    project = root / "campaign"
    project.mkdir()
    (project / "vidbuild.yaml").write_text(
        "version: 1\nname: browser-review\n"
        'data: {source: people.csv, key: "{{ row.id }}"}\n'
        'video: {title: "Hello {{ row.name }}"}\n'
        "defaults:\n  avatar: {avatar_id: Daisy-inskirt-20220818}\n"
        "  voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}\n"
        '  background: {type: color, value: "#224466"}\n'
        'scenes:\n  - id: intro\n    voice: {text: "Hi {{ row.name }}, from {{ row.city }}."}\n'
        'output: "out/{{ key }}.mp4"\n', encoding="utf-8")
    lines = ["id,name,city"]
    for number in range(1, ROWS + 1):
        key = f"c-{number:03d}"
        city = "Lisbon" if number % 4 == 0 else "Porto"
        lines.append(f"{key},{_csv_cell(HOSTILE.get(key, f'Person {number}'))},{city}")
    (project / "people.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return project


def vidbuild(project: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "vidbuild", *args], cwd=project, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "VIDBUILD_EMULATOR_SPEED": "0"})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def context() -> Iterator[Any]:
    with launched() as browser_context:
        yield browser_context


class Opened:
    """A page of the browser with everything it logged and every dialog it tried to open."""

    def __init__(self, context: Any, path: Path) -> None:
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.page = context.new_page()
        self.page.on("console", lambda message: message.type in ("error", "warning")
                     and self.problems.append(f"{message.type}: {message.text}"))
        self.page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))
        self.page.on("dialog", self._dialog)
        self.page.goto(path.resolve().as_uri(), wait_until="load")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def visible_keys(self) -> list[str]:
        return [text.strip() for text in self.page.locator("tr.row:visible td.key code").all_inner_texts()]


@pytest.fixture(scope="module")
def before_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The review page of a campaign not built yet (pages only read it)."""
    project = _campaign(tmp_path_factory.mktemp("before"))
    return project / vidbuild(project, "review")


@pytest.fixture(scope="module")
def after_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The review page of the same campaign once built against the emulator."""
    project = _campaign(tmp_path_factory.mktemp("after"))
    vidbuild(project, "build")
    return project / vidbuild(project, "review")


@pytest.fixture
def opened(context: Any) -> Iterator[Callable[[Path], Opened]]:
    pages: list[Opened] = []

    def open_page(path: Path) -> Opened:
        pages.append(Opened(context, path))
        return pages[-1]

    yield open_page
    for page in pages:
        page.page.close()


def test_before_a_build_every_row_shows_and_the_filter_works(before_build: Path,
                                                               opened: Callable[[Path], Opened]) -> None:
    view = opened(before_build)

    assert view.visible_keys() == [f"c-{n:03d}" for n in range(1, ROWS + 1)]
    assert view.page.locator("#shown").inner_text() == f"{ROWS} of {ROWS} rows"
    view.page.locator("#search").press_sequentially("lisbon")
    assert view.visible_keys() == [f"c-{n:03d}" for n in range(4, ROWS + 1, 4)]
    assert view.page.locator("#shown").inner_text() == f"{ROWS // 4} of {ROWS} rows"
    view.page.locator("#search").fill("person 12 porto")          # every word must match
    assert view.visible_keys() == []                                # c-012 is in Lisbon
    assert view.page.locator("#nothing").is_visible()
    view.page.locator("#search").fill("")
    view.page.locator("#action-filter").select_option("submit")
    assert len(view.visible_keys()) == ROWS
    view.page.locator("#status-filter").select_option("not built")
    assert len(view.visible_keys()) == ROWS
    assert view.problems == [] and view.dialogs == []


def test_hostile_cells_show_as_text_and_run_nothing(before_build: Path,
                                                    opened: Callable[[Path], Opened]) -> None:
    view = opened(before_build)
    page = view.page
    page.mouse.move(400, 300)
    page.locator("tr.row").nth(7).hover()       # an injected onmouseover/onerror would fire now

    for key, text in HOSTILE.items():
        row = page.locator("tr.row", has=page.locator("td.key code", has_text=key))
        assert row.locator(".title").inner_text() == f"Hello {text}"
        assert f"Hi {text}, from" in row.locator(".script").inner_text()
    assert page.locator("script").count() == 2                     # the data block and ours
    assert page.locator("img").count() == 0                        # no thumbnails before a build
    assert page.evaluate("Array.from(document.querySelectorAll('*')).flatMap(e => "
                         "Array.from(e.attributes).map(a => a.name)).filter(n => n.startsWith('on'))") == []
    page.locator("#search").fill("</script><script>alert(2)")
    assert view.visible_keys() == ["c-009"]                         # the JSON data arrived intact
    assert view.dialogs == [] and view.problems == []


def test_after_a_build_the_videos_play(after_build: Path, opened: Callable[[Path], Opened]) -> None:
    view = opened(after_build)
    page = view.page

    states = page.evaluate("""() => Promise.all(Array.from(document.querySelectorAll('video')).map(video =>
        new Promise(done => {
          const report = () => done({src: video.getAttribute('src'), ready: video.readyState,
                                     error: video.error && video.error.code, duration: video.duration});
          if (video.readyState >= 2 || video.error) { report(); return; }
          video.addEventListener('loadeddata', report, {once: true});
          video.addEventListener('error', report, {once: true});
          video.preload = 'auto';
          video.load();
        })))""")
    assert [state["src"] for state in states] == [f"c-{n:03d}.mp4" for n in range(1, ROWS + 1)]
    assert all(state["ready"] >= 2 and state["error"] is None and state["duration"] > 0 for state in states)
    played = page.evaluate("""() => new Promise(done => {
        const video = document.querySelector('video');
        video.muted = true;
        video.addEventListener('timeupdate', () => done(video.currentTime), {once: true});
        video.play().catch(error => done('refused: ' + error));
      })""")
    assert isinstance(played, float | int) and played >= 0
    assert page.evaluate("document.querySelector('video').error") is None
    assert set(page.locator("td.result .status").all_inner_texts()) == {"downloaded"}
    page.locator("#action-filter").select_option("up-to-date")
    assert len(view.visible_keys()) == ROWS
    assert view.problems == [] and view.dialogs == []


def test_a_screenshot_of_the_page(after_build: Path, tmp_path: Path,
                                  opened: Callable[[Path], Opened]) -> None:
    view = opened(after_build)
    shot = tmp_path / "review.png"

    view.page.screenshot(path=str(shot), full_page=True)

    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 800 and height >= 1000 and len(data) > 20_000   # a full page of rows, not a blank
    assert view.problems == []
