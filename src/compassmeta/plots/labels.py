"""Readable text for the figures: "Author Year" study labels, subgroup headings, comparator tiers."""
import re
import textwrap
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence

#: Goldberg et al. (2018)'s comparator tiers (MetaCIH ``condition_arm2`` codes), from the
#: weakest comparator to the strongest, with the names a reader expects.
COMPARATOR_TIERS = {
    "no treatment": "No treatment",
    "minimal treatment": "Minimal treatment",
    "non-specific active control": "Non-specific active control",
    "specific active control": "Specific active control",
    "ebt": "Evidence-based treatment",
}
LABEL_WRAP = 40          # characters per line of a study label
HEADING_WRAP = 60        # characters per line of a subgroup heading

_APA_AUTHOR = re.compile(r"([A-Z][\w'\u00c0-\u024f -]*?), (?:[A-Z]\.[ -]?)+")
_VANCOUVER_AUTHOR = re.compile(r"([A-Z][\w'\u00c0-\u024f -]*?) [A-Z]{1,3}(?=,|\.| et al)")
_YEAR = re.compile(r"\((\d{4})[a-z]?\)|\. (\d{4});")  # APA "(2020)" or Vancouver ". 2020;"


def author_year(citation: str, year: object = "") -> str:
    """"Surname Year", "A & B Year" or "Surname et al. Year" from an APA or Vancouver citation
    (or a short label such as "Call et al. (...)", kept as written)."""
    citation = citation.strip()
    year = str(year).strip()
    if year.endswith(".0"):
        year = year[:-2]
    if not year:
        found = _YEAR.search(citation)
        year = next(filter(None, found.groups())) if found else ""
    authors_part = re.split(r" \(|\. [A-Z][a-z]", citation, maxsplit=1)[0]
    surnames = _APA_AUTHOR.findall(authors_part) or _VANCOUVER_AUTHOR.findall(authors_part + ",")
    if not surnames:
        authors = authors_part.split(",")[0].strip()
        if "et al" not in authors and len(authors) > LABEL_WRAP:
            authors = authors[:LABEL_WRAP].rsplit(" ", 1)[0] + "\u2026"
    elif len(surnames) == 1 and "et al" not in authors_part:
        authors = surnames[0]
    elif len(surnames) == 2:
        authors = f"{surnames[0]} & {surnames[1]}"
    else:
        authors = f"{surnames[0]} et al."
    return f"{authors} {year}".strip()


def short_name(text: str) -> str:
    """A cell without its parenthetical note: "LSAS (clinician-rated)" -> "LSAS"."""
    return text.split(" (")[0].strip() or text.strip()


def study_labels_from(columns: Mapping[str, Sequence[str]], cluster: str | None = None) -> list[str]:
    """Study labels "Author Year" from the ``citation`` (and ``year``) columns; rows of a trial
    (``cluster``, default ``study_id``) with several rows add their instrument (or outcome), and
    the time point where that still repeats.  ``columns`` maps column names to cell lists."""
    citations = columns["citation"]
    years = columns.get("year", [""] * len(citations))
    labels = [author_year(c, y) for c, y in zip(citations, years)]
    cluster_cells = columns.get(cluster or "study_id")
    if cluster_cells is None:
        return labels
    detail = columns.get("instrument") or columns.get("outcome")
    per_trial = Counter(cluster_cells)
    if detail is not None:
        labels = [f"{label}, {short_name(d)}" if per_trial[c] > 1 else label
                  for label, d, c in zip(labels, detail, cluster_cells)]
    timepoints = columns.get("timepoint")
    if timepoints is not None:
        repeats = Counter(labels)
        labels = [f"{label}, {t}" if repeats[label] > 1 else label for label, t in zip(labels, timepoints)]
    return labels


def wrap(text: str, width: int = LABEL_WRAP, max_lines: int = 3) -> str:
    """Wrap a label onto at most ``max_lines`` lines of about ``width`` characters (an ellipsis
    ends a longer one)."""
    lines = textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False, max_lines=max_lines,
                          placeholder=" \u2026")
    return "\n".join(lines) or text


def readable_column(name: str) -> str:
    """A column name as a heading: "risk_of_bias" -> "Risk of bias"."""
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def readable_levels(levels: Iterable[str]) -> dict[str, str]:
    """Display names of subgroup levels: comparator tiers by name, underscores as spaces,
    parenthetical notes dropped when that keeps the levels distinct."""
    def name(level: str) -> str:
        if level in COMPARATOR_TIERS:
            return COMPARATOR_TIERS[level]
        return level.replace("_", " ")

    short = {level: name(short_name(level)) for level in levels}
    if len(set(short.values())) == len(short):
        return short
    return {level: name(level) for level in levels}


def is_comparator_tiers(levels: Collection[str]) -> bool:
    """True when every level is one of Goldberg et al.'s comparator tiers: such subgroups are
    different questions, so a figure pools within each tier only."""
    return bool(levels) and all(level in COMPARATOR_TIERS for level in levels)


def level_order(levels: Collection[str]) -> list[str]:
    """Comparator tiers from weakest to strongest comparator; other levels alphabetically."""
    if is_comparator_tiers(levels):
        tiers = list(COMPARATOR_TIERS)
        return sorted(levels, key=tiers.index)
    return sorted(levels, key=lambda s: (s.lower(), s))


def cluster_headings(columns: Mapping[str, Sequence[str]], clusters: Sequence[str]) -> dict[str, str]:
    """Heading of each cluster: "Author Year" of its first row, or the cluster's own value
    when the table has no citation column."""
    headings: dict[str, str] = {}
    citations = columns.get("citation")
    years = columns.get("year", [""] * len(clusters))
    for index, cluster in enumerate(clusters):
        if cluster not in headings:
            headings[cluster] = author_year(citations[index], years[index]) if citations else str(cluster)
    return headings


def within_cluster_labels(columns: Mapping[str, Sequence[str]], clusters: Sequence[str],
                          fallback: Iterable[object]) -> list[str]:
    """Row labels under a cluster heading: the instrument (or outcome), with the time point
    where a cluster repeats it; ``fallback`` labels when the table has neither column."""
    detail = columns.get("instrument") or columns.get("outcome")
    if detail is None:
        return [str(label) for label in fallback]
    labels = [short_name(d) for d in detail]
    timepoints = columns.get("timepoint")
    if timepoints is not None:
        repeats = Counter(zip(clusters, labels))
        labels = [f"{label}, {t}" if repeats[(c, label)] > 1 else label
                  for label, t, c in zip(labels, timepoints, clusters)]
    return labels
