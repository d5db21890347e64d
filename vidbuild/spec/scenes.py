"""Merges defaults, reusable scenes and each scene, then maps vidbuild's vocabulary to API shapes.

All of this is static, done once per project: the result is a tree of literals and compiled
templates per scene, plus the source position of every field, so an error found in a rendered body
can name the line it came from.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidbuild.errors import Diagnostic, ProjectError, RefusedValue, TemplateError
from vidbuild.spec.load import Document, PathKey, load_yaml
from vidbuild.spec.project import Project, display_path
from vidbuild.spec.templating import Compiled, Renderer
from vidbuild.spec.validate import check_document, spec_path

SCENE_POINTER = "#/properties/scenes/items"
CHARACTER_KINDS = ("avatar", "talking_photo", "character")
VOICE_MODES = {"text": ("text", "input_text"), "audio": ("audio_url", "audio_asset_id"),
               "silence": ("silence", "duration")}
VOICE_FIELDS = {"text": ("voice_id", "speed", "pitch", "emotion", "locale"), "audio": (), "silence": ()}
# vidbuild's names for fields whose API name differs.
RENAMED = {"text": "input_text", "silence": "duration"}


@dataclass(frozen=True)
class Origin:
    """Where a field was written: a document and the path inside it."""

    document: Document
    path: PathKey

    @property
    def where(self) -> str:
        return spec_path(self.document.data, self.path)

    def diagnostic(self, message: str, suffix: str = "", text_line: int = 0) -> Diagnostic:
        """A diagnostic at this field, or at line ``text_line`` of the template it holds."""
        line, column = self.document.text_position(self.path, text_line)
        return Diagnostic(self.document.display, line, column, self.where + suffix, message)


Flat = dict[PathKey, tuple[Any, Origin]]


@dataclass
class SceneTemplate:
    """One scene ready to render: an API-shaped tree and the origin of each of its paths."""

    label: str
    origin: Origin
    tree: dict[str, Any]
    origins: dict[PathKey, Origin] = field(default_factory=dict)
    when: Any = None

    def locate(self, path: PathKey) -> Origin:
        """The origin of the longest known prefix of ``path`` (an API path inside the scene)."""
        for depth in range(len(path), 0, -1):
            found = self.origins.get(path[:depth])
            if found is not None:
                return found
        return self.origin


def prepare_scenes(project: Project, renderer: Renderer) -> list[SceneTemplate]:
    """Compile every scene of a video project; raise ProjectError with every problem found."""
    spec = project.spec
    diagnostics: list[Diagnostic] = []
    defaults = flatten(spec.get("defaults", {}), Origin(project.document, ("defaults",)))
    scenes = []
    for index, scene in enumerate(spec["scenes"]):
        origin = Origin(project.document, ("scenes", index))
        try:
            scenes.append(_prepare_scene(project, renderer, scene, origin, defaults))
        except ProjectError as exc:
            diagnostics.extend(exc.diagnostics)
    if diagnostics:
        raise ProjectError(diagnostics)
    return scenes


def _prepare_scene(project: Project, renderer: Renderer, scene: dict[str, Any], origin: Origin,
                   defaults: Flat) -> SceneTemplate:
    layers = [defaults]
    if "use" in scene:
        layers.append(_reusable_scene(project, scene["use"], origin))
    own = {k: v for k, v in scene.items() if k not in ("id", "when", "use")}
    layers.append(flatten(own, origin))
    merged: Flat = {}
    for layer in layers:
        merged = _merge(merged, layer)
    label = scene.get("id") or scene.get("use") or str(origin.path[-1])
    tree, origins, diagnostics = compile_tree(_to_api(merged, origin), renderer)
    template = SceneTemplate(label=str(label), origin=origin, tree=tree, origins=origins)
    if "when" in scene:
        try:
            template.when = renderer.compile_condition(scene["when"])
        except TemplateError as exc:
            hint = " (write it without {{ }}: `when` is an expression)" if "{{" in scene["when"] else ""
            when = Origin(project.document, (*origin.path, "when"))
            diagnostics.append(when.diagnostic(exc.message + hint))
    if diagnostics:
        raise ProjectError(diagnostics)
    return template


def compile_tree(flat: Flat, renderer: Renderer,
                 ) -> tuple[dict[str, Any], dict[PathKey, Origin], list[Diagnostic]]:
    """Nest a flat tree, compiling its template strings; collect compile errors instead of stopping."""
    tree: dict[str, Any] = {}
    origins: dict[PathKey, Origin] = {}
    diagnostics = []
    for path, (value, source) in sorted(flat.items(), key=lambda item: len(item[0])):
        origins[path] = source
        try:
            if isinstance(value, _TypeOfUrl):
                _set(tree, path, _type_of_url(value.url, renderer))
            else:
                _set(tree, path, {} if value is _CONTAINER else renderer.compile(value))
        except TemplateError as exc:
            diagnostics.append(_compile_diagnostic(exc, source))
    return tree, origins, diagnostics


def _compile_diagnostic(exc: TemplateError, source: Origin) -> Diagnostic:
    if exc.file:
        return Diagnostic(exc.file, exc.line, 0, source.where, exc.message)
    return source.diagnostic(exc.message, text_line=exc.line)


def _reusable_scene(project: Project, name: str, used_at: Origin) -> Flat:
    from vidbuild.resources import templates_dir

    for directory in (project.templates_dir, templates_dir()):
        path = directory / f"{name}.yaml"
        if path.is_file():
            return _load_reusable(path)
    searched = f"{display_path(project.templates_dir)}/ or the built-in templates"
    raise ProjectError([Origin(used_at.document, (*used_at.path, "use")).diagnostic(
        f"no reusable scene '{name}' ({name}.yaml) in {searched}")])


def _load_reusable(path: Path) -> Flat:
    document = load_yaml(path, display_path(path))
    diagnostics = check_document(document, pointer=SCENE_POINTER)
    if diagnostics:
        raise ProjectError(diagnostics)
    fields = {k: v for k, v in document.data.items() if k not in ("id", "when", "use")}
    return flatten(fields, Origin(document, ()))


def flatten(tree: Mapping[str, Any], origin: Origin, prefix: PathKey = ()) -> Flat:
    """Leaves (and, as None-valued markers, the mappings above them) keyed by path inside the scene."""
    flat: Flat = {}
    for key, value in tree.items():
        path = (*prefix, key)
        source = Origin(origin.document, (*origin.path, key))
        if isinstance(value, dict):
            flat[path] = (_CONTAINER, source)
            flat.update(flatten(value, source, path))
        else:
            flat[path] = (value, source)
    return flat


_CONTAINER = object()


def _merge(lower: Flat, upper: Flat) -> Flat:
    """Deep merge where ``upper`` wins; switching character kind, voice mode or background type
    replaces the lower layer's block instead of mixing two shapes."""
    dropped: set[PathKey] = set()
    upper_kinds = {p[0] for p in upper if len(p) == 1 and p[0] in CHARACTER_KINDS}
    if upper_kinds:
        dropped.update((k,) for k in CHARACTER_KINDS if k not in upper_kinds)
    upper_background = _background_kind(upper)
    if upper_background is not None and upper_background != _background_kind(lower):
        dropped.add(("background",))
    upper_mode = _voice_mode(upper)
    if upper_mode is not None and upper_mode != _voice_mode(lower):
        keep = set(VOICE_FIELDS[upper_mode])
        dropped.update(p for p in lower if p[:1] == ("voice",) and len(p) == 2 and p[1] not in keep)
    merged = {p: v for p, v in lower.items() if not any(p[:len(d)] == d for d in dropped)}
    merged.update(upper)
    return merged


