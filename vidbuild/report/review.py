"""Report stage, for people: the review page, one static HTML file showing every row before and after a build.

Each row shows what the plan decided (the same ``plan_steps`` as ``vidbuild plan``), what the video
will say and show, its estimated length and credits, and, once built, its state, errors and the
downloaded file in an inline player. Every value shown comes from the project's data and is
untrusted: the page is rendered by Jinja with autoescaping on, and the data the page's script
filters on is embedded with Jinja's ``tojson`` (which escapes ``<``, ``>``, ``&`` and ``'``), never
spliced into markup by hand. A Content-Security-Policy allows only the page's own script and
style (by hash) and local media, as a second line of defence.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

from vidbuild.planner.decide import CREDITS_PER_MINUTE, Step, Summary, estimate_seconds
from vidbuild.report.manifest import manifest_dir

PAGE_NAME = "review.html"
_TEMPLATE = "page.html.j2"
_ASSETS = "review_page"        # the page's template, style and script: package data of this package
_COLOUR = re.compile(r"#[0-9A-Fa-f]{3,8}")
# Images saved beside a video under its name (``out/c-001.jpg``), shown as its thumbnail.
THUMBNAIL_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True)
class Catalogue:
    """Names of avatars, talking photos and voices by ID, from the cached catalogues (may be empty)."""

    names: Mapping[str, str]

    @classmethod
    def from_cache(cls, avatars: Mapping[str, Any] | None, voices: Mapping[str, Any] | None) -> Catalogue:
        """From the ``catalogue:avatars`` and ``catalogue:voices`` entries ``fetch_catalogue``
        keeps (the API's lists: ``avatar_id``/``avatar_name``, ``talking_photo_id``/
        ``talking_photo_name``, ``voice_id``/``name``); None where nothing was cached."""
        names: dict[str, str] = {}
        for group, id_field, name_field in (("avatars", "avatar_id", "avatar_name"),
                                            ("talking_photos", "talking_photo_id", "talking_photo_name"),
                                            ("voices", "voice_id", "name")):
            source = (voices if group == "voices" else avatars) or {}
            for item in source.get(group) or []:
                if isinstance(item, dict) and item.get(id_field) and item.get(name_field):
                    names[str(item[id_field])] = str(item[name_field])
        return cls(names)

    def label(self, identifier: str | None) -> Named | None:
        if not identifier:
            return None
        return Named(identifier, self.names.get(identifier))


@dataclass(frozen=True)
class Named:
    """A catalogue ID with its name, when the cached catalogue knows it."""

    id: str
    name: str | None


@dataclass(frozen=True)
class SceneView:
    """What one scene says and shows, as a reviewer reads it."""

    label: str
    script: str
    avatar: Named | None
    voice: Named | None
    background: str
    colour: str | None = None      # a #RRGGBB background, drawn as a swatch


@dataclass(frozen=True)
class ReviewRow:
    """One row of the page. ``output`` is relative to the project; ``video`` and ``thumbnail``
    are URLs relative to the page, set once the page's place is known (``placed``)."""

    key: str
    title: str | None
    scenes: tuple[SceneView, ...]
    seconds: float
    credits: float
    action: str
    reason: str
    output: str
    status: str
    video_id: str | None
    error: str | None
    thumbnail_url: str | None = None     # HeyGen's signed URL, linked (never loaded by the page)
    video: str | None = None
    thumbnail: str | None = None
    share_url: str | None = None         # HeyGen's share page (v3 reads only), linked
    thumbnail_path: str | None = None    # the project's `thumbnail:` for the row, relative to it
    # The file at the output is not this body's finished video (the row changed, or the file did).
    stale: bool = False


def review_row(step: Step, catalogue: Catalogue) -> ReviewRow:
    """A row of the page from its planned step (its job and, if state knows the body, its record)."""
    job, record = step.job, step.record
    seconds = estimate_seconds(job)
    scenes = (tuple(_agent_scene(job.body, catalogue)) if job.kind == "agent"
              else tuple(_scene_view(label, scene, catalogue)
                         for label, scene in zip(job.scenes, job.body.get("video_inputs", []), strict=False)))
    title = job.body.get("title")
    return ReviewRow(
        key=job.key, title=title if isinstance(title, str) else None, scenes=scenes,
        seconds=round(seconds, 1), credits=round(seconds / 60 * CREDITS_PER_MINUTE, 2),
        action=step.action, reason=step.reason, output=job.output,
        status=record.status if record else "not built",
        video_id=record.video_id if record else None, error=record.error if record else None,
        thumbnail_url=_linkable(record.thumbnail_url if record else None),
        share_url=_linkable(record.video_page_url if record else None), thumbnail_path=job.thumbnail)


