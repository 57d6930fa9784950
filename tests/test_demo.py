"""`msdigest demo` (what `make demo` runs): the whole path, and it says where to look."""

from __future__ import annotations

import json
import subprocess
import sys
from email import message_from_bytes
from email.policy import default
from pathlib import Path


def test_demo_runs_collect_preview_send_and_saves_what_it_received(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    run = subprocess.run([sys.executable, "-m", "msdigest.cli", "demo", "--out", str(out)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "issue 2026-10" in run.stdout
    for title in ("Gut microbiome", "Exercise and rehabilitation", "Biomarkers and monitoring",
                  "Therapies", "Other research"):
        assert title in run.stdout
    assert "the SMTP server on 127.0.0.1 received 6 messages" in run.stdout
    assert f"{out / 'preview' / 'issue.html'}" in run.stdout
    emls = sorted((out / "inbox").glob("*.eml"))
    assert len(emls) == 6
    msg = message_from_bytes(emls[0].read_bytes(), policy=default)
    assert msg["Subject"].startswith("MS Research Digest — October 2026")
    data = json.loads((out / "preview" / "issue.json").read_text())
    assert sum(len(t["items"]) for t in data["themes"]) == 8
    assert (out / "demo.sqlite").exists()
