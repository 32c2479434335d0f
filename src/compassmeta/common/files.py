"""Reading and writing files: a file compassmeta writes is replaced whole or not at all (write a
temporary file beside it, then rename), so a crash never leaves it half-written; a JSON file
that cannot be read is a one-line error naming it."""
import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .errors import InputError


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path beside ``path``; once the block has written it, rename it over
    ``path`` (keeping the old file's mode).  A crash at any moment leaves either the old file
    or the new one, never a partial file; on an error the temporary file is removed."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".tmp",
                                             dir=path.parent)
    os.close(descriptor)
    try:
        yield temporary
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else default_file_mode())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`replacing`, synced to disk first."""
    write_files_atomically({path: text})


def file_version(path: str | os.PathLike[str]) -> tuple[int, int, int, int]:
    """What changes whenever a file is replaced or written: inode, size, modification and change
    time (nanoseconds).  OSError (FileNotFoundError) if there is no file."""
    status = os.stat(path)
    return status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns


COPY_BLOCK = 1 << 23    # bytes read at a time where the kernel cannot copy a span itself


@dataclass(frozen=True)
class Span:
    """The bytes [start, end) of the file ``path``, as a block of a file being written: copied as
    they are, never decoded and encoded again (a write that keeps most of a 145 MB table copies it
    in the kernel)."""

    path: str | os.PathLike[str]
    start: int
    end: int


def write_files_atomically(texts: Mapping[Any, str | Iterable[str | Span]]) -> None:
    """Write several files (path -> UTF-8 text, or its blocks: texts and :class:`Span` s of other
    files, written as they come so that a large file is never held whole), each through
    :func:`replacing`: every temporary file is written and synced before any is renamed, and they
    are renamed in the reverse of the order given (the first path last), so an error while writing
    changes none of them and only a crash between two renames can leave one renamed without the
    others."""
    with contextlib.ExitStack() as stack:
        sources: dict[str, BinaryIO] = {}    # the files that spans are copied from, each opened once
        for path, text in texts.items():
            temporary = stack.enter_context(replacing(path))
            with open(temporary, "wb") as handle:
                for block in [text] if isinstance(text, str) else text:
                    if isinstance(block, Span):
                        name = os.fspath(block.path)
                        if name not in sources:
                            sources[name] = stack.enter_context(open(name, "rb"))
                        _copy_span(sources[name], handle, block)
                    else:
                        handle.write(block.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())


def _copy_span(source: BinaryIO, target: BinaryIO, span: Span) -> None:
    """Append the bytes of ``span`` (of the open file ``source``) to ``target``: in the kernel
    (os.copy_file_range, no copy through Python) where it can, else a block at a time."""
    target.flush()
    position, end = span.start, span.end
    with contextlib.suppress(OSError, AttributeError):   # (no in-kernel copy here: copied below)
        while position < end:
            copied = os.copy_file_range(source.fileno(), target.fileno(), end - position, position)
            if not copied:
                break
            position += copied
    target.seek(0, os.SEEK_END)
    source.seek(position)
    while position < end:
        data = source.read(min(COPY_BLOCK, end - position))
        if not data:
            raise OSError(f"{source.name} ended at byte {position}, before byte {end} that was to be copied")
        target.write(data)
        position += len(data)


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that :func:`replacing` left beside ``path`` when a write was
    killed; return their paths.  Call it only while holding the lock every writer of ``path``
    takes, so that no temporary file removed belongs to a write in progress."""
    path = Path(path)
    name = re.compile(rf"\.{re.escape(path.stem)}\.[a-z0-9_]{{8}}{re.escape(path.suffix or '.tmp')}")
    stale = [candidate for candidate in path.parent.iterdir() if name.fullmatch(candidate.name)]
    for candidate in stale:
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
    return stale


# besides every resource the package names
STUDY_FOLDER_FILES = ("datapackage.json", "instruments.csv", "changes.csv", "analysis_plan.toml")
AUDIT_LOG_PREFIX = "audit"


def study_folder_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The files of a study folder (one holding ``datapackage.json``) that no output may replace:
    the package, every resource it names, instruments.csv, the analysis plan that pool and report read
    (analysis_plan.toml) and audit logs (changes.csv); [] for another folder."""
    folder = Path(folder)
    if not (folder / "datapackage.json").is_file():
        return []
    files = [folder / name for name in STUDY_FOLDER_FILES]
    try:
        resources = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))["resources"]
        files += [folder / entry["path"] for entry in resources if isinstance(entry.get("path"), str)]
    except (OSError, ValueError, AttributeError, TypeError, LookupError):
        # a broken package ({}, a list...): its resources are unknown, so every file already in the
        # folder is kept (the command that reads the package refuses it, naming it)
        files += [path for path in folder.iterdir() if path.is_file()]
    files += [path for path in folder.iterdir() if path.name.lower().startswith(AUDIT_LOG_PREFIX)]
    return files


def _identity(path: str | os.PathLike[str]) -> set[object]:
    """What makes two paths the same file: the resolved path, and (dev, inode) when it exists."""
    path = Path(path)
    try:
        status = path.stat()
        return {str(path.resolve()), (status.st_dev, status.st_ino)}
    except OSError:
        return {str(path.resolve())}


def check_outputs(outputs: Mapping[str, Any], inputs: Iterable[Any] = ()) -> None:
    """Refuse, in one line, an output path (``outputs`` maps each option, e.g. '-o/--output', to its
    path or None) that would replace an input file or a file of a study folder (that of an input
    or of the output: see :func:`study_folder_files`), or whose folder is a file."""
    given = {option: Path(path) for option, path in outputs.items() if path is not None}
    folders = {Path(path).parent for path in list(inputs) + list(given.values())}
    protected = [(Path(path), "the input") for path in inputs]
    protected += [(path, f"a file of the study folder {folder}") for folder in folders
                  for path in study_folder_files(folder)]
    for option, path in given.items():
        blocking = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
        if blocking is not None:
            raise InputError(f"{option}: cannot write here: {blocking} is a file, not a folder", file=path)
        identity = _identity(path)
        for other, what in protected:
            if identity & _identity(other):
                also = f" ({other})" if os.path.abspath(other) != os.path.abspath(path) else ""
                raise InputError(f"{option} would overwrite {what}{also}; choose another path", file=path)


def default_file_mode() -> int:
    """The mode a newly created file gets under the process umask (mkstemp makes 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """The parsed JSON of ``path`` (``what`` says what it should be, for the error): an InputError
    naming the file where it is missing, unreadable or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no {what}: no such file", file=path) from None
    except (OSError, ValueError) as error:  # ValueError covers bad UTF-8 and bad JSON
        raise InputError(f"cannot read the {what} ({error})", file=path) from None
