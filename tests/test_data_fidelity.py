"""Data arrives as written, or fails loudly: spreadsheets, YAML typing, number filters, per-row types."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vidbuild.cli import main

Bodies = Callable[[dict[str, str | bytes]], dict[str, Any]]
Errors = Callable[[dict[str, str | bytes]], list[str]]

HEAD = """\
version: 1
name: t
defaults:
  avatar: {avatar_id: A1}
  voice: {voice_id: V1}
"""


def project(data: str, scenes: str = 'scenes:\n  - id: s\n    voice: {text: "Hi {{ row.name }}"}\n') -> str:
    return HEAD + textwrap.dedent(data).lstrip("\n") + scenes


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8", newline="")
    return root


def run(root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        *args: str) -> tuple[int, str, str]:
    monkeypatch.chdir(root)
    code = main(list(args))
    captured = capsys.readouterr()
    assert "internal error" not in captured.err
    return code, captured.out, captured.err


@pytest.fixture
def bodies(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Bodies:
    """Write a project, compile it, and return {key: body}."""

    def compile_project(files: dict[str, str | bytes]) -> dict[str, Any]:
        code, out, err = run(write(tmp_path, files), capsys, monkeypatch, "compile")
        assert code == 0, err
        return {record["key"]: record["body"] for record in map(json.loads, out.splitlines())}

    return compile_project


@pytest.fixture
def errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Errors:
    """Write a project, validate it, assert exit 2, and return stderr's error lines."""

    def validate(files: dict[str, str | bytes]) -> list[str]:
        code, out, err = run(write(tmp_path, files), capsys, monkeypatch, "validate")
        assert code == 2, err
        assert "Traceback" not in err and out == ""
        return err.splitlines()[:-1]

    return validate


def texts(found: dict[str, Any]) -> dict[str, str]:
    return {key: body["video_inputs"][0]["voice"]["input_text"]
            for key, body in found.items()}


# --- 4. A templated background URL is typed per row ---------------------------------------------

BACKGROUND_SCENES = """\
scenes:
  - id: s
    voice: {text: "Hi"}
    background: {url: "{{ row.bg }}"}
"""


BACKGROUND_PROJECT = project('data: {source: p.csv, key: "{{ row.id }}"}\n', BACKGROUND_SCENES)


def test_background_type_follows_each_rows_rendered_url(bodies: Bodies) -> None:
    csv = ("id,bg\n"
           "a,https://cdn.test/a.mp4?X-Amz-Signature=1.png\n"
           "b,https://cdn.test/b.MP4\n"
           "c,https://cdn.test/c.mp4#t=2\n"
           "d,https://cdn.test/d.jpg?v=video.mp4\n"
           "e,https://cdn.test/e.png\n"
           "f,https://cdn.test/f.jpeg\n")
    found = bodies({"vidbuild.yaml": BACKGROUND_PROJECT,
                    "p.csv": csv})
    kinds = {key: body["video_inputs"][0]["background"]["type"] for key, body in found.items()}
    assert kinds == {"a": "video", "b": "video", "c": "video", "d": "image", "e": "image", "f": "image"}


def test_background_url_without_a_known_extension_asks_for_a_type(errors: Errors) -> None:
    csv = "id,bg\na,https://cdn.test/a.mp4\nb,https://cdn.test/picture?id=7\n"
    lines = errors({"vidbuild.yaml": BACKGROUND_PROJECT,
                    "p.csv": csv})
    assert lines == [
        "vidbuild.yaml:10:23: scenes[s].background.url: can't tell whether background url "
        "'https://cdn.test/picture?id=7' is an image or a video: its extension is none of .jpg, .jpeg, "
        ".png, .mp4, .webm, .mov; set background.type (image or video) (row b at p.csv:3, scene s)"]


