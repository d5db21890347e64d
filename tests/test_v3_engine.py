"""The build through HeyGen's v3 API: rows sent through the generation they were planned for, reads
that survive the retirement of the legacy routes, Idempotency-Key resends, and videos recovered
from the account when state can't vouch for them. Real emulator over loopback; faults on.

Like every build test, each runs with the legacy reads served and retired (see conftest.py).
"""

from __future__ import annotations

import io
import shutil
import textwrap
from pathlib import Path
from typing import Any

import httpx
from buildkit import LoopbackHeyGen, build_with_client_timeout, manifest, run_vidbuild

from vidbuild import commands
from vidbuild.emulator import Emulator, EmulatorConfig
from vidbuild.heygen.backend import Backend, Timing
from vidbuild.heygen.client import HeyGenClient
from vidbuild.pipeline import compile, open_state
from vidbuild.planner.decide import plan_steps
from vidbuild.report.progress import PlainReporter
from vidbuild.run.engine import Engine, Options
from vidbuild.run.outcome import Outcome
from vidbuild.run.poll import ROUTES_GONE
from vidbuild.run.submit import idempotency_key, resendable
from vidbuild.state.disk import DiskState
from vidbuild.state.location import namespace_for
from vidbuild.state.protocol import Record

# Basic rows: two colour scenes, which v3 renders as a studio video. Pro rows add a scene over an
# image, which v3 studio scenes can't carry: they go through POST /v2/video/generate.
CAMPAIGN = """\
    version: 1
    name: mixed
    data:
      key: "{{ row.id }}"
      rows: [ROWS]
    video: {title: "Hi {{ row.id }}", dimension: {width: 1280, height: 720}}
    defaults:
      avatar: {avatar_id: Daisy-inskirt-20220818}
      voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}
      background: {type: color, value: "#0B1F3A"}
    scenes:
      - id: intro
        voice: {text: "Hello {{ row.id }}"}
      - id: outro
        voice: {text: "See you soon."}
      - id: promo
        when: "row.plan == 'pro'"
        voice: {text: "Pro!"}
        background: {url: "https://example.com/pro.png"}
    output: "out/{{ key }}.mp4"
"""
KEYS = ["r1", "r2", "r3", "r4"]
V3_CREATE, LEGACY_CREATE = "/v3/videos", "/v2/video/generate"


def campaign(root: Path, keys: list[str] = KEYS, *, extra: str = "") -> Path:
    """The mixed campaign in ``root``: even rows are pro (legacy), odd ones basic (v3)."""
    listed = ", ".join(f"{{id: {key}, plan: {'pro' if int(key[1:]) % 2 == 0 else 'basic'}}}"
                       for key in keys)
    root.mkdir(parents=True, exist_ok=True)
    text = textwrap.dedent(CAMPAIGN).replace("[ROWS]", f"[{listed}]") + extra
    (root / "vidbuild.yaml").write_text(text, encoding="utf-8")
    return root


def build(project: Path, **options: Any) -> tuple[int, str]:
    err = io.StringIO()
    code = commands.build(str(project), stderr=err, **options)
    return code, err.getvalue()


def creates(heygen: LoopbackHeyGen, since: int = 0) -> list[str]:
    return [r.path for r in heygen.submits()[since:]]


def state_of(project: Path, heygen: LoopbackHeyGen) -> DiskState:
    return DiskState(project / ".vidbuild", namespace_for(heygen.url))


