"""vidbuild's benchmark suite: one command, a table on stdout, the figures as JSON.

    python benchmarks/run.py [--sizes 1000,10000,100000] [--json benchmarks/results.json]

For each size it writes a synthetic campaign (three scenes, a CSV source) and measures, side by side:
(a) the floor: benchmarks/floor.py renders the same templates, dumps canonical JSON, hashes each row;
(b) a cold `vidbuild plan`; (c) a no-op `vidbuild build` after everything is built (emulator at its
fastest); (d) the peak memory of each. Then, against the emulator over a loopback socket with
realistic (scaled) render times and a cap on concurrent renders: (e) requests per finished video and
the delay from a video's completion to its download; (f) total build time against the ideal
schedule under that cap. Figures are ratios where the machine matters: runs are noisy on 2 cores.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from campaign import write_campaign  # noqa: E402

# Runs a command and prints its peak RSS: RUSAGE_CHILDREN inside a fresh process covers that child only.
MEASURE = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
           "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
           "used = resource.getrusage(resource.RUSAGE_CHILDREN); "
           "print(code, time.perf_counter() - t, used.ru_maxrss, used.ru_utime + used.ru_stime)")


def measure(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float]:
    """Wall time (s), CPU time (s) and peak resident memory (MiB) of one command."""
    result = subprocess.run([sys.executable, "-c", MEASURE, *command], cwd=cwd, env=env,
                            capture_output=True, text=True, check=True)
    code, seconds, peak_kib, cpu = result.stdout.split()
    if code not in ("0", "1"):
        raise SystemExit(f"{' '.join(command)} exited {code}: {result.stderr[-2000:]}")
    return {"seconds": round(float(seconds), 3), "peak_mib": round(int(peak_kib) / 1024, 1),
            "cpu_seconds": round(float(cpu), 3)}


def vidbuild(*args: str) -> list[str]:
    return [sys.executable, "-m", "vidbuild", *args]


def scale_run(rows: int, workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    """(a) to (d) for one campaign size."""
    project = write_campaign(workdir / f"campaign-{rows}", rows)
    floor = measure([sys.executable, str(HERE / "floor.py"), str(project)], project, env)
    plan = measure(vidbuild("plan", "."), project, env)
    fastest = {**env, "VIDBUILD_EMULATOR_SPEED": "0", "VIDBUILD_EMULATOR_FAULTS": ""}
    cold_build = measure(vidbuild("build", ".", "-j", "64"), project, fastest)
    noop = measure(vidbuild("build", "."), project, fastest)
    question = measure(vidbuild("build", "-q", "."), project, fastest)
    shutil.rmtree(project)
    return {"rows": rows, "floor": floor, "cold_plan": plan, "cold_build": cold_build,
            "noop_build": noop, "question": question,
            "plan_over_floor": round(plan["seconds"] / floor["seconds"], 2),
            "noop_over_plan": round(noop["seconds"] / plan["seconds"], 3)}


def ideal_makespan(render_seconds: list[float], slots: int) -> float:
    """The best possible build time: renders started in order on ``slots`` free render slots."""
    free = [0.0] * slots
    for seconds in render_seconds:
        start = heapq.heappop(free)
        heapq.heappush(free, start + seconds)
    return max(free)


def is_create(method: str, path: str) -> bool:
    return method == "POST" and (path.endswith("/generate") or path in ("/v3/videos", "/v3/video-agents"))


def is_status_read(method: str, path: str, query: dict[str, str]) -> bool:
    """A read of videos' status, detail or URLs: legacy status, v3 bulk statuses, v3 detail, and
    the v3 list page read for the URLs of several videos that finished at once."""
    return method == "GET" and (path == "/v1/video_status.get" or path.startswith("/v3/videos/")
                                or (path == "/v3/videos" and "title" not in query))


def is_lookup(method: str, path: str, query: dict[str, str]) -> bool:
    """A look in the account's list: by title marker (v3) or the legacy list."""
    return method == "GET" and (path == "/v1/video.list" or (path == "/v3/videos" and "title" in query))


