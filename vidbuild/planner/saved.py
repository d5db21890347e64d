"""Plan stage, saved plans (Terraform's ``plan -out``): ``plan --out FILE`` writes the exact
bodies and actions, ``build --plan FILE`` carries out that plan and nothing else.

A saved plan records the digest of every input file (the project file, its data, the templates),
the options it was planned with (selection, ``--force``, ``--api``), the backend it was planned
against, and each selected row's action and body hash. Before anything is sent, ``build --plan``
checks each of these again and refuses (exit 2) naming what differs: a file edited since, a row
whose body or action changed (another build ran, a video finished), another backend. A reviewer
who approved the plan in a pull request thus approves exactly what is paid for.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidbuild.errors import UsageError
from vidbuild.planner.decide import Step

FORMAT = "vidbuild-plan"
VERSION = 1
_SHOWN = 5   # names listed in a refusal before "and N more"


@dataclass(frozen=True)
class SavedOptions:
    """The options a plan was made with; ``build --plan`` builds with the same ones."""

    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    force: tuple[str, ...] = ()
    api: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"select": list(self.select), "exclude": list(self.exclude), "force": list(self.force),
                "api": self.api}


@dataclass
class SavedPlan:
    """A plan as written by ``plan --out``: inputs' digests, options, backend and steps by key."""

    project: str
    inputs: dict[str, str]
    options: SavedOptions
    planned_against: dict[str, str]
    steps: dict[str, tuple[str, str]] = field(default_factory=dict)   # key -> (action, hash)

    def check_inputs(self, now: Mapping[str, str]) -> None:
        """UsageError naming every input file added, removed or edited since the plan was saved."""
        changed = sorted(name for name in self.inputs.keys() | now.keys()
                         if self.inputs.get(name) != now.get(name))
        if changed:
            raise UsageError(f"the project changed since the plan was saved: {_names(changed)} "
                             f"changed; nothing sent (run vidbuild plan --out again and review it)")

    def check_backend(self, now: Mapping[str, str]) -> None:
        if dict(now) != self.planned_against:
            raise UsageError(f"the plan was made against {_backend(self.planned_against)}, this build "
                             f"would run against {_backend(now)}; nothing sent")

    def checked(self, steps: Iterable[Step]) -> Iterator[Step]:
        """The steps as they stream by, each compared with the saved one; at the end UsageError
        naming every row whose action or body differs, or that came or went."""
        differ: list[str] = []
        seen: set[str] = set()
        for step in steps:
            seen.add(step.key)
            saved = self.steps.get(step.key)
            if saved is None:
                differ.append(f"{step.key} (not in the plan)")
            elif saved != (step.action, step.job.hash):
                differ.append(f"{step.key} ({_change(saved, step)})")
            yield step
        differ.extend(f"{key} (no longer planned)" for key in sorted(self.steps.keys() - seen))
        if differ:
            raise UsageError(f"the plan is stale: {_names(differ)}; nothing sent (run vidbuild plan "
                             f"--out again and review it)")


def _change(saved: tuple[str, str], step: Step) -> str:
    action, body_hash = saved
    if body_hash != step.job.hash:
        return "its body changed"
    return f"planned {action}, now {step.action}"


def _backend(against: Mapping[str, str]) -> str:
    if against.get("backend") == "emulator":
        return "the built-in emulator"
    return f"the HeyGen API at {against.get('api_base', '?')}"


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def input_digests(root: Path, files: Iterable[str], builtin: Path) -> dict[str, str]:
    """The sha256 of each input file, by its path relative to the project, or to vidbuild's own
    templates (``builtin``, shown as ``vidbuild:NAME``), so a plan saved in one checkout applies
    in another; absolute elsewhere."""
    digests: dict[str, str] = {}
    for name in files:
        shown = _portable_name(name, root, builtin)
        try:
            digests[shown] = hashlib.sha256(Path(name).read_bytes()).hexdigest()
        except OSError as exc:
            raise UsageError(f"can't read {shown} to compare it with the saved plan: {exc}") from exc
    return digests


def _portable_name(name: str, root: Path, builtin: Path) -> str:
    for base, prefix in ((root, ""), (builtin, "vidbuild:")):
        relative = os.path.relpath(name, base)
        if not relative.startswith(".."):
            return prefix + Path(relative).as_posix()
    return name


def write_plan(path: str, plan: SavedPlan, summary: Mapping[str, Any]) -> None:
    """Write ``plan`` (and the summary people read) as JSON to ``path``; UsageError if it can't be."""
    document = {"format": FORMAT, "version": VERSION, "project": plan.project,
                "planned_against": plan.planned_against, "options": plan.options.to_json(),
                "inputs": plan.inputs, **summary,
                "steps": [{"key": key, "action": action, "hash": body_hash}
                          for key, (action, body_hash) in plan.steps.items()]}
    try:
        Path(path).write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--out {path}: can't write the plan: {exc}") from exc


def read_plan(path: str) -> SavedPlan:
    """A plan ``plan --out`` wrote; UsageError (exit 2) for a file that isn't one."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"--plan {path}: can't read a saved plan: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UsageError(f"--plan {path}: not a plan written by vidbuild plan --out")
    if document.get("version") != VERSION:
        raise UsageError(f"--plan {path}: a plan of format version {document.get('version')!r}; this "
                         f"vidbuild reads version {VERSION}")
    try:
        options = document["options"]
        return SavedPlan(
            project=str(document["project"]), inputs=dict(document["inputs"]),
            options=SavedOptions(tuple(options["select"]), tuple(options["exclude"]),
                                tuple(options["force"]), options["api"]),
            planned_against=dict(document["planned_against"]),
            steps={str(step["key"]): (str(step["action"]), str(step["hash"])) for step in document["steps"]})
    except KeyError as exc:
        raise UsageError(f"--plan {path}: a damaged plan: it has no {exc.args[0]!r}") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"--plan {path}: a damaged plan: a field holds a value of the wrong kind "
                         f"({type(exc).__name__}: {exc})") from exc
