"""Which HeyGen API generation each row's body is sent through, and why.

The body itself (and so its content hash) is always the legacy one; the route is chosen beside it,
from ``--api`` or the project's ``api:`` ('auto' by default), by ``heygen/v3_bodies.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vidbuild.heygen.routes import DEFAULT_API_CHOICE, Generation
from vidbuild.spec.project import Project
from vidbuild.spec.scenes import SceneTemplate
from vidbuild.spec.templating import Compiled


class Router:
    """Chooses each row's route. Weighing a body costs about as much as rendering it, so where no
    row can differ in what decides the route (every templated field is one of
    ``v3_bodies.FREE_FIELDS``), a set of scenes is weighed once and its route reused."""

    def __init__(self, project: Project, api: str | None, top: Any, scenes: Sequence[SceneTemplate]) -> None:
        self.kind = project.kind
        self.choice = api or str(project.spec.get("api", DEFAULT_API_CHOICE))
        self.source = f"--api {self.choice}" if api else f"api: {self.choice}"
        self._routes: dict[tuple[int, ...], tuple[Generation, str]] = {}
        self._alike = self._scenes_routed_alike(top, scenes)

    def _scenes_routed_alike(self, top: Any, scenes: Sequence[SceneTemplate]) -> dict[int, bool]:
        """Per scene (by id): whether every row gets the same route from it."""
        if self.choice == "legacy" or self.kind != "video":
            return {}
        from vidbuild.heygen.v3_bodies import FREE_FIELDS

        if not _templated_only_in(top, FREE_FIELDS):
            return {}
        return {id(scene): _templated_only_in(scene.tree, FREE_FIELDS) for scene in scenes}

    def route(self, body: dict[str, Any], used: Sequence[SceneTemplate]) -> tuple[Generation, str]:
        """The generation a row's legacy ``body`` (made of the ``used`` scenes) goes through, and why."""
        if self.choice == "legacy":   # nothing to weigh, and the client package needn't be imported
            return "legacy", f"{self.source} chosen"
        shape = tuple(id(scene) for scene in used)
        alike = bool(self._alike) and all(self._alike[part] for part in shape)
        if alike and shape in self._routes:
            return self._routes[shape]
        from vidbuild.heygen.v3_bodies import choose_route

        route = choose_route(self.kind, body, [scene.label for scene in used], self.choice, self.source)
        if alike:
            self._routes[shape] = (route.generation, route.reason)
        return route.generation, route.reason

    def refusal(self, generation: Generation, reason: str) -> str | None:
        """Under the choice 'v3', why a row routed to legacy is an error; else None."""
        if self.choice == "v3" and generation != "v3":
            return f"{self.source}: v3 can't render this row: {reason}"
        return None


def _templated_only_in(tree: Any, fields: frozenset[str]) -> bool:
    """Whether every templated value in ``tree`` is the value of a field named in ``fields``."""
    if isinstance(tree, dict):
        return all(name in fields if isinstance(value, Compiled) else _templated_only_in(value, fields)
                   for name, value in tree.items())
    if isinstance(tree, list):
        return all(not isinstance(item, Compiled) and _templated_only_in(item, fields) for item in tree)
    return not isinstance(tree, Compiled)
