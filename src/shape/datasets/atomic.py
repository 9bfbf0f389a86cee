"""Writes that either complete or leave the previous file untouched.

``atomic_write`` hands out a hidden temporary path beside the target; the caller
writes the whole output there, and only when that succeeds is the temporary
path renamed over the target. A rename within one folder is atomic on POSIX
file systems, so a reader sees either the old output or the new one, never half
of one, even when the writing process is killed.

The temporary name carries the writer's process id
(``.predictions.parquet.4242.partial``). A killed run leaves its partial behind;
the next write to the same target deletes partials whose process is gone. The
leading dot keeps them out of Spark's and pyarrow's directory listings, and
the ``.partial`` suffix keeps them out of ``*.parquet`` globs.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"


def partial_path(target: Path, pid: int | None = None) -> Path:
    """The temporary path a process writes ``target`` to before renaming it."""
    pid = os.getpid() if pid is None else pid
    return target.with_name(f".{target.name}.{pid}{PARTIAL_SUFFIX}")


@contextmanager
def atomic_write(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path that replaces ``target`` when the block succeeds.

    The path may be written as a file or, as Spark does, as a folder. When the
    block raises, the temporary output is deleted and ``target`` is unchanged.

    Args:
        target: Local path of the output file or folder.

    Yields:
        A path in the same folder as ``target`` that does not exist yet.

    Example::

        with atomic_write("data/08_reporting/metrics.json") as path:
            path.write_text(text)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(target)
    temporary = partial_path(target)
    _remove(temporary)
    try:
        yield temporary
        if not temporary.exists():
            raise FileNotFoundError(
                f"Nothing was written to '{temporary}', so '{target}' was left "
                "as it was."
            )
        _move_into_place(temporary, target)
    except BaseException:
        _remove(temporary)
        raise


def remove_stale_partials(target: Path) -> list[Path]:
    """Deletes partial outputs of ``target`` left by processes that are gone.

    Returns:
        The paths deleted.
    """
    removed = []
    for candidate in target.parent.glob(f".{target.name}.*{PARTIAL_SUFFIX}"):
        pid_text = candidate.name[len(target.name) + 2 : -len(PARTIAL_SUFFIX)]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            _remove(candidate)
            removed.append(candidate)
            logger.info("Removed %s, left by an interrupted run", candidate)
    return removed


def _move_into_place(temporary: Path, target: Path) -> None:
    target_is_folder = target.is_dir() and not target.is_symlink()
    if not target_is_folder and not (temporary.is_dir() and target.exists()):
        os.replace(temporary, target)
        return
    # A folder cannot be renamed over a non-empty folder, nor over a file (as
    # when the engine changes between runs), so the old output is moved aside
    # first; between the two renames the target is briefly absent, which a
    # reader reports as missing rather than reading half an output.
    retired = target.with_name(f".{target.name}.{os.getpid()}.retired")
    _remove(retired)
    os.replace(target, retired)
    os.replace(temporary, target)
    _remove(retired)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
