"""Issue 15, item 2: a saved plan (Terraform's plan -out). `plan --out FILE` writes the bodies and
actions; `build --plan FILE` carries out that plan and nothing else, refusing (exit 2, naming what
changed) when the project, the state or the backend changed since."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from buildkit import LoopbackHeyGen, manifest, rows, run_vidbuild, write_project, write_rows


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "campaign", rows(3))


def save_plan(project: Path, heygen: LoopbackHeyGen, *options: str) -> Path:
    saved = project.parent / "reviewed.plan.json"
    run = run_vidbuild("plan", str(project), "--out", str(saved), *options, env=heygen.env())
    assert run.code == 0, run.stderr
    return saved


def test_a_saved_plan_holds_bodies_and_actions_and_build_carries_it_out(project: Path,
                                                                         heygen: LoopbackHeyGen) -> None:
    saved = save_plan(project, heygen, "--select", "r0[12]")
    document = json.loads(saved.read_text(encoding="utf-8"))
    assert [(step["key"], step["action"]) for step in document["steps"]] == [("r01", "submit"),
                                                                             ("r02", "submit")]
    # Named relative to the project, or to vidbuild's own templates: the plan applies in another checkout.
    assert {"rows.csv", "vidbuild.yaml", "vidbuild:outro.yaml"} <= set(document["inputs"])
    assert not any(name.startswith("/") for name in document["inputs"])
    assert document["options"]["select"] == ["r0[12]"]

    run = run_vidbuild("build", "--plan", str(saved), str(project), env=heygen.env())

    assert run.code == 0, run.stderr
    assert len(heygen.submits()) == 2
    statuses = {key: entry["status"] for key, entry in manifest(project).items()}
    assert statuses == {"r01": "done", "r02": "done", "r03": "not-built"}
    hashes = {step["key"]: step["hash"] for step in document["steps"]}
    assert {key: manifest(project)[key]["hash"] for key in hashes} == hashes


@pytest.mark.parametrize(("edit", "named"), [
    ("comment", "vidbuild.yaml"),   # an unrelated edit: the reviewer approved other bytes
    ("row", "rows.csv"),
])
def test_a_saved_plan_is_refused_after_any_edit_naming_the_file(project: Path, heygen: LoopbackHeyGen,
                                                                 edit: str, named: str) -> None:
    saved = save_plan(project, heygen)
    if edit == "comment":
        spec = project / "vidbuild.yaml"
        spec.write_text(spec.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")
    else:
        edited = rows(3)
        edited[2]["line"] = "edited after review"
        write_rows(project, edited)

    run = run_vidbuild("build", "--plan", str(saved), str(project), env=heygen.env())

    assert run.code == 2
    assert run.stderr.splitlines()[-1] == (
        f"vidbuild: error: the project changed since the plan was saved: {named} changed; nothing "
        f"sent (run vidbuild plan --out again and review it)")
    assert heygen.submits() == [] and not (project / "out").exists()


def test_a_saved_plan_is_stale_once_state_moved_on(project: Path, heygen: LoopbackHeyGen) -> None:
    saved = save_plan(project, heygen)
    assert run_vidbuild("build", str(project), "--select", "r02", env=heygen.env()).code == 0
    sent = len(heygen.submits())

    run = run_vidbuild("build", "--plan", str(saved), str(project), env=heygen.env())

    assert run.code == 2
    assert run.stderr.splitlines()[-1] == (
        "vidbuild: error: the plan is stale: r02 (planned submit, now up-to-date); nothing sent "
        "(run vidbuild plan --out again and review it)")
    assert len(heygen.submits()) == sent


def test_a_saved_plan_is_refused_against_another_backend(project: Path, heygen: LoopbackHeyGen) -> None:
    saved = save_plan(project, heygen)
    run = run_vidbuild("build", "--plan", str(saved), "--emulator", str(project), env=heygen.env())
    assert run.code == 2
    assert run.stderr.splitlines()[-1] == (
        f"vidbuild: error: the plan was made against the HeyGen API at {heygen.url}, this build "
        f"would run against the built-in emulator; nothing sent")


def test_build_plan_takes_no_selection_of_its_own_and_a_bad_file_is_a_usage_error(
        project: Path, heygen: LoopbackHeyGen) -> None:
    saved = save_plan(project, heygen)
    run = run_vidbuild("build", "--plan", str(saved), "--select", "r01", str(project), env=heygen.env())
    assert (run.code, run.stderr.splitlines()[-1]) == (
        2, "vidbuild: error: --plan carries the selection, --force and --api it was made with: give "
           "them to vidbuild plan --out, not to build")
    bogus = project.parent / "bogus.json"
    bogus.write_text('{"steps": []}', encoding="utf-8")
    run = run_vidbuild("build", "--plan", str(bogus), str(project), env=heygen.env())
    assert (run.code, run.stderr.splitlines()[-1]) == (
        2, f"vidbuild: error: --plan {bogus}: not a plan written by vidbuild plan --out")
    assert heygen.submits() == []


def test_a_damaged_plan_says_what_is_wrong_and_a_plan_is_never_dry_run(project: Path,
                                                                        heygen: LoopbackHeyGen) -> None:
    saved = save_plan(project, heygen)
    document = json.loads(saved.read_text(encoding="utf-8"))
    del document["steps"]
    saved.write_text(json.dumps(document), encoding="utf-8")
    run = run_vidbuild("build", "--plan", str(saved), str(project), env=heygen.env())
    assert (run.code, run.stderr.splitlines()[-1]) == (
        2, f"vidbuild: error: --plan {saved}: a damaged plan: it has no 'steps'")
    document["steps"] = None
    saved.write_text(json.dumps(document), encoding="utf-8")
    run = run_vidbuild("build", "--plan", str(saved), str(project), env=heygen.env())
    assert run.code == 2 and "a damaged plan: a field holds a value of the wrong kind" in run.stderr
    for flag in ("-n", "-q"):
        run = run_vidbuild("build", flag, "--plan", str(saved), str(project), env=heygen.env())
        assert (run.code, run.stderr.splitlines()[-1]) == (
            2, "vidbuild: error: --plan carries out a saved plan: not with -n or -q (vidbuild plan shows "
               "what a build would do now; the saved plan is checked when it is applied)")
    assert heygen.submits() == []
