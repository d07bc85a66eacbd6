"""What every plot shares: its axes and its rows of results."""

import numpy as np


def new_axes(ax, figsize):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def as_rows(results):
    """Rows of dicts from a list of dicts, a dict of columns or a DataFrame."""
    if hasattr(results, "to_dict") and hasattr(results, "columns"):
        return results.to_dict("records")
    if isinstance(results, dict):
        columns = {k: list(v) for k, v in results.items() if np.ndim(v) == 1}
        n = len(next(iter(columns.values()), []))
        return [{k: v[i] for k, v in columns.items()} for i in range(n)]
    return [dict(row) for row in results]


def column(rows, name):
    missing = [i for i, row in enumerate(rows) if name not in row]
    if missing:
        raise ValueError(f"results lack the column {name!r} (row {missing[0]}).")
    return [row[name] for row in rows]
