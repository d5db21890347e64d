"""Bodies that render the same video: two legacy video bodies that differ only in fields set to
what leaving them out renders.

A body's content hash is over the body as written, so deleting ``avatar_style: normal`` from a
project's defaults gives every row a new hash, yet HeyGen renders the same videos. The planner keeps
the video the row's key's last body made instead of paying for it again (``kept_video``, used by
planner/decide.py); a build then records it under the new hash (run/context.py), and a twin row
(the same new body) follows that record.

Two rules, each from a source:
- HeyGen's documented defaults (heygen-api.md, "POST /v2/video/generate"): ``avatar_style``
  ``normal``, a text voice's ``speed`` 1 and ``pitch`` 0, a silence's ``duration`` 1, a colour
  background's ``value`` ``#f6f6fc``, an image background's ``fit`` ``cover``, ``fps`` 25. Bodies
  equal but for these render the same video through either API generation.
- The v3 request itself: fields the v3 translation leaves out (heygen/v3_bodies.py: a character's
  neutral ``scale``, ``offset``, ``expression``, ``avatar_style``; flags whose ``false`` asks for
  nothing; ``caption: false``; ``use_avatar_iv_model: false``). Bodies whose v3 requests are
  identical make the same request, so the same video, when both were sent through v3.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from vidbuild.heygen.v3_bodies import DEFAULT_COLOUR, NEUTRAL, OFF_WHEN_FALSE, v3_body
from vidbuild.planner.fields import value_at
from vidbuild.spec.hashing import canonical_json
from vidbuild.state.protocol import KeyEntry, Record, State

if TYPE_CHECKING:
    from vidbuild.spec.expand import Job

# Per legacy object, the documented defaults.
_TOP: dict[str, Any] = {"fps": 25}
_CHARACTER: dict[str, Any] = {"avatar_style": "normal"}
_VOICE: dict[str, dict[str, Any]] = {"text": {"speed": 1, "pitch": 0}, "silence": {"duration": 1}}
_BACKGROUND: dict[str, dict[str, Any]] = {"color": {"value": DEFAULT_COLOUR}, "image": {"fit": "cover"}}
_AXES = ("x", "y")
# What the v3 translation leaves out besides (see the module docstring).
_LEFT_OUT_OF_V3: dict[str, Any] = {**{name: value for name, value in NEUTRAL.items() if name != "offset"},
                                   **dict.fromkeys(OFF_WHEN_FALSE, False), "caption": False,
                                   "use_avatar_iv_model": False, **dict.fromkeys(_AXES, 0)}
# Each of those fields' default by its name (no two tables give one name two defaults): a change
# at a path whose last name is not here, or where either side holds another value, is one HeyGen
# renders. Checked first, leaf by leaf: a template edit changes text and a colour edit a colour,
# and both are told apart at once.
_BY_NAME: dict[str, Any] = {**_TOP, **_CHARACTER, **{name: value for table in (*_VOICE.values(),
                                                                              *_BACKGROUND.values())
                                                      for name, value in table.items()},
                            **_LEFT_OUT_OF_V3}
_ABSENT = object()

Sameness = Literal["defaults", "v3"]


def same_video(before: Mapping[str, Any], after: Mapping[str, Any], changed: Iterable[str],
               scenes: Sequence[str] = ()) -> Sameness | None:
    """How legacy video bodies ``before`` and ``after`` render the same video, given ``changed``:
    the paths of the leaves where they differ (``planner.fields.changed_since``). 'defaults': equal
    but for HeyGen's documented defaults; 'v3': so equal, their v3 requests are identical (the
    same video if both are sent through v3); None: they may render differently. Values are compared as
    canonical JSON: ``1`` is not ``true``, ``"1"`` is not ``1``. ``scenes``: the scene labels."""
    if not may_be_same(before, after, list(changed)):
        return None
    forms = [rendering_form(before), rendering_form(after)]
    if canonical_json(forms[0]) == canonical_json(forms[1]):
        return "defaults"
    try:
        requests = [canonical_json(v3_body("video", form, scenes)) for form in forms]
    except ValueError:   # either has no v3 request
        return None
    return "v3" if requests[0] == requests[1] else None


def may_be_same(before: Mapping[str, Any], after: Mapping[str, Any], changed: Sequence[str]) -> bool:
    """The quick check ``same_video`` starts with: whether something ``changed`` and each changed
    leaf is absent or at its default on each side (a template edit fails it at its first path)."""
    return bool(changed) and all(_default_on_each_side(before, after, path) for path in changed)


def _default_on_each_side(before: Mapping[str, Any], after: Mapping[str, Any], path: str) -> bool:
    """Whether the leaf at ``path`` may be a default written out or left out: a name with a
    default, absent or at that default on each side. A null reads as absent here: this only rules
    changes out, ``rendering_form`` has the last word."""
    default = _BY_NAME.get(path.rpartition(".")[2], _ABSENT)
    if default is _ABSENT:
        return False
    sides = (value_at(before, path), value_at(after, path))
    return all(value is None or _is(value, default) for value in sides)


def rendering_form(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` (a legacy video body) without the fields at HeyGen's documented defaults."""
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
    (``entry``) made: that body's record, downloaded, as ``job``'s body's. Its owner stays the build
    that paid for it (a ``--force`` of a twin row is then still honoured). None if the bodies may
    render differently, the entry keeps no body (older vidbuild versions) or that video is not
    downloaded (a body still rendering or failed is sent again as before)."""
    if job.kind != "video" or entry.body is None:
        return None
    same = same_video(entry.body, job.body, changed, job.scenes)
    if same is None or (same == "v3" and job.generation != "v3"):
        return None
    earlier = state.get(entry.hash)
    if earlier is None or earlier.status != "downloaded" or (same == "v3" and earlier.generation != "v3"):
        return None
    return dataclasses.replace(earlier, hash=job.hash, key=job.key, lost_at=[],
                               earlier_video_ids=list(earlier.earlier_video_ids))
