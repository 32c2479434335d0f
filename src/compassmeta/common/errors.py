"""Errors that the command line turns into one-line messages (no traceback)."""
from collections.abc import Iterable


class CompassmetaError(Exception):
    """Base class: every error the user can cause or must act on."""


class InputError(CompassmetaError):
    """Bad input data, located by file, row and column where known.

    ``row`` is the 1-based data row (the header is row 0), as a spreadsheet user
    counts rows below the header.
    """

    def __init__(self, message: str, *, file: object = None, row: int | None = None,
                 column: str | None = None) -> None:
        self.message = message
        self.file = file
        self.row = row
        self.column = column
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return (", ".join(where) + ": " if where else "") + self.message


class ConvergenceError(CompassmetaError):
    """An iterative estimator did not converge; no number is returned."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """" (did you mean 'sd1'?)" when ``name`` is close to one of ``known`` (a typo), else ""."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
