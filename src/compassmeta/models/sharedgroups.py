"""The sampling covariance of comparisons that share a group (a multi-arm trial's control).

Two contrasts d_i = (A_i - B_i) and d_l = (A_l - B_l) of one trial whose groups overlap are
correlated through the participants they share (Gleser & Olkin 2009, in Cooper, Hedges &
Valentine, Handbook of Research Synthesis 2nd ed., ch. 19, the multiple-treatment studies;
Cochrane Handbook 23.3.4).  For standardised mean differences d_1 = T1 - C and d_2 = T2 - C
the covariance is 1/n_C + d_1 d_2 / (2 N), N = n_T1 + n_T2 + n_C; without the small d-dependent
term, and scaled by the variances, it is the correlation metafor's vcalc() uses for any overlap

    r_il = [1(A_i=A_l)/sqrt(n_Ai n_Al) - 1(A_i=B_l)/sqrt(n_Ai n_Bl) - 1(B_i=A_l)/sqrt(n_Bi n_Al)
            + 1(B_i=B_l)/sqrt(n_Bi n_Bl)] / sqrt((1/n_Ai + 1/n_Bi)(1/n_Al + 1/n_Bl)),

so T1 - C and T2 - C correlate 1/n_C / sqrt((1/n_T1 + 1/n_C)(1/n_T2 + 1/n_C)), and their
covariance is r sqrt(v_i v_l).  This is metafor's vcalc(vi, cluster, obs, rho, grp1, grp2, w1,
w2) with the group sizes as weights: the group term multiplies the correlation of what the two
rows measure (1 for the same measure, rho for different ones).  Pairs where a row lacks its arm,
control or a size keep the working correlation alone (rho, or 0 in the three-level model).
"""
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: the columns of a study table that say what a row measures (vcalc's ``obs``)
MEASURE_COLUMNS = ("outcome", "instrument", "scs_component", "timepoint")
ARM_COLUMNS = ("arm", "control_arm", "n1", "n2", *MEASURE_COLUMNS)   # what ArmGroups.from_rows reads


def _number(cell: object) -> float:
    try:
        value = float(cell)  # type: ignore[arg-type]  # text or number; anything else is nan
    except (TypeError, ValueError):
        return float("nan")
    return value if value > 0 else float("nan")


def _text(cell: object) -> str:
    return "" if cell is None else str(cell).strip()


@dataclass(frozen=True)
class ArmGroups:
    """Per row: the intervention arm, the control arm, their sizes (n1, n2) and the measure."""

    arm: tuple
    control: tuple
    n_arm: np.ndarray
    n_control: np.ndarray
    measure: tuple

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, object]]) -> "ArmGroups | None":
        """From study-table rows (dicts with ``arm``, ``control_arm``, ``n1``, ``n2`` and the
        :data:`MEASURE_COLUMNS`); None when no row names both its arm and its control arm."""
        rows = list(rows)
        return cls.from_columns({name: [row.get(name) for row in rows] for name in ARM_COLUMNS}, len(rows))

    @classmethod
    def from_columns(cls, columns: Mapping[str, Sequence[object]], length: int) -> "ArmGroups | None":
        """:meth:`from_rows` from the :data:`ARM_COLUMNS` as columns of ``length`` cells (a column
        left out is blank); each distinct cell is read once."""
        def read(name: str, reader: Callable[[object], object]) -> list:
            column = columns.get(name, ("",) * length)
            return list(map({cell: reader(cell) for cell in set(column)}.__getitem__, column))

        arm, control = tuple(read("arm", _text)), tuple(read("control_arm", _text))
        if not any(a and c for a, c in zip(arm, control)):
            return None
        return cls(arm=arm, control=control, n_arm=np.array(read("n1", _number), dtype=float),
                   n_control=np.array(read("n2", _number), dtype=float),
                   measure=tuple(map("|".join, zip(*(read(name, _text) for name in MEASURE_COLUMNS)))))

    def take(self, index: np.ndarray) -> "ArmGroups":
        """The rows ``index`` (an integer array or a boolean mask)."""
        index = np.arange(len(self.arm))[index]
        return ArmGroups(arm=tuple(self.arm[i] for i in index), control=tuple(self.control[i] for i in index),
                         n_arm=self.n_arm[index], n_control=self.n_control[index],
                         measure=tuple(self.measure[i] for i in index))

    @cached_property
    def known(self) -> np.ndarray:
        """Rows whose arm, control arm and both sizes are given."""
        return (np.array([bool(a and c) for a, c in zip(self.arm, self.control)], dtype=bool)
                & np.isfinite(self.n_arm) & np.isfinite(self.n_control))

    @cached_property
    def group_codes(self) -> tuple:
        """(arm codes, control codes): one integer per distinct group label, shared by both."""
        codes = _codes(self.arm + self.control)
        return codes[:len(self.arm)], codes[len(self.arm):]

    @cached_property
    def measure_codes(self) -> np.ndarray:
        """One integer per distinct measure."""
        return _codes(self.measure)


def _codes(labels: Sequence[object]) -> np.ndarray:
    """One integer per distinct label (equal labels, equal codes), in order of first appearance."""
    codes: dict[object, int] = {}
    return np.fromiter((codes.setdefault(label, len(codes)) for label in labels), dtype=np.intp,
                       count=len(labels))


def shared_group_correlation(groups: ArmGroups, rows: np.ndarray, base: np.ndarray) -> tuple:
    """The sampling correlation of stacked clusters: ``rows`` (m, n) row indices, ``base`` the
    (m, n, n) working correlation (1 on the diagonal).  Pairs of known rows take
    (1 if the same measure else base) x r_il (module docstring); others keep ``base``.
    Returns (correlation, changed) with ``changed`` (m,) true for clusters whose correlation
    differs from ``base``."""
    a, b = (codes[rows] for codes in groups.group_codes)            # (m, n) group codes
    w_a, w_b = 1.0 / groups.n_arm[rows], 1.0 / groups.n_control[rows]
    measure = groups.measure_codes[rows]
    known = groups.known[rows]

    def overlap(g: np.ndarray, h: np.ndarray, wg: np.ndarray, wh: np.ndarray) -> np.ndarray:
        return (g[:, :, None] == h[:, None, :]) * np.sqrt(wg[:, :, None] * wh[:, None, :])

    numerator = overlap(a, a, w_a, w_a) - overlap(a, b, w_a, w_b) - overlap(b, a, w_b, w_a) \
        + overlap(b, b, w_b, w_b)
    scale = np.sqrt(w_a + w_b)
    with np.errstate(invalid="ignore"):
        group_term = numerator / (scale[:, :, None] * scale[:, None, :])
    pair_known = known[:, :, None] & known[:, None, :]
    same_measure = measure[:, :, None] == measure[:, None, :]
    modelled = np.where(same_measure, 1.0, base) * group_term
    correlation = np.where(pair_known, modelled, base)
    changed = np.any(np.abs(correlation - base) > 1e-15, axis=(1, 2))
    return correlation, changed


def shared_pairs(groups: ArmGroups, cluster_codes: np.ndarray) -> int:
    """How many pairs of rows of one cluster share a group and differ in their comparison."""
    members: dict = {}
    for i in np.nonzero(groups.known)[0]:
        members.setdefault(int(cluster_codes[i]), []).append((groups.arm[i], groups.control[i]))
    return sum(bool({a, c} & {a2, c2})
               for rows in members.values() for n, (a, c) in enumerate(rows) for a2, c2 in rows[n + 1:]
               if (a, c) != (a2, c2))