def _voice_mode(flat: Flat) -> str | None:
    explicit = flat.get(("voice", "type"), (None,))[0]
    if isinstance(explicit, str) and explicit in VOICE_MODES:
        return explicit
    for mode, names in VOICE_MODES.items():
        if any(("voice", name) in flat for name in names):
            return mode
    return None


def _to_api(merged: Flat, scene: Origin) -> Flat:
    """Map the merged scene from vidbuild's vocabulary to the API's request shape."""
    api: Flat = {}
    for path, (value, source) in merged.items():
        head = path[0]
        if head in ("avatar", "talking_photo"):
            if len(path) == 1:
                api[("character",)] = (_CONTAINER, source)
                api[("character", "type")] = (head, source)
            else:
                api[("character", *path[1:])] = (value, source)
        elif head == "voice" and len(path) == 2:
            name = str(path[1])
            api[("voice", RENAMED.get(name, name))] = (value, source)
        else:
            api[path] = (value, source)
    _add_voice_type(merged, api)
    problems = _add_background_type(api) + list(_conflicts(merged, scene))
    if problems:
        raise ProjectError(problems)
    return api


def _add_voice_type(merged: Flat, api: Flat) -> None:
    mode = _voice_mode(merged)
    if mode is None or ("voice", "type") in api:
        return
    api[("voice", "type")] = (mode, api[("voice",)][1])
    for name in VOICE_FIELDS["text"]:
        if mode != "text":
            api.pop(("voice", name), None)


