"""Property: whatever the project or data files hold, validate ends in success or located errors.

Hypothesis writes odd YAML, CSV and JSON (anchors, merge keys, tags, tabs, BOMs, NUL bytes, deep
nesting, huge lines and numbers, broken encodings) and runs ``vidbuild validate`` on them. Exit 3
("internal error") on any input is a bug; so is an error that doesn't say which file it is in.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidbuild.cli import main

FILES = r"(vidbuild\.yaml|p\.csv|p\.json|p\.jsonl|p\.yaml|templates/[\w.]+)"
LOCATED = re.compile(rf"^{FILES}(:\d+(:\d+)?)?: \S")
SUMMARY = re.compile(r"^vidbuild: \d+ errors?, nothing sent$")
# Derandomized, so every run tries the same inputs and a failure reproduces; no database written.
FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HEAD = """\
version: 1
name: t
defaults:
  avatar: {avatar_id: A1}
  voice: {voice_id: V1}
scenes:
  - id: s
    voice: {text: "Hi {{ row.name }}", speed: "{{ row.speed | default('1.0') | float }}"}
"""


def validate(files: dict[str, bytes]) -> tuple[int, str]:
    """Run ``vidbuild validate`` in a fresh directory holding ``files``; exit code and stderr."""
    with tempfile.TemporaryDirectory() as directory:
        for name, content in files.items():
            (Path(directory) / name).write_bytes(content)
        before = os.getcwd()
        stderr = io.StringIO()
        os.chdir(directory)
        try:
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
                code = main(["validate"])
        finally:
            os.chdir(before)
    return code, stderr.getvalue()


def assert_located_or_ok(files: dict[str, bytes]) -> None:
    code, err = validate(files)
    assert "internal error" not in err, err
    assert code in (0, 2), err
    if code == 2:
        *errors, summary = err.splitlines()
        assert SUMMARY.match(summary), err
        assert errors and all(LOCATED.match(line) for line in errors), err


# --- YAML pieces ------------------------------------------------------------------------------

ODD_SCALARS = st.sampled_from([
    "0755", "01730", "1_000", "0x1F", "0o14", "+12", "1:20", "2024-1-5", "2001-12-14t21:59:43.10-05:00",
    "yes", "off", "~", "null", ".inf", "-.nan", "1e3", "1e999", "0.", ".5", "true", "'quoted'",
    '"\\ud800"', '"\\udc00x"', '"\\0"', '"\\x00"', '"\\U0001F600"', "!!binary aGk=", "!custom x",
    "!!int 12", "!!str 12", "!!float 1", "!!timestamp 2024-01-05", "!!set {a}", "!!omap [a: 1]",
    "!!python/object:os.system x", "\t", "a\tb", "|\n  block", ">-\n  folded", "'a''b'", "{}", "[]",
    "7" * 5000, "-" + "9" * 400, "1." + "0" * 5000, "x" * 100_000,
])
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
JUNK = st.text(alphabet="[]{}:,-?&*!|>'\"#%@`<\t\r\n\x00\ufeff ab01", max_size=40)


def flow(depth: int) -> st.SearchStrategy[str]:
    """A YAML flow value: scalars, odd scalars, lists, mappings, anchors, aliases, merge keys."""
    leaf = st.one_of(ODD_SCALARS.filter(lambda s: "\n" not in s), TEXT.map(lambda s: repr(s)[1:-1]),
                     st.integers().map(str), st.just("*a"), st.just("*b"))
    if depth == 0:
        return leaf
    inner = flow(depth - 1)
    return st.one_of(
        leaf,
        st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.lists(st.tuples(st.sampled_from(["k", "name", "<<", "1", "~", "? x"]), inner), max_size=4)
        .map(lambda pairs: "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"),
        inner.map(lambda v: f"&a {v}"),
        inner.map(lambda v: f"&b {v}"),
        st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    )


BOMBS = st.integers(2, 12).map(lambda n: "".join(
    [f"  x0: &x0 [{', '.join(['l'] * n)}]\n"] +
    [f"  x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * n)}]\n" for i in range(1, n)]))


PREFIXES = ["", "%YAML 1.1\n---\n", "%YAML 1.2\n---\n", "anchors: &a {name: A}\n"]


@FUZZ
@given(value=st.one_of(ODD_SCALARS, flow(3)), where=st.sampled_from(["vars", "rows", "text"]),
       bom=st.booleans(), prefix=st.sampled_from(PREFIXES))
def test_odd_yaml_in_the_project_file(value: str, where: str, bom: bool, prefix: str) -> None:
    data = 'data: {rows: [{id: a, name: x}], key: "{{ row.id }}"}\n'
    if where == "vars":
        text = HEAD + data + f"vars: {value}\n"
    elif where == "rows":
        rows = f"[{{id: a, name: {value}}}, {{<<: *a, id: b}}]"
        text = HEAD + f'data: {{rows: {rows}, key: "{{{{ row.id }}}}"}}\n'
    else:
        text = HEAD.replace('"Hi {{ row.name }}"', value) + data
    text = ("\ufeff" if bom else "") + prefix + text
    assert_located_or_ok({"vidbuild.yaml": text.encode("utf-8", "surrogatepass")})


@FUZZ
@given(junk=JUNK, at=st.integers(0, 400))
def test_junk_anywhere_in_the_project_file(junk: str, at: int) -> None:
    text = HEAD + 'data: {rows: [{id: a, name: x}], key: "{{ row.id }}"}\n'
    assert_located_or_ok({"vidbuild.yaml": (text[:at] + junk + text[at:]).encode()})


@settings(FUZZ, max_examples=11)
@given(bomb=BOMBS)
def test_aliases_expanding_exponentially(bomb: str) -> None:
    text = HEAD + 'data: {rows: [{id: a, name: x}], key: "{{ row.id }}"}\nvars:\n' + bomb
    assert_located_or_ok({"vidbuild.yaml": text.encode()})


@FUZZ
@given(rows=st.lists(st.tuples(st.one_of(ODD_SCALARS, flow(2)), flow(1)), max_size=4), junk=JUNK,
       bom=st.booleans())
def test_odd_yaml_data_files(rows: list[tuple[str, str]], junk: str, bom: bool) -> None:
    body = "".join(f"- {{id: r{n}, name: {name}, speed: {speed}}}\n" for n, (name, speed) in enumerate(rows))
    text = ("\ufeff" if bom else "") + "- &a {id: base, name: B}\n- {<<: *a, id: m}\n" + body + junk
    project = HEAD + 'data: {source: p.yaml, key: "{{ row.id }}"}\n'
    assert_located_or_ok({"vidbuild.yaml": project.encode(), "p.yaml": text.encode("utf-8", "surrogatepass")})


# --- CSV ----------------------------------------------------------------------------------------

CELL = st.one_of(TEXT, st.sampled_from(['"a\nb"', '"a""b"', '"', "1,5", "fast", "", " ", "x" * 200_000,
                                        "\x00", "a;b", "a\tb", "\r", '""']))
ENCODED = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"])


@FUZZ
@given(header=st.lists(st.sampled_from(["id", "name", "speed", "id;name", "id\tname", " id", "", "name"]),
                       min_size=1, max_size=4),
       rows=st.lists(st.lists(CELL, max_size=5), max_size=5),
       newline=st.sampled_from(["\n", "\r\n", "\r"]), encoding=ENCODED,
       delimiter=st.sampled_from(["", ";", "\t", "|", ",,", '"', "\n"]))
def test_odd_csv_files(header: list[str], rows: list[list[str]], newline: str, encoding: str,
                       delimiter: str) -> None:
    text = newline.join([",".join(header), *(",".join(row) for row in rows)]) + newline
    setting = f"delimiter: {delimiter!r}, " if delimiter else ""
    project = HEAD + f'data: {{source: p.csv, {setting}key: "{{{{ row.id }}}}"}}\n'
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")
    assert_located_or_ok({"vidbuild.yaml": project.encode(), "p.csv": data})


# --- JSON and JSON Lines ------------------------------------------------------------------------

JSON_ODD = st.sampled_from(["NaN", "-Infinity", "1e999", "7" * 5000, '"\\ud800"', '"\\ud83d\\ude00"',
                            "[" * 3000 + "]" * 3000, "[" * 150 + "]" * 150, "01", "1.", '"\\u0000"',
                            "true", "null", '{"a": 1, "a": 2}', "\ufeff", "", "}", '"x', "'x'"])
def _json_object(values: list[str]) -> str:
    return "{" + ", ".join(f'"k{i}": {value}' for i, value in enumerate(values)) + "}"


JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
              TEXT.map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'), JSON_ODD)
    .map(lambda v: v if isinstance(v, str) else repr(v).replace("None", "null").replace("True", "true")
         .replace("False", "false")),
    lambda inner: st.one_of(st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
                            st.lists(inner, max_size=3).map(_json_object)),
    max_leaves=6)


@FUZZ
@given(names=st.lists(st.one_of(JSON_ODD, JSON_VALUE), min_size=1, max_size=4), lines=st.booleans(),
       bom=st.booleans())
def test_odd_json_files(names: list[str], lines: bool, bom: bool) -> None:
    rows = [f'{{"id": "r{n}", "name": {name}}}' for n, name in enumerate(names)]
    text = "\n".join(rows) + "\n" if lines else "[\n" + ",\n".join(rows) + "\n]"
    source = "p.jsonl" if lines else "p.json"
    project = HEAD + f'data: {{source: {source}, key: "{{{{ row.id }}}}"}}\n'
    data = ("\ufeff" if bom else "") + text
    assert_located_or_ok({"vidbuild.yaml": project.encode(), source: data.encode("utf-8", "surrogatepass")})


# --- Jinja templates ------------------------------------------------------------------------------

JINJA = st.lists(st.sampled_from([
    "{{", "}}", "{%", "%}", "{#", "#}", " ", "row.name", "row.missing", "row", "vars", "key", "|", "float",
    "int", "random", "lipsum()", "lipsum", "range(3)", "range(10**9)", "cycler(1)", "joiner()", "(", ")",
    "[", "]", "{", "}", "*", "**", "%", "10", "99999", "'x'", "'1,5'", "if", "else", "endif", "for x in",
    "endfor", "set y =", "macro m()", "endmacro", "m()", "include 'nope.j2'", "~", ",", ":", ".", "row.items",
    "map('upper')", "join", "tojson", "default(1)", "replace(',', '.')", "none", "true", "\n", "\t", "\\",
]), max_size=25).map("".join)


@FUZZ
@given(template=JINJA, field=st.sampled_from(["text", "speed", "when", "key", "title"]))
def test_odd_jinja_templates(template: str, field: str) -> None:
    quoted = "'" + template.replace("'", "''") + "'"
    text = HEAD.replace("speed: \"{{ row.speed | default('1.0') | float }}\"",
                        f"speed: {quoted}" if field == "speed" else "speed: 1.0")
    if field == "text":
        text = text.replace('"Hi {{ row.name }}"', quoted)
    elif field == "when":
        text += f"    when: {quoted}\n"
    key = quoted if field == "key" else '"{{ row.id }}"'
    text += f"data: {{rows: [{{id: a, name: x}}], key: {key}}}\n"
    if field == "title":
        text += f"video: {{title: {quoted}}}\n"
    assert_located_or_ok({"vidbuild.yaml": text.encode()})
