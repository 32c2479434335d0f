"""What a report run is asked to do (:class:`ReportSettings`) and the fixed choices of the report."""
from dataclasses import dataclass
from pathlib import Path

from ..common.errors import InputError
from ..data.aggregate import DEFAULT_WITHIN_STUDY_R

METHOD = "REML"
#: Assumed correlation of a trial's outcomes (Borenstein et al. 2009, ch. 24).
WITHIN_TRIAL_R = DEFAULT_WITHIN_STUDY_R
CONTROLS = ("all", "passive", "active")
CI_METHODS = ("z", "cr2")
FEW_FOR_BIAS = 10               # under this, asymmetry tests have little power (Cochrane Handbook 13.3.5.4)
#: Moderator columns explored, with the name shown on the page; ``comparator`` is the analysis
#: plan's comparator class of each row (report.rows.classify_rows), not the raw control_type column.
MODERATORS = (("comparator", "control type"), ("population", "population"),
              ("intervention_class", "intervention class"), ("format", "format"), ("sessions", "sessions"),
              ("intervention_duration", "duration"),
              ("analysis_set", "analysis set"), ("year", "year"))
SELF_COMPASSION = ("self_compassion", "self-compassion")
LEADING_OUTCOMES = ("self-compassion", "depression", "anxiety")   # the report's first sections
#: Teaching tables: analysed only when named, apart from the curated trials, under their own title.
#: ``--evidence-level`` choices and the ``evidence_level`` values they keep.
EVIDENCE_LEVELS = {"abstract": "abstract", "full": "full results table"}

TEACHING_TABLES = {"thirdwave": "ThirdWave teaching data (Harrer et al. 2021; mindfulness, ACT and other "
                                "third-wave programmes for stress, not self-compassion trials)"}


@dataclass(frozen=True)
class ReportSettings:
    """One report run: the study ``tables`` (paths); ``since``, an earlier report's JSON (a path,
    or its dictionary as :func:`compassmeta.report.analysis.load_report` returns it) to list
    what changed; ``studies_folder``, the folder holding published_results.csv for the
    reproduction table (default: the first table's folder); ``mirror``, the folder mirroring
    the open databases; ``rho`` (the CHE model) and ``ci_method`` ("z" or "cr2") for subsets
    where trials contribute several rows (see :func:`compassmeta.report.subsets.choose_model`);
    ``plan``, the analysis plan's file (default: the shipped studies/analysis_plan.toml).

    Checked when made: a bad ``rho`` or ``ci_method`` raises :class:`InputError`."""

    tables: tuple
    since: str | Path | dict | None = None
    studies_folder: str | Path | None = None
    mirror: str | Path | None = None
    rho: float | None = None
    ci_method: str = "z"
    evidence_level: str | None = None   # "abstract" or "full": only the rows printed there
    plan: str | Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", tuple(str(table) for table in self.tables))
        if self.ci_method not in CI_METHODS:
            raise InputError(f"the report's --ci-method is z or cr2, not {self.ci_method}")
        if self.rho is not None and not -1 <= self.rho <= 1:
            raise InputError(f"rho is a correlation between -1 and 1, not {self.rho}")
        if self.evidence_level is not None and self.evidence_level not in EVIDENCE_LEVELS:
            raise InputError(f"the report's --evidence-level is {' or '.join(EVIDENCE_LEVELS)}, "
                             f"not {self.evidence_level}")

    @property
    def reproduction_folder(self) -> Path:
        """Where published_results.csv is looked for."""
        return Path(self.studies_folder) if self.studies_folder else Path(self.tables[0]).parent

    def method_text(self) -> str:
        """The estimation and inference of the report in a few words (the report's ``method``)."""
        return (f"{METHOD}, Wald z, 95% CI" + (" (CR2 robust for the multilevel models)"
                                               if self.ci_method == "cr2" else "")
                + (f"; only rows with evidence level '{EVIDENCE_LEVELS[self.evidence_level]}'"
                   if self.evidence_level else ""))
