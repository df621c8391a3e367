"""Test forms the way people make them: written as .docx, then converted by
LibreOffice headless (`soffice --convert-to`), one batch per target format.

    OfficeForms(directory).build({"docx/sample": docx_bytes, ...})
        -> {("docx/sample", "pdf"): path, ("docx/sample", "doc"): path, ...}

Used by the session fixture `office_forms` (tests/conftest.py) and by
benchmarks/bench_accuracy.py. Every conversion uses a throw-away profile.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

# What LibreOffice writes, by the name we give it: target -> --convert-to argument.
TARGETS = {
    "pdf": "pdf:writer_pdf_Export",
    "docx": 'docx:MS Word 2007 XML',
    "doc": "doc:MS Word 97",
    "odt": "odt",
    "rtf": "rtf",
}
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def convert(sources: list[Path], target: str, outdir: Path, timeout: float = 300) -> list[Path]:
    """Convert every source to `target` in one LibreOffice start; the files it wrote."""
    if SOFFICE is None:
        raise RuntimeError("LibreOffice (soffice) is not installed: tests/setup-servers.sh")
    outdir.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="lo-profile-"))
    try:
        done = subprocess.run(
            [SOFFICE, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
             "--convert-to", TARGETS[target], "--outdir", str(outdir), *map(str, sources)],
            capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    written = [outdir / f"{source.stem}.{target}" for source in sources]
    missing = [p.name for p in written if not p.exists()]
    if missing:
        raise RuntimeError(f"soffice did not write {missing}: {done.stderr.strip()[:500]}")
    return written


class OfficeForms:
    """Forms written as .docx and converted by LibreOffice, cached in one folder."""

    def __init__(self, directory: Path):
        self.directory = directory

    def build(self, forms: dict[str, bytes],
              targets: tuple[str, ...] = tuple(TARGETS)) -> dict[tuple[str, str], Path]:
        """`forms`: name -> .docx bytes. Returns (name, target) -> the converted file."""
        source_dir = self.directory / "source"
        source_dir.mkdir(parents=True, exist_ok=True)
        names = {name: name.replace("/", "__") for name in forms}
        sources = []
        for name, data in forms.items():
            path = source_dir / f"{names[name]}.docx"
            path.write_bytes(data)
            sources.append(path)
        built: dict[tuple[str, str], Path] = {}
        for target in targets:
            for name, path in zip(forms, convert(sources, target, self.directory / target),
                                  strict=True):
                built[(name, target)] = path
        return built