def test_a_mixed_campaign_builds_with_every_create_reply_lost(tmp_path: Path, heygen: LoopbackHeyGen,
                                                              legacy_mode: str) -> None:
    project = campaign(tmp_path / "project")
    heygen.restart(faults={"drop_after:submit": 1.0})

    code, err = build(project)

    assert code == 0, err
    sent = creates(heygen)
    assert {path for path, body in zip(sent, heygen.submits(), strict=True)
            if body.body["title"].startswith(("Hi r1 ", "Hi r3 "))} == {V3_CREATE}
    assert {path for path, body in zip(sent, heygen.submits(), strict=True)
            if body.body["title"].startswith(("Hi r2 ", "Hi r4 "))} == {LEGACY_CREATE}
    assert len(heygen.emulator.videos()) == 4     # every reply lost, not one video twice
    assert "resending under the same Idempotency-Key" in err
    assert err.count("found the lost submission") == 4
    if legacy_mode == "gone":
        assert all(r.status in (404, 410) for r in heygen.legacy_reads())
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_a_campaign_built_through_legacy_is_up_to_date_under_auto(tmp_path: Path,
                                                                   heygen: LoopbackHeyGen) -> None:
    project = campaign(tmp_path / "project")
    assert build(project, api="legacy")[0] == 0
    assert set(creates(heygen)) == {LEGACY_CREATE}
    before = len(heygen.requests())

    planned = io.StringIO()
    assert commands.plan(str(project), stdout=planned) == 0
    assert planned.getvalue().splitlines() == ["4 up-to-date; estimated 0.0 credits"]
    code, err = build(project)

    assert code == 0, err
    assert len(heygen.submits()) == 4
    assert len(heygen.requests()) == before      # nothing to ask either
    heygen.assert_all_built(project, KEYS)


def test_a_lost_v3_reply_is_resent_under_its_key_and_makes_one_video(tmp_path: Path,
                                                                     heygen: LoopbackHeyGen) -> None:
    project = campaign(tmp_path / "project", ["r1"])
    heygen.restart(faults={"drop_after:submit": 0.5}, seed=1)   # the first reply lost, the second not

    code, err = build(project)

    assert code == 0, err
    first, second = heygen.submits()
    assert (first.path, first.fault, second.path, second.fault) == (V3_CREATE, "drop_after", V3_CREATE, None)
    assert first.body == second.body
    assert len(heygen.emulator.videos()) == 1
    assert "found the lost submission" not in err   # the key settled it: no lookup needed
    heygen.assert_all_built(project, ["r1"])


def test_a_resend_while_the_first_is_in_flight_waits_for_it(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = campaign(tmp_path / "project", ["r1", "r3"])
    heygen.restart(faults={"slow:submit": 1.0}, slow_seconds=0.3)
    code, err = build_with_client_timeout(project, 0.1)

    assert code == 0, err
    assert any(r.status == 409 for r in heygen.submits())   # request_in_progress: waited out
    assert len(heygen.emulator.videos()) == 2
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, ["r1", "r3"])


