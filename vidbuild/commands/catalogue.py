"""The avatars, voices and emulator commands, and ``validate --online``: the account's catalogues."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from vidbuild.errors import EXIT_OK, Diagnostic, ProjectError
from vidbuild.spec.project import PROJECT_FILE, Project
from vidbuild.state.disk import DiskState
from vidbuild.state.location import state_root

if TYPE_CHECKING:
    from vidbuild.heygen.backend import Backend
    from vidbuild.heygen.choice import BackendChoice
    from vidbuild.spec.expand import Job
    from vidbuild.spec.scenes import SceneTemplate

CATALOGUE_TTL = 24 * 3600.0   # catalogues are large and change rarely
ROWS_NAMED = 3


def catalogue_state_root(path: str | None, state_dir: str | None) -> Path:
    """--state-dir, $VIDBUILD_STATE_DIR, the project's .vidbuild/, else the user's cache directory."""
    candidate = Path(path) if path else Path.cwd()
    project_dir = candidate if candidate.is_dir() else candidate.parent
    if state_dir or os.environ.get("VIDBUILD_STATE_DIR") or (project_dir / PROJECT_FILE).is_file():
        return state_root(project_dir.resolve(), state_dir)
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "vidbuild"


def fetch_catalogue(backend: Backend, root: Path, name: str, *, refresh: bool = False) -> dict[str, Any]:
    """The 'avatars' or 'voices' catalogue, from the state directory if fetched in the last day."""
    state = DiskState(root, backend.namespace)
    try:
        cached = state.get_meta(f"catalogue:{name}")
        if cached and not refresh and time.time() - cached["fetched_at"] < CATALOGUE_TTL:
            return dict(cached)
        fresh: dict[str, Any] = {"fetched_at": time.time()}
        if name == "avatars":
            result = backend.client.avatars()
            fresh |= {"avatars": result.avatars, "talking_photos": result.talking_photos}
        else:
            fresh["voices"] = backend.client.voices()
        state.set_meta(f"catalogue:{name}", fresh)
        return fresh
    finally:
        state.close()


def _backend(root: Path, choice: BackendChoice | None, stderr: TextIO) -> Backend:
    from vidbuild.heygen.backend import open_backend

    backend = open_backend(root, choice)
    print(backend.banner, file=stderr)
    return backend


def show_catalogue(name: str, path: str | None, *, state_dir: str | None = None, json_output: bool = False,
                   refresh: bool = False, stdout: TextIO | None = None, stderr: TextIO | None = None,
                   backend: BackendChoice | None = None) -> int:
    """Print the avatars (and talking photos) or voices as a table, or as JSON."""
    root = catalogue_state_root(path, state_dir)
    client = _backend(root, backend, stderr or sys.stderr)
    try:
        catalogue = fetch_catalogue(client, root, name, refresh=refresh)
    finally:
        client.close()
    stream = stdout or sys.stdout
    catalogue.pop("fetched_at", None)
    if json_output:
        json.dump(catalogue, stream, indent=2, ensure_ascii=False)
        stream.write("\n")
    elif name == "avatars":
        _table(stream, ["AVATAR_ID", "NAME", "GENDER", "PREMIUM"],
               [[a.get("avatar_id"), a.get("avatar_name"), a.get("gender"),
                 "yes" if a.get("premium") else ""] for a in catalogue["avatars"]])
        stream.write("\n")
        _table(stream, ["TALKING_PHOTO_ID", "NAME"],
               [[p.get("talking_photo_id"), p.get("talking_photo_name")]
                for p in catalogue["talking_photos"]])
    else:
        _table(stream, ["VOICE_ID", "NAME", "LANGUAGE", "GENDER", "EMOTIONS"],
               [[v.get("voice_id"), v.get("name"), v.get("language"), v.get("gender"),
                 "yes" if v.get("emotion_support") else ""] for v in catalogue["voices"]])
    return EXIT_OK


def _table(stream: TextIO, header: list[str], rows: list[list[Any]]) -> None:
    cells = [header, *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        stream.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def check_online(project: Project, jobs: Iterable[Job], *, state_dir: str | None = None,
                 stderr: TextIO | None = None, backend: BackendChoice | None = None) -> None:
    """Raise ProjectError naming each unknown avatar, talking photo or voice ID, its scene and rows.

    Against the emulator (no key) with its default lenient catalogue, which a build would get
    through with a note, unknown IDs get that same note on ``stderr`` instead.
    """
    from vidbuild.emulator.app import unknown_ids_note
    from vidbuild.spec.expand import Expander

    uses = _id_uses(jobs)
    if not uses:
        return
    root = state_root(project.root, state_dir)
    client = _backend(root, backend, stderr or sys.stderr)
    try:
        avatars = fetch_catalogue(client, root, "avatars")
        voices = fetch_catalogue(client, root, "voices")
    finally:
        client.close()
    known = {"avatar_id": {a.get("avatar_id") for a in avatars["avatars"]},
             "talking_photo_id": {p.get("talking_photo_id") for p in avatars["talking_photos"]},
             "voice_id": {v.get("voice_id") for v in voices["voices"]}}
    unknown = [use for use in uses if use[2] not in known[use[1]]]
    if unknown and client.lenient_catalogue:
        named = dict.fromkeys(f"{field} {value}" for _, field, value in unknown)
        print(unknown_ids_note(list(named)), file=stderr or sys.stderr)
        return
    scenes = {scene.label: scene for scene in Expander(project).scenes}
    diagnostics = [_unknown_id(project, scenes.get(scene), scene, field, value, uses[(scene, field, value)])
                   for scene, field, value in sorted(unknown)]
    if diagnostics:
        raise ProjectError(diagnostics)


def _id_uses(jobs: Iterable[Job]) -> dict[tuple[str, str, str], list[str]]:
    """(scene label, field, id) → keys of the rows that use it."""
    uses: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for job in jobs:
        if job.kind == "agent":
            for field in ("avatar_id", "voice_id"):
                if job.body.get(field):
                    uses[("agent", field, job.body[field])].append(job.key)
            continue
        for label, scene in zip(job.scenes, job.body["video_inputs"], strict=True):
            for part, field in (("character", "avatar_id"), ("character", "talking_photo_id"),
                                ("voice", "voice_id")):
                value = scene.get(part, {}).get(field)
                if value:
                    uses[(label, field, value)].append(job.key)
    return uses


def _unknown_id(project: Project, scene: SceneTemplate | None, label: str, field: str, value: str,
                keys: list[str]) -> Diagnostic:
    more = len(keys) - ROWS_NAMED
    rows = ", ".join(keys[:ROWS_NAMED]) + (f" and {more} more" if more > 0 else "")
    message = f"unknown {field.replace('_id', '').replace('_', ' ')} ID {value!r} (used by rows {rows})"
    if scene is not None:
        part = "voice" if field == "voice_id" else "character"
        origin = scene.locate((part, field))
        named = origin.where.startswith(f"scenes[{label}]")
        return origin.diagnostic(message, "" if named else f" (scene {label})")
    line, column = project.document.locate(("agent", field))
    return Diagnostic(project.document.display, line, column, f"agent.{field}", message)


def emulator(host: str, port: int) -> int:
    """Serve the HeyGen emulator on a real socket until interrupted."""
    from vidbuild.emulator import main_serve

    return main_serve(host, port)
