"""Locating the shared sample data (``../shared/data`` next to the repository)."""
import os
from pathlib import Path
from typing import Optional

#: environment variable that overrides the location of the sample data
DATA_ENV_VAR = 'VISION_SPARSE_DATA'


def shared_data_root() -> Optional[Path]:
    """Folder of the shared sample data, or None when it is not available.

    Looked up in this order:

    1. ``$VISION_SPARSE_DATA`` if set (None if it is set but not a folder: an
       explicit setting is never silently replaced by a default);
    2. ``<repo root>/../shared/data`` where the repository root is the parent
       of the ``vision_sparse`` package folder (a source checkout);
    3. ``<cwd>/../shared/data``.

    Returns:
        Path | None: the resolved folder, or None (tests then skip).
    """
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        path = Path(env).expanduser()
        return path.resolve() if path.is_dir() else None
    candidates = (
        Path(__file__).resolve().parents[2] / '..' / 'shared' / 'data',
        Path.cwd() / '..' / 'shared' / 'data',
    )
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    return None


def shared_data_path(*parts: str) -> Optional[Path]:
    """``shared_data_root() / parts`` if that file or folder exists, else None.

    Args:
        *parts (str): path components below the data root.

    Returns:
        Path | None: the existing path or None.
    """
    root = shared_data_root()
    if root is None:
        return None
    path = root.joinpath(*parts)
    return path if path.exists() else None


__all__ = ['DATA_ENV_VAR', 'shared_data_root', 'shared_data_path']
