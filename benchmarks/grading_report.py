"""The report of `bench_grading.py`: what one run measured (`Measured`), as markdown (`render`).

Also reads back the stock nbgrader time of a committed report (`committed_stock`), so that a partial
run (``--only`` / ``--quick``) can state its ratio to stock without the long stock run.
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

TARGET_SPEEDUP = 2.5  # 2 workers vs stock nbgrader, whole mixed batch
TARGET_PER_SUBMISSION = 1.0  # ours per submission vs plain execution of the same notebook
TARGET_LATENCY = 1.3  # one `grade` call vs plain execution of the same notebook
BUSY_CORES = 0.25  # other processes' load above which the report warns that timings are slowed
SCORE_TOLERANCE = 1e-9
KINDS = ("correct", "empty", "one mistake")
#: Our batch runs: part name -> (workers, preflight, how the report names it).
OURS = {"ours1": (1, True, "1 worker"), "ours2": (2, True, "2 workers"),
        "no-preflight": (2, False, "2 workers, `--no-preflight`")}
STOCK_LABEL = "stock `nbgrader autograde`, one call per lab"
STOCK_LAB_HEADER = "stock, this lab's call (s)"


@dataclass
class Measured:
    """What one run of the benchmark measured; a part that was not run leaves its fields empty."""

    labs: list[str]
    per_lab: int  # submissions per lab
    kinds: dict[str, dict[str, str]]  # lab -> student -> "correct" / "empty" / "one mistake"
    whole: dict[str, float] = field(default_factory=dict)  # "stock" or a part of OURS -> wall seconds, whole batch
    loads: dict[str, float] = field(default_factory=dict)  # the same keys -> other processes' load (cores)
    stock_labs: dict[str, float] = field(default_factory=dict)  # lab -> seconds of its stock `nbgrader autograde`
    stock_from: str = ""  # without the stock part: where whole["stock"] comes from, or why there is none
    scores: dict[str, dict] = field(default_factory=dict)  # "stock" or a part -> lab -> student -> {grade_id: score}
    per: dict[str, dict] = field(default_factory=dict)  # part -> lab -> student -> seconds on its worker
    preflight: dict[str, dict] = field(default_factory=dict)  # part -> lab -> reference's seconds on its worker
    plain: dict[str, dict] = field(default_factory=dict)  # lab -> student -> seconds of a plain nbclient run
    grade: dict[str, tuple] = field(default_factory=dict)  # lab -> (one `grade` call, plain run of it[, that
    # plain run's kernel shutdown]), seconds
    grade_runs: int = 1  # rounds of (grade call, plain run) whose medians `grade` holds
    lab_loads: dict[str, float] = field(default_factory=dict)  # lab -> other load during its plain and grade runs

    @property
    def n(self) -> int:
        return sum(len(self.kinds[lab]) for lab in self.labs)

    def ours(self) -> list[str]:
        """Our batch runs that were measured, in the order of `OURS`."""
        return [part for part in OURS if part in self.whole]


def rate(n: int, seconds: float) -> float:
    return 60.0 * n / seconds


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def mean(values) -> float:
    return statistics.mean(list(values))


def seconds(times: dict[str, dict[str, float]], lab: str | None = None) -> float:
    """Mean seconds a submission of `lab` (of every lab, when None) in {lab: {student: seconds}}."""
    return mean(times[lab].values()) if lab is not None else mean(v for one in times.values() for v in one.values())


def committed_stock(path: Path, labs: list[str], per_lab: int,
                    shown: str | None = None) -> tuple[float, dict[str, float], str] | str:
    """(Stock seconds for `labs`, per lab where known, where they come from) from the report at `path` (named
    `shown` in the report), measured there on the same batch (the same submissions per lab, and every lab of
    `labs`); else why not, as a string."""
    shown = shown or str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        return f"no report to take it from ({exc.strerror}: {shown})"
    batch = re.search(r"Batch: (\d+) submissions of each of (.+?) \(", text)
    date = re.search(r" on (\d{4}-\d\d-\d\d)\.", text)
    total = re.search(r"^\| " + re.escape(STOCK_LABEL) + r" \| ([\d.]+) \|", text, re.M)
    if batch is None or total is None or date is None:
        return f"{shown} holds no measured stock time"
    their_labs = batch.group(2).split(", ")
    if int(batch.group(1)) != per_lab:
        return f"{shown} measured stock on {batch.group(1)} submissions per lab, not {per_lab}"
    per: dict[str, float] = {}
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ")]
    header = next((row for row in rows if STOCK_LAB_HEADER in row), None)
    if header is not None:
        col = header.index(STOCK_LAB_HEADER)
        per = {row[0][2:]: float(row[col]) for row in rows if row[0][2:] in their_labs and len(row) > col}
    where = f"{shown} of {date.group(1)}"
    if sorted(labs) == sorted(their_labs):
        return float(total.group(1)), per, where
    if set(labs) <= per.keys():
        return sum(per[lab] for lab in labs), {lab: per[lab] for lab in labs}, where
    if per:
        return f"{shown} has no stock time of {', '.join(sorted(set(labs) - per.keys()))}"
    return f"{shown} measured stock on {', '.join(their_labs)} together, with no time per lab"


def _stock_cell(m: Measured) -> str:
    if "stock" not in m.whole:
        return ""
    return "" if not m.stock_from else f" (not measured in this run: from {m.stock_from})"


def batch_table(m: Measured) -> list[str]:
    lines = ["| grader | wall time, whole batch (s) | submissions per minute | vs stock | other load (cores) |",
             "|---|---|---|---|---|"]
    stock = m.whole.get("stock")
    if stock is not None:
        load = f"{m.loads['stock']:.2f}" if "stock" in m.loads else "-"
        lines.append(f"| {STOCK_LABEL}{_stock_cell(m)} | {stock:.1f} | {rate(m.n, stock):.1f} | 1.00x | {load} |")
    for part in m.ours():
        wall = m.whole[part]
        versus = f"{stock / wall:.2f}x" if stock is not None else "-"
        lines.append(f"| ours, {OURS[part][2]}, one call for every lab | {wall:.1f} | {rate(m.n, wall):.1f} "
                     f"| {versus} | {m.loads[part]:.2f} |")
    return lines


def _same_scores(m: Measured, lab: str, parts: list[str]) -> int:
    """Students of `lab` whose scores every run of `parts` recorded, all alike."""
    runs = [m.scores[p][lab] for p in parts]
    return sum(all(run.get(s) is not None and run.get(s) == runs[0].get(s) for run in runs) for s in m.kinds[lab])


def _columns(m: Measured) -> list[tuple[str, object, object]]:
    """(header, its cell for one lab, its cell for every lab) of the per-lab table's columns that were measured."""
    cols = [("submissions", lambda lab: str(len(m.kinds[lab])), lambda: str(m.n))]
    if m.stock_labs and not m.stock_from:
        cols.append((STOCK_LAB_HEADER, lambda lab: f"{m.stock_labs[lab]:.1f}", lambda: f"{m.whole['stock']:.1f}"))
    for part in m.ours():
        cols.append((f"ours per submission, {OURS[part][2]} (s)",
                     lambda lab, p=part: f"{seconds(m.per[p], lab):.2f}", lambda p=part: f"{seconds(m.per[p]):.2f}"))
    flight = next((p for p in ("ours2", "ours1") if m.preflight.get(p)), None)
    if flight:
        cols.append(("preflight: reference on its worker (s)", lambda lab: f"{m.preflight[flight].get(lab, 0):.2f}",
                     lambda: f"{sum(m.preflight[flight].values()):.2f} (sum)"))
    if m.plain:
        cols.append(("plain per submission (s)", lambda lab: f"{seconds(m.plain, lab):.2f}",
                     lambda: f"{seconds(m.plain):.2f}"))
    if m.plain and "ours1" in m.per:
        cols.append(("ours / plain", lambda lab: f"{seconds(m.per['ours1'], lab) / seconds(m.plain, lab):.2f}x",
                     lambda: f"{seconds(m.per['ours1']) / seconds(m.plain):.2f}x"))
    if m.grade:
        cols += [("one `grade` call (s)", lambda lab: f"{m.grade[lab][0]:.2f}", lambda: ""),
                 ("plain run of it (s)", lambda lab: f"{m.grade[lab][1]:.2f}", lambda: ""),
                 ("grade call / plain", lambda lab: f"{m.grade[lab][0] / m.grade[lab][1]:.2f}x",
                  lambda: f"{grade_ratio(m):.2f}x (worst)")]
        if all(len(g) > 2 for g in m.grade.values()):
            cols += [("the plain run's kernel shutdown (s)", lambda lab: f"{m.grade[lab][2]:.2f}", lambda: ""),
                     ("grade call / plain less its shutdown",
                      lambda lab: f"{m.grade[lab][0] / (m.grade[lab][1] - m.grade[lab][2]):.2f}x",
                      lambda: f"{grade_ratio(m, shutdown=False):.2f}x (worst)")]
    if len(m.ours()) > 1:
        cols.append((f"same scores, {'; '.join(OURS[p][2] for p in m.ours())}",
                     lambda lab: f"{_same_scores(m, lab, m.ours())} / {len(m.kinds[lab])}", lambda: ""))
    if "stock" in m.scores and m.ours():
        cols.append(("same scores as stock", lambda lab: f"{_same_scores(m, lab, ['stock', _graded(m)])} / "
                                                        f"{len(m.kinds[lab])}", lambda: ""))
    if m.lab_loads:
        cols.append(("other load (cores)", lambda lab: f"{m.lab_loads[lab]:.2f}",
                     lambda: f"{max(m.lab_loads.values()):.2f}"))
    return cols