def pacing_run(videos: int, cap: int, speed: float, workdir: Path, env: dict[str, str],
               api: str = "auto") -> dict[str, Any]:
    """(e) and (f): a real build against a loopback emulator with scaled render times and a cap,
    its rows sent through ``api`` ('auto': v3 where it renders the same video)."""
    from vidbuild.emulator import Emulator, EmulatorConfig, serve

    project = write_campaign(workdir / f"pacing-{api}", videos)
    emulator = Emulator(EmulatorConfig(speed=speed, max_concurrent=cap, retry_after=0.05))
    with serve(emulator) as server:
        # The engine paces itself for HeyGen (polls 2 s to 30 s apart); scaling that pace with the
        # emulator's speed makes this run the realistic one, compressed in time.
        run_env = {**env, "HEYGEN_API_BASE": server.url, "HEYGEN_API_KEY": "benchmark-key",
                   "VIDBUILD_TIMING_SCALE": str(speed)}
        started = time.time()
        build = subprocess.run(vidbuild("build", ".", "-j", str(cap), "--api", api), cwd=project, env=run_env,
                               capture_output=True, text=True)
        wall = time.time() - started
        requests = emulator.requests()
        made = emulator.videos()
    if build.returncode != 0:
        raise SystemExit(f"pacing build failed: {build.stderr[-2000:]}")
    manifest = json.loads((project / "out" / "manifest.json").read_text())
    generate = sum(1 for r in requests if is_create(r.method, r.path))
    status = sum(1 for r in requests if is_status_read(r.method, r.path, r.query))
    lookups = sum(1 for r in requests if is_lookup(r.method, r.path, r.query))
    downloaded_at = _downloaded_at(project)
    delays = [downloaded_at[v.video_id] - v.finishes_at for v in made if v.video_id in downloaded_at]
    ideal = ideal_makespan([v.finishes_at - v.created_at for v in sorted(made, key=lambda v: v.created_at)],
                           cap)
    shutil.rmtree(project)
    done = sum(1 for v in manifest["videos"] if v["status"] == "done")
    return {"videos": videos, "cap": cap, "speed": speed, "api": api, "done": done,
            "generate_per_video": round(generate / done, 2), "status_per_video": round(status / done, 2),
            "lookups_per_video": round(lookups / done, 2),
            "completion_to_download_s": {"mean": round(sum(delays) / len(delays), 3),
                                         "max": round(max(delays), 3)},
            "build_seconds": round(wall, 2), "ideal_seconds": round(ideal, 2),
            "build_over_ideal": round(wall / ideal, 3)}


def _downloaded_at(project: Path) -> dict[str, float]:
    """video_id → when vidbuild recorded its download, read from the build's own state."""
    from vidbuild.state.disk import DiskState

    result: dict[str, float] = {}
    for namespace in (project / ".vidbuild").iterdir():
        if (namespace / "store").is_dir():
            state = DiskState(project / ".vidbuild", namespace.name)
            for record in state.records():
                if record.video_id and record.downloaded_at:
                    result[record.video_id] = record.downloaded_at
            state.close()
    return result


