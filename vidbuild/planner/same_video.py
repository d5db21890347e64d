"""Bodies that render the same video: two legacy video bodies that differ only in fields set to
what leaving them out renders (a HeyGen default written out, a flag that is false).

A body's content hash is over the body as written, so deleting ``avatar_style: normal`` or
``caption: false`` from a project's defaults gives every row a new hash, yet HeyGen renders the
same videos (and the v3 bodies sent are the same, since the v3 translation leaves such fields out).
The planner keeps the video the row's last body made instead of paying for it again (see
``kept_video`` and planner/decide.py); a build then records it under the new hash too.

Sources: heygen-api.md, "POST /v2/video/generate": ``avatar_style`` default ``normal``, voice
``speed`` 1 and ``pitch`` 0, a silence's ``duration`` 1, a colour background's ``value``
``#f6f6fc``, an image background's ``fit`` ``cover``, ``fps`` 25; and heygen/v3_bodies.py's neutral
character values and flags whose ``false`` asks for nothing.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from vidbuild.heygen.v3_bodies import DEFAULT_COLOUR, NEUTRAL, OFF_WHEN_FALSE
from vidbuild.planner.fields import key_entry
from vidbuild.spec.hashing import canonical_json
from vidbuild.state.history import Transition
from vidbuild.state.protocol import KeyEntry, Record, State

if TYPE_CHECKING:
    from vidbuild.spec.expand import Job

# Per legacy object, the fields whose value renders what leaving them out renders.
_TOP: dict[str, Any] = {"caption": False, "fps": 25, "test": False, "enable_watermark": False}
_CHARACTER: dict[str, Any] = {**{name: value for name, value in NEUTRAL.items() if name != "offset"},
                              **dict.fromkeys(OFF_WHEN_FALSE - {"test", "enable_watermark"}, False),
                              "use_avatar_iv_model": False}
_VOICE: dict[str, dict[str, Any]] = {"text": {"speed": 1, "pitch": 0}, "silence": {"duration": 1}}
_BACKGROUND: dict[str, dict[str, Any]] = {"color": {"value": DEFAULT_COLOUR}, "image": {"fit": "cover"}}
_AXES = ("x", "y")
# Each of those fields' default by its name (no two tables give one name two defaults), and an
# offset's axes: a change at a path whose last name is not here, or where either side holds
# another value, is one HeyGen renders. Checked first, leaf by leaf: a template edit changes
# text and a colour edit a colour, and both are told apart at once.
_BY_NAME: dict[str, Any] = {**_TOP, **_CHARACTER, **{name: value for table in (*_VOICE.values(),
                                                                              *_BACKGROUND.values())
                                                      for name, value in table.items()},
                            **dict.fromkeys(_AXES, 0)}
_ABSENT = object()
_STEP = re.compile(r"\.?([^.\[]+)|\[(\d+)\]")


def same_video(before: Mapping[str, Any], after: Mapping[str, Any], changed: Iterable[str]) -> bool:
    """Whether legacy video bodies ``before`` and ``after`` render the same video, given
    ``changed``: the paths of the leaves where they differ (``planner.fields.changed_since``).
    Values are compared as canonical JSON: ``1`` is not ``true``, ``"1"`` is not ``1``."""
    paths = list(changed)
    if not paths or not all(_default_on_each_side(before, after, path) for path in paths):
        return False
    return canonical_json(rendering_form(before)) == canonical_json(rendering_form(after))


def _default_on_each_side(before: Mapping[str, Any], after: Mapping[str, Any], path: str) -> bool:
    """Whether the leaf at ``path`` may be a default written out or left out: a name with a
    default, absent or at that default on each side (``rendering_form`` has the last word)."""
    default = _BY_NAME.get(path.rpartition(".")[2], _ABSENT)
    if default is _ABSENT:
        return False
    return all(value is _ABSENT or _is(value, default) for value in (_at(before, path), _at(after, path)))


def _at(body: Any, path: str) -> Any:
    """The value at ``path`` (``video_inputs[0].voice.speed``) in ``body``, or ``_ABSENT``."""
    value = body
    for name, index in _STEP.findall(path):
        if name:
            if not isinstance(value, Mapping) or name not in value:
                return _ABSENT
            value = value[name]
        elif not isinstance(value, list) or int(index) >= len(value):
            return _ABSENT
        else:
            value = value[int(index)]
    return value


def rendering_form(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` (a legacy video body) without the fields that hold what leaving them out renders."""
    form = _without(body, _TOP)
    scenes = body.get("video_inputs")
    if isinstance(scenes, list):
        form["video_inputs"] = [_scene(scene) if isinstance(scene, Mapping) else scene for scene in scenes]
    return form


def _scene(scene: Mapping[str, Any]) -> dict[str, Any]:
    form = dict(scene)
    character = scene.get("character")
    if isinstance(character, Mapping):
        form["character"] = _without(character, _CHARACTER)
        offset = character.get("offset")
        if isinstance(offset, Mapping) and offset.keys() <= set(_AXES) \
                and all(_is(value, 0) for value in offset.values()):
            del form["character"]["offset"]
    for part, tables in (("voice", _VOICE), ("background", _BACKGROUND)):
        fields = scene.get(part)
        if isinstance(fields, Mapping):
            form[part] = _without(fields, tables.get(str(fields.get("type")), {}))
    return form


def _without(fields: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items()
            if not (name in defaults and _is(value, defaults[name]))}


def _is(value: Any, default: Any) -> bool:
    """Whether ``value`` is ``default`` as HeyGen reads it: 1 and 1.0 are the same speed; a boolean
    is never a number."""
    if isinstance(default, bool) or isinstance(value, bool):
        return value is default
    if isinstance(default, int | float):
        return type(value) in (int, float) and bool(value == default)
    return bool(value == default)


def kept_video(job: Job, entry: KeyEntry, changed: list[str], state: State) -> Record | None:
    """The record to keep for ``job`` if its body renders the video its key's last body
    (``entry``) made: a copy of that body's record, downloaded, under ``job``'s hash. None if the
    bodies render differently, the entry keeps no body (older vidbuild versions) or that video is
    not downloaded (a body still rendering or failed is sent again as before)."""
    if job.kind != "video" or entry.body is None or not same_video(entry.body, job.body, changed):
        return None
    earlier = state.get(entry.hash)
    if earlier is None or earlier.status != "downloaded":
        return None
    return dataclasses.replace(earlier, hash=job.hash, key=job.key, owner=state.owner,
                               earlier_video_ids=list(earlier.earlier_video_ids), lost_at=[])


class KeptStep(Protocol):
    """What ``keep_same_videos`` reads of a planned step (planner/decide.py's ``Step``)."""

    @property
    def job(self) -> Job: ...
    @property
    def record(self) -> Record | None: ...
    @property
    def same_as(self) -> str | None: ...


def keep_same_videos(state: State, steps: Iterable[KeptStep]) -> None:
    """Record, for each of ``steps`` that keeps the video of its key's last body (``Step.same_as``),
    that video under the step's hash, and remember the new body for its key; a hash another build
    recorded meanwhile keeps its record. Raises StateError."""
    for step in steps:
        job, record = step.job, step.record
        if record is None or step.same_as is None or not state.record(dataclasses.replace(record)):
            continue
        detail = f"as body {step.same_as[:12]}: only fields at HeyGen's defaults changed"
        state.note(job.hash, Transition(time.time(), "same video", detail))
        state.remember_key(job.key, key_entry(job.hash, job.body))
        state.remember_body(job.hash, job.body)
