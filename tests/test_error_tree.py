"""The error tree: drawn in errors.py's docstring as it is in code, one exit code per branch, and a
local failure never dressed as an API error."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from vidbuild import errors
from vidbuild.planner.row_index import IndexEntry
from vidbuild.report.manifest import write_manifest
from vidbuild.run.files import check_inside
from vidbuild.state.disk import DiskState

_DRAWN = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z][A-Za-z]+)\s")


def error_classes() -> dict[str, type[errors.VidbuildError]]:
    return {name: value for name, value in vars(errors).items()
            if inspect.isclass(value) and issubclass(value, errors.VidbuildError)}


def drawn_tree(docstring: str) -> dict[str, str | None]:
    """Each class the docstring draws, with the class drawn as its parent (None for the root)."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in docstring.splitlines():
        match = _DRAWN.match(line.strip("\n")[4:]) if line.startswith("    ") else None
        if match is None:
            continue
        depth = len(match["indent"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match["name"]] = stack[-1][1] if stack else None
        stack.append((depth, match["name"]))
    return parents


def test_the_docstring_draws_every_error_class_under_its_real_parent() -> None:
    drawn = drawn_tree(errors.__doc__ or "")
    classes = error_classes()
    assert set(drawn) == set(classes)
    for name, parent in drawn.items():
        real = [base.__name__ for base in classes[name].__bases__ if issubclass(base, errors.VidbuildError)]
        assert real == ([parent] if parent else []), name


def test_the_drawing_check_can_fail() -> None:
    wrong = "\n    VidbuildError   root\n    ├── StateError   x\n    │   └── ApiError   y\n"
    assert drawn_tree(wrong) == {"VidbuildError": None, "StateError": "VidbuildError",
                                 "ApiError": "StateError"}


@pytest.mark.parametrize(("branch", "code"), [(errors.UserError, errors.EXIT_INVALID),
                                              (errors.LocalError, errors.EXIT_UNFINISHED),
                                              (errors.ApiError, errors.EXIT_UNFINISHED)])
def test_every_error_of_a_branch_has_the_branch_exit_code(branch: type[errors.VidbuildError],
                                                          code: int) -> None:
    members = [cls for cls in error_classes().values() if issubclass(cls, branch)]
    assert len(members) > 2
    assert {cls.exit_code for cls in members} == {code}


def test_the_users_mistakes_and_local_failures_are_apart_from_the_apis() -> None:
    users = {errors.UsageError, errors.SettingError, errors.ProjectError, errors.TemplateError,
             errors.RefusedValue}
    local = {errors.StateError, errors.InputsChangedError, errors.LocalWriteError,
             errors.UnsafeOutputError}
    assert all(issubclass(cls, errors.UserError) and not issubclass(cls, errors.ApiError) for cls in users)
    assert all(issubclass(cls, errors.LocalError) and not issubclass(cls, errors.ApiError) for cls in local)


def test_an_output_led_outside_the_project_by_a_symlink_is_a_local_failure(tmp_path: Path) -> None:
    root, outside = tmp_path / "project", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "out").symlink_to(outside, target_is_directory=True)   # swapped in after validation

    with pytest.raises(errors.UnsafeOutputError) as caught:
        check_inside(root, root / "out" / "r1.mp4")

    assert not isinstance(caught.value, errors.ApiError)
    assert caught.value.exit_code == errors.EXIT_UNFINISHED
    assert str(caught.value) == f"output {root / 'out' / 'r1.mp4'} leads outside the project directory"


def test_the_manifest_through_a_symlink_out_of_the_project_is_a_local_failure(tmp_path: Path) -> None:
    root, outside = tmp_path / "project", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "out").symlink_to(outside, target_is_directory=True)
    state = DiskState(root / ".vidbuild", "emulator")
    try:
        with pytest.raises(errors.UnsafeOutputError, match="outside the project"):
            write_manifest(root, "campaign", lambda: [IndexEntry("a", "h" * 64, "out/a.mp4")], state)
    finally:
        state.close()
    assert list(outside.iterdir()) == []
