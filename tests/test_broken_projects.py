"""A corpus of broken projects: each must get every located error, exit 2 and no traceback."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from vidbuild.cli import main

WriteTree = Callable[[dict[str, str]], Path]

# The head most cases share: lines 1-5, so a case's own lines start at line 6.
HEAD = """\
version: 1
name: t
defaults:
  avatar: {avatar_id: Daisy-inskirt-20220818}
  voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}
"""


@pytest.fixture
def check(write_tree: WriteTree, capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Write a project, run `vidbuild validate` in it, and compare stderr with the whole expected text."""

    def run(files: dict[str, str], expected: str,
            prepare: Callable[[Path], object] | None = None, count: int | None = None) -> None:
        root = write_tree(files)
        if prepare is not None:
            prepare(root)
        monkeypatch.chdir(root)
        code = main(["validate"])
        captured = capsys.readouterr()
        lines = textwrap.dedent(expected).strip("\n").splitlines()
        count = len(lines) if count is None else count
        lines.append(f"vidbuild: {count} error{'s' if count != 1 else ''}, nothing sent")
        assert "Traceback" not in captured.err
        assert captured.err.splitlines() == lines
        assert captured.out == ""
        assert code == 2

    return run


def project(*parts: str) -> str:
    """A project file: the shared head, then each part dedented."""
    return HEAD + "".join(textwrap.dedent(part).lstrip("\n") for part in parts)


# --- The project file itself -------------------------------------------------------------------

