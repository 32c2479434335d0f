"""Reading and writing files: a file compassmeta writes is replaced whole or not at all (write a
temporary file beside it, then rename), so a crash never leaves it half-written; a JSON file
that cannot be read is a one-line error naming it."""
import contextlib
import json
import os
import tempfile
from pathlib import Path

from .errors import InputError


@contextlib.contextmanager
def replacing(path):
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


def write_atomically(path, text):
    """Write ``text`` (UTF-8) to ``path`` through :func:`replacing`, synced to disk first."""
    with replacing(path) as temporary:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())


def default_file_mode():
    """The mode a newly created file gets under the process umask (mkstemp makes 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def read_json(path, what):
    """The parsed JSON of ``path`` (``what`` says what it should be, for the error): an InputError
    naming the file where it is missing, unreadable or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no {what}: no such file", file=path) from None
    except (OSError, ValueError) as error:  # ValueError covers bad UTF-8 and bad JSON
        raise InputError(f"cannot read the {what} ({error})", file=path) from None