def test_literal_background_url_without_a_known_extension_asks_for_a_type(errors: Errors) -> None:
    scenes = 'scenes:\n  - id: s\n    voice: {text: "Hi"}\n    background: {url: "https://cdn.test/bg"}\n'
    lines = errors({"vidbuild.yaml": project('data: {rows: [{id: a}], key: "{{ row.id }}"}\n', scenes)})
    assert lines == [
        "vidbuild.yaml:10:23: scenes[s].background.url: can't tell whether background url "
        "'https://cdn.test/bg' is an image or a video: its extension is none of .jpg, .jpeg, .png, "
        ".mp4, .webm, .mov; set background.type (image or video)"]


def test_webm_and_mov_backgrounds_are_videos_that_heygen_refuses(errors: Errors) -> None:
    # Typed as video from the extension; HeyGen's reference takes MP4 videos only (heygen-api.md).
    lines = errors({"vidbuild.yaml": BACKGROUND_PROJECT,
                    "p.csv": "id,bg\nb,https://cdn.test/b.webm\n"})
    assert lines == [
        "vidbuild.yaml:10:23: scenes[s].background.url: 'https://cdn.test/b.webm' does not match "
        "'^https?://[^?#]+\\\\.[Mm][Pp]4([?#].*)?$' (row b at p.csv:2, scene s)"]


# --- 5. YAML merge keys, in the project file and in data files -----------------------------------

def test_merge_keys_in_the_project_file(bodies: Bodies) -> None:
    found = bodies({"vidbuild.yaml": """
        version: 1
        name: t
        data: {rows: [{id: a}], key: "{{ row.id }}"}
        scenes:
          - id: one
            avatar: &look {avatar_id: A1, avatar_style: circle}
            voice: &calm {voice_id: V1, speed: 0.9, text: One}
          - id: two
            avatar: *look
            voice:
              <<: *calm
              text: Two
        """})
    one, two = found["a"]["video_inputs"]
    assert one["character"] == {"type": "avatar", "avatar_id": "A1", "avatar_style": "circle"}
    assert two["character"] == one["character"]
    assert two["voice"] == {"type": "text", "voice_id": "V1", "speed": 0.9, "input_text": "Two"}


def test_merged_value_errors_point_where_the_value_was_written(errors: Errors) -> None:
    lines = errors({"vidbuild.yaml": """
        version: 1
        name: t
        data: {rows: [{id: a}], key: "{{ row.id }}"}
        defaults:
          avatar: {avatar_id: A1}
          voice: &voice {voice_id: V1, speed: 3.5}
        scenes:
          - id: s
            voice:
              <<: *voice
              text: Hi
        """})
    assert lines == [
        "vidbuild.yaml:6:39: defaults.voice.speed: 3.5 is greater than the maximum of 1.5",
        "vidbuild.yaml:6:39: scenes[s].voice.speed: 3.5 is greater than the maximum of 1.5"]


def test_merge_keys_in_a_yaml_data_file(bodies: Bodies) -> None:
    data = """
        - &base {id: a, name: Ana, city: Oslo}
        - <<: *base
          id: b
          name: Ben
        - {<<: *base, id: c}
        """
    scenes = 'scenes:\n  - id: s\n    voice: {text: "{{ row.name }} {{ row.city }}"}\n'
    found = bodies({"vidbuild.yaml": project('data: {source: p.yaml, key: "{{ row.id }}"}\n', scenes),
                    "p.yaml": data})
    assert texts(found) == {"a": "Ana Oslo", "b": "Ben Oslo", "c": "Ana Oslo"}


# --- 5. YAML scalars keep what was written ------------------------------------------------------

AS_JSON = 'scenes:\n  - id: s\n    voice: {text: "{{ row.v | tojson }}"}\n'


