"""Renders each data row into one concrete, validated API request body (a Job), every row's
mistakes collected and reported together."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidbuild.errors import Diagnostic, ProjectError, TemplateError
from vidbuild.heygen.routes import REQUEST_SCHEMAS, Generation, endpoint_id, sends_callback_id
from vidbuild.spec.admission import Admission
from vidbuild.spec.diagnostics import DiagnosticSink
from vidbuild.spec.generation import Router
from vidbuild.spec.hashing import content_hash, marked_title
from vidbuild.spec.load import PathKey
from vidbuild.spec.manifest_spec import compile_extras, manifest_extras
from vidbuild.spec.output_paths import OutputDirectories, key_problem, output_problem
from vidbuild.spec.project import DEFAULT_OUTPUT, Project
from vidbuild.spec.protected import ProtectedFiles
from vidbuild.spec.rows import Row, read_rows
from vidbuild.spec.scenes import Origin, SceneTemplate, compile_tree, flatten, prepare_scenes
from vidbuild.spec.templating import Condition, Render, Renderer, tree_renderer
from vidbuild.spec.validate import body_errors, body_is_valid

if TYPE_CHECKING:
    from vidbuild.spec.reuse import Reuse

DEFAULT_DIMENSION = {"width": 1280, "height": 720}  # works on every plan; never rely on the API default


@dataclass(frozen=True)
class Job:
    """One video to make: the exact request body, its content hash and where the result goes."""

    key: str
    kind: str
    body: dict[str, Any]
    hash: str
    output: str                   # relative to the project directory, POSIX separators
    scenes: tuple[str, ...]
    row: Row
    # The API generation the row is sent through, and why (see vidbuild/heygen/v3_bodies.py).
    # Neither is part of the hash: a row built through one generation is up to date in the other.
    generation: Generation = "legacy"
    route_reason: str = ""
    title_marker: bool = True     # the project's `title_marker`
    # What determined the body (see planner/fingerprint.py), when a build keeps track of it; and
    # whether the row was found unchanged since its download, so it was not rendered again (its
    # body is then empty: it is up to date and never sent).
    fingerprint: str | None = None
    unchanged: bool = False
    thumbnail: str | None = None   # the rendered `thumbnail:` (None: not asked for); `manifest.columns`:
    columns: Mapping[str, Any] = field(default_factory=dict)   # the row's values, as written

    @property
    def callback_id(self) -> str | None:
        """The ``callback_id`` sent with the body (its hash), or None where the API refuses one:
        on an agent request without ``callback_url`` (see ``api.sends_callback_id``)."""
        return self.hash if sends_callback_id(self.kind, self.body) else None

    def request_body(self) -> dict[str, Any]:
        """The legacy body as sent: the content plus ``callback_id`` so a lost reply can be recognised
        (where the API takes one), and the hash's marker at the end of the title (unless switched off)."""
        callback_id = self.callback_id
        sent = dict(self.body) if callback_id is None else {**self.body, "callback_id": callback_id}
        if self.title_marker and isinstance(sent.get("title"), str):
            sent["title"] = marked_title(sent["title"], self.hash)
        return sent

    def submission(self) -> tuple[str, dict[str, Any]]:
        """The endpoint (``POST /v3/videos``) and the exact body sent through the row's generation."""
        if self.generation == "legacy":
            return endpoint_id(self.kind), self.request_body()
        from vidbuild.heygen.v3_bodies import v3_body

        body = v3_body(self.kind, self.body, self.scenes)
        if "title" in body and self.title_marker:
            body["title"] = marked_title(body["title"], self.hash)
        # callback_id is echoed in webhooks only; an agent takes it only beside a callback_url.
        if sends_callback_id(self.kind, body):
            body["callback_id"] = self.hash
        return endpoint_id(self.kind, "v3"), body


