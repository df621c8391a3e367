"""Where the project's data folders (rules/, templates/) are found."""

from __future__ import annotations

import os
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent


def project_dir(name: str) -> Path:
    """`name` beside the package (a checkout or editable install), else in the working
    directory (the Docker image's /app)."""
    beside = SOURCE_ROOT / name
    return beside if beside.is_dir() else Path.cwd() / name


def make_private_dir(path: Path) -> None:
    """Create a folder (and any missing parents) readable by the service's user only.
    An existing folder is left as it is: the operator chose its mode."""
    old = os.umask(0o077)
    try:
        path.mkdir(parents=True, exist_ok=True)
    finally:
        os.umask(old)
