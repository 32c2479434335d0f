"""The log replay of scripts/stress_writes.py (the write-path stress check, scripts/stress_checks.py): a
killed write logged but not made is taken back, and nothing else is; a change in the table that no
entry logs is a failure."""
import importlib
import sys

from conftest import PROJECT


def _checks():
    """scripts/stress_checks.py (it imports its sibling stress_inputs)."""
    sys.path.insert(0, str(PROJECT / "scripts"))
    try:
        return importlib.import_module("stress_checks")
    finally:
        sys.path.remove(str(PROJECT / "scripts"))


stress = _checks()

HEADER = ["es_id", "study_id", "inclusion_note"]
START = [{"es_id": "a-post", "study_id": "a", "inclusion_note": "old"}]


def entry(who, es_id, field, old, new, command="edit"):
    return {"time": "t", "who": who, "command": command, "es_id": es_id, "field": field, "old_value": old,
            "new_value": new, "reason": ""}


def added(who, es_id, study):
    return [entry(who, es_id, "es_id", "", es_id, "add"), entry(who, es_id, "study_id", "", study, "add")]


def replayed(entries, actual, killed=()):
    failures = []
    replay = stress.Replay(HEADER, START, set(killed))
    replay.run(entries, failures)
    replay.reconcile(actual, failures)
    return replay, failures


def test_a_killed_write_logged_but_not_made_is_taken_back():
    # w1 was killed between the renames: its edit is logged, the table still holds "old"; w2 then
    # edited the row as it found it, and added a row
    entries = [entry("w1", "a-post", "inclusion_note", "old", "w1 note"),
               entry("w2", "a-post", "inclusion_note", "old", "w2 note"), *added("w3", "b-post", "b")]
    actual = [dict(START[0], inclusion_note="w2 note"),
              {"es_id": "b-post", "study_id": "b", "inclusion_note": ""}]
    replay, failures = replayed(entries, actual, killed={"w1"})
    assert failures == [] and replay.reverted == {"w1"} and set(replay.made()) == {"w2", "w3"}


def test_the_same_log_is_a_failure_when_the_write_was_not_killed():
    entries = [entry("w1", "a-post", "inclusion_note", "old", "w1 note"),
               entry("w2", "a-post", "inclusion_note", "old", "w2 note")]
    _, failures = replayed(entries, [dict(START[0], inclusion_note="w2 note")])
    assert failures == ["log replay: w2: a-post: inclusion_note: logged old value 'old', "
                        "the cell held 'w1 note'",
                        "table and log disagree: a-post, cells ['inclusion_note']"]


def test_a_row_no_entry_logs_is_a_failure_even_beside_a_killed_write():
    actual = [*START, {"es_id": "c-post", "study_id": "c", "inclusion_note": ""}]
    replay, failures = replayed(added("w1", "b-post", "b"), actual, killed={"w1"})
    assert failures == ["table and log disagree: c-post is only in the table"] and replay.reverted == {"w1"}
    _, failures = replayed(added("w1", "b-post", "b"), START)        # logged, not made, not killed
    assert failures == ["table and log disagree: b-post is missing from the table"]


def test_a_removal_taken_back_returns_the_row_to_its_place():
    start = [*START, {"es_id": "b-post", "study_id": "b", "inclusion_note": ""}]
    removal = [entry("w1", "a-post", name, START[0][name], "", "remove") for name in HEADER]
    replay = stress.Replay(HEADER, start, {"w1"})
    failures = []
    replay.run(removal + added("w2", "c-post", "c"), failures)
    replay.reconcile([*start, {"es_id": "c-post", "study_id": "c", "inclusion_note": ""}], failures)
    assert failures == [] and replay.reverted == {"w1"} and replay.order == ["a-post", "b-post", "c-post"]
