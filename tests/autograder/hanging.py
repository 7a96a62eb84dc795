"""A fake grade function for the batch watchdog's tests, in a module of its own: a worker restarted by the watchdog
imports it again, and importing only the standard library and nbformat keeps that fast on a loaded machine."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat


def never_ends(lab, submission, *, source=None, limits=None, seed=None, hide=()):
    """Full marks (WRONG_<test> fails that test), except that a submission marked SPINS loops forever in Python, and
    one marked HOLDS_GIL backtracks for ages inside the regex engine without releasing the GIL (a reference call
    such as ``beta1 ** t`` with a huge integer `t` holds its worker the same way: no heartbeat, no signal handler
    runs)."""
    text = Path(submission).read_text(errors="replace")
    if "SPINS" in text:
        while True:
            pass
    if "HOLDS_GIL" in text:
        re.match(r"(a+)+$", "a" * 64 + "b")  # about 2**64 steps
    tests = []
    for cell in nbformat.read(source, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            ok = f"WRONG_{meta['grade_id']}" not in text
            points = float(meta["points"])
            tests.append({"grade_id": meta["grade_id"], "score": points if ok else 0.0, "max_score": points,
                          "passed": ok, "message": "" if ok else "wrong"})
    return {"lab": lab, "score": sum(t["score"] for t in tests), "max_score": sum(t["max_score"] for t in tests),
            "tests": tests, "errors": []}
