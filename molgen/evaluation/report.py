"""The one evaluation report: build, write (JSON, Markdown, CSV), load (old shapes too), flatten.

See :mod:`molgen.evaluation` for the schema. :func:`load_report` also reads the three shapes
written before it, so old run folders still show:

- ``molgen evaluate -o x.json``: ``{"results": {label: {metric: value}}, "meta": {...}}``
  (a VAE's reconstruction/prior measures mixed into its metrics);
- ``python -m molgen.vae.evaluate``: ``{"model", "kind", "test", "seed", "vae": {...}, "distribution": {...}}``;
- ``python -m molgen.organ.report``: ``{"model", "n_samples", "seed", "train_qed_mean", "metrics": {...},
  "compared": {...}, "goals": {...}}`` (``compared`` repeats other models' figures and is dropped).

Any other JSON object becomes one model, ``report``, whose metrics are its numbers (nested keys
dotted), so a hand-written report still shows.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from molgen.errors import InputError, UsageError

SCHEMA = "molgen-report"
VERSION = 1
#: What :func:`write_report` writes for a path with one of these suffixes; any other path is a folder.
FORMATS = (".json", ".md", ".csv")
#: Names :func:`molgen.evaluation.vae.vae_measures` returns (split out of old ``molgen evaluate`` results).
VAE_KEYS = ("n_recon", "recon_unencodable", "reconstruction", "recon_out_of_length", "reconstruction_stochastic",
            "n_stochastic", "n_prior", "prior_validity", "prior_uniqueness", "prior_out_of_length", "prior_overflow")


def new_report(models: dict[str, dict[str, Any]], settings: dict[str, Any], command: str | None = None) -> dict[str, Any]:
    """A report in the current schema around ``models`` (label -> entry) and the run's ``settings``."""
    import molgen
    from molgen.runtime import command_line, versions

    return {
        "schema": SCHEMA, "version": VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "molgen_version": molgen.__version__, "versions": versions(),
        "command": command if command is not None else command_line(),
        "settings": settings, "models": models,
    }


# --- flat view --------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A metric value as a float (booleans 0/1, null as NaN); ``None`` for non-numbers."""
    if value is None:
        return math.nan
    if isinstance(value, (bool, int, float)):
        return float(value)
    return None


