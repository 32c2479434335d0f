"""Open meta-analytic databases (Metapsy, MetaCIH): pinned versions, local mirrors, import.

Each database is pinned to a commit of its public repository and a sha256 of the file.
``pull`` downloads the pinned file into the user's cache and verifies the checksum; a
mirror folder (``--mirror DIR`` or ``COMPASSMETA_MIRROR``) laid out like ``../shared/data``
is read instead when given.  Files are ODC-By 1.0: cite the database and the trial.
"""
import csv
import hashlib
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..common.errors import CompassmetaError, InputError

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Database:
    name: str
    title: str
    repository: str
    commit: str
    sha256: str
    mirror_path: str      # where the file lies inside a mirror folder
    doi: str
    license: str = "ODC-By 1.0"

    @property
    def url(self) -> str:
        return f"https://raw.githubusercontent.com/{self.repository}/{self.commit}/data.csv"

    def citation(self) -> str:
        return f"{self.title} ({self.repository} @ {self.commit[:10]}, doi:{self.doi}, {self.license})"


DATABASES = {db.name: db for db in [
    Database("metapsy-depression", "Metapsy: psychotherapy vs control for adult depression",
             "metapsy-project/data-depression-psyctr", "ceeabb718db4a8ed6d5c5e265262d6ed7a392b72",
             "4695dcf3fb9e8852411ac53aedf592d697743b9bc081569abbe59eefd587d98d",
             "metapsy/depression-psyctr.csv", "10.5281/zenodo.7254845"),
    Database("metapsy-sad", "Metapsy: psychotherapy for social anxiety disorder",
             "metapsy-project/data-sad-psyctr", "cc33ac16fa9c8958b64f427c4bb024dacfef1e42",
             "56c6f3902e45e275e8c392423429907cc5096f8eaef2291b877bff5ef67c3694",
             "metapsy/sad-psyctr.csv", "10.5281/zenodo.12726122"),
    Database("metapsy-grief", "Metapsy: psychotherapy for prolonged grief",
             "metapsy-project/data-grief-psyctr", "6077b9cbaa014a2092449df480da4ae1369c5cf0",
             "015df3bf03da17d5e73817246151f3157ea041387d3be11c992695d1539a8ead",
             "metapsy/grief-psyctr.csv", "10.5281/zenodo.15538811"),
    Database("metapsy-ed-digital", "Metapsy: digital interventions for eating disorders",
             "metapsy-project/data-ed-digital-psyctr", "d99dbe3a7e48f3655c9c302b24a551ef7353a0c1",
             "4a53804ec3a3e0a5e7efd03d5dd6c1a1102084acb4e101fb126bbaf341e59d50",
             "metapsy/ed-digital-psyctr.csv", "10.5281/zenodo.21996490"),
    Database("metacih-mbi", "MetaCIH: mindfulness-based interventions for psychiatric disorders",
             "metacih-project/data-psychiatric-disorders-mbi", "1c9d08473380d1db6dadbd7b7d91ca839ed44062",
             "6bc07f5301d39eec20c7c4bc4165b2177018ba92d743b43bf0808bc683a93278",
             "metacih/psychiatric-disorders-mbi.csv", "10.5281/zenodo.20316297"),
]}


def database(name: str) -> Database:
    try:
        return DATABASES[name]
    except KeyError:
        raise InputError(f"unknown database '{name}'; known: {', '.join(DATABASES)}") from None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "compassmeta"


