"""What a command imports: `vidbuild build` pays only for its own modules (issue 14: an edited
row's build is mostly start-up), and the commands package still names every command."""

from __future__ import annotations

import json
import subprocess
import sys
import types


def test_a_build_imports_no_other_command() -> None:
    probe = ("import json, sys; import vidbuild.cli; from vidbuild import commands; commands.build; "
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('vidbuild.commands.') "
             "or m == 'webbrowser')))")
    found = json.loads(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                                      text=True).stdout)
    assert found == ["vidbuild.commands.build"]


def test_every_command_is_a_function_even_after_its_module_is_imported() -> None:
    import vidbuild.commands.build
    import vidbuild.commands.review  # a submodule named as its command

    for name in vidbuild.commands.__all__:
        assert isinstance(getattr(vidbuild.commands, name), types.FunctionType), name
    assert vidbuild.commands.build.__module__ == "vidbuild.commands.build"
