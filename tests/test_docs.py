"""The documentation builds (MkDocs, strict: a broken link or anchor is an error), and the README
stays a guide: short, with the commands CI reads from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_the_docs_build_with_no_broken_link(tmp_path):
    proc = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_the_readme_is_a_guide():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) < 15 * 1024
    for marker in ("main-command", "test-command", "docker-setup"):
        assert f"<!-- {marker} -->" in readme
    linked = {part.split(")")[0] for part in readme.split("](docs/")[1:]}
    assert all((ROOT / "docs" / link.split("#")[0]).is_file() for link in linked), linked