class Expander(Admission):
    """Everything compiled once per project; ``expand(row)`` renders one row. ``api`` ('auto',
    'v3' or 'legacy', from ``--api``) wins over the project's ``api:``."""

    def __init__(self, project: Project, protected: ProtectedFiles | None = None,
                 api: str | None = None) -> None:
        from vidbuild.resources import templates_dir

        self.project = project
        self.protected = protected
        self.title_marker = project.spec.get("title_marker", True) is not False
        self.renderer = Renderer([project.templates_dir, templates_dir()])
        spec = project.spec
        self.context_base = {"vars": spec.get("vars", {}), "project": {"name": project.name}}
        diagnostics: list[Diagnostic] = []
        self.key = self._compile_field(("data", "key"), "{{ project.name }}", diagnostics)
        self.output = self._compile_field(("output",), DEFAULT_OUTPUT, diagnostics)
        self.thumbnail, self.columns = compile_extras(self, diagnostics)
        self.scenes: list[SceneTemplate] = []
        section = "video" if project.kind == "video" else "agent"
        flat = flatten(spec.get(section, {}), Origin(project.document, (section,)))
        self.top, self.top_origins, compile_errors = compile_tree(flat, self.renderer)
        diagnostics.extend(compile_errors)
        if project.kind == "video":
            try:
                self.scenes = prepare_scenes(project, self.renderer)
            except ProjectError as exc:
                diagnostics.extend(exc.diagnostics)
        if diagnostics:
            raise ProjectError(diagnostics)
        self.schema = REQUEST_SCHEMAS[project.kind]
        Admission.__init__(self)
        # id(tree) -> (tree, its renderer); holding the tree keeps its id from being reused.
        self._renderers: dict[int, tuple[Any, Render]] = {}
        # Each scene's `when`, wrapped once so the renderer cache sees the same object every row.
        self._conditions = [None if s.when is None else Condition(s.when) for s in self.scenes]
        self.directories = OutputDirectories()   # where the outputs go (the manifest goes beside them)
        self.router = Router(project, api, self.top, self.scenes)

    def _compile_field(self, path: tuple[str, ...], default: str, diagnostics: list[Diagnostic]) -> Any:
        value = self.project.spec.get(path[0], {}) if len(path) == 2 else self.project.spec
        source = value.get(path[-1], default) if isinstance(value, dict) else default
        try:
            return self.renderer.compile(source)
        except TemplateError as exc:
            diagnostics.append(Origin(self.project.document, path).diagnostic(exc.message))
            return source

    def expand(self, row: Row, sink: DiagnosticSink, fingerprint: str | None = None) -> Job | None:
        """Render one row into a Job (carrying ``fingerprint``, see planner/fingerprint.py), or add
        its problems to ``sink`` and return None."""
        if not isinstance(row.values, dict):
            sink.add(row.diagnostic("a row must be a mapping of column names to values"), "row type")
            return None
        context: dict[str, Any] = {**self.context_base, "row": row.values}
        key = self._render_key(row, context, sink)
        if key is None or not self._admit_key(row, key, sink):
            return None
        context["key"] = key
        output = self._render_output(row, key, context, sink)
        if output is None or not self._admit_output(row, key, output, sink) \
                or (extras := manifest_extras(self, row, key, output, context, sink)) is None:
            return None
        errors_before = len(sink.shown)
        if self.project.kind == "video":
            body, used = self._video_body(row, key, context, sink)
        else:
            body, used = self._agent_body(row, key, context, sink), []
        if body is None or len(sink.shown) > errors_before:
            return None
        content = self._checked_hash(body, used, row, key, sink)
        if content is None:
            return None
        generation, reason = self.router.route(body, used)
        refusal = self.router.refusal(generation, reason)
        if refusal is not None:
            sink.add(row.diagnostic(refusal, key), "api v3")
            return None
        return Job(key=key, kind=self.project.kind, body=body, hash=content, output=output,
                   scenes=tuple(s.label for s in used), row=row, generation=generation,
                   route_reason=reason, title_marker=self.title_marker, fingerprint=fingerprint, **extras)

    def admit(self, row: Row, key: str, output: str, sink: DiagnosticSink, thumbnail: str | None) -> bool:
        """What a row found unchanged must hold, as in ``expand``: its key, output and ``thumbnail`` unique
        so far, its paths safe to write today (directories may have become links since; the files
        were found no links: ``output_problem``'s ``known``). Problems go to ``sink``. (A row taken
        from the last build, in a directory already checked, needs only ``admit_known``.)"""
        if not self._admit_key(row, key, sink):
            return False
        for name, path in (("output", output), ("thumbnail", thumbnail)):
            if path is not None and not (self._safe_path(row, key, (name,), path, sink, True)
                                         and self._admit_output(row, key, path, sink)):
                return False
        return True

    def _safe_path(self, row: Row, key: str, field: PathKey, path: str, sink: DiagnosticSink,
                   known: bool = False) -> bool:
        """Whether ``path``, the row's rendered ``field`` (output or thumbnail), is safe to write
        (see ``output_problem``); if not, the problem goes to ``sink`` at ``field``."""
        if problem := output_problem(self.project.root, path, self.protected, known=known):
            origin = Origin(self.project.document, field)
            sink.add(origin.diagnostic(f"{problem}{_row_note(row, key)}"), origin.where)
        return problem is None

    def _renderer(self, tree: Any) -> Callable[[Mapping[str, Any]], Any]:
        """A function that renders ``tree`` per row, built once per tree: static parts are shared
        between rows instead of copied, so a row pays only for its templated fields."""
        cached = self._renderers.get(id(tree))
        if cached is not None and cached[0] is tree:
            return cached[1]
        found = tree_renderer(tree, self.renderer.call)
        self._renderers[id(tree)] = (tree, found)
        return found

    def _render_at(self, value: Any, context: Mapping[str, Any], origin: Origin | SceneTemplate,
                   row: Row, key: str | None, sink: DiagnosticSink, scene: str = "") -> Any:
        """Render, turning a template failure into a diagnostic at the failing field's source."""
        try:
            return self._renderer(value)(context)
        except TemplateError as exc:
            if isinstance(origin, SceneTemplate):
                origin = origin.locate(self._failing_path(value, context))
            elif origin.path[:1] in (("video",), ("agent",)):
                origin = self.top_origins.get(self._failing_path(value, context), origin)
            sink.add(_render_diagnostic(exc, origin, _row_note(row, key, scene)), origin.where)
            raise

    def _failing_path(self, tree: Any, context: Mapping[str, Any], path: PathKey = ()) -> PathKey:
        """Which field of a tree fails to render: rendered again leaf by leaf, on the error path only."""
        if isinstance(tree, dict):
            for name, value in tree.items():
                try:
                    self._renderer(value)(context)
                except TemplateError:
                    return self._failing_path(value, context, (*path, name))
        return path

    def _render_key(self, row: Row, context: dict[str, Any], sink: DiagnosticSink) -> str | None:
        origin = Origin(self.project.document, ("data", "key"))
        try:
            key = str(self._render_at(self.key, context, origin, row, None, sink)).strip()
        except TemplateError:
            return None
        problem = key_problem(key)
        if problem:
            sink.add(row.diagnostic(problem), "unsafe key")
            return None
        return key

    def _render_output(self, row: Row, key: str, context: Mapping[str, Any],
                       sink: DiagnosticSink, path: PathKey = ("output",)) -> str | None:
        origin, template = Origin(self.project.document, path), getattr(self, str(path[0]))
        try:
            rendered = str(self._render_at(template, context, origin, row, key, sink)).strip()
        except TemplateError:
            return None
        if not self._safe_path(row, key, path, rendered, sink):
            return None
        return posixpath.normpath(rendered.replace("\\", "/"))

    def _video_body(self, row: Row, key: str, context: Mapping[str, Any],
                    sink: DiagnosticSink) -> tuple[dict[str, Any] | None, list[SceneTemplate]]:
        used: list[SceneTemplate] = []
        inputs = []
        failed = False
        for scene, condition in zip(self.scenes, self._conditions, strict=True):
            try:
                if condition is not None:
                    when_origin = Origin(scene.origin.document, (*scene.origin.path, "when"))
                    if not self._render_at(condition, context, when_origin, row, key, sink, scene.label):
                        continue
                inputs.append(self._render_at(scene.tree, context, scene, row, key, sink, scene.label))
                used.append(scene)
            except TemplateError:
                failed = True  # go on: every failing scene of the row is reported, not only the first
        try:
            top = self._render_at(self.top, context, Origin(self.project.document, ("video",)),
                                  row, key, sink)
        except TemplateError:
            return None, used
        if failed:
            return None, used
        if not inputs:
            sink.add(row.diagnostic("every scene's `when` is false for this row: nothing to say", key),
                     "no scenes")
            return None, used
        title = top.pop("title", None)
        body = {"title": f"{self.project.name} {key}" if title is None else title,
                "dimension": top.pop("dimension", DEFAULT_DIMENSION), **top, "video_inputs": inputs}
        return body, used

    def _agent_body(self, row: Row, key: str, context: Mapping[str, Any],
                    sink: DiagnosticSink) -> dict[str, Any] | None:
        """The agent request: the section's fields at the top level, as HeyGen's published
        description has them (its ``config`` object is deprecated), a ``script`` sent as the prompt."""
        try:
            agent = self._render_at(self.top, context, Origin(self.project.document, ("agent",)),
                                    row, key, sink)
        except TemplateError:
            return None
        script = agent.pop("script", None)
        if script is not None:
            agent["prompt"] = _script_prompt(script)
        return dict(agent)

    def _checked_hash(self, body: dict[str, Any], used: list[SceneTemplate], row: Row, key: str,
                      sink: DiagnosticSink) -> str | None:
        """The body's content hash if it is a valid request; else its problems go to ``sink``.

        A compiled validator answers yes or no in microseconds; only a body it rejects (or one
        the hash can't encode: NaN) is explained, slowly, with located messages.
        """
        if body_is_valid(body, self.schema):
            try:  # rendered bodies are canonical by construction (see render.canonical_value)
                return content_hash(self.project.kind, body, is_canonical=True)
            except ValueError:
                pass
        problems = False
        for path, message in body_errors(body, self.schema):
            problems = True
            origin, scene = self._origin_of(path, used)
            sink.add(origin.diagnostic(f"{message}{_row_note(row, key, scene)}"), origin.where)
        if not problems:  # the fast validator and jsonschema disagree: trust the thorough one
            return content_hash(self.project.kind, body)
        return None

    def _origin_of(self, path: PathKey, used: list[SceneTemplate]) -> tuple[Origin, str]:
        """The source of a body path: a scene's field, a top-level field, or the section itself."""
        if len(path) >= 2 and path[0] == "video_inputs" and isinstance(path[1], int):
            scene = used[path[1]]
            return scene.locate(path[2:]), scene.label
        section = "video" if self.project.kind == "video" else "agent"
        # An agent's prompt may have been written as a script.
        candidates = [path, *([("script",)] if section == "agent" and path[:1] == ("prompt",) else [])]
        for spec_path in candidates:
            for depth in range(len(spec_path), 0, -1):
                found = self.top_origins.get(tuple(spec_path[:depth]))
                if found is not None:
                    return found, ""
        return Origin(self.project.document, (section,) if section in self.project.spec else ()), ""


