"""Inputs that once crashed vidbuild (exit 3) or ate its memory: each is a located error, exit 2.

Also templates whose body would not depend on the row alone (``random``, ``lipsum``, an address).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from vidbuild.cli import main

HEAD = """\
version: 1
name: t
defaults:
  avatar: {avatar_id: A1}
  voice: {voice_id: V1}
"""
SCENES = 'scenes:\n  - id: s\n    voice: {text: "Hi {{ row.name }}"}\n'
Errors = Callable[[dict[str, str | bytes]], list[str]]


def data_project(source: str) -> str:
    return HEAD + f'data: {{source: {source}, key: "{{{{ row.id }}}}"}}\n' + SCENES


@pytest.fixture
def errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Errors:
    """Write the files, run `vidbuild validate`, assert exit 2 without a traceback; the error lines."""

    def validate(files: dict[str, str | bytes]) -> list[str]:
        for name, content in files.items():
            data = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
            (tmp_path / name).write_bytes(data)
        monkeypatch.chdir(tmp_path)
        code = main(["validate"])
        captured = capsys.readouterr()
        assert code == 2, captured.err
        assert "internal error" not in captured.err and "Traceback" not in captured.err
        return captured.err.splitlines()[:-1]

    return validate


# --- 6. Found so far: each was an exit-3 traceback -----------------------------------------------

def test_nul_byte_in_the_project_file(errors: Errors) -> None:
    assert errors({"vidbuild.yaml": HEAD + "name2: a\x00b\n"}) == [
        "vidbuild.yaml:6:9: invalid YAML: unacceptable character #x0000: special characters are not allowed"]


def test_nul_byte_in_a_yaml_data_file(errors: Errors) -> None:
    assert errors({"vidbuild.yaml": data_project("p.yaml"), "p.yaml": "- {id: a, name: \x00}\n"}) == [
        "p.yaml:1:17: invalid YAML: unacceptable character #x0000: special characters are not allowed"]


def test_nul_escape_in_a_yaml_string(errors: Errors) -> None:
    assert errors({"vidbuild.yaml": data_project('"rows\\0.csv"')}) == [
        "vidbuild.yaml:6:16: data.source: a NUL character (\\0) is not text"]


@pytest.mark.parametrize("text", ['[{"id": "a", "name": "A\\u0000b"}]', '[{"id": "a", "n\\u0000": 1}]'])
def test_nul_escape_in_json_data(errors: Errors, text: str) -> None:
    assert errors({"vidbuild.yaml": data_project("p.json"), "p.json": text}) == [
        "p.json:1: a NUL character (\\u0000) is not text"]


def test_an_escaped_backslash_before_u0000_is_text(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "vidbuild.yaml").write_text(data_project("p.json"))
    (tmp_path / "p.json").write_text('[{"id": "a", "name": "A\\\\u0000b"}]')
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 0, capsys.readouterr().err


def test_a_data_source_name_the_os_cannot_look_up(errors: Errors) -> None:
    name = "a" * 300 + ".csv"
    assert errors({"vidbuild.yaml": data_project(name)}) == [
        f"vidbuild.yaml:6:16: data.source: data file can't be opened: {name}: File name too long"]


def test_lone_surrogate_in_yaml(errors: Errors) -> None:
    assert errors({"vidbuild.yaml": data_project("p.yaml"), "p.yaml": '- {id: a, name: "x\\ud800"}\n'}) == [
        "p.yaml:1:17: [0].name: character U+D800 (a lone surrogate) is not text: UTF-8 can't carry it"]


def test_lone_surrogate_in_json(errors: Errors) -> None:
    assert errors({"vidbuild.yaml": data_project("p.json"),
                   "p.json": '[{"id": "a", "name": "Ana"},\n {"id": "b", "name": "\\ud800"}]'}) == [
        "p.json:2: a \\u escape names a lone surrogate, which is not a character: UTF-8 can't carry it"]


def test_surrogate_pair_in_json_is_one_character() -> None:
    from vidbuild.spec.rows import _decode

    assert _decode('{"name": "\\ud83d\\ude00"}', 0, "p.json", 1)[0] == {"name": "\U0001F600"}


def test_five_thousand_digit_integer_in_yaml(errors: Errors) -> None:
    assert errors({"vidbuild.yaml": HEAD + "vars: {n: " + "7" * 5000 + "}\n"}) == [
        "vidbuild.yaml:6:11: invalid YAML: a number of 5,000 digits is longer than 300; "
        "quote it if it is text"]


@pytest.mark.parametrize("source", ["p.json", "p.jsonl"])
def test_five_thousand_digit_integer_in_json(errors: Errors, source: str) -> None:
    row = '{"id": "a", "name": ' + "7" * 5000 + "}"
    text = f"[{row}]" if source == "p.json" else row + "\n"
    assert errors({"vidbuild.yaml": data_project(source), source: text}) == [
        f"{source}:1: a number of 5,000 digits is longer than 300; write it as a string if it is text"]


def test_deep_nesting_in_the_project_file(errors: Errors) -> None:
    assert errors({"vidbuild.yaml": HEAD + "vars: " + "[" * 5000 + "]" * 5000 + "\n"}) == [
        "vidbuild.yaml:6:106: invalid YAML: nested deeper than 100 levels"]


@pytest.mark.parametrize("source", ["p.json", "p.jsonl"])
def test_deep_nesting_in_json(errors: Errors, source: str) -> None:
    for depth in (150, 100_000):  # under the recursion limit, and far past it
        row = '{"id": "a", "name": ' + "[" * depth + "]" * depth + "}"
        text = f"[\n{row}]" if source == "p.json" else "\n" + row + "\n"
        assert errors({"vidbuild.yaml": data_project(source), source: text}) == [
            f"{source}:2: nested deeper than 100 levels"]


def test_aliases_nesting_aliases_past_the_depth_limit(errors: Errors) -> None:
    chain = "l0: &l0 [1]\n" + "".join(f"l{i}: &l{i} [*l{i - 1}]\n" for i in range(1, 2000))
    assert errors({"vidbuild.yaml": HEAD + "vars:\n" + textwrap.indent(chain, "  ")}) == [
        "vidbuild.yaml:7:7: vars.l98[0][0][0][0][0][0]...: nested deeper than 100 levels"]


BOMB = "".join(["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"] +
               [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10)])


def test_alias_bomb_is_refused_within_bounded_memory(tmp_path: Path) -> None:
    # Nine levels of nine aliases: 387 million strings once expanded (it grew to 13 GB). The CLI
    # runs as a user runs it, with its address space capped at 1 GiB: a copy would not fit.
    (tmp_path / "vidbuild.yaml").write_text(HEAD + "vars:\n" + textwrap.indent(BOMB, "  "))

    def cap_memory() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    result = subprocess.run([sys.executable, "-m", "vidbuild", "validate"], cwd=tmp_path, text=True,
                            capture_output=True, preexec_fn=cap_memory, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[0] == (
        "vidbuild.yaml:12:3: vars.a5[0]: aliases expand this file past its limit of values (an alias "
        "bomb?); write the values out instead")


@pytest.mark.parametrize(("text", "message"), [
    ('[{"id": "a", "name": NaN}]', "p.json:1: invalid JSON: NaN is not a JSON value"),
    ('[{"id": "a", "name": -Infinity}]', "p.json:1: invalid JSON: -Infinity is not a JSON value"),
    ('[{"id": "a", "name": 1e999}]', "p.json:1: the number 1e999 is out of range"),
    ('[{"id": "a", "name": "A", "name": "B"}]', "p.json:1: key 'name' appears twice in one object"),
])
def test_json_that_python_would_accept_but_is_not_data(errors: Errors, text: str, message: str) -> None:
    assert errors({"vidbuild.yaml": data_project("p.json"), "p.json": text}) == [message]


@pytest.mark.parametrize(("value", "message"), [
    ("!custom x", "[0].name: unsupported YAML value !custom (TaggedScalar): write text, a number, "
                  "true/false, a list or a mapping"),
    ("!!binary aGk=", "[0].name: unsupported YAML value of type bytes: write text, a number, "
                      "true/false, a list or a mapping"),
    ("!!set {x}", "[0].name: unsupported YAML collection (a tag such as !!pairs or !!set): write a plain "
                  "list or mapping"),
    ("!!pairs [a: 1]", "[0].name: unsupported YAML collection (a tag such as !!pairs or !!set): write a "
                       "plain list or mapping"),
])
def test_yaml_tags_that_json_cannot_carry(errors: Errors, value: str, message: str) -> None:
    assert errors({"vidbuild.yaml": data_project("p.yaml"), "p.yaml": f"- id: a\n  name: {value}\n"}) == [
        f"p.yaml:2:9: {message}"]


def test_a_mapping_as_a_key(errors: Errors) -> None:
    assert errors({"vidbuild.yaml": data_project("p.yaml"), "p.yaml": "- id: a\n  ? [x, y]\n  : z\n"}) == [
        "p.yaml:1:3: [0]: a mapping key must be text, not ('x', 'y')"]


# --- 7. Bodies depend on the row alone ------------------------------------------------------------

REFUSED = ("is not allowed: it gives a different body on every expansion, so an unchanged row would be "
           "rebuilt and paid for again; a body must depend on its row alone")


def scene_project(text: str, when: str = "") -> str:
    condition = f"    when: {when}\n" if when else ""
    return (HEAD + 'data: {rows: [{id: a, name: Ana}], key: "{{ row.id }}"}\n'
            f"scenes:\n  - id: s\n{condition}    voice:\n      text: {text}\n")


@pytest.mark.parametrize(("text", "line", "message"), [
    ("\"Hi {{ ['a', 'b'] | random }}\"", "10:13", f"the `random` filter {REFUSED}"),
    ('"{{ lipsum(1) }}"', "10:13", f"`lipsum()` {REFUSED}"),
    ('"{% set n = range(9) | random %}{{ n }}"', "10:13", f"the `random` filter {REFUSED}"),
    ("|\n        one\n        {{ lipsum }}", "12", f"`lipsum()` {REFUSED}"),
])
def test_non_deterministic_filters_and_globals_are_refused(errors: Errors, text: str, line: str,
                                                           message: str) -> None:
    assert errors({"vidbuild.yaml": scene_project(text)}) == [
        f"vidbuild.yaml:{line}: scenes[s].voice.text: {message}"]


def test_random_in_a_when_condition_is_refused(errors: Errors) -> None:
    assert errors({"vidbuild.yaml": scene_project('"Hi"', when='"[true, false] | random"')}) == [
        f"vidbuild.yaml:9:11: scenes[s].when: the `random` filter {REFUSED}"]


def test_random_in_an_included_template_is_refused(errors: Errors, tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "pitch.j2").write_text("Hello\n{{ [1, 2] | random }}\n")
    assert errors({"vidbuild.yaml": scene_project("\"{% include 'pitch.j2' %}\"")}) == [
        f"templates/pitch.j2:2: scenes[s].voice.text: the `random` filter {REFUSED} "
        "(row a at vidbuild.yaml:6, scene s)"]


def test_random_through_map_is_unknown(errors: Errors) -> None:
    assert errors({"vidbuild.yaml": scene_project("\"{{ [[1, 2]] | map('random') | list }}\"")}) == [
        "vidbuild.yaml:10:13: scenes[s].voice.text: TemplateRuntimeError: No filter named 'random'. "
        "(row a at vidbuild.yaml:6, scene s)"]


@pytest.mark.parametrize(("text", "kind"), [
    ('"{{ row.items }}"', "function or method"),
    ('"Hi {{ row.keys }}"', "function or method"),
    ('"{{ cycler(1, 2) }}"', "Cycler"),
    ("\"{{ ['a'] | map('upper') }}\"", "generator"),
])
def test_printing_an_object_whose_text_is_an_address_is_refused(errors: Errors, text: str, kind: str) -> None:
    hint = " (add `| list` or `| join(', ')`)" if kind == "generator" else ""
    assert errors({"vidbuild.yaml": scene_project(text)}) == [
        f"vidbuild.yaml:10:13: scenes[s].voice.text: can't print a {kind}: only text, numbers, lists and "
        f"mappings{hint} (row a at vidbuild.yaml:6, scene s)"]


def test_deterministic_helpers_still_work(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    text = ("\"{% set c = cycler('x', 'y') %}{% for i in range(3) %}{{ c.next() }}{% endfor %}"
            "{{ ['b', 'a'] | sort | join }}{{ {'k': 1} | tojson }}\"")
    (tmp_path / "vidbuild.yaml").write_text(scene_project(text))
    monkeypatch.chdir(tmp_path)
    assert main(["compile"]) == 0
    assert '"input_text": "xyxab{\\"k\\": 1}"' in capsys.readouterr().out


# --- Templates that nest too deeply or would build values too big for any body --------------------

def test_templates_nested_too_deeply(errors: Errors) -> None:
    when = "(" * 3000 + "true" + ")" * 3000
    text = "{{ " + "[" * 3000 + "]" * 3000 + " }}"
    blocks = "{% if true %}" * 3000 + "x" + "{% endif %}" * 3000
    project = (HEAD + 'data: {rows: [{id: a, name: x}], key: "{{ row.id }}"}\nscenes:\n'
               f'  - id: s\n    when: "{when}"\n    voice: {{text: "{text}"}}\n'
               f'  - id: t\n    voice: {{text: "{blocks}"}}\n')
    assert errors({"vidbuild.yaml": project}) == [
        "vidbuild.yaml:9:11: scenes[s].when: expression nested too deeply",
        "vidbuild.yaml:10:19: scenes[s].voice.text: template nested too deeply",
        "vidbuild.yaml:12:19: scenes[t].voice.text: template nested too deeply"]


@pytest.mark.parametrize(("text", "message"), [
    ("{{ 'x' * 10**10 }}", "repeating a sequence 10,000,000,000 times makes more than 10,000,000 items"),
    ("{{ [1, 2] * 9999999 }}", "repeating a sequence 9,999,999 times makes more than 10,000,000 items"),
    ("{{ 7 ** 99999999 }}", "7 ** 99999999 is too large a number"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
     "recursion too deep (a macro or include that calls itself?)"),
])
def test_templates_that_would_build_too_much(errors: Errors, text: str, message: str) -> None:
    # Refused before the value is built: memory and time stay bounded (not asserted by timing).
    assert errors({"vidbuild.yaml": scene_project(f'"{text}"')}) == [
        f"vidbuild.yaml:10:13: scenes[s].voice.text: {message} (row a at vidbuild.yaml:6, scene s)"]
