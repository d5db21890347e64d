"""ProtectedFiles.problem_in (what a directory holds worked out once for all its outputs) must
answer exactly as ProtectedFiles.problem does for the same path: compared on random layouts."""

from __future__ import annotations

import os
import random

from vidbuild.spec.protected import ProtectedFiles

PARTS = ["a", "B", "b", "out", "templates", ".vidbuild", "manifest.json", "x.mp4", "Run_Results.json"]


def _path(rng: random.Random, depth: int) -> str:
    return os.path.join("/project", *(rng.choice(PARTS) for _ in range(depth)))


def test_problem_in_answers_as_problem_does() -> None:
    rng = random.Random(14)
    compared = refused = 0
    for _ in range(1500):
        files = {_path(rng, rng.randint(1, 3)).casefold(): f"file {n}" for n in range(rng.randint(0, 4))}
        directories = {_path(rng, rng.randint(1, 3)).casefold() + os.sep: f"directory {n}"
                       for n in range(rng.randint(0, 4))}
        protected = ProtectedFiles(files, directories)
        for _ in range(20):
            directory, name = _path(rng, rng.randint(0, 3)), rng.choice(PARTS)
            expected = protected.problem(os.path.join(directory, name))
            assert protected.problem_in(directory, name) == expected, (files, directories, directory, name)
            compared += 1
            refused += expected is not None
    assert compared == 30000 and 3000 < refused < 27000   # both answers were tried many times


def test_problem_in_names_the_protected_file_or_directory() -> None:
    protected = ProtectedFiles({"/project/rows.csv": "the data source rows.csv"},
                               {"/project/.vidbuild/": "the state directory",
                                "/project/templates/": "the templates directory"})
    assert protected.problem_in("/project", "Rows.CSV") == "is the data source rows.csv"
    assert protected.problem_in("/project", ".vidbuild") == "is inside the state directory"
    assert protected.problem_in("/project/templates/deep", "x.mp4") == "is inside the templates directory"
    assert protected.problem_in("/project/out", "manifest.csv") == "is where vidbuild writes its manifest"
    assert protected.problem_in("/project/out", "a.mp4") is None