def test_a_retired_legacy_read_is_remembered_across_builds(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    heygen.restart(legacy="gone")
    project = campaign(tmp_path / "project", ["r2"])

    code, err = build(project)

    assert code == 0, err
    assert [r.status for r in heygen.legacy_reads()][:1] == [404]   # asked once, found retired
    state = state_of(project, heygen)
    try:
        assert state.get_meta(ROUTES_GONE) == ["legacy"]
    finally:
        state.close()
    asked = len(heygen.legacy_reads())

    campaign(project, ["r2", "r4"])
    code, err = build(project)

    assert code == 0, err
    assert creates(heygen) == [LEGACY_CREATE, LEGACY_CREATE]   # created through the route HeyGen kept
    assert len(heygen.legacy_reads()) == asked                 # and read through v3 alone
    heygen.assert_all_built(project, ["r2", "r4"])


def test_a_fresh_state_with_outputs_present_adopts_from_the_account(tmp_path: Path,
                                                                    heygen: LoopbackHeyGen) -> None:
    project = campaign(tmp_path / "project")
    assert build(project)[0] == 0
    files = {key: (project / "out" / f"{key}.mp4").stat().st_mtime_ns for key in KEYS}
    shutil.rmtree(project / ".vidbuild")
    (project / "out" / "manifest.json").unlink()   # else the new state is seeded from it
    before = len(heygen.requests())

    planned = run_vidbuild("plan", str(project), env=heygen.env())
    assert planned.code == 0, planned.stderr
    assert all("(will look in the account first)" in line for line in planned.stdout.splitlines()[:4])
    assert len(heygen.requests()) == before   # plan stays offline
    code, err = build(project)

    assert code == 0, err
    assert len(heygen.submits()) == 4          # nothing paid again
    assert err.count("found in the account (built before)") == 4
    title_lookups = [r for r in heygen.requests()[before:] if r.path == V3_CREATE and "title" in r.query]
    assert len(title_lookups) == 4             # one request per missing row
    assert {key: (project / "out" / f"{key}.mp4").stat().st_mtime_ns for key in KEYS} == files
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_without_title_markers_a_fresh_state_finds_what_it_can(tmp_path: Path, heygen: LoopbackHeyGen,
                                                               legacy_mode: str) -> None:
    project = campaign(tmp_path / "project", extra="title_marker: false\n")
    assert build(project)[0] == 0
    shutil.rmtree(project / ".vidbuild")
    (project / "out" / "manifest.json").unlink()   # else the new state is seeded from it

    code, err = build(project)

    assert code == 0, err
    # The v3 rows are sent again under the same Idempotency-Key (a first claim's key is the
    # content hash): within 24 h HeyGen replays the earlier video instead of making one.
    again = sorted(creates(heygen, 4))
    if legacy_mode == "served":   # the legacy list and statuses carry callback_id
        assert again == [V3_CREATE, V3_CREATE]
        assert err.count("found in the account (built before)") == 2
        heygen.assert_each_body_paid_once()
    else:   # v3 reads carry no callback_id: nothing ties a legacy video to its body any more
        assert again == [LEGACY_CREATE, LEGACY_CREATE, V3_CREATE, V3_CREATE]
        assert len(heygen.emulator.videos()) == 6
    heygen.assert_all_built(project, KEYS)


def test_a_forced_v3_row_pays_again_under_a_new_key(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = campaign(tmp_path / "project", ["r1"])
    assert build(project)[0] == 0
    earlier = manifest(project)["r1"]["video_id"]
    heygen.restart(faults={"drop_after:submit": 1.0})

    code, err = build(project, force=["r1"])

    assert code == 0, err
    assert manifest(project)["r1"]["video_id"] != earlier
    assert len(heygen.emulator.videos()) == 2   # forced: a new video, not the earlier one replayed


def test_idempotency_keys_differ_per_claim_and_only_first_claims_reuse_the_hash() -> None:
    first = Record(hash="a" * 64, key="r1", kind="video", status="claimed", attempts=1,
                   claimed_at=1000.0, generation="v3")
    forced = Record(hash="a" * 64, key="r1", kind="video", status="claimed", attempts=1,
                    claimed_at=2000.0, generation="v3", forced=True)
    retried = Record(hash="a" * 64, key="r1", kind="video", status="claimed", attempts=2,
                     claimed_at=3000.0, generation="v3")

    assert idempotency_key(first) == "a" * 64
    assert len({idempotency_key(first), idempotency_key(forced), idempotency_key(retried)}) == 3
    assert resendable(first, 1000.0 + 3600)
    assert not resendable(first, 1000.0 + 24 * 3600)
    assert not resendable(Record(hash="b", key="r", kind="video", status="claimed", claimed_at=1.0), 2.0)


class WithoutV3(httpx.BaseTransport):
    """The emulator as a server that doesn't serve v3 at all: every /v3/ path answers 404."""

    def __init__(self, emulator: Emulator) -> None:
        self.inner = emulator.transport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v3/"):
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "No route"}},
                                  request=request)
        return self.inner.handle_request(request)


def test_a_server_without_v3_stops_a_v3_row_located_and_sends_it_through_legacy_when_asked(
        tmp_path: Path) -> None:
    emulator = Emulator(EmulatorConfig(speed=0.0))
    client = HeyGenClient("http://emulator.test", "key", transport=WithoutV3(emulator), sleep=lambda s: None)
    backend = Backend(client, "http://emulator.test", emulated=False, timing=Timing().scaled(0.001))
    project = campaign(tmp_path / "project", ["r1"])
    outcomes: list[Outcome] = []
    try:
        for api in ("auto", "legacy"):
            state = open_state(project)
            err = io.StringIO()
            try:
                engine = Engine(backend, state, PlainReporter(err), project, Options())
                outcomes.append(engine.run(plan_steps(compile(project, api=api), state, project)))
            finally:
                state.close()
        videos = emulator.videos()
    finally:
        client.close()
        emulator.close()

    first, second = outcomes
    assert first.exit_code == 3 and first.unfinished == ["r1"]
    assert "route itself is not served here" in (first.stopped or "") and "--api" in (first.stopped or "")
    assert second.exit_code == 0 and second.done == 1 and len(videos) == 1