def test_yaml_syntax_error(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": """
        version: 1
        name: [t
        scenes: []
        """}, """
        vidbuild.yaml:3:7: invalid YAML: while parsing a flow sequence expected ',' or ']', but got ':'
        """)


def test_duplicate_yaml_key(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": """
        version: 1
        name: t
        name: u
        scenes: [{voice: {text: hi}}]
        """}, """
        vidbuild.yaml:3:1: invalid YAML: while constructing a mapping found duplicate key "name" with value "u" (original value: "t")
        """)  # noqa: E501


def test_file_that_is_not_a_mapping(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": "- version: 1\n"}, """
        vidbuild.yaml:1:1: the project file must be a mapping
        """)


def test_unknown_field_suggests_the_known_one(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project("""
        scenes:
          - id: intro
            voice: {txt: "Hi"}
            backgroud: {type: color, value: "#000000"}
        """)}, """
        vidbuild.yaml:8:12: scenes[intro].voice: nothing to say: set voice.text, voice.audio_url, voice.audio_asset_id or voice.silence (here or in defaults)
        vidbuild.yaml:8:13: scenes[intro].voice.txt: unknown field 'txt'; did you mean 'text'?
        vidbuild.yaml:9:5: scenes[intro].backgroud: unknown field 'backgroud'; did you mean 'background'?
        """)  # noqa: E501


def test_value_out_of_range(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project("""
        scenes:
          - id: intro
            voice: {text: "Hi", speed: 3.5}
        """)}, """
        vidbuild.yaml:8:32: scenes[intro].voice.speed: 3.5 is greater than the maximum of 1.5
        """)


def test_wrong_types(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project("""
        scenes:
          - id: intro
            avatar: {avatar_id: 5}
            voice: {text: "Hi", speed: fast}
        video:
          caption: "no"
        """)}, """
        vidbuild.yaml:8:25: scenes[intro].avatar.avatar_id: 5 is not of type 'string'
        vidbuild.yaml:9:32: scenes[intro].voice.speed: 'fast' is not of type number or a template
        vidbuild.yaml:11:12: video.caption: 'no' is not of type boolean or a template
        """)


def test_missing_required_fields(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": """
        description: nothing else
        data: {rows: [{a: 1}]}
        """}, """
        vidbuild.yaml:1:1: 'name' is a required property
        vidbuild.yaml:1:1: 'scenes' is a required property
        vidbuild.yaml:1:1: 'version' is a required property
        vidbuild.yaml:2:7: data: 'key' is a required property
        """)


def test_data_with_both_source_and_rows(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project("""
        data: {source: people.csv, rows: [{id: a}], key: "{{ row.id }}"}
        scenes:
          - voice: {text: "Hi"}
        """)}, """
        vidbuild.yaml:6:7: data: needs exactly one of 'source' or 'rows'
        """)


def test_data_with_neither_source_nor_rows(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project("""
        data: {key: "{{ row.id }}"}
        scenes:
          - voice: {text: "Hi"}
        """)}, """
        vidbuild.yaml:6:7: data: needs exactly one of 'source' or 'rows'
        """)


def test_agent_project_with_scenes(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": """
        version: 1
        name: t
        kind: agent
        agent: {prompt: "A short intro"}
        scenes:
          - voice: {text: "Hi"}
        """}, """
        vidbuild.yaml:1:1: an agent project has an 'agent' section and no scenes
        """)


def test_agent_project_with_prompt_and_script(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": """
        version: 1
        name: t
        kind: agent
        agent:
          prompt: "A short intro"
          script: [{text: "Hi"}]
        """}, """
        vidbuild.yaml:5:3: agent: needs exactly one of 'prompt' or 'script'
        """)


# --- Data files --------------------------------------------------------------------------------

SCENES = """
scenes:
  - id: intro
    voice: {text: "Hi {{ row.name }}"}
"""


def test_data_file_missing(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project('data: {source: people.csv, key: "{{ row.id }}"}' + SCENES)}, """
        vidbuild.yaml:6:16: data.source: data file not found: people.csv
        """)


def test_data_file_with_unknown_extension(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project('data: {source: people.xls, key: "{{ row.id }}"}' + SCENES),
           "people.xls": "id,name\n"}, """
        vidbuild.yaml:6:16: data.source: can't tell the format of 'people.xls' from its extension; set data.format to one of csv, json, jsonl, tsv, yaml
        """)  # noqa: E501


CSV_PROJECT = project('data: {source: people.csv, key: "{{ row.id }}"}' + SCENES)


def test_csv_header_with_stray_spaces_and_a_duplicate_column(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": CSV_PROJECT, "people.csv": "id, name ,id\na,Ana,b\n"}, """
        people.csv:1: header: column 2 ' name ' has leading or trailing spaces
        people.csv:1: header: column 'id' appears twice
        """)


def test_csv_header_with_an_empty_column_name(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": CSV_PROJECT, "people.csv": "id,,name\na,x,Ana\n"}, """
        people.csv:1: header: column 2 has no name
        """)


def test_csv_ragged_row_names_its_line(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": CSV_PROJECT, "people.csv": "id,name\na,Ana\n\nb,Ben,extra\nc,Cy\n"}, """
        people.csv:4: row has 3 fields, the header has 2
        """)


def test_csv_quoted_multiline_cell_keeps_later_line_numbers(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": CSV_PROJECT, "people.csv": 'id,name\na,"Ana\nMaria"\na,Ben\n'}, """
        people.csv:4: row a: duplicate key 'a' (first at people.csv:2)
        """)


def test_csv_that_is_not_utf8_names_the_line(check: Callable[..., None]) -> None:
    latin1 = b"id,name\na,Ana\n" + b"b,Ben\n" * 3000 + b"c,Jos\xe9\n"
    check({"vidbuild.yaml": CSV_PROJECT}, """
        people.csv:3003: not UTF-8 text (byte 18020 of the file); save it as UTF-8 (in Excel: CSV UTF-8)
        """, prepare=lambda root: (root / "people.csv").write_bytes(latin1))


def test_duplicate_row_keys_name_both_lines(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": CSV_PROJECT, "people.csv": "id,name\na,Ana\nb,Ben\na,Cy\n"}, """
        people.csv:4: row a: duplicate key 'a' (first at people.csv:2)
        """)


def test_jsonl_row_that_is_not_an_object(check: Callable[..., None]) -> None:
    files = {"vidbuild.yaml": project('data: {source: people.jsonl, key: "{{ row.id }}"}' + SCENES),
             "people.jsonl": '{"id": "a", "name": "Ana"}\n\n[1, 2]\n{"id": "b", "name": \n'}
    check(files, """
        people.jsonl:3: row 2: a row must be a mapping of column names to values
        people.jsonl:4: invalid JSON: Expecting value
        """)


def test_json_file_that_is_not_an_array(check: Callable[..., None]) -> None:
    files = {"vidbuild.yaml": project('data: {source: people.json, key: "{{ row.id }}"}' + SCENES),
             "people.json": '{"id": "a"}\n'}
    check(files, """
        people.json:1: expected a JSON array of objects
        """)


def test_json_array_with_a_broken_element_names_its_line(check: Callable[..., None]) -> None:
    files = {"vidbuild.yaml": project('data: {source: people.json, key: "{{ row.id }}"}' + SCENES),
             "people.json": '[\n  {"id": "a", "name": "Ana"},\n  {"id": "b", "name": }\n]\n'}
    check(files, """
        people.json:3: invalid JSON: Expecting value
        """)


# --- Templates ---------------------------------------------------------------------------------

ROWS = """
data:
  key: "{{ row.id }}"
  rows:
    - {id: a1, name: Ana}
"""  # lines 6-9 of the project


def test_missing_column_names_the_data_row(check: Callable[..., None]) -> None:
    files = {"vidbuild.yaml": CSV_PROJECT.replace("row.name", "row.nme"),
             "people.csv": "id,name\na,Ana\nb,Ben\n"}
    check(files, """
        vidbuild.yaml:9:19: scenes[intro].voice.text: undefined: no column or field 'nme' (row a at people.csv:2, scene intro)
        vidbuild.yaml:9:19: scenes[intro].voice.text: undefined: no column or field 'nme' (row b at people.csv:3, scene intro)
        """)  # noqa: E501


def test_undefined_variable(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project(ROWS, """
        scenes:
          - id: intro
            voice: {text: "Hi {{ nme }}"}
          - id: two
            voice: {text: "Welcome to {{ vars.company }}"}
        """)}, """
        vidbuild.yaml:12:19: scenes[intro].voice.text: undefined: 'nme' is undefined (row a1 at vidbuild.yaml:9, scene intro)
        vidbuild.yaml:14:19: scenes[two].voice.text: undefined: no column or field 'company' (row a1 at vidbuild.yaml:9, scene two)
        """)  # noqa: E501


def test_template_syntax_errors_inline(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project(ROWS, """
        scenes:
          - id: intro
            voice: {text: "Hi {{ row.name }"}
          - id: story
            voice:
              text: |
                Once upon a time
                {% if row.name %}
                there was no end
        """)}, """
        vidbuild.yaml:12:19: scenes[intro].voice.text: template syntax error: unexpected '}'
        vidbuild.yaml:17: scenes[story].voice.text: template syntax error: Unexpected end of template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.
        """)  # noqa: E501


def test_template_error_on_a_later_line_of_a_block_string(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project(ROWS, """
        scenes:
          - id: story
            voice:
              text: |
                Once upon a time
                there was {{ row.nam }}
        """)}, """
        vidbuild.yaml:15: scenes[story].voice.text: undefined: no column or field 'nam' (row a1 at vidbuild.yaml:9, scene story)
        """)  # noqa: E501


def test_template_syntax_error_in_an_included_template(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project(ROWS, """
        scenes:
          - id: intro
            voice: {text: "{% include 'pitch.j2' %}"}
        """), "templates/pitch.j2": "Hello\nthere {{ row.name\n"}, """
        templates/pitch.j2:2: scenes[intro].voice.text: template syntax error: unexpected end of template, expected 'end of print statement'. (row a1 at vidbuild.yaml:9, scene intro)
        """)  # noqa: E501


def test_undefined_column_in_an_included_template(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project(ROWS, """
        scenes:
          - id: intro
            voice: {text: "{% include 'pitch.j2' %}"}
        """), "templates/pitch.j2": "Hello\n\nthere {{ row.nam }}\n"}, """
        templates/pitch.j2:3: scenes[intro].voice.text: undefined: no column or field 'nam' (row a1 at vidbuild.yaml:9, scene intro)
        """)  # noqa: E501


def test_include_of_a_missing_template(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project(ROWS, """
        scenes:
          - id: intro
            voice: {text: "{% include 'nope.j2' %}"}
        """)}, """
        vidbuild.yaml:12:19: scenes[intro].voice.text: template not found: nope.j2 (row a1 at vidbuild.yaml:9, scene intro)
        """)  # noqa: E501


def test_when_syntax_error(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project(ROWS, """
        scenes:
          - id: intro
            when: "row.plan =="
            voice: {text: "Hi"}
        """)}, """
        vidbuild.yaml:12:11: scenes[intro].when: expression syntax error: unexpected 'end of template'
        """)


def test_when_that_fails_for_a_row(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project(ROWS, """
        scenes:
          - id: intro
            voice: {text: "Hi"}
          - id: pro
            when: "row.plan == 'pro'"
            voice: {text: "Welcome, pro"}
        """)}, """
        vidbuild.yaml:14:11: scenes[pro].when: undefined: no column or field 'plan' (row a1 at vidbuild.yaml:9, scene pro)
        """)  # noqa: E501


def test_when_written_with_braces_says_how_to_write_it(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project(ROWS, """
        scenes:
          - id: intro
            voice: {text: "Hi"}
          - id: pro
            when: "{{ row.plan == 'pro' }}"
            voice: {text: "Welcome, pro"}
        """)}, """
        vidbuild.yaml:14:11: scenes[pro].when: expression syntax error: expected token ':', got '}' (write it without {{ }}: `when` is an expression)
        """)  # noqa: E501


def test_use_of_a_missing_reusable_scene(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project(ROWS, """
        scenes:
          - id: intro
            voice: {text: "Hi"}
          - use: outtro
        """)}, """
        vidbuild.yaml:13:10: scenes[outtro].use: no reusable scene 'outtro' (outtro.yaml) in templates/ or the built-in templates
        """)  # noqa: E501


def test_broken_reusable_scene_is_located_in_its_own_file(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project(ROWS, """
        scenes:
          - use: closing
        """), "templates/closing.yaml": "voice:\n  text: Bye\n  speed: 9\n"}, """
        templates/closing.yaml:3:10: voice.speed: 9 is greater than the maximum of 1.5
        """)


# --- Keys and outputs --------------------------------------------------------------------------

def test_keys_that_make_unsafe_file_names(check: Callable[..., None]) -> None:
    csv = "id,name\n../x,A\na/b,B\n,C\nCON,D\ncom1.txt,E\nfine,F\n"
    check({"vidbuild.yaml": CSV_PROJECT, "people.csv": csv}, """
        people.csv:2: row 1: key '../x' can't name a file: use letters, digits, '.', '_' and '-' (starting with a letter or digit, at most 200 characters)
        people.csv:3: row 2: key 'a/b' can't name a file: use letters, digits, '.', '_' and '-' (starting with a letter or digit, at most 200 characters)
        people.csv:4: row 3: key '' can't name a file: use letters, digits, '.', '_' and '-' (starting with a letter or digit, at most 200 characters)
        people.csv:5: row 4: key 'CON' can't name a file: CON is a reserved device name on Windows
        people.csv:6: row 5: key 'com1.txt' can't name a file: com1 is a reserved device name on Windows
        """)  # noqa: E501


OUTPUT_PROJECT = project("""
    data: {source: people.csv, key: "{{ row.id }}"}
    output: "{{ row.out }}"
    scenes:
      - id: intro
        voice: {text: "Hi"}
    """)


def test_outputs_that_escape_the_project(check: Callable[..., None]) -> None:
    csv = "id,out\na,../x.mp4\nb,/tmp/x.mp4\nc,out/../../x.mp4\nd,\ne,C:\\x.mp4\nf,out/f.mp4\n"
    check({"vidbuild.yaml": OUTPUT_PROJECT, "people.csv": csv}, """
        vidbuild.yaml:7:9: output: output path '../x.mp4' escapes the project directory (row a at people.csv:2)
        vidbuild.yaml:7:9: output: output path '/tmp/x.mp4' must be relative to the project directory (row b at people.csv:3)
        vidbuild.yaml:7:9: output: output path 'out/../../x.mp4' escapes the project directory (row c at people.csv:4)
        vidbuild.yaml:7:9: output: output path is empty (row d at people.csv:5)
        vidbuild.yaml:7:9: output: output path 'C:\\\\x.mp4' must be relative to the project directory (row e at people.csv:6)
        """)  # noqa: E501


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_output_escaping_through_a_symlinked_directory(check: Callable[..., None],
                                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    check({"vidbuild.yaml": OUTPUT_PROJECT, "people.csv": "id,out\na,videos/a.mp4\nb,b.mp4\n"}, """
        vidbuild.yaml:7:9: output: output path 'videos/a.mp4' escapes the project directory (row a at people.csv:2)
        """, prepare=lambda root: (root / "videos").symlink_to(outside))  # noqa: E501


def test_two_rows_with_the_same_output(check: Callable[..., None]) -> None:
    csv = "id,out\na,same.mp4\nb,other.mp4\nc,./same.mp4\n"
    check({"vidbuild.yaml": OUTPUT_PROJECT, "people.csv": csv}, """
        people.csv:4: row c: output 'same.mp4' is also the output of row a (at people.csv:2)
        """)


# --- Found only after templating: the request schema --------------------------------------------

def test_script_over_5000_characters_names_row_scene_and_source_line(
        check: Callable[..., None]) -> None:
    story = "x" * 6000
    check({"vidbuild.yaml": project("""
        data: {source: people.csv, key: "{{ row.id }}"}
        scenes:
          - id: intro
            voice: {text: "Hi"}
          - id: story
            voice:
              text: |
                Once upon a time
                {{ row.story }}
        """), "people.csv": f"id,story\nshort,ok\nlong,{story}\n"}, """
        vidbuild.yaml:12:13: scenes[story].voice.text: 'Once upon a time\\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... is too long: 6,017 characters, more than the maximum of 5,000 (row long at people.csv:3, scene story)
        """)  # noqa: E501


def test_blank_csv_cells_become_empty_ids(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project("""
        data: {source: people.csv, key: "{{ row.id }}"}
        video:
          title: "{{ row.title }}"
        scenes:
          - id: intro
            avatar: {avatar_id: "{{ row.avatar }}"}
            voice: {text: "Hi", voice_id: "{{ row.voice }}"}
        """), "people.csv": "id,title,avatar,voice\na,T,A1,V1\nb,,,\n"}, """
        vidbuild.yaml:8:10: video.title: '' should be non-empty (row b at people.csv:3)
        vidbuild.yaml:11:25: scenes[intro].avatar.avatar_id: '' should be non-empty (row b at people.csv:3, scene intro)
        vidbuild.yaml:12:35: scenes[intro].voice.voice_id: '' should be non-empty (row b at people.csv:3, scene intro)
        """)  # noqa: E501


def test_speed_from_a_csv_cell(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project("""
        data: {source: people.csv, key: "{{ row.id }}"}
        scenes:
          - id: intro
            voice: {text: "Hi", speed: "{{ row.speed | float }}"}
        """), "people.csv": "id,speed\na,1.2\nb,3\n"}, """
        vidbuild.yaml:9:32: scenes[intro].voice.speed: 3 is greater than the maximum of 1.5 (row b at people.csv:3, scene intro)
        """)  # noqa: E501


def test_unknown_avatar_style_from_a_template(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project("""
        data: {source: people.csv, key: "{{ row.id }}"}
        scenes:
          - id: intro
            avatar: {avatar_style: "{{ row.style }}"}
            voice: {text: "Hi"}
        """), "people.csv": "id,style\na,circle\nb,sideways\n"}, """
        vidbuild.yaml:9:28: scenes[intro].avatar.avatar_style: 'sideways' is not one of ['normal', 'circle', 'closeUp'] (row b at people.csv:3, scene intro)
        """)  # noqa: E501


def test_error_in_defaults_is_reported_for_each_scene_using_it(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": """
        version: 1
        name: t
        data: {rows: [{id: a, bg: blue}], key: "{{ row.id }}"}
        defaults:
          avatar: {avatar_id: A1}
          voice: {voice_id: V1}
          background: {value: "{{ row.bg }}"}
        scenes:
          - id: one
            voice: {text: "Hi"}
          - id: two
            voice: {text: "Bye"}
        """}, """
        vidbuild.yaml:7:23: defaults.background.value: 'blue' does not match '^#[0-9A-Fa-f]{6}$' (row a at vidbuild.yaml:3, scene one)
        vidbuild.yaml:7:23: defaults.background.value: 'blue' does not match '^#[0-9A-Fa-f]{6}$' (row a at vidbuild.yaml:3, scene two)
        """)  # noqa: E501


def test_agent_body_errors_point_at_the_agent_section(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": """
        version: 1
        name: t
        kind: agent
        data:
          key: "{{ row.id }}"
          rows:
            - {id: a, s: "3"}
        agent:
          prompt: "Intro for {{ row.id }}"
          duration_sec: "{{ row.s | int }}"
          orientation: "{{ row.id }}"
        """}, """
        vidbuild.yaml:10:17: agent.duration_sec: 3 is less than the minimum of 5 (row a at vidbuild.yaml:7)
        vidbuild.yaml:11:16: agent.orientation: 'a' is not one of ['landscape', 'portrait'] (row a at vidbuild.yaml:7)
        """)  # noqa: E501


# --- Safety ------------------------------------------------------------------------------------

def test_sandbox_escapes_are_errors_not_executed(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project(ROWS, """
        scenes:
          - id: mro
            voice: {text: "{{ ''.__class__.__mro__ }}"}
          - id: globals
            voice: {text: "Look: {{ cycler.__init__.__globals__ }}"}
          - id: row
            voice: {text: "{{ row.name.__class__ }}"}
        """)}, """
        vidbuild.yaml:12:19: scenes[mro].voice.text: not allowed in the sandbox: access to attribute '__class__' of 'str' object is unsafe. (row a1 at vidbuild.yaml:9, scene mro)
        vidbuild.yaml:14:19: scenes[globals].voice.text: not allowed in the sandbox: access to attribute '__init__' of 'type' object is unsafe. (row a1 at vidbuild.yaml:9, scene globals)
        vidbuild.yaml:16:19: scenes[row].voice.text: not allowed in the sandbox: access to attribute '__class__' of 'str' object is unsafe. (row a1 at vidbuild.yaml:9, scene row)
        """)  # noqa: E501


def test_sandbox_forbids_mutating_row_values(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project(ROWS, """
        scenes:
          - id: intro
            voice: {text: "{{ row.update({'name': 'x'}) }}"}
        """)}, """
        vidbuild.yaml:12:19: scenes[intro].voice.text: not allowed in the sandbox: access to attribute 'update' of 'dict' object is unsafe. (row a1 at vidbuild.yaml:9, scene intro)
        """)  # noqa: E501


# --- Many errors at once -----------------------------------------------------------------------

def test_independent_errors_are_all_reported_sorted(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project("""
        data: {source: people.csv, key: "{{ row.id }}"}
        scenes:
          - id: intro
            voice: {text: "Hi {{ row.name }", speed: 3.5}
          - id: two
            when: "row.x =="
            voice: {text: "Hi"}
          - use: nope
          - id: four
            avatar: {avatar_stile: circle}
            voice: {text: "{{ row.name }}"}
        """)}, """
        vidbuild.yaml:6:16: data.source: data file not found: people.csv
        vidbuild.yaml:9:19: scenes[intro].voice.text: template syntax error: unexpected '}'
        vidbuild.yaml:9:46: scenes[intro].voice.speed: 3.5 is greater than the maximum of 1.5
        vidbuild.yaml:11:11: scenes[two].when: expression syntax error: unexpected 'end of template'
        vidbuild.yaml:13:10: scenes[nope].use: no reusable scene 'nope' (nope.yaml) in templates/ or the built-in templates
        vidbuild.yaml:15:14: scenes[four].avatar.avatar_stile: unknown field 'avatar_stile'; did you mean 'avatar_style'?
        """)  # noqa: E501


def test_every_failing_scene_of_a_row_is_reported(check: Callable[..., None]) -> None:
    check({"vidbuild.yaml": project("""
        data: {source: people.csv, key: "{{ row.id }}"}
        scenes:
          - id: one
            voice: {text: "Hi {{ row.nme }}"}
          - id: two
            voice: {text: "Hi", speed: "{{ row.speed }}"}
          - id: three
            voice: {text: "Bye {{ row.nme }}"}
        """), "people.csv": "id,name,speed\na,Ana,1\na,Ben,1\n"}, """
        people.csv:3: row a: duplicate key 'a' (first at people.csv:2)
        vidbuild.yaml:9:19: scenes[one].voice.text: undefined: no column or field 'nme' (row a at people.csv:2, scene one)
        vidbuild.yaml:13:19: scenes[three].voice.text: undefined: no column or field 'nme' (row a at people.csv:2, scene three)
        """)  # noqa: E501


def test_the_same_mistake_on_many_rows_is_capped(check: Callable[..., None]) -> None:
    csv = "id,name\n" + "".join(f"r{n},N{n}\n" for n in range(1, 101))
    shown = "\n".join(
        f"vidbuild.yaml:9:19: scenes[intro].voice.text: undefined: no column or field 'nme' "
        f"(row r{n} at people.csv:{n + 1}, scene intro)" for n in range(1, 11))
    check({"vidbuild.yaml": CSV_PROJECT.replace("row.name", "row.nme"), "people.csv": csv},
          shown + "\nvidbuild.yaml:9:19: scenes[intro].voice.text: ... and 90 more rows with this error",
          count=100)


def test_numbers_json_cannot_carry(check: Callable[..., None]) -> None:
    # YAML's .inf and .nan stay the text written (see test_data_fidelity): text where a number
    # belongs is a schema error, and `| float` refuses it instead of passing NaN on.
    check({"vidbuild.yaml": """
        version: 1
        name: t
        data: {rows: [{id: a}], key: "{{ row.id }}"}
        defaults:
          avatar: {avatar_id: A1, offset: {x: .inf}}
          voice: {voice_id: V1}
        scenes:
          - id: intro
            voice: {text: "Hi"}
        """}, """
        vidbuild.yaml:5:39: defaults.avatar.offset.x: '.inf' is not of type number or a template
        """)
    check({"vidbuild.yaml": """
        version: 1
        name: t
        data: {rows: [{id: a, p: .nan}], key: "{{ row.id }}"}
        defaults:
          avatar: {avatar_id: A1}
          voice: {voice_id: V1}
        scenes:
          - id: intro
            voice: {text: "Hi", pitch: "{{ row.p | float }}"}
        """}, """
        vidbuild.yaml:9:32: scenes[intro].voice.pitch: '.nan' in column p is not a number (`| float`) (row a at vidbuild.yaml:3, scene intro)
        """)  # noqa: E501


def test_row_problems_repeated_on_many_rows_are_capped(check: Callable[..., None]) -> None:
    csv = "id,name\n" + "".join(f"same,N{n}\n" for n in range(1, 101))
    shown = "\n".join(f"people.csv:{n + 2}: row same: duplicate key 'same' (first at people.csv:2)"
                      for n in range(1, 11))
    check({"vidbuild.yaml": CSV_PROJECT, "people.csv": csv},
          shown + "\npeople.csv:101: duplicate key: ... and 89 more rows with this error", count=99)
