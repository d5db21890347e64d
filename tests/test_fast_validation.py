"""The compiled validator that gates every body must agree with jsonschema, which explains errors."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vidbuild.spec.expand import expand_project
from vidbuild.spec.project import load_project
from vidbuild.spec.validate import body_errors, body_is_valid

PROJECTS = Path(__file__).resolve().parent.parent / "projects"
VIDEO = "heygen/video_generate.request.schema.json"
AGENT = "heygen/video_agent_generate.request.schema.json"


def example_body(name: str) -> dict[str, Any]:
    job = next(iter(expand_project(load_project(PROJECTS / name))))
    return copy.deepcopy(job.request_body())


def scene(body: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = body["video_inputs"][0]
    return first


MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "speed too high": lambda b: scene(b)["voice"].update(speed=3),
    "speed as text": lambda b: scene(b)["voice"].update(speed="fast"),
    "script too long": lambda b: scene(b)["voice"].update(input_text="x" * 5001),
    "empty script": lambda b: scene(b)["voice"].update(input_text=""),
    "no voice": lambda b: scene(b).pop("voice"),
    "unknown voice field": lambda b: scene(b)["voice"].update(speeed=1),
    "bad colour": lambda b: scene(b)["background"].update(value="blue"),
    "odd width": lambda b: b["dimension"].update(width=1281),
    "tiny height": lambda b: b["dimension"].update(height=100),
    "avatar style": lambda b: scene(b)["character"].update(avatar_style="wide"),
    "character type": lambda b: scene(b)["character"].update(type="robot"),
    "no scenes": lambda b: b.update(video_inputs=[]),
    "51 scenes": lambda b: b.update(video_inputs=b["video_inputs"][:1] * 51),
    "empty title": lambda b: b.update(title=""),
    "unknown top field": lambda b: b.update(colour="red"),
    "silence too long": lambda b: scene(b).update(voice={"type": "silence", "duration": 101}),
    "image without url": lambda b: scene(b).update(background={"type": "image"}),
}


def test_both_validators_accept_every_example_body() -> None:
    for name in ("hello", "spring-welcome"):
        body = example_body(name)
        assert body_is_valid(body, VIDEO)
        assert list(body_errors(body, VIDEO)) == []
    agent = example_body("agent-intro")
    assert body_is_valid(agent, AGENT) and list(body_errors(agent, AGENT)) == []


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_both_validators_reject_each_broken_body(mutation: str) -> None:
    body = example_body("spring-welcome")
    MUTATIONS[mutation](body)
    assert not body_is_valid(body, VIDEO)
    assert list(body_errors(body, VIDEO)), "jsonschema must explain what the fast validator rejects"
