"""Where the default rules/ and templates/ are found.

An installed wheel carries them inside the package (intake/bundled/, see
pyproject.toml); a checkout or editable install reads the top-level folders,
which are their source. `[rules] path` and `templates` point elsewhere.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE.parent


def project_dir(name: str) -> Path:
    """The default `name` folder (rules or templates)."""
    bundled = PACKAGE / "bundled" / name
    return bundled if bundled.is_dir() else SOURCE_ROOT / name
