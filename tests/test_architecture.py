"""The dependency direction holds (kit ← models ← domain packages ← web, cli, app; no cycles between packages
or between the modules of a package), and the check would notice if it stopped holding."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(source: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(source)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_code_keeps_its_dependency_direction() -> None:
    result = _lint(ROOT / "src")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "0 broken" in result.stdout


def test_a_back_reference_and_a_cycle_are_caught(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "src" / "jifen", tmp_path / "jifen", ignore=shutil.ignore_patterns("__pycache__"))
    # the toolkit reaching up into the pages: against the direction, and a cycle (web imports kit)
    errors = tmp_path / "jifen" / "kit" / "errors.py"
    errors.write_text(errors.read_text() + "\nimport jifen.web.routes  # noqa\n")
    # two modules of one package importing each other
    (tmp_path / "jifen" / "kit" / "ping.py").write_text("import jifen.kit.pong  # noqa\n")
    (tmp_path / "jifen" / "kit" / "pong.py").write_text("import jifen.kit.ping  # noqa\n")

    result = _lint(tmp_path)

    assert result.returncode != 0
    assert "jifen.kit is not allowed to import jifen.web" in result.stdout
    assert "No cycles are allowed in jifen.kit" in result.stdout


LONGEST_FUNCTION = 80  # lines, decorators excluded (issue 12)


def _long_functions(source: Path) -> list[str]:
    found = []
    for path in sorted(source.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LONGEST_FUNCTION:
                    found.append(f"{path.relative_to(source)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_in_src_is_longer_than_a_screenful(tmp_path: Path) -> None:
    assert _long_functions(ROOT / "src") == []
    # and the check sees one that is
    (tmp_path / "long.py").write_text("def f() -> None:\n" + "    x = 1\n" * LONGEST_FUNCTION)
    assert _long_functions(tmp_path) == ["long.py:1 f (81 lines)"]
