"""Which Python makes ``.venv``: Debian's own when it is 3.11 or later (an optimised build,
the one the notes' batch was measured on), after the system packages that include its
``python3-venv``; ``PYTHON=...`` chooses another. Read from ``make -n`` in a copy of the
Makefile, so nothing is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]
DEBIAN_PYTHON = Path("/usr/bin/python3")


def _dry_run(folder: Path, *arguments: str) -> list[str]:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(CHECKOUT / name, folder / name)
    environment = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    result = subprocess.run(["make", "-n", *arguments], cwd=folder, env=environment,
                            capture_output=True, text=True, check=True, timeout=60)
    return result.stdout.splitlines()


def _venv_command(lines: list[str]) -> str:
    return next(line for line in lines if "-m venv" in line)


def _debian_python_usable() -> bool:
    if not DEBIAN_PYTHON.exists():
        return False
    check = subprocess.run([str(DEBIAN_PYTHON), "-c",
                            "import sys; sys.exit(sys.version_info < (3, 11))"], check=False)
    return check.returncode == 0


def test_the_venv_is_made_by_debians_python_when_it_is_recent_enough(tmp_path: Path) -> None:
    expected = str(DEBIAN_PYTHON) if _debian_python_usable() else "python3"
    command = _venv_command(_dry_run(tmp_path, "venv"))
    assert command == f"test -x .venv/bin/python || {expected} -m venv .venv"


def test_python_chosen_by_the_caller_wins(tmp_path: Path) -> None:
    command = _venv_command(_dry_run(tmp_path, "venv", f"PYTHON={sys.executable}"))
    assert command == f"test -x .venv/bin/python || {sys.executable} -m venv .venv"


def test_system_packages_with_python3_venv_come_before_the_venv(tmp_path: Path) -> None:
    lines = _dry_run(tmp_path, "setup", "GEOPORTAL_DATABASE_URL=postgresql://unused")
    apt = next(i for i, line in enumerate(lines) if "apt-get install" in line)
    venv = next(i for i, line in enumerate(lines) if "-m venv" in line)
    assert apt < venv
    packages = (CHECKOUT / "Makefile").read_text(encoding="utf-8")
    assert "SYSTEM_PACKAGES := python3-venv " in packages


@pytest.mark.skipif(not _debian_python_usable(), reason="no Debian Python 3.11+ here")
def test_debians_python_is_an_optimised_static_build() -> None:
    """What the choice rests on: the interpreter does not load a shared libpython (the
    generic builds of pyenv do, with position-independent code)."""
    linked = subprocess.run(["ldd", str(DEBIAN_PYTHON.resolve())], capture_output=True,
                            text=True, check=True).stdout
    assert "libpython" not in linked
