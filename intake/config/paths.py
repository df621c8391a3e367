"""Where the default rules/ and templates/ are found.

An installed wheel carries them inside the package (intake/bundled/, see
pyproject.toml); a checkout or editable install reads the top-level folders,
which are their source. `[rules] path` and `templates` point elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # intake/
SOURCE_ROOT = PACKAGE.parent


def project_dir(name: str) -> Path:
    """The default `name` folder (rules or templates)."""
    bundled = PACKAGE / "bundled" / name
    return bundled if bundled.is_dir() else SOURCE_ROOT / name


def make_private_dir(path: Path) -> None:
    """Create a folder (and any missing parents) readable by the service's user only.
    An existing folder is left as it is: the operator chose its mode."""
    old = os.umask(0o077)
    try:
        path.mkdir(parents=True, exist_ok=True)
    finally:
        os.umask(old)