@pytest.mark.parametrize(("written", "expected"), [
    ("0755", "0755"), ("01730", "01730"), ("-007", "-007"), ("+4915112345678", "+4915112345678"),
    ("1_000", "1_000"), ("0x1F", "0x1F"), ("0o14", "0o14"), ("1:20", "1:20"), ("2024-1-5", "2024-1-5"),
    ("2024-01-05", "2024-01-05"), ("2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00"),
    ("yes", "yes"), ("off", "off"), (".inf", ".inf"), ("-.Inf", "-.Inf"), (".nan", ".nan"),
    ("1e999", "1e999"), ("01.5", "01.5"),
    ("12", 12), ("-3", -3), ("0", 0), ("1.5", 1.5), ("1e3", 1000), ("true", True), ("False", False),
    ("~", None), ("null", None),
])
def test_yaml_data_values_keep_what_was_written(bodies: Bodies, written: str, expected: object) -> None:
    found = bodies({"vidbuild.yaml": project('data: {source: p.yaml, key: "{{ row.id }}"}\n', AS_JSON),
                    "p.yaml": f"- id: a\n  v: {written}\n"})
    assert json.loads(texts(found)["a"]) == expected


def test_yaml_1_1_directive_does_not_turn_words_into_booleans(bodies: Bodies) -> None:
    found = bodies({"vidbuild.yaml": project('data: {source: p.yaml, key: "{{ row.id }}"}\n',
                                             'scenes:\n  - id: s\n    voice: {text: "{{ row | tojson }}"}\n'),
                    "p.yaml": "%YAML 1.1\n---\n- {id: a, answer: yes, gate: off, store: 0755, time: 1:20}\n"})
    assert json.loads(texts(found)["a"]) == {"id": "a", "answer": "yes", "gate": "off", "store": "0755",
                                             "time": "1:20"}


def test_inline_rows_keep_leading_zeros(bodies: Bodies) -> None:
    found = bodies({"vidbuild.yaml": project('data: {rows: [{id: a, v: 01730}], key: "{{ row.id }}"}\n',
                                             AS_JSON)})
    assert texts(found) == {"a": '"01730"'}


# --- 5. Spreadsheet exports: BOM, CRLF, empty rows, quoted newlines, delimiters ------------------

CSV_PROJECT = project('data: {source: p.csv, key: "{{ row.id }}"}\n')


