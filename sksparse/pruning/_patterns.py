"""Structured masks: N of every M consecutive inputs, or whole blocks.

Pure functions on 2-D weight views ``(out, in)`` (a convolution's weight is
read as ``(out, in * kh * kw)``), like :mod:`sksparse.pruning._functional`:

* ``"N:M"`` keeps, in every row, the ``N`` largest-magnitude weights of each
  group of ``M`` consecutive inputs (torch.ao's semi-structured layout is
  ``"2:4"``); the sparsity is ``1 - N/M`` by construction. A row whose length
  is not a multiple of ``M`` ends with a shorter group, which keeps
  ``min(N, its length)``.
* ``(r, c)`` blocks are ranked by the L2 norm of their live weights and the
  weakest go whole, until the target count of weights is pruned; edge blocks
  are smaller.

Pruned weights (keep 0) stay pruned and count towards the target, as in
every pruner.
"""

import math
import numbers
import re

import torch

__all__ = ["block_masks", "check_pattern", "nm_mask"]

_NM = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def check_pattern(pattern):
    """``None``, ``("nm", n, m)`` or ``("block", r, c)`` from ``pattern``.

    Examples
    --------
    >>> check_pattern("2:4"), check_pattern((4, 1))
    (('nm', 2, 4), ('block', 4, 1))
    """
    if pattern is None:
        return None
    if isinstance(pattern, str):
        match = _NM.match(pattern)
        if match:
            n, m = int(match.group(1)), int(match.group(2))
            if 1 <= n < m:
                return ("nm", n, m)
        raise ValueError(
            f"pattern {pattern!r} is not N:M with 1 <= N < M (such as '2:4': 2 "
            "of every 4 consecutive input weights kept)."
        )
    if (
        isinstance(pattern, (tuple, list))
        and len(pattern) == 2
        and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
            for v in pattern
        )
        and tuple(pattern) != (1, 1)
    ):
        return ("block", int(pattern[0]), int(pattern[1]))
    raise ValueError(
        "pattern must be None, 'N:M' (such as '2:4') or a block shape (rows, "
        f"columns) of positive ints other than (1, 1), got {pattern!r}."
    )


def _as_2d(tensor):
    return tensor.reshape(tensor.shape[0], -1) if tensor.ndim != 2 else tensor


def nm_mask(weight, keep, n, m):
    """Keep-mask of ``weight`` with at most ``n`` of every ``m`` inputs kept.

    Parameters
    ----------
    weight : torch.Tensor
        Any shape with outputs first; read as ``(out, -1)``.
    keep : torch.Tensor of bool
        Current keep-mask (pruned weights are never kept).
    n, m : int

    Returns
    -------
    torch.Tensor of bool, of ``weight``'s shape

    Examples
    --------
    >>> w = torch.tensor([[0.1, -3.0, 2.0, 0.5, 9.0, 0.0]])
    >>> nm_mask(w, w != 0, 2, 4).int().tolist()
    [[0, 1, 1, 0, 1, 0]]
    """
    w = _as_2d(weight.detach()).abs().to(torch.float64)
    k = _as_2d(keep).bool()
    rows, cols = w.shape
    groups = math.ceil(cols / m)
    pad = groups * m - cols
    score = torch.where(k, w, torch.full_like(w, -math.inf))
    score = torch.nn.functional.pad(score, (0, pad), value=-math.inf)
    score = score.reshape(rows, groups, m)
    top = torch.topk(score, min(n, m), dim=2).indices
    mask = torch.zeros_like(score, dtype=torch.bool).scatter_(2, top, True)
    mask = mask.reshape(rows, groups * m)[:, :cols] & k
    return mask.reshape(weight.shape)


def _block_view(x, r, c):
    """``x`` (2-D) padded with zeros to whole blocks, as ``(R, C, r, c)``."""
    rows, cols = x.shape
    n_r, n_c = math.ceil(rows / r), math.ceil(cols / c)
    x = torch.nn.functional.pad(x, (0, n_c * c - cols, 0, n_r * r - rows))
    return x.reshape(n_r, r, n_c, c).permute(0, 2, 1, 3)


def _expand(block_mask, shape, r, c):
    rows, cols = shape
    full = block_mask.repeat_interleave(r, 0).repeat_interleave(c, 1)
    return full[:rows, :cols]


def block_masks(weights, keeps, amount_counts, r, c, *, scope="class-blinded"):
    """Keep-masks pruning whole ``(r, c)`` blocks, weakest L2 norm first.

    Parameters
    ----------
    weights : list of torch.Tensor
        One per layer, outputs first.
    keeps : list of torch.Tensor of bool
        Their current keep-masks.
    amount_counts : int or list of int
        Weights pruned in all (``"class-blinded"``, blocks of every layer
        ranked together) or per layer (``"class-uniform"``), counting those
        pruned already.
    r, c : int
        Block shape.
    scope : {"class-blinded", "class-uniform"}

    Returns
    -------
    list of torch.Tensor of bool
        One keep-mask per layer, of its weight's shape.
    """
    norms, lives, shapes = [], [], []
    for weight, keep in zip(weights, keeps):
        w2, k2 = _as_2d(weight.detach()).to(torch.float64), _as_2d(keep).bool()
        live = _block_view(k2.to(torch.float64), r, c).sum(dim=(2, 3))
        norm = _block_view((w2 * k2).pow(2), r, c).sum(dim=(2, 3)).sqrt()
        norms.append(norm)
        lives.append(live)
        shapes.append(w2.shape)

    def choose(norm_list, live_list, count, already):
        """Block keep-masks pruning the weakest live blocks, ``count`` in all."""
        flat_norm = torch.cat([n.reshape(-1) for n in norm_list])
        flat_live = torch.cat([v.reshape(-1) for v in live_list])
        needed = count - already
        keep = torch.ones_like(flat_live, dtype=torch.bool)
        if needed > 0:
            alive = flat_live > 0
            score = torch.where(alive, flat_norm, torch.full_like(flat_norm, math.inf))
            order = torch.argsort(score, stable=True)
            order = order[alive[order]]
            total = torch.cumsum(flat_live[order], 0)
            # The prefix whose pruned count lands nearest the target.
            k = int(torch.searchsorted(total, torch.tensor(float(needed))))
            if k < len(total) and k > 0:
                below, above = float(total[k - 1]), float(total[k])
                k = k + 1 if above - needed < needed - below else k
            elif k < len(total):
                k = 1 if float(total[0]) - needed < needed else 0
            keep[order[:k]] = False
        out, start = [], 0
        for n in norm_list:
            out.append(keep[start : start + n.numel()].reshape(n.shape))
            start += n.numel()
        return out

    already = [int((~_as_2d(k).bool()).sum()) for k in keeps]
    if scope == "class-blinded":
        chosen = choose(norms, lives, int(amount_counts), sum(already))
    else:
        chosen = [
            choose([n], [v], int(count), a)[0]
            for n, v, count, a in zip(norms, lives, amount_counts, already)
        ]
    masks = []
    for block_keep, shape, weight, keep in zip(chosen, shapes, weights, keeps):
        mask = _expand(block_keep, shape, r, c) & _as_2d(keep).bool()
        masks.append(mask.reshape(weight.shape))
    return masks