def sha256_of(path: PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mirror_folder(mirror: PathLike | None = None) -> Path | None:
    """The mirror folder given, or COMPASSMETA_MIRROR, or None."""
    folder = mirror or os.environ.get("COMPASSMETA_MIRROR")
    return Path(folder) if folder else None


def local_path(name: str, mirror: PathLike | None = None) -> Path | None:
    """The verified local file of a database (mirror first, then cache), or None."""
    db = database(name)
    folder = mirror_folder(mirror)
    candidates = ([folder / db.mirror_path] if folder else []) + [cache_dir() / f"{db.name}.csv"]
    for candidate in candidates:
        if candidate.is_file():
            if sha256_of(candidate) != db.sha256:
                raise CompassmetaError(f"{candidate}: checksum differs from the pinned version of {name} "
                                       f"(expected sha256 {db.sha256[:12]}...)")
            return candidate
    return None


def pinned_database(path: PathLike) -> str | None:
    """The name of the pinned database whose file ``path`` is (same sha256), or None."""
    digest = sha256_of(path)
    return next((db.name for db in DATABASES.values() if db.sha256 == digest), None)


def how_to_get(name: str) -> str:
    return (f"get it with `compassmeta data pull {name}` (needs internet) or point "
            f"`--mirror DIR` / COMPASSMETA_MIRROR at a folder holding {database(name).mirror_path}")


def require(name: str, mirror: PathLike | None = None) -> Path:
    path = local_path(name, mirror)
    if path is None:
        raise CompassmetaError(f"database {name} is not available offline: {how_to_get(name)}")
    return path


def pull(name: str, mirror: PathLike | None = None, timeout: float = 60) -> Path:
    """Fetch the pinned file into the cache (from the mirror if given), verifying its sha256."""
    from ..common.files import check_outputs, write_atomically

    db = database(name)
    target = cache_dir() / f"{db.name}.csv"
    check_outputs({"the cache folder (XDG_CACHE_HOME)": target})   # before any download
    folder = mirror_folder(mirror)
    if folder:
        source = folder / db.mirror_path
        if not source.is_file():
            raise CompassmetaError(f"{source}: not found in the mirror")
        data = source.read_bytes()
    else:
        import urllib.request

        try:
            with urllib.request.urlopen(db.url, timeout=timeout) as response:
                data = response.read()
        except OSError as error:
            raise CompassmetaError(f"cannot download {name} ({getattr(error, 'reason', error)}); "
                                   f"offline? use --mirror DIR or COMPASSMETA_MIRROR") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != db.sha256:
        raise CompassmetaError(f"{name}: downloaded file has sha256 {digest[:12]}..., "
                               f"the pinned version has {db.sha256[:12]}...; not saved")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, data.decode("utf-8"))
    except OSError as error:
        raise InputError(f"cannot save {name} in the cache ({error.strerror})", file=target) from None
    return target


# --- reading Metapsy-standard files ------------------------------------------------------

