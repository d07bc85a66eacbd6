"""Result rows on disk (JSON and CSV, rewritten atomically) and as a table."""

import csv
import json
import math
from pathlib import Path

import numpy as np

from sksparse.utils._files import atomic_write

__all__ = ["ResultsWriter", "format_table"]


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class ResultsWriter:
    """Write result rows to ``<out>/<name>.json`` and ``.csv`` as they arrive.

    Both files are rewritten after every row, atomically, through a
    temporary file from :func:`tempfile.mkstemp` in ``out`` (so a link
    planted at a guessable temporary name is never followed): an
    interrupted experiment leaves complete, readable files holding every
    finished row.

    Parameters
    ----------
    out : str or path-like
        Folder to write into; created if missing.
    name : str
        File name without extension.
    meta : dict, default=None
        Written beside the rows in the JSON file (``{"meta": ..., "rows":
        [...]}``): the settings of the experiment.

    Attributes
    ----------
    rows : list of dict
        The rows added so far.
    json_path, csv_path : pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> from sksparse.experiments import ResultsWriter
    >>> with tempfile.TemporaryDirectory() as out:
    ...     writer = ResultsWriter(out, "runs", meta={"seed": 0})
    ...     writer.add({"method": "dense", "accuracy": 0.97})
    ...     print(writer.csv_path.read_text().strip())
    method,accuracy
    dense,0.97
    """

    def __init__(self, out, name, meta=None):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.json_path = self.out / f"{name}.json"
        self.csv_path = self.out / f"{name}.csv"
        self.meta = meta or {}
        self.rows = []

    def add(self, row):
        """Append ``row`` and rewrite both files."""
        self.rows.append(dict(row))
        self.flush()

    def flush(self):
        """Write every row so far."""
        payload = {"meta": _jsonable(self.meta), "rows": _jsonable(self.rows)}
        with atomic_write(self.json_path) as f:
            f.write(json.dumps(payload, indent=2) + "\n")
        columns = []
        for row in self.rows:
            columns += [k for k in row if k not in columns]
        with atomic_write(self.csv_path, newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: _csv_value(v) for k, v in row.items()})


def _csv_value(value):
    value = _jsonable(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else value


def format_table(rows, columns=None, *, floatfmt=".3f"):
    """Rows of dicts as a plain-text table, for a terminal.

    Parameters
    ----------
    rows : list of dict
    columns : list of str, default=None
        Columns to show, in order; None shows every key of the first row.
    floatfmt : str, default=".3f"

    Returns
    -------
    str

    Examples
    --------
    >>> from sksparse.experiments import format_table
    >>> print(format_table([{"method": "dense", "accuracy": 0.97512}]))
    method  accuracy
    ------  --------
    dense      0.975
    """
    if not rows:
        return "(no results)"
    columns = list(columns or rows[0])

    def cell(value):
        if isinstance(value, (float, np.floating)):
            return "nan" if not math.isfinite(value) else format(value, floatfmt)
        return "" if value is None else str(value)

    body = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(columns)]
    numeric = [
        all(
            isinstance(row.get(c), (int, float, np.number))
            and not isinstance(row.get(c), bool)
            for row in rows
            if row.get(c) is not None
        )
        for c in columns
    ]

    def line(cells):
        return "  ".join(
            s.rjust(w) if num else s.ljust(w)
            for s, w, num in zip(cells, widths, numeric)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(columns), rule, *(line(r) for r in body)])