def _add_background_type(api: Flat) -> list[Diagnostic]:
    kind = _background_kind(api)
    if kind is None or ("background", "type") in api:
        return []
    if kind is _PER_ROW:
        url, origin = api[("background", "url")]
        api[("background", "type")] = (_TypeOfUrl(url), origin)
    elif kind is _UNKNOWN:
        url, origin = api[("background", "url")]
        return [origin.diagnostic(unknown_media(url))]
    else:
        api[("background", "type")] = (kind, api[("background",)][1])
    return []


# A background written as a templated URL: its type is that of each row's URL.
_PER_ROW = object()
# A background URL whose extension names no format HeyGen takes.
_UNKNOWN = object()
# From heygen-api.md: remote files must have the extension of their format (JPG/PNG images,
# MP4 videos); WebM and MOV are taken as video too.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov")


@dataclass(frozen=True)
class _TypeOfUrl:
    """Marks ``background.type`` as following the rendered ``url`` (compiled by compile_tree)."""

    url: Any


def media_kind(url: Any) -> str | None:
    """'image' or 'video' from a URL's path extension (query and fragment ignored), else None."""
    if not isinstance(url, str):
        return None
    path = urllib.parse.urlsplit(url.strip()).path.lower()
    if path.endswith(VIDEO_EXTENSIONS):
        return "video"
    if path.endswith(IMAGE_EXTENSIONS):
        return "image"
    return None


def unknown_media(url: Any) -> str:
    shown = repr(url) if len(repr(url)) <= 80 else repr(url)[:77] + "..."
    return (f"can't tell whether background url {shown} is an image or a video: its extension is "
            f"none of {', '.join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)}; set background.type "
            f"(image or video)")


def _type_of_url(url: Any, renderer: Renderer) -> Any:
    """A Compiled that renders the URL and answers its media kind, or the kind of a literal URL."""
    compiled = renderer.compile(url)
    if not isinstance(compiled, Compiled):
        return media_kind(compiled)

    def kind(context: Mapping[str, Any]) -> str:
        rendered = compiled.render(context)
        found = media_kind(rendered)
        if found is None:
            raise RefusedValue(unknown_media(rendered))
        return found

    return Compiled(compiled.source, kind)


def _background_kind(flat: Flat) -> Any:
    """The background's type as written, else as implied by its fields; None without a background."""
    if ("background",) not in flat:
        return None
    if ("background", "type") in flat:
        return flat[("background", "type")][0]
    if ("background", "value") in flat:
        return "color"
    if ("background", "video_asset_id") in flat:
        return "video"
    if ("background", "image_asset_id") in flat:
        return "image"
    if ("background", "url") not in flat:
        return None
    url = flat[("background", "url")][0]
    if isinstance(url, str) and any(mark in url for mark in ("{{", "{%", "{#")):
        return _PER_ROW
    return media_kind(url) or _UNKNOWN


def _conflicts(merged: Flat, scene: Origin) -> Iterator[Diagnostic]:
    """Two speaking modes or two character kinds in the same block, or nothing to say at all."""
    kinds = [p[0] for p in merged if len(p) == 1 and p[0] in CHARACTER_KINDS]
    if len(kinds) > 1:
        yield merged[(kinds[-1],)][1].diagnostic(
            f"a scene has one character: {' and '.join(kinds)} are both set")
    modes = [m for m, names in VOICE_MODES.items() if any(("voice", n) in merged for n in names)]
    if len(modes) > 1:
        yield merged[("voice",)][1].diagnostic(
            f"a voice speaks one way: {' and '.join(modes)} fields are both set")
    if not modes and ("voice", "type") not in merged:
        where = merged[("voice",)][1] if ("voice",) in merged else scene
        yield where.diagnostic("nothing to say: set voice.text, voice.audio_url, "
                               "voice.audio_asset_id or voice.silence (here or in defaults)")


def _set(tree: dict[str, Any], path: PathKey, value: Any) -> None:
    node = tree
    for part in path[:-1]:
        node = node.setdefault(str(part), {})
    node.setdefault(str(path[-1]), value)