def test_excel_csv_utf8_export(bodies: Bodies, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Excel's "CSV UTF-8": a BOM, CRLF line ends, LF inside a quoted cell, empty rows at the end.
    export = ('\ufeffid,name\r\na,"Ana\nMaria"\r\nb,Björn\r\n,\r\n,\r\n').encode()
    found = bodies({"vidbuild.yaml": CSV_PROJECT, "p.csv": export})
    assert texts(found) == {"a": "Hi Ana\nMaria", "b": "Hi Björn"}
    code, _, err = run(tmp_path, capsys, monkeypatch, "validate")
    assert (code, err) == (0, "vidbuild.yaml: ok, 2 videos, 2 empty rows skipped\n")
    code, out, _ = run(tmp_path, capsys, monkeypatch, "plan")
    assert out.splitlines()[-1].startswith("2 submit; estimated ")
    assert out.splitlines()[-1].endswith(" credits, 2 empty rows skipped")


def test_rows_whose_every_cell_is_empty_are_never_built(
        bodies: Bodies, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Google Sheets keeps the column count; a hand-edited file may not; a blank line counts too.
    found = bodies({"vidbuild.yaml": CSV_PROJECT, "p.csv": "id,name\na,Ana\n,\n\n , \nb,Ben\n,,,\n"})
    assert sorted(found) == ["a", "b"]
    code, _, err = run(tmp_path, capsys, monkeypatch, "validate")
    assert (code, err) == (0, "vidbuild.yaml: ok, 2 videos, 4 empty rows skipped\n")


def test_semicolon_csv_gets_a_hint_naming_the_delimiter(errors: Errors) -> None:
    assert errors({"vidbuild.yaml": CSV_PROJECT, "p.csv": "id;name\na;Ana\n"}) == [
        "p.csv:1: the header is one column 'id;name': the file looks ';'-separated; "
        "set data.delimiter: \";\""]


def test_tab_separated_csv_gets_a_hint(errors: Errors) -> None:
    assert errors({"vidbuild.yaml": CSV_PROJECT, "p.csv": "id\tname\na\tAna\n"}) == [
        "p.csv:1: the header is one column 'id\\tname': the file looks tab-separated; "
        "set data.delimiter: \"\\t\""]


def test_delimiter_setting_reads_a_european_export(bodies: Bodies) -> None:
    scenes = ("scenes:\n  - id: s\n"
              "    voice: {text: '{{ row.name }}', speed: \"{{ row.speed | replace(',', '.') | float }}\"}\n")
    found = bodies({"vidbuild.yaml": project('data: {source: p.csv, delimiter: ";", key: "{{ row.id }}"}\n',
                                             scenes),
                    "p.csv": "\ufeffid;name;speed\r\na;Müller, Anna;1,1\r\n;;\r\n".encode()})
    assert found["a"]["video_inputs"][0]["voice"] == {
        "type": "text", "voice_id": "V1", "input_text": "Müller, Anna", "speed": 1.1}


def test_delimiter_on_a_json_source_is_an_error(errors: Errors) -> None:
    assert errors({"vidbuild.yaml": project('data: {source: p.json, delimiter: ";", key: "{{ row.id }}"}\n'),
                   "p.json": '[{"id": "a", "name": "Ana"}]'}) == [
        "vidbuild.yaml:6:24: data.delimiter: a delimiter applies to CSV and TSV files, not to json"]


def test_files_in_other_encodings_are_refused_with_a_hint(errors: Errors) -> None:
    assert errors({"vidbuild.yaml": CSV_PROJECT, "p.csv": "id,name\na,Björn\n".encode("utf-16")}) == [
        "p.csv:1: file is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8 "
        "(in Excel: CSV UTF-8)"]


def test_bom_is_dropped_from_json_jsonl_and_yaml_data(bodies: Bodies) -> None:
    for name, content in (("p.json", '[{"id": "a", "name": "Ana"}]'),
                          ("p.jsonl", '{"id": "a", "name": "Ana"}\n'),
                          ("p.yaml", "- {id: a, name: Ana}\n")):
        found = bodies({"vidbuild.yaml": project(f'data: {{source: {name}, key: "{{{{ row.id }}}}"}}\n'),
                        name: ("\ufeff" + content).encode()})
        assert texts(found) == {"a": "Hi Ana"}, name


# --- 5. | float and | int never answer 0 for what is not a number --------------------------------

NUMBER_SCENES = ('scenes:\n  - id: s\n    voice: {text: "Hi", speed: "{{ row.speed | float }}", '
                 'pitch: "{{ row.pitch | int }}"}\n')


def test_number_filters_refuse_what_is_not_a_number(errors: Errors) -> None:
    csv = "id,speed,pitch\na,\"1,2\",1\nb,fast,1\nc,,1\nd,1.0,2.5x\ne,1.0,\n"
    lines = errors({"vidbuild.yaml": project('data: {source: p.csv, key: "{{ row.id }}"}\n', NUMBER_SCENES),
                    "p.csv": csv})
    assert lines == [
        "vidbuild.yaml:9:32: scenes[s].voice.speed: '1,2' in column speed is not a number (`| float`); "
        "a decimal comma? write it with a point, or convert it: `| replace(',', '.') | float` "
        "(row a at p.csv:2, scene s)",
        "vidbuild.yaml:9:32: scenes[s].voice.speed: 'fast' in column speed is not a number (`| float`) "
        "(row b at p.csv:3, scene s)",
        "vidbuild.yaml:9:32: scenes[s].voice.speed: '' in column speed is not a number (`| float`) "
        "(row c at p.csv:4, scene s)",
        "vidbuild.yaml:9:66: scenes[s].voice.pitch: '2.5x' in column pitch is not a number (`| int`) "
        "(row d at p.csv:5, scene s)",
        "vidbuild.yaml:9:66: scenes[s].voice.pitch: '' in column pitch is not a number (`| int`) "
        "(row e at p.csv:6, scene s)"]


def test_number_filters_convert_numbers_as_written(bodies: Bodies) -> None:
    csv = "id,speed,pitch\na, 1.1 ,-3\nb,1e-0,7.9\nc,.5,+2\n"
    found = bodies({"vidbuild.yaml": project('data: {source: p.csv, key: "{{ row.id }}"}\n', NUMBER_SCENES),
                    "p.csv": csv})
    voices = {key: (body["video_inputs"][0]["voice"]["speed"], body["video_inputs"][0]["voice"]["pitch"])
              for key, body in found.items()}
    assert voices == {"a": (1.1, -3), "b": (1, 7), "c": (0.5, 2)}


def test_an_explicit_default_is_a_choice_not_a_silent_zero(bodies: Bodies) -> None:
    scenes = 'scenes:\n  - id: s\n    voice: {text: "Hi", speed: "{{ row.speed | float(1.1) }}"}\n'
    found = bodies({"vidbuild.yaml": project('data: {source: p.csv, key: "{{ row.id }}"}\n', scenes),
                    "p.csv": "id,speed\na,\nb,0.9\n"})
    assert {k: b["video_inputs"][0]["voice"]["speed"] for k, b in found.items()} == {"a": 1.1, "b": 0.9}


def test_a_build_says_how_many_empty_rows_it_skipped_and_builds_the_rest(tmp_path: Path) -> None:
    from buildkit import LoopbackHeyGen, rows, run_vidbuild, unstamped, write_project

    project_dir = write_project(tmp_path / "campaign", rows(2))
    with (project_dir / "rows.csv").open("a", encoding="utf-8", newline="") as handle:
        handle.write(",,\r\n,,\r\n")  # what Excel leaves below the last row
    heygen = LoopbackHeyGen(tmp_path / "heygen")
    try:
        run = run_vidbuild("build", str(project_dir), env=heygen.env())
        assert run.code == 0, run.stderr
        assert "2 empty rows skipped" in unstamped(run.stderr)
        assert run.stderr.splitlines()[-1] == "2 built, 0 up to date, 0 failed"
        assert len(heygen.submits()) == 2
    finally:
        heygen.close()


def test_an_ordered_map_row_is_a_mapping(bodies: Bodies) -> None:
    found = bodies({"vidbuild.yaml": project('data: {source: p.yaml, key: "{{ row.id }}"}\n'),
                    "p.yaml": "- !!omap [id: a, name: Ana]\n"})
    assert texts(found) == {"a": "Hi Ana"}


# --- A null is never printed as the word "None" ------------------------------------------------

NULL_DATA = {
    "yaml": ("p.yaml", 'data: {source: p.yaml, key: "{{ row.id }}"}\n',
             "- {id: a, name: Ana}\n- {id: b, name: ~}\n"),
    "json": ("p.json", 'data: {source: p.json, key: "{{ row.id }}"}\n',
             '[{"id": "a", "name": "Ana"}, {"id": "b", "name": null}]'),
    "inline": (None, 'data:\n  key: "{{ row.id }}"\n  rows:\n'
                     '    - {id: a, name: Ana}\n    - {id: b, name: ~}\n', ""),
}


@pytest.mark.parametrize("kind", sorted(NULL_DATA))
def test_a_null_value_printed_into_text_is_a_located_error(errors: Errors, kind: str) -> None:
    name, data, content = NULL_DATA[kind]
    files: dict[str, str | bytes] = {"vidbuild.yaml": project(data)}
    if name:
        files[name] = content
    lines = errors(files)
    assert len(lines) == 1, lines
    assert "row b" in lines[0] and "scenes[s].voice.text" in lines[0]
    assert "null" in lines[0] and "default" in lines[0]


def test_a_null_value_with_a_default_or_a_test_builds(bodies: Bodies) -> None:
    scenes = ('scenes:\n  - id: s\n    voice: {text: "Hi {{ row.name | default(\'friend\', true) }}'
              '{% if row.name is none %}!{% endif %}"}\n')
    found = bodies({"vidbuild.yaml": project('data: {source: p.json, key: "{{ row.id }}"}\n', scenes),
                    "p.json": '[{"id": "a", "name": "Ana"}, {"id": "b", "name": null}]'})
    assert texts(found) == {"a": "Hi Ana", "b": "Hi friend!"}
