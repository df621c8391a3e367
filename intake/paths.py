"""Where the project's data folders (rules/, templates/) are found."""

from __future__ import annotations

from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent


def project_dir(name: str) -> Path:
    """`name` beside the package (a checkout or editable install), else in the working
    directory (the Docker image's /app)."""
    beside = SOURCE_ROOT / name
    return beside if beside.is_dir() else Path.cwd() / name
