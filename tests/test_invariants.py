"""Small invariants: schemas are valid and described, errors live in errors.py under one root, examples
compile."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from vidbuild import errors
from vidbuild.heygen.routes import REQUEST_SCHEMAS
from vidbuild.spec.expand import expand_project
from vidbuild.spec.project import load_project

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = sorted((REPO / "schemas").rglob("*.json"))
PROJECTS = sorted(p.parent for p in (REPO / "projects").glob("*/vidbuild.yaml"))


def test_the_repository_has_schemas_and_examples() -> None:
    names = {p.relative_to(REPO / "schemas").as_posix() for p in SCHEMAS}
    assert {"project.schema.json", *REQUEST_SCHEMAS.values()} <= names
    assert {p.name for p in PROJECTS} >= {"hello", "spring-welcome", "agent-intro"}


@pytest.mark.parametrize("path", SCHEMAS, ids=[p.name for p in SCHEMAS])
def test_every_schema_is_a_valid_draft_2020_12_schema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def undescribed(schema: Any, where: str = "") -> Iterator[str]:
    """JSON pointers of every property (at any depth) that has no description."""
    if isinstance(schema, dict):
        for name, sub in schema.get("properties", {}).items():
            if not (isinstance(sub, dict) and sub.get("description")):
                yield f"{where}/properties/{name}"
        for key, sub in schema.items():
            if key != "if":  # an if's properties are a condition, not fields an editor offers
                yield from undescribed(sub, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, sub in enumerate(schema):
            yield from undescribed(sub, f"{where}/{index}")


def test_every_project_schema_property_is_described() -> None:
    schema = json.loads((REPO / "schemas" / "project.schema.json").read_text(encoding="utf-8"))
    assert list(undescribed(schema)) == []


def test_the_description_check_can_fail() -> None:
    schema = {"properties": {"a": {"description": "ok", "properties": {"b": {"type": "string"}}}}}
    assert list(undescribed(schema)) == ["/properties/a/properties/b"]


def vidbuild_modules(package: str = "vidbuild") -> Iterator[ModuleType]:
    """``package`` and, for a package, every module below it (``__main__`` is read, not run: it
    exits on import; test_no_module_but_errors_defines_an_exception reads it as source)."""
    module = importlib.import_module(package)
    yield module
    if hasattr(module, "__path__"):
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            if not info.name.endswith(".__main__"):
                yield importlib.import_module(info.name)


def exception_classes(package: str) -> Iterator[type[BaseException]]:
    """Every public exception class defined in a module or package of vidbuild.

    Private ones (``client._http._Retry``) are control flow caught inside their module.
    """
    for each in vidbuild_modules(package):
        for _, value in inspect.getmembers(each, inspect.isclass):
            public = not value.__name__.startswith("_")
            if public and issubclass(value, BaseException) and value.__module__ == each.__name__:
                yield value


def private_exception_classes() -> Iterator[tuple[ModuleType, type[BaseException]]]:
    for module in vidbuild_modules():
        for _, value in inspect.getmembers(module, inspect.isclass):
            if value.__name__.startswith("_") and issubclass(value, BaseException) \
                    and value.__module__ == module.__name__:
                yield module, value


def caught_names(source: str) -> set[str]:
    """The names an ``except`` clause of ``source`` catches (alone or in a tuple)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            for caught in (node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]):
                if isinstance(caught, ast.Name):
                    names.add(caught.id)
    return names


@pytest.mark.parametrize("package", ["vidbuild"])
def test_every_exception_derives_from_the_root(package: str) -> None:
    classes = list(exception_classes(package))
    assert classes
    assert [c.__qualname__ for c in classes if not issubclass(c, errors.VidbuildError)] == []


def test_no_module_but_errors_defines_an_exception() -> None:
    strays = [f"{c.__module__}.{c.__qualname__}" for c in exception_classes("vidbuild")
              if c.__module__ != "vidbuild.errors"]
    assert strays == []
    main = (REPO / "vidbuild" / "__main__.py").read_text(encoding="utf-8")
    assert not any(isinstance(node, ast.ClassDef) for node in ast.walk(ast.parse(main)))


def test_every_private_exception_is_caught_in_its_own_module() -> None:
    private = list(private_exception_classes())
    assert private   # _Retry, _Damaged, ... : control flow that never leaves its module
    uncaught = [f"{module.__name__}.{cls.__name__}" for module, cls in private
                if cls.__name__ not in caught_names(inspect.getsource(module))]
    assert uncaught == []


def test_the_except_reader_can_fail() -> None:
    assert caught_names("try:\n    pass\nexcept (_A, b.C):\n    pass\nexcept _D as e:\n    pass\n") \
        == {"_A", "_D"}


def test_every_error_branch_has_a_documented_exit_code() -> None:
    codes = {errors.EXIT_OK, errors.EXIT_FAILED, errors.EXIT_INVALID, errors.EXIT_UNFINISHED,
             errors.EXIT_INTERRUPTED, errors.EXIT_TERMINATED}
    assert codes == {0, 1, 2, 3, 130, 143}
    for cls in exception_classes("vidbuild.errors"):
        assert cls.exit_code in (errors.EXIT_INVALID, errors.EXIT_UNFINISHED), cls
    assert errors.ProjectError([]).exit_code == errors.EXIT_INVALID
    assert errors.UsageError("x").exit_code == errors.EXIT_INVALID


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_every_example_compiles_offline_to_bodies_the_request_schema_accepts(project: Path) -> None:
    loaded = load_project(project)
    jobs = list(expand_project(loaded))
    assert jobs
    schema = json.loads((REPO / "schemas" / REQUEST_SCHEMAS[loaded.kind]).read_text(encoding="utf-8"))
    request_schema = Draft202012Validator(schema)
    for job in jobs:
        assert [e.message for e in request_schema.iter_errors(job.request_body())] == [], job.key
    assert len({job.key for job in jobs}) == len({job.output for job in jobs}) == len(jobs)


def test_the_campaign_example_has_what_the_issue_asks_for() -> None:
    project = load_project(REPO / "projects" / "spring-welcome")
    jobs = list(expand_project(project))
    assert len(jobs) >= 20
    assert any("when" in scene for scene in project.spec["scenes"])
    assert {len(job.scenes) for job in jobs} == {3, 4}   # the conditional scene comes and goes
    assert any("{% include" in scene.get("voice", {}).get("text", "") for scene in project.spec["scenes"])