def read_metapsy(path: PathLike) -> list[dict[str, str]]:
    """Rows of a Metapsy-standard CSV (';', decimal commas, 'NA') as dicts of text (NA -> '')."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text (byte {error.start})", file=path) from None
    except OSError as error:
        raise InputError(f"cannot read file ({error.strerror})", file=path) from None
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=";")
    try:
        return [{key.strip(): ("" if value in ("NA", None) else value.strip()) for key, value in row.items()
                 if key is not None} for row in reader]
    except csv.Error as error:   # e.g. a cell over the csv module's 131,072 characters
        raise InputError(f"not a Metapsy-standard CSV ({error})", file=path) from None


def metapsy_number(text: str | None) -> float:
    """A Metapsy cell as float (decimal comma), NaN when empty."""
    return float(text.replace(",", ".")) if text not in ("", None) else float("nan")


PASSIVE_CODES = {"no treatment": "no treatment", "wl": "waitlist", "wlc": "waitlist", "waitlist": "waitlist",
                 "cau": "care as usual", "tau": "care as usual", "minimal treatment": "minimal treatment",
                 "ctr": "control"}
ACTIVE_CODES = {"non-specific active control": "non-specific active control",
                "specific active control": "specific active control",
                "ebt": "evidence-based treatment", "pla": "placebo", "placebo": "placebo",
                "other ctr": "other control", "attention": "attention control"}


def control_type(code: str) -> tuple[str, str]:
    """passive / active for a Metapsy or MetaCIH comparator code, and the detail kept."""
    key = code.strip().lower()
    if key in PASSIVE_CODES:
        return "passive", f"{PASSIVE_CODES[key]} (code {code})"
    if key in ACTIVE_CODES:
        return "active", f"{ACTIVE_CODES[key]} (code {code})"
    return "", f"unmapped comparator code {code}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def import_metapsy(path: PathLike, name: str | None = None) -> tuple[list[dict[str, str]], int]:
    """Metapsy-standard rows in the project's schema (text cells), ready for curation.

    Rows with post means/SDs become stat_type ``means``, with change scores ``change``, with a
    precalculated g ``g_se``; dichotomous-only rows are skipped.  ``higher_is_better`` is
    read off the sign of the database's own ``.g`` (positive = arm 1 better).  Fields the
    database does not code (intervention class, population, outcome construct) are left
    blank for the curator; ``compassmeta validate`` lists them.  Returns (rows, skipped).
    """
    source = Path(path)
    db = DATABASES.get(name) if name else None
    rows: list[dict[str, str]] = []
    skipped = 0
    seen = set()
    for line, cell in enumerate(read_metapsy(source), start=2):
        stats = _statistics(cell)
        if stats is None:
            skipped += 1
            continue
        es_id = _slug(cell.get(".id", "")) or f"{_slug(cell.get('study', 'row'))}-line{line}"
        while es_id in seen:
            es_id += "x"
        seen.add(es_id)
        kind, detail = control_type(cell.get("condition_arm2", ""))
        time = cell.get("time", "").lower()
        year = cell.get("year", "")
        rows.append({
            "es_id": es_id, "study_id": _slug(cell.get("study", "")) or es_id,
            "citation": cell.get("full_ref") or cell.get("study", ""),
            "year": year if re.fullmatch(r"\d{4}", year) else "",
            "intervention": " / ".join(filter(None, [cell.get("condition_arm1", ""),
                                                     cell.get("multi_arm1", "")])),
            "control_type": kind, "control_detail": detail,
            "instrument": cell.get("instrument", ""),
            "timepoint": "post" if time == "post" else ("follow-up" if time else "unspecified"),
            "weeks_after_baseline": cell.get("time_weeks", "").replace(",", "."),
            **stats,
            "source": f"{db.citation() if db else source.name}, file line {line}, .id {cell.get('.id', '')}",
            "source_doi": db.doi if db else "", "license": db.license if db else "",
            "inclusion_note": "imported from a Metapsy-standard database; not yet curated",
            "database_g": cell.get(".g", "").replace(",", "."),
        })
    return rows, skipped


def _statistics(cell: dict[str, str]) -> dict[str, str] | None:
    """The statistics fields of one Metapsy row, or None when it has none we use."""
    def value(key: str) -> str:
        return cell.get(key, "").replace(",", ".")

    database_g = metapsy_number(cell.get(".g", ""))

    def orientation(raw: float) -> str:
        """'true' when the raw difference and the database's .g agree in sign."""
        return "true" if (database_g > 0) == (raw > 0) and database_g != 0 and raw != 0 else "false"

    post = [value(k) for k in ("mean_arm1", "sd_arm1", "n_arm1", "mean_arm2", "sd_arm2", "n_arm2")]
    change = [value(k) for k in ("mean_change_arm1", "sd_change_arm1", "n_change_arm1",
                                 "mean_change_arm2", "sd_change_arm2", "n_change_arm2")]
    for kind, numbers in (("means", post), ("change", change)):
        if all(numbers):
            m1, s1, n1, m2, s2, n2 = numbers
            return {"stat_type": kind, "mean1": m1, "sd1": s1, "n1": _whole(n1), "mean2": m2, "sd2": s2,
                    "n2": _whole(n2), "higher_is_better": orientation(float(m1) - float(m2))}
    if value("precalc_g") and value("precalc_g_se"):
        return {"stat_type": "g_se", "g": value("precalc_g"), "se": value("precalc_g_se"),
                "higher_is_better": orientation(float(value("precalc_g")))}
    return None


def _whole(text: str) -> str:
    number = float(text)
    return str(int(number)) if number.is_integer() else text


def imported_effects(rows: Iterable[dict[str, str]],
                     convention: str = "metapsy") -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """g and variance of imported rows (``means``/``change`` rows only), oriented as the database."""
    from . import effects

    g, v = [], []
    for row in rows:
        if row["stat_type"] in ("means", "change"):
            mean1, sd1, n1, mean2, sd2, n2 = (float(row[k])
                                              for k in ("mean1", "sd1", "n1", "mean2", "sd2", "n2"))
            g_row, v_row = effects.g_from_means(mean1, sd1, n1, mean2, sd2, n2, convention=convention)
            value, variance = float(effects.orient(g_row, row["higher_is_better"] == "true")), float(v_row)
        else:
            value, variance = float(row["g"]), float(row["se"]) ** 2
            value = float(effects.orient(value, row["higher_is_better"] == "true"))
        g.append(value)
        v.append(float(variance))
    return np.array(g), np.array(v)