def lab_table(m: Measured) -> list[str]:
    cols = _columns(m)
    lines = ["| lab | " + " | ".join(c[0] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [f"| {lab} | " + " | ".join(c[1](lab) for c in cols) + " |" for lab in m.labs]
    return lines + ["| **all** | " + " | ".join(c[2]() for c in cols) + " |"]


def grade_ratio(m: Measured, shutdown: bool = True) -> float:
    """The worst grade call against its plain run (`shutdown` False: the plain run less its kernel's shutdown)."""
    return max(g[0] / (g[1] - (0 if shutdown else g[2])) for g in m.grade.values())


def _graded(m: Measured) -> str:
    """Our run compared with stock: 2 workers with the preflight where measured."""
    return next(p for p in ("ours2", "no-preflight", "ours1") if p in m.scores)


def _differences(stock: dict[str, float], ours: dict[str, float]) -> list[str]:
    """'test: stock a, ours b' for every graded cell the two graders scored differently."""
    return [f"{g}: stock {stock.get(g, 0.0):g}, ours {ours.get(g, 0.0):g}" for g in sorted(set(stock) | set(ours))
            if abs(stock.get(g, 0.0) - ours.get(g, 0.0)) > SCORE_TOLERANCE]


def score_lines(m: Measured) -> list[str]:
    """The scores section: where stock nbgrader and ours disagree (empty when stock was not run)."""
    if "stock" not in m.scores or not m.ours():
        return []
    part = _graded(m)
    who = f"ours ({OURS[part][2]})"
    unlike = []  # (where ours and stock differ, whether ours is lower on some test)
    for lab in m.labs:
        for student, kind in sorted(m.kinds[lab].items()):
            stock_s, ours_s = m.scores["stock"][lab].get(student), m.scores[part][lab].get(student)
            if stock_s is None or ours_s is None:
                unlike.append((f"{lab} {student}: not in {'the stock' if stock_s is None else 'our'} gradebook", False))
            elif stock_s != ours_s:
                lower = any(ours_s.get(g, 0.0) < v - SCORE_TOLERANCE for g, v in stock_s.items())
                unlike.append((f"{lab} {student} ({kind}): " + "; ".join(_differences(stock_s, ours_s)), lower))
    if not unlike:
        return [f"Stock nbgrader and {who} gave every submission the same score on every test."]
    return [f"Tests that stock nbgrader and {who} scored differently:", "",
            *(f"- {text}{' **(ours lower)**' if lower else ''}" for text, lower in unlike), "",
            "Ours grades an exercise that calls another exercise's function with the reference version of "
            "that function (`use_reference` in its hidden test), so one broken function costs only its own "
            "test; stock nbgrader runs the student's broken function inside the other exercise's tests too, "
            "so there ours is higher by design. "
            + ("Ours is lower than stock on some test above: that is not by design; investigate."
               if any(lower for _, lower in unlike) else "Ours is lower than stock on no test.")]


def _throughput(m: Measured) -> list[str]:
    if not m.ours():
        return []
    rates = ", ".join(f"{rate(m.n, m.whole[p]):.1f} ({OURS[p][2]})" for p in m.ours())
    stock = m.whole.get("stock")
    if stock is None:
        return [f"Throughput, whole mixed batch: ours {rates} submissions per minute; stock was not measured in this "
                f"run and no committed stock time fits this batch ({m.stock_from}), so no ratio to it."]
    text = f"Throughput, whole mixed batch: stock {rate(m.n, stock):.1f}{_stock_cell(m)}, ours {rates} submissions " \
           "per minute"
    if "ours2" in m.whole:
        ratio = stock / m.whole["ours2"]
        text += f"; 2 workers = {ratio:.2f}x stock (target >= {TARGET_SPEEDUP}x: {verdict(ratio >= TARGET_SPEEDUP)})"
    return [text + "."]


def _preflight_finding(m: Measured) -> list[str]:
    if not {"ours2", "no-preflight"} <= m.whole.keys():
        return []
    with_, without = m.whole["ours2"], m.whole["no-preflight"]
    cost = with_ - without
    text = (f"The preflight, a fixed cost of each run: the 2-worker batch took {with_:.1f} s with it and {without:.1f} "
            f"s with `--no-preflight`, a difference of {cost:+.1f} s ({cost / len(m.labs):+.1f} s a lab"
            + ("; below zero, so other load or noise outweighed the preflight in this run" if cost < 0 else "") + ")")
    flights = m.preflight.get("ours2")
    if flights:
        text += f"; the reference solution{'s' if len(flights) > 1 else ''} of {len(flights)} lab" \
                f"{'s' if len(flights) > 1 else ''} took {sum(flights.values()):.1f} s on the workers in all"
    if "stock" in m.whole:
        text += f". Without it, 2 workers = {m.whole['stock'] / without:.2f}x stock"
    return [text + f". Per submission, on its worker: {seconds(m.per['ours2']):.2f} s with the preflight, "
            f"{seconds(m.per['no-preflight']):.2f} s "
            "without (without it, the first submission on each worker also pays for starting that worker's kernel "
            "template)."]


def findings(m: Measured, cores: int) -> list[str]:
    out = _throughput(m) + _preflight_finding(m)
    if m.plain and "ours1" in m.per:
        ratio = seconds(m.per["ours1"]) / seconds(m.plain)
        ours2 = f" ({seconds(m.per['ours2']):.2f} s with 2 workers sharing the cores)" if "ours2" in m.per else ""
        out.append(f"Per submission, ours takes {seconds(m.per['ours1']):.2f} s on its worker with 1 worker{ours2} "
                   f"against {seconds(m.plain):.2f} s to execute the same notebooks "
                   f"plainly ({ratio:.2f}x; target <= {TARGET_PER_SUBMISSION:g}x: "
                   f"{verdict(ratio <= TARGET_PER_SUBMISSION)}).")
    if m.grade:
        out.append(f"One `python -m autograder grade` call, start-up included, against plain execution of the same "
                   f"solution notebook: at worst {grade_ratio(m):.2f}x (target <= {TARGET_LATENCY}x: "
                   f"{verdict(grade_ratio(m) <= TARGET_LATENCY)})" +
                   (f"; {grade_ratio(m, shutdown=False):.2f}x against the plain run less its kernel's shutdown."
                    if all(len(g) > 2 for g in m.grade.values()) else "."))
    busiest = max([*m.loads.values(), *m.lab_loads.values()], default=0.0)
    if busiest > BUSY_CORES:
        out.append(f"Other processes kept up to {busiest:.2f} of the {cores} cores busy during some phases (last "
                   "column), so those timings are slower than on an idle machine, and parallel runs are hit "
                   "hardest; rerun on an idle machine for clean numbers.")
    return out


def render(m: Measured, *, command: str, today: str, parts: list[str], every_part: bool, machine: list[str],
           cores: int) -> str:
    """The whole report, as markdown."""
    kinds = ", ".join(f"{sum(KINDS[i % len(KINDS)] == k for i in range(m.per_lab))} {k}" for k in KINDS)
    partial = [] if every_part else [
        f"**Partial run**: only {', '.join(parts)} measured (of stock, ours1, ours2, no-preflight, plain, "
        "grade); not a full benchmark." + (f" The stock time is not measured here: it comes from {m.stock_from}."
                                          if m.stock_from and "stock" in m.whole else ""), ""]
    report = [
        "# Grading benchmark", "",
        f"Produced by {command} on {today}. Batch: {m.per_lab} submissions of each of {', '.join(m.labs)} "
        f"({kinds} per lab), {m.n} in all; each grader on a fresh copy of the same course. Stock nbgrader grades "
        "one assignment per call, so it runs once per lab; ours grades every lab in one call "
        "(`python -m autograder autograde LAB [LAB ...]`), with the preflight (each lab's reference solution "
        "graded on the workers first) unless `--no-preflight` says otherwise. Wall times are those of the whole "
        "commands, start-up included.", "", *partial]
    if m.whole:
        report += ["## The mixed batch", "", *batch_table(m), ""]
    report += ["## Per lab", "",
               "\"ours per submission\" is grade_notebook's time on its worker; \"plain\" is nbclient running the "
               "same notebooks with no grading; one `grade` call is `python -m autograder grade LAB <solution> "
               "--json`, start-up included, against a plain run of that notebook (nbclient's `execute`: the kernel's "
               "start, every cell and the kernel's shutdown, which the last columns take out)" +
               (f" (medians of {m.grade_runs} rounds of one call and one plain run)." if m.grade_runs > 1 else "."),
               "", *lab_table(m), ""]
    scores = score_lines(m)
    if scores:
        report += ["## Scores", "", *scores, ""]
    report += ["## Targets", "", *(f"- {f}" for f in findings(m, cores)), "", "## Machine", "", *machine, ""]
    return "\n".join(report)