def _scene_view(label: str, scene: Mapping[str, Any], catalogue: Catalogue) -> SceneView:
    character = scene.get("character") or {}
    voice = scene.get("voice") or {}
    background = scene.get("background") or {}
    return SceneView(label=label, script=_script(voice),
                     avatar=catalogue.label(character.get("avatar_id") or character.get("talking_photo_id")),
                     voice=catalogue.label(voice.get("voice_id")),
                     background=_background_text(background), colour=_colour(background))


def _script(voice: Mapping[str, Any]) -> str:
    kind = voice.get("type")
    if kind == "silence":
        return f"(silence, {voice.get('duration', 1)} s)"
    if kind == "audio":
        return f"(audio: {voice.get('audio_url') or voice.get('audio_asset_id')})"
    return str(voice.get("input_text", ""))


def _background_text(background: Mapping[str, Any]) -> str:
    kind = background.get("type")
    if not kind:
        return "default"
    detail = (background.get("value") or background.get("url") or background.get("image_asset_id")
              or background.get("video_asset_id") or "")
    return f"{kind} {detail}".strip()


def _colour(background: Mapping[str, Any]) -> str | None:
    value = background.get("value")
    if background.get("type") == "color" and isinstance(value, str) and _COLOUR.fullmatch(value):
        return value
    return None


def _agent_scene(body: Mapping[str, Any], catalogue: Catalogue) -> Iterator[SceneView]:
    # The agent writes its own scenes: what a reviewer can read is the prompt (a project's
    # `script` arrives here already turned into it, a line per `actor: text`).
    yield SceneView(label="agent", script=str(body.get("prompt", "")),
                    avatar=catalogue.label(body.get("avatar_id")),
                    voice=catalogue.label(body.get("voice_id")),
                    background=f"agent, {body.get('orientation') or 'any'} orientation")


def _linkable(url: str | None) -> str | None:
    """Only an https URL is linked: the emulator's (http://….invalid) lead nowhere."""
    return url if url and urlsplit(url).scheme == "https" else None


def page_path(root: Path, outputs: Iterable[str]) -> Path:
    """Where the page goes: ``review.html`` beside the manifest, in the directory all outputs
    share (usually out/), so the page, the videos and the manifest travel as one CI artifact."""
    return manifest_dir(root, outputs) / PAGE_NAME


def placed(row: ReviewRow, root: Path, page: Path) -> ReviewRow:
    """``row`` with its video and thumbnail linked relative to ``page``, where the files exist."""
    video = root / row.output
    chosen = [root / row.thumbnail_path] if row.thumbnail_path else []   # the project's `thumbnail:`
    candidates = [*chosen, *(video.with_suffix(suffix) for suffix in THUMBNAIL_SUFFIXES)]
    thumbnail = next((path for path in candidates if path.is_file() and path != video), None)
    exists = video.is_file()
    return dataclasses.replace(row, video=_relative_url(video, page) if exists else None,
                               thumbnail=_relative_url(thumbnail, page) if thumbnail else None,
                               stale=exists and row.action != "up-to-date")


def _relative_url(target: Path, page: Path) -> str:
    relative = PurePosixPath(*Path(os.path.relpath(target, page.parent)).parts)
    # Quoted: an output may hold '#', '?', '%' or spaces, which mean something in a URL.
    return quote(str(relative), safe="/")


def render_page(rows: list[ReviewRow], summary: Summary, project_name: str,
                generated_at: datetime | None = None) -> str:
    """The whole page as text. Row values are escaped by Jinja's autoescaping; the filter data is
    embedded with ``tojson``. Raises jinja2's errors only for a broken template (a bug)."""
    import jinja2
    from markupsafe import Markup

    environment = jinja2.Environment(loader=jinja2.PackageLoader("vidbuild.report", _ASSETS),
                                     autoescape=True, undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
    style, script = _asset("review.css"), _asset("review.js")
    return environment.get_template(_TEMPLATE).render(
        project=project_name, rows=rows, summary=summary,
        generated=(generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        actions=sorted({row.action for row in rows}), statuses=sorted({row.status for row in rows}),
        filter_data=[_filter_entry(row) for row in rows],
        style=Markup(style), script=Markup(script),
        policy=_policy(style, script))


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(_ASSETS, name).read_text(encoding="utf-8")


def _filter_entry(row: ReviewRow) -> dict[str, str]:
    """What the page's search looks through, per row: every text shown, lower-cased once here."""
    texts = [row.key, row.title or "", row.action, row.reason, row.status, row.video_id or "",
             row.error or "", row.output]
    for scene in row.scenes:
        texts += [scene.label, scene.script, scene.background]
        for named in (scene.avatar, scene.voice):
            if named:
                texts += [named.id, named.name or ""]
    return {"action": row.action, "status": row.status, "text": "\n".join(texts).lower()}


def _policy(style: str, script: str) -> str:
    """Only our own inline style and script run (by hash); media and images only from files."""
    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    return (f"default-src 'none'; script-src {digest(script)}; style-src {digest(style)}; "
            "img-src 'self' file: data:; media-src 'self' file:; base-uri 'none'; form-action 'none'")


def write_page(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it (never half a page)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