def _goal_figures(goals: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in goals.items():
        if key == "checks" and isinstance(value, Mapping):
            # a check is {"target", "value", "met"}; a bare true/false (hand-written reports) is its "met"
            out.update({f"goal/{name}": float(bool(check.get("met") if isinstance(check, Mapping) else check))
                        for name, check in value.items() if isinstance(check, (Mapping, bool))})
        elif isinstance(value, (bool, int, float)):
            out[f"goal/{key}"] = float(value)
    return out


def flat_metrics(report: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``{model label: {metric: value}}``: distribution metrics, then the VAE measures, then
    ``goal/<name>`` (1.0 met, 0.0 not) and the goal set's own figures; null values are NaN.

    Accepts the current schema or any shape :func:`normalize_report` reads (what the
    dashboard's training-runs table shows)."""
    report = normalize_report(report)
    out: dict[str, dict[str, float]] = {}
    for label, entry in report["models"].items():
        flat: dict[str, float] = {}
        for section in ("metrics", "vae"):
            for key, value in (entry.get(section) or {}).items():
                number = _number(value)
                if number is not None:
                    flat[key] = number
        flat.update(_goal_figures(entry.get("goals") or {}))
        out[label] = flat
    return out


# --- old shapes -------------------------------------------------------------------------------


def model_label(source: str) -> str:
    """A model's column label: a shipped name as is; a path by its run folder's name
    (``data/models/gvae`` and ``data/models/gvae/model.pt`` -> ``gvae``; ``runs/x/checkpoints/best.pt`` -> ``x``; ``x/step-100.pt`` -> ``step-100``)."""
    p = Path(source)
    if p.suffix == ".pt":
        if p.stem not in ("model", "best", "last"):
            return p.stem
        p = p.parent.parent if p.parent.name == "checkpoints" else p.parent
    return p.resolve().name if p.name in ("", ".", "..") else p.name


def _numbers(data: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Every number of a nested mapping, keys dotted."""
    out: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(_numbers(value, f"{prefix}{key}."))
        elif isinstance(value, (bool, int, float)):
            out[f"{prefix}{key}"] = float(value)
    return out


def _from_cli(data: Mapping[str, Any]) -> dict[str, Any]:
    meta = data.get("meta") or {}
    models = {}
    for label, results in data["results"].items():
        metrics = {k: v for k, v in results.items() if k not in VAE_KEYS}
        vae = {k: v for k, v in results.items() if k in VAE_KEYS}
        models[label] = {"source": label, "kind": None, "metrics": metrics, **({"vae": vae} if vae else {})}
    refs = meta.get("references") or {}
    settings = {"n_samples": meta.get("n_samples"), "seed": meta.get("seed"), **refs, "fcd": meta.get("fcd")}
    return {"command": meta.get("command"), "versions": meta.get("versions"), "settings": settings,
            "models": models, "converted_from": "molgen evaluate -o (results/meta)"}


def _from_vae(data: Mapping[str, Any]) -> dict[str, Any]:
    entry = {"source": data["model"], "kind": data.get("kind"), "metrics": dict(data.get("distribution") or {}),
             "vae": dict(data["vae"])}
    settings = {"n_samples": (data["vae"] or {}).get("n_prior"), "seed": data.get("seed"), "test": data.get("test")}
    return {"settings": settings, "models": {model_label(str(data["model"])): entry},
            "converted_from": "python -m molgen.vae.evaluate"}


def _from_organ(data: Mapping[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"source": data["model"], "kind": "organ", "metrics": dict(data["metrics"])}
    if isinstance(data.get("goals"), Mapping):
        entry["goals"] = {"set": "organ-qed", "train_qed_mean": data.get("train_qed_mean"), "checks": dict(data["goals"])}
    settings = {"n_samples": data.get("n_samples"), "seed": data.get("seed")}
    return {"settings": settings, "models": {str(data["model"]): entry}, "converted_from": "python -m molgen.organ.report"}


def normalize_report(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` in the current schema: returned as is when it already is, else converted from
    an old shape (see the module docstring; the result names it in ``converted_from``)."""
    if not isinstance(data, Mapping):
        raise InputError(f"a report is a JSON object, not {type(data).__name__}")
    if data.get("schema") == SCHEMA:
        if not isinstance(data.get("version"), int) or data["version"] > VERSION:
            raise InputError(f"report schema version {data.get('version')!r}: this molgen reads up to {VERSION}; upgrade molgen")
        return dict(data)
    if isinstance(data.get("results"), Mapping):
        body = _from_cli(data)
    elif isinstance(data.get("vae"), Mapping) and "model" in data:
        body = _from_vae(data)
    elif isinstance(data.get("metrics"), Mapping) and "model" in data:
        body = _from_organ(data)
    else:
        body = {"models": {"report": {"source": None, "kind": None, "metrics": _numbers(data)}},
                "converted_from": "unknown shape (its numbers)"}
    return {"schema": SCHEMA, "version": VERSION, "created": None, "molgen_version": None, "command": None,
            "settings": {}, **body}


def load_report(path: str | Path) -> dict[str, Any]:
    """Read ``report.json`` (or a folder holding one) in the current schema or an old shape."""
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{p}: no such report") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{p}: not a readable JSON report ({exc})") from exc
    return normalize_report(data)


# --- writing ----------------------------------------------------------------------------------


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.1f}"
    return str(value)


def _rows(results: Mapping[str, Mapping[str, float]]) -> list[str]:
    from molgen.metrics import METRICS

    present = {k for r in results.values() for k in r}
    rows = [k for k in METRICS if k in present]
    for r in results.values():
        rows.extend(k for k in r if k not in rows)
    return rows


def format_markdown(results: Mapping[str, Mapping[str, float]]) -> str:
    """Metrics × models as a Markdown table (``n/a`` where undefined or not computed)."""
    cols = list(results)
    lines = ["| metric | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for row in _rows(results):
        lines.append(f"| {row} | " + " | ".join(_fmt(results[c].get(row)) for c in cols) + " |")
    return "\n".join(lines)


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown: the metrics table (models side by side), each model's goal
    table, then the settings and the command."""
    report = normalize_report(report)
    table = {label: {k: v for k, v in flat.items() if not k.startswith("goal/")}
             for label, flat in flat_metrics(report).items()}
    parts = [format_markdown(table)]
    for label, entry in report["models"].items():
        goals = entry.get("goals")
        if not goals:
            continue
        head = f"## Goals ({goals.get('set', '')}) of {label}"
        if goals.get("train_qed_mean") is not None:
            head += f"\n\nTraining-set mean QED (20,000-molecule seeded sample): {goals['train_qed_mean']:.4f}"
        rows = [f"| {k} | {g['target']} | {_fmt(g['value'])} | {'yes' if g['met'] else 'NO'} |"
                for k, g in goals["checks"].items()]
        parts.append("\n".join([head, "", "| goal | target | value | met |", "|---|---|---:|---|", *rows]))
    settings = ", ".join(f"{k} {v}" for k, v in (report.get("settings") or {}).items() if v is not None)
    foot = [f"Settings: {settings}." if settings else ""]
    if report.get("command"):
        foot.append(f"Command: `{report['command']}`")
    if report.get("created"):
        foot.append(f"Written {report['created']} by molgen {report.get('molgen_version')}.")
    parts.append("\n\n".join(f for f in foot if f))
    return "\n\n".join(p for p in parts if p) + "\n"


def _jsonable(value):
    """NaN/inf as null, recursively (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _csv(report: Mapping[str, Any]) -> str:
    import pandas as pd

    flat = flat_metrics(report)
    rows = _rows(flat)
    frame = pd.DataFrame({c: [flat[c].get(k, math.nan) for k in rows] for c in flat},
                         index=pd.Index(rows, name="metric"))
    return frame.to_csv()


def write_report(path: str | Path, report: Mapping[str, Any]) -> list[Path]:
    """Write ``report`` atomically; returns the files written.

    ``path`` ending in ``.json``, ``.md`` or ``.csv`` is that one file (JSON: the schema, NaN
    as null; Markdown: :func:`render_markdown`; CSV: metric rows × model columns of
    :func:`flat_metrics`). Any other path is a run folder: ``report.json`` and ``report.md`` in it.
    """
    from molgen.atomic import atomic_open

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in FORMATS and p.exists() and not p.is_dir():
        raise UsageError(f"{p}: not a folder, and not a .json, .md or .csv report file")
    targets = [p] if suffix in FORMATS else [p / "report.json", p / "report.md"]
    for target in targets:
        kind = target.suffix.lower()
        if kind == ".json":
            text = json.dumps(_jsonable(report), indent=2) + "\n"
        elif kind == ".md":
            text = render_markdown(report)
        else:
            text = _csv(report)
        with atomic_open(target, "w", encoding="utf-8") as fh:
            fh.write(text)
    return targets