def table(results: dict[str, Any]) -> str:
    lines = [f"machine: {results['machine']}", "",
             f"{'rows':>8} {'floor s':>9} {'plan s':>9} {'plan/floor':>10} {'no-op s':>9} "
             f"{'no-op/plan':>10} {'-q s':>7} {'floor MiB':>10} {'plan MiB':>9} {'build MiB':>10} "
             f"{'no-op MiB':>10}"]
    for r in results["scale"]:
        lines.append(f"{r['rows']:>8} {r['floor']['seconds']:>9.2f} {r['cold_plan']['seconds']:>9.2f} "
                     f"{r['plan_over_floor']:>10.2f} {r['noop_build']['seconds']:>9.3f} "
                     f"{r['noop_over_plan']:>10.3f} {r['question']['seconds']:>7.3f} "
                     f"{r['floor']['peak_mib']:>10.1f} {r['cold_plan']['peak_mib']:>9.1f} "
                     f"{r['cold_build']['peak_mib']:>10.1f} {r['noop_build']['peak_mib']:>10.1f}")
    for name in ("pacing", "pacing_legacy"):
        p = results.get(name)
        if not p:
            continue
        lines += ["", f"{name}: {p['done']} videos, --api {p['api']}, cap {p['cap']}, emulator speed "
                      f"{p['speed']}",
                  f"  create requests per video {p['generate_per_video']}, status-or-detail requests per "
                  f"video {p['status_per_video']}, account lookups per video {p['lookups_per_video']}",
                  f"  completion to download: mean {p['completion_to_download_s']['mean']} s, max "
                  f"{p['completion_to_download_s']['max']} s",
                  f"  build {p['build_seconds']} s, ideal {p['ideal_seconds']} s, "
                  f"ratio {p['build_over_ideal']}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="campaign sizes (rows)")
    parser.add_argument("--pacing-videos", type=int, default=30)
    parser.add_argument("--cap", type=int, default=6, help="emulator's cap on concurrent renders")
    parser.add_argument("--speed", type=float, default=0.1,
                        help="emulator render speed for pacing (1.0 = realistic: minutes per video); "
                             "vidbuild's polling pace is scaled by the same factor")
    parser.add_argument("--json", default=str(HERE / "results.json"), help="where to write figures")
    parser.add_argument("--incremental", action="store_true",
                        help="only the incremental figures (benchmarks/incremental.py)")
    parser.add_argument("--incremental-sizes", default="10000,100000")
    parser.add_argument("--template-build-rows", type=int, default=1000,
                        help="rows of the template-edit build (every video sent again); 0: skip")
    args = parser.parse_args()
    compile_vidbuild()
    if args.incremental:
        incremental_main(args)
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "VIDBUILD_"))}
    with tempfile.TemporaryDirectory(prefix="vidbuild-bench-") as scratch:
        workdir = Path(scratch)
        results: dict[str, Any] = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "scale": [], "pacing": {}}
        for rows in (int(n) for n in args.sizes.split(",") if n.strip()):   # "" : pacing only
            print(f"measuring {rows} rows...", file=sys.stderr, flush=True)
            results["scale"].append(scale_run(rows, workdir, env))
        print("measuring pacing...", file=sys.stderr, flush=True)
        results["pacing"] = pacing_run(args.pacing_videos, args.cap, args.speed, workdir, env)
        results["pacing_legacy"] = pacing_run(args.pacing_videos, args.cap, args.speed, workdir, env,
                                              api="legacy")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)   # figures are not lost for a new --json
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nfigures written to {args.json}")


def compile_vidbuild() -> None:
    """Compile vidbuild's modules to bytecode first, as installing its wheel does: a development
    checkout under PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module on every command
    (~0.1 s a build), and the figures would measure the compiler."""
    import compileall

    import vidbuild

    compileall.compile_dir(str(Path(vidbuild.__file__).parent), quiet=1)


def incremental_main(args: argparse.Namespace) -> None:
    """``--incremental``: the figures of benchmarks/incremental.py, written beside the others."""
    from incremental import incremental_run, table, template_build_run

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "VIDBUILD_"))}
    with tempfile.TemporaryDirectory(prefix="vidbuild-bench-") as scratch:
        workdir = Path(scratch)
        found = []
        for rows in (int(n) for n in args.incremental_sizes.split(",") if n.strip()):
            print(f"measuring incremental builds at {rows} rows...", file=sys.stderr, flush=True)
            found.append(incremental_run(rows, workdir, env, measure, vidbuild))
            print(table(found[-1:], None), file=sys.stderr, flush=True)   # as it goes: runs are long
        template = None
        if args.template_build_rows:
            print(f"measuring a template edit built at {args.template_build_rows} rows...",
                  file=sys.stderr, flush=True)
            template = template_build_run(args.template_build_rows, workdir, env, measure, vidbuild)
    path = Path(args.json).with_name("results-incremental.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    path.write_text(json.dumps({"machine": machine, "incremental": found, "template_build": template},
                               indent=2) + "\n")
    print(f"machine: {machine}" + table(found, template))
    print(f"\nfigures written to {path}")


if __name__ == "__main__":
    main()