def _script_prompt(script: list[dict[str, Any]]) -> str:
    """An agent ``script`` as the one prompt the API takes: a line per item, ``actor: text``."""
    return "\n".join(f"{line['actor']}: {line['text']}" if line.get("actor") else str(line["text"])
                     for line in script)


def _row_note(row: Row, key: str | None, scene: str = "") -> str:
    who = f"row {key}" if key else f"row {row.index + 1}"
    scene_note = f", scene {scene}" if scene else ""
    return f" ({who} at {row.file}:{row.line}{scene_note})"


def _render_diagnostic(exc: TemplateError, origin: Origin, note: str) -> Diagnostic:
    if exc.file:
        return Diagnostic(exc.file, exc.line, 0, origin.where, exc.message + note)
    return origin.diagnostic(exc.message + note, text_line=exc.line)


def expand_project(project: Project, state_dir: Path | None = None, *, api: str | None = None,
                   reuse: Reuse | None = None, settle: Callable[[Job], bool] | None = None) -> Iterator[Job]:
    """Yield every row's Job in data order; once all rows are seen, raise ProjectError if any
    row (or the project) was wrong. Keys and output paths must be unique, and neither an output
    nor the manifest may overwrite the project's own files or its state (in ``state_dir``,
    default: ``state_root``'s choice). ``api`` is ``--api``. With ``reuse``, rows are read a
    page at a time and those it knows unchanged are not rendered (only admitted: see
    ``Expander.admit``), nor yielded if ``settle`` takes them; every Job carries its fingerprint."""
    sink = DiagnosticSink(project.value_errors)
    expander: Expander | None = None
    protected = ProtectedFiles.of(project, state_dir)
    try:
        expander = Expander(project, protected, api)
    except ProjectError as exc:   # still read the data: its own mistakes are independent ones
        for diagnostic in exc.diagnostics:
            sink.add(diagnostic)
    directories = expander.directories if expander is not None else OutputDirectories()
    try:
        if reuse is not None and expander is not None:
            from vidbuild.spec.reuse import reusing

            jobs: Iterator[Job | None] = reusing(expander, reuse, read_rows(project, reuse.taker()), sink)
        else:
            jobs = (expander.expand(row, sink) if expander is not None else None
                    for row in read_rows(project))
        for job in jobs:
            if job is not None:
                directories.add(job.output)
                if not (job.unchanged and settle is not None and settle(job)):
                    yield job
    except ProjectError as exc:
        for diagnostic in exc.diagnostics:
            sink.add(diagnostic)
    clash = directories.manifest_clash(project, protected)
    if clash:
        sink.add(Origin(project.document, ("output",)).diagnostic(clash))
    sink.raise_if_any()
