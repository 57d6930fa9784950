"""The wheel works outside the repository: it carries its templates and data files."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO

PYTHON = REPO / ".venv" / "bin" / "python"
SHIPPED = ("msdigest/templates/email.html.j2", "msdigest/templates/email.txt.j2",
           "msdigest/templates/page.html.j2", "msdigest/data/sample-feed.xml",
           "msdigest/data/defaults.toml", "msdigest/subscribers.example.csv")


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, (f"{' '.join(args)} exited {result.returncode}:\n"
                                    f"{result.stdout}\n{result.stderr}")
    return result


@pytest.mark.slow
def test_wheel_installs_and_runs_the_demo_outside_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run([str(PYTHON), "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(REPO)], cwd=tmp_path)
    wheels = list(dist.glob("msdigest-*.whl"))
    assert len(wheels) == 1, list(dist.iterdir())
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = set(wheel.namelist())
        for name in SHIPPED:
            assert name in names, f"{name} missing from {wheels[0].name}"
            assert wheel.read(name).strip(), f"{name} is empty in the wheel"
        assert "msdigest/cli/__init__.py" in names
        assert not [n for n in names if n.startswith(("tests/", "src/"))]

    site = tmp_path / "site"
    run([str(PYTHON), "-m", "pip", "install", "--no-deps", "--no-compile", "-q",
         "--target", str(site), str(wheels[0])], cwd=tmp_path)

    elsewhere = tmp_path / "elsewhere"  # a fresh working folder, no digest.toml in it
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("MSDIGEST_CONFIG", "MSDIGEST_SECRET", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)

    probe = run([str(PYTHON), "-c", (
        "import json, msdigest, msdigest.bundled as b; print(json.dumps({"
        "'module': msdigest.__file__, 'templates': str(b.path('templates')), "
        "'csv': str(b.path('subscribers.example.csv'))}))")], cwd=elsewhere, env=env)
    where = json.loads(probe.stdout)
    for key, value in where.items():
        assert Path(value).resolve().is_relative_to(site.resolve()), (key, value)
    templates = Path(where["templates"])
    assert {p.name for p in templates.iterdir()} >= {"email.html.j2", "email.txt.j2",
                                                    "page.html.j2"}

    demo = tmp_path / "demo"
    out = run([str(PYTHON), "-m", "msdigest.cli", "demo", "--out", str(demo)],
              cwd=elsewhere, env=env, timeout=60)
    html = demo / "preview" / "issue.html"
    assert html.is_file(), out.stdout
    assert "<html" in html.read_text("utf-8").lower()
    assert str(REPO) not in out.stdout
    assert list((demo / "inbox").glob("*.eml")), out.stdout
