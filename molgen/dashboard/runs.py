"""Read training run directories for display: logged curves, config, evaluation report.

A run directory (see :mod:`molgen.training.rundir`) holds ``config.toml``, ``log.csv``,
``checkpoints/`` and optionally ``report.json`` / ``report.md``. Shipped models live in
``data/models/<name>/`` with the same files next to ``model.pt``.

Only those named files are ever opened, each with a size cap, so pointing the dashboard at
an arbitrary folder cannot make it read anything else. Checkpoints are not read here.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from molgen import api
from molgen.errors import InputError

#: The only files read from a run directory, with their size caps in bytes.
RUN_FILES: dict[str, int] = {
    "config.toml": 1_000_000,
    "log.csv": 200_000_000,
    "report.json": 20_000_000,
    "report.md": 5_000_000,
}

#: Curve groups, in display order (``Other`` collects the rest).
CURVE_GROUPS = ("Losses", "Reward and objectives", "Validity, uniqueness, diversity", "Learning rate", "Schedule",
                "Timing")

#: (group, regular expression over the lower-cased log column name), tried in order; first match wins.
#: Order matters: ``obj_validity`` is an ORGAN objective, ``val_recon_acc`` a quality measure not a
#: loss, ``d_loss`` a loss although ``d_*`` columns are otherwise the discriminator's.
CURVE_RULES: tuple[tuple[str, str], ...] = (
    ("Timing", r"^t_|seconds|(^|_)time($|_)"),
    ("Reward and objectives", r"^obj_"),
    ("Validity, uniqueness, diversity", r"valid|unique|divers|novel|int_?div|fcd|snn|scaffold|frag|recon_acc|accuracy"),
    ("Losses", r"loss|nll|(^|_)kl($|_)|recon|elbo|perplexity"),
    ("Reward and objectives",
     r"reward|objective|baseline|advantage|disc|^d_|^g_|(^|_)(qed|sa|logp|plogp|penalized_logp|tpsa|mw)($|_)"),
    # The learning rate (1e-3) gets its own chart: on β's axis (0…1) it is a flat line at zero.
    ("Learning rate", r"(^|_)lr($|_)|learning_rate"),
    ("Schedule", r"beta|tau|temperature|lambda|kl_weight"),
)

#: Columns that are the x axis or bookkeeping, not curves.
STEP_COLUMNS = ("step", "epoch", "iteration", "batch", "time", "elapsed", "wall_time", "seconds", "phase", "stage",
                "stage_step")


@dataclass
class RunInfo:
    """What a run directory says about a training run (fields are ``None`` when the file is absent)."""

    path: Path
    name: str
    config_text: str | None = None
    config: dict[str, Any] | None = None
    log: pd.DataFrame | None = None
    report: dict[str, Any] | None = None
    report_md: str | None = None
    checkpoints: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def validate_run_dir(path: str | os.PathLike) -> Path:
    """Resolve a user-given run directory; :class:`InputError` unless it is a folder holding run files."""
    text = str(path).strip()
    if not text:
        raise InputError("no run directory given")
    if "\x00" in text:
        raise InputError("run directory path contains a NUL byte")
    p = Path(text).expanduser()
    try:
        p = p.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InputError(f"{text}: no such directory") from None
    if not p.is_dir():
        raise InputError(f"{text}: not a directory (give the run directory, not a file in it)")
    if not any((p / name).is_file() for name in (*RUN_FILES, "model.pt")) and not (p / "checkpoints").is_dir():
        raise InputError(f"{text}: not a molgen run directory (no {', '.join(RUN_FILES)}, model.pt or checkpoints/)")
    return p


def _read_text(p: Path, name: str) -> str | None:
    f = p / name
    if not f.is_file():
        return None
    if f.is_symlink() and p.resolve() not in f.resolve().parents:
        raise InputError(f"{f}: a link to a file outside the run directory; not read")
    size = f.stat().st_size
    if size > RUN_FILES[name]:
        raise InputError(f"{f}: {size:,} bytes is larger than the {RUN_FILES[name]:,} bytes read for {name}")
    try:
        return f.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{f}: unreadable ({exc})") from exc


def read_log(path: str | os.PathLike) -> pd.DataFrame | None:
    """The run's ``log.csv`` as a DataFrame (numeric columns converted), or ``None`` if absent."""
    p = Path(path)
    text = _read_text(p, "log.csv")
    if text is None or not text.strip():
        return None
    import io

    try:
        df = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"{p / 'log.csv'}: not a readable CSV log ({exc})") from exc
    for c in df.columns:
        if df[c].dtype == object:
            converted = pd.to_numeric(df[c], errors="coerce")
            if converted.notna().sum() >= max(1, df[c].notna().sum() // 2):
                df[c] = converted
    return df


def read_run(path: str | os.PathLike, name: str | None = None) -> RunInfo:
    """Read config, log, report and checkpoint names of a run directory (validated first).

    A file that is present but broken is recorded in ``problems`` instead of failing the
    whole read, so a half-written run still shows what it can.
    """
    from molgen.config import tomllib

    p = validate_run_dir(path)
    info = RunInfo(path=p, name=name or p.name)
    try:
        info.config_text = _read_text(p, "config.toml")
        if info.config_text is not None:
            info.config = tomllib.loads(info.config_text)
    except (InputError, tomllib.TOMLDecodeError) as exc:
        info.problems.append(f"config.toml: {exc}")
    try:
        info.log = read_log(p)
    except InputError as exc:
        info.problems.append(str(exc))
    try:
        text = _read_text(p, "report.json")
        if text is not None:
            data = json.loads(text)
            info.report = data if isinstance(data, dict) else {"report": data}
    except (InputError, json.JSONDecodeError) as exc:
        info.problems.append(f"report.json: {exc}")
    try:
        info.report_md = _read_text(p, "report.md")
    except InputError as exc:
        info.problems.append(str(exc))
    names = [f.name for f in (p / "checkpoints").glob("*.pt")] if (p / "checkpoints").is_dir() else []
    if (p / "model.pt").is_file():
        names.insert(0, "model.pt")
    info.checkpoints = sorted(set(names), key=names.index)
    return info


def step_column(log: pd.DataFrame) -> str | None:
    """The x-axis column of a log: ``step`` if present, else the first of :data:`STEP_COLUMNS`."""
    for c in STEP_COLUMNS:
        if c in log.columns and pd.api.types.is_numeric_dtype(log[c]):
            return c
    return None


def curve_groups(log: pd.DataFrame) -> dict[str, list[str]]:
    """Numeric log columns grouped for plotting (:data:`CURVE_GROUPS` order, then ``Other``); empty groups dropped."""
    groups: dict[str, list[str]] = {title: [] for title in (*CURVE_GROUPS, "Other")}
    for col in log.columns:
        if col.lower() in STEP_COLUMNS or not pd.api.types.is_numeric_dtype(log[col]):
            continue
        if log[col].notna().sum() == 0:
            continue
        title = next((t for t, pattern in CURVE_RULES if re.search(pattern, col.lower())), "Other")
        groups[title].append(col)
    return {k: v for k, v in groups.items() if v}


def curve_frame(log: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Long-format ``(x, metric, value)`` rows of ``columns`` for a line chart, NaNs dropped.

    Rows logged at different intervals (e.g. evaluation every N steps) keep their own x.
    """
    x = step_column(log)
    xs = log[x] if x else pd.Series(range(len(log)), index=log.index)
    parts = []
    for c in columns:
        s = pd.DataFrame({"x": xs, "metric": c, "value": log[c]}).dropna(subset=["value"])
        parts.append(s)
    if not parts:
        return pd.DataFrame(columns=["x", "metric", "value"])
    return pd.concat(parts, ignore_index=True)


def y_domain(frame: pd.DataFrame, quantile: float = 0.95, margin: float = 0.1) -> tuple[float, float] | None:
    """A y range that leaves out early spikes: from the minimum to the ``quantile`` of the values plus
    ``margin`` of the span; ``None`` when nothing would be cut (the chart then fits all values)."""
    values = pd.to_numeric(frame["value"], errors="coerce").dropna()
    if len(values) < 10:
        return None
    lo, top, hi = float(values.min()), float(values.quantile(quantile)), float(values.max())
    upper = top + margin * (top - lo)
    return (lo, upper) if upper < hi else None


def overlay_frame(infos: Mapping[str, RunInfo], column: str) -> pd.DataFrame:
    """One logged ``column`` of several runs in long format ``(x, metric, value)`` with the run's
    name as ``metric``: two runs' curves on one chart."""
    parts = []
    for name, info in infos.items():
        if info.log is not None and column in info.log.columns:
            part = curve_frame(info.log, [column])
            parts.append(part.assign(metric=name))
    if not parts:
        return pd.DataFrame(columns=["x", "metric", "value"])
    return pd.concat(parts, ignore_index=True)


def common_log_columns(infos: Mapping[str, RunInfo]) -> list[str]:
    """Numeric log columns present in at least two of the runs (what an overlay can compare)."""
    counts: dict[str, int] = {}
    for info in infos.values():
        if info.log is None:
            continue
        for col in (c for cols in curve_groups(info.log).values() for c in cols):
            counts[col] = counts.get(col, 0) + 1
    return [c for c, n in counts.items() if n >= 2]


@dataclass(frozen=True)
class Metric:
    """A headline metric: its readable name, whether higher is better, and its decimals."""

    label: str
    higher_is_better: bool
    decimals: int = 3


#: The curated metrics table: group -> report key -> :class:`Metric` (every key is in the full table).
CURATED_METRICS: dict[str, dict[str, Metric]] = {
    "Validity and novelty": {
        "valid": Metric("valid", True), "unique@10k": Metric("unique @10k", True),
        "novelty": Metric("novel", True), "reconstruction": Metric("reconstruction (VAE)", True),
    },
    "Diversity": {"intdiv1": Metric("internal diversity 1", True), "intdiv2": Metric("internal diversity 2", True)},
    "Likeness to the test set": {
        "fcd/test": Metric("FCD", False, 2), "snn/test": Metric("nearest-neighbour similarity", True),
        "frag/test": Metric("fragment similarity", True), "scaf/test": Metric("scaffold similarity", True),
        "kl_score": Metric("KL score (GuacaMol)", True),
    },
    "Drug-likeness": {
        "qed": Metric("mean QED", True), "sa": Metric("mean SA", False, 2),
        "filters": Metric("passes MOSES filters", True),
    },
}


def curated_metrics(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The headline rows of :func:`compare_reports`, grouped, with an arrow for the better direction
    and values as text with consistent decimals; and a same-shape mask of the best value per row
    (only where at least two runs have the metric)."""
    rows, best, index = [], [], []
    for group, metrics in CURATED_METRICS.items():
        for key, metric in metrics.items():
            if key not in table.index:
                continue
            values = pd.to_numeric(table.loc[key], errors="coerce")
            if values.isna().all():
                continue
            index.append((group, f"{metric.label} {'↑' if metric.higher_is_better else '↓'}"))
            rows.append([("–" if pd.isna(v) else f"{v:.{metric.decimals}f}") for v in values])
            target = values.max() if metric.higher_is_better else values.min()
            best.append(list((values == target) & (values.notna().sum() >= 2)))
    names = pd.MultiIndex.from_tuples(index, names=["group", "metric"]) if index else None
    return (pd.DataFrame(rows, index=names, columns=table.columns),
            pd.DataFrame(best, index=names, columns=table.columns, dtype=bool))


def compare_reports(runs: Mapping[str, RunInfo | Mapping[str, Any]]) -> pd.DataFrame:
    """Metric table: one row per metric, one column per run (``run/model`` when a report holds
    several models); missing metrics empty.

    Every report is read through :func:`molgen.evaluation.flat_metrics` (the one report schema,
    old shapes converted), so models of both families line up: distribution metrics, then the
    VAE measures, then the goal rows (``goal/<name>``: 1 met, 0 not). A report that cannot be
    read is left out (:func:`read_run` lists the problem).
    """
    from molgen.evaluation import flat_metrics

    flats: dict[str, dict[str, float]] = {}
    for name, run in runs.items():
        report = run.report if isinstance(run, RunInfo) else run
        if not report:
            continue
        try:
            per_model = flat_metrics(report)
        except InputError:
            continue
        for label, metrics in per_model.items():
            flats[name if len(per_model) == 1 else f"{name}/{label}"] = metrics
    order: list[str] = []
    for metrics in flats.values():
        order.extend(k for k in metrics if k not in order)
    order = [k for k in order if not k.startswith("goal/")] + [k for k in order if k.startswith("goal/")]
    table = pd.DataFrame({name: [flat.get(k) for k in order] for name, flat in flats.items()}, index=order, dtype=float)
    table.index.name = "metric"
    return table


def run_stamp(path: str | os.PathLike) -> tuple[tuple[str, float, int], ...]:
    """Modification time and size of each run file present: a cache key that changes when the run moves on."""
    p = Path(path)
    out = []
    for name in RUN_FILES:
        f = p / name
        if f.is_file():
            st = f.stat()
            out.append((name, st.st_mtime, st.st_size))
    return tuple(out)


def list_run_dirs(root: str | os.PathLike) -> dict[str, Path]:
    """Sub-folders of ``root`` that look like run directories (shipped models or ``runs/``), by name."""
    r = Path(root)
    if not r.is_dir():
        return {}
    out = {}
    for p in sorted(r.iterdir()):
        if p.is_dir() and (any((p / n).is_file() for n in RUN_FILES) or (p / "model.pt").is_file()):
            out[p.name] = p
    return out


def shipped_run_dirs() -> dict[str, Path]:
    """Shipped model directories (``data/models/<name>/``, with their config, log and report) by name."""
    return list_run_dirs(api.MODELS_DIR)
