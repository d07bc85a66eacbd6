"""The search space of :class:`~sksparse.search.GeneticSearchCV`: a genome.

A ``param_space`` maps parameter names (``"sparsity"``,
``"prunedestimator__pruner__amount"``) to *genes*:

- a list or tuple: a category chosen among its values;
- a scipy.stats frozen distribution (``uniform``, ``loguniform``,
  ``randint``, ...): a number drawn from it;
- :class:`LayerSizes`: a tuple of hidden-layer widths of variable depth;
- :class:`PriorChoice`: a random-graph prior and its parameters, set as two
  estimator parameters (``prior`` and ``prior_params``).

A genome is a dict of gene values keyed like ``param_space``;
:meth:`ParamSpace.to_params` turns it into the estimator parameters. Sampling,
mutation and crossover (built on :mod:`sksparse.search._operators`) only ever
produce values inside the space.
"""

import math
import numbers

import numpy as np

from sksparse.search._operators import (
    crossover_layers,
    mutate_categorical,
    mutate_distribution,
    mutate_layers,
    uniform_crossover,
)

__all__ = ["LayerSizes", "ParamSpace", "PriorChoice"]


def _is_distribution(obj):
    return all(hasattr(obj, attr) for attr in ("rvs", "cdf", "ppf"))


def _key(value):
    """A hashable, order-stable stand-in for a gene value."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), _key(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_key(v) for v in value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if value is None or isinstance(value, (str, bool)):
        return value
    return repr(value)


class _Categorical:
    """A choice among a list of values."""

    def __init__(self, choices):
        self.choices = list(choices)
        if not self.choices:
            raise ValueError("a categorical gene needs at least one choice.")

    def sample(self, rng):
        return self.choices[int(rng.integers(len(self.choices)))]

    def mutate(self, value, rng):
        # A value read back from a checkpoint is an equal copy of its choice,
        # and objects such as estimators compare by identity: without this, a
        # resumed search drew other mutations than an uninterrupted one.
        key = _key(value)
        value = next((c for c in self.choices if _key(c) == key), value)
        return mutate_categorical(value, self.choices, rng)

    def contains(self, value):
        return any(_key(value) == _key(choice) for choice in self.choices)

    def encode(self, value):
        return [float(_key(value) == _key(choice)) for choice in self.choices]

    def feature_names(self, name):
        return [f"{name}={choice!r}" for choice in self.choices]

    def to_params(self, name, value):
        return {name: value}


class _Numeric:
    """A number drawn from a scipy.stats frozen distribution."""

    def __init__(self, distribution):
        self.distribution = distribution

    def sample(self, rng):
        value = self.distribution.rvs(random_state=rng)
        value = np.asarray(value).item()
        return int(value) if _discrete(self.distribution) else float(value)

    def mutate(self, value, rng):
        return mutate_distribution(value, self.distribution, rng)

    def contains(self, value):
        low, high = self.distribution.support()
        return bool(low <= value <= high)

    def encode(self, value):
        # The quantile is scale-free: a log-uniform rate encodes linearly.
        return [float(self.distribution.cdf(value))]

    def feature_names(self, name):
        return [name]

    def to_params(self, name, value):
        return {name: value}


def _discrete(distribution):
    from scipy import stats

    return isinstance(getattr(distribution, "dist", None), stats.rv_discrete)


class LayerSizes:
    """Gene of hidden-layer widths: a tuple whose depth and widths evolve.

    Parameters
    ----------
    min_layers : int, default=1
    max_layers : int, default=3
    min_units : int, default=8
    max_units : int, default=256
        Widths are drawn log-uniformly in ``[min_units, max_units]``.

    Notes
    -----
    Mutation adds, removes or resizes one layer
    (:func:`~sksparse.search._operators.mutate_layers`); crossover is one
    point per parent (:func:`~sksparse.search._operators.crossover_layers`).

    Examples
    --------
    >>> import numpy as np
    >>> from sksparse.search import LayerSizes
    >>> gene = LayerSizes(min_layers=1, max_layers=2, min_units=16, max_units=64)
    >>> sizes = gene.sample(np.random.default_rng(0))
    >>> 1 <= len(sizes) <= 2 and all(16 <= s <= 64 for s in sizes)
    True
    """

    def __init__(self, min_layers=1, max_layers=3, min_units=8, max_units=256):
        self.min_layers = min_layers
        self.max_layers = max_layers
        self.min_units = min_units
        self.max_units = max_units
        self._check()

    def _check(self):
        for name in ("min_layers", "max_layers", "min_units", "max_units"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"LayerSizes {name} must be an int, got {value!r}.")
        if not 1 <= self.min_layers <= self.max_layers:
            raise ValueError(
                "LayerSizes needs 1 <= min_layers <= max_layers, got "
                f"{self.min_layers} and {self.max_layers}."
            )
        if not 1 <= self.min_units <= self.max_units:
            raise ValueError(
                "LayerSizes needs 1 <= min_units <= max_units, got "
                f"{self.min_units} and {self.max_units}."
            )

    def __repr__(self):
        return (
            f"LayerSizes(min_layers={self.min_layers}, max_layers={self.max_layers},"
            f" min_units={self.min_units}, max_units={self.max_units})"
        )

    def _width(self, rng):
        low, high = math.log(self.min_units), math.log(self.max_units + 1)
        width = int(math.exp(rng.uniform(low, high)))
        return min(max(width, self.min_units), self.max_units)

    def sample(self, rng):
        depth = int(rng.integers(self.min_layers, self.max_layers + 1))
        return tuple(self._width(rng) for _ in range(depth))

    def mutate(self, value, rng):
        return mutate_layers(
            value,
            rng,
            min_layers=self.min_layers,
            max_layers=self.max_layers,
            min_units=self.min_units,
            max_units=self.max_units,
        )

    def crossover(self, a, b, rng):
        return crossover_layers(
            a, b, rng, min_layers=self.min_layers, max_layers=self.max_layers
        )

    def contains(self, value):
        return (
            isinstance(value, tuple)
            and self.min_layers <= len(value) <= self.max_layers
            and all(self.min_units <= s <= self.max_units for s in value)
        )

    def encode(self, value):
        logs = [math.log(s) for s in value]
        padded = logs + [0.0] * (self.max_layers - len(value))
        return [float(len(value)), math.log(sum(value)), *padded]

    def feature_names(self, name):
        return [
            f"{name}.n_layers",
            f"{name}.log_total",
            *(f"{name}.log_width{i}" for i in range(self.max_layers)),
        ]

    def to_params(self, name, value):
        return {name: tuple(int(s) for s in value)}


class PriorChoice:
    """Gene of a random-graph prior and its parameters.

    The gene's value is a pair ``(kind, params)``; it sets two estimator
    parameters, the gene's own name (``prior``) to ``kind`` and the name with
    ``_params`` appended (``prior_params``) to ``params`` (``None`` when the
    kind has no parameters).

    Parameters
    ----------
    kinds : dict
        Maps a prior kind (a name of :data:`sksparse.graphs.PRIORS`, or
        ``None`` for uniform random masks) to a dict of its parameters, each a
        list of choices or a scipy.stats frozen distribution.

    Notes
    -----
    Mutation either switches to another kind (drawing its parameters afresh)
    or mutates one parameter of the current kind, with equal probability.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import randint, uniform
    >>> from sksparse.search import PriorChoice
    >>> gene = PriorChoice({"watts_strogatz": {"k": randint(2, 6),
    ...                                        "p": uniform(0, 1)},
    ...                     None: {}})
    >>> kind, params = gene.sample(np.random.default_rng(0))
    >>> sorted(gene.to_params("prior", (kind, params)))
    ['prior', 'prior_params']
    """

    def __init__(self, kinds):
        self.kinds = kinds
        if not isinstance(kinds, dict) or not kinds:
            raise ValueError(
                "PriorChoice needs a non-empty dict {kind: {param: values}}, "
                f"got {kinds!r}."
            )
        self._kinds = list(kinds)
        self._genes = {}
        for kind, params in kinds.items():
            if not isinstance(params, dict):
                raise ValueError(
                    f"PriorChoice: the parameters of {kind!r} must be a dict, "
                    f"got {params!r}."
                )
            self._genes[kind] = {
                name: _make_gene(f"{kind}.{name}", spec)
                for name, spec in params.items()
            }

    def __repr__(self):
        return f"PriorChoice({self.kinds!r})"

    def _sample_params(self, kind, rng):
        return {name: gene.sample(rng) for name, gene in self._genes[kind].items()}

    def sample(self, rng):
        kind = self._kinds[int(rng.integers(len(self._kinds)))]
        return kind, self._sample_params(kind, rng)

    def mutate(self, value, rng):
        kind, params = value
        genes = self._genes[kind]
        if len(self._kinds) > 1 and (not genes or rng.random() < 0.5):
            kind = mutate_categorical(kind, self._kinds, rng)
            return kind, self._sample_params(kind, rng)
        if not genes:
            return value
        names = sorted(genes)
        name = names[int(rng.integers(len(names)))]
        params = dict(params)
        params[name] = genes[name].mutate(params[name], rng)
        return kind, params

    def contains(self, value):
        kind, params = value
        if kind not in self._genes or set(params) != set(self._genes[kind]):
            return False
        return all(g.contains(params[n]) for n, g in self._genes[kind].items())

    def encode(self, value):
        kind, params = value
        out = [float(kind == k) for k in self._kinds]
        for k in self._kinds:
            for name, gene in self._genes[k].items():
                out += gene.encode(params[name]) if k == kind else [0.0]
        return out

    def feature_names(self, name):
        names = [f"{name}={k!r}" for k in self._kinds]
        for k in self._kinds:
            names += [f"{name}.{k}.{p}" for p in self._genes[k]]
        return names

    def to_params(self, name, value):
        kind, params = value
        return {name: kind, f"{name}_params": dict(params) if params else None}


def _make_gene(name, spec):
    if isinstance(spec, (LayerSizes, PriorChoice)):
        return spec
    if _is_distribution(spec):
        return _Numeric(spec)
    if isinstance(spec, (list, tuple)) and not isinstance(spec, str):
        return _Categorical(spec)
    raise TypeError(
        f"param_space[{name!r}] must be a list of choices, a scipy.stats "
        "distribution, LayerSizes or PriorChoice, "
        f"got {type(spec).__name__}: {spec!r}."
    )


class ParamSpace:
    """Genes keyed by parameter name, with the genome-level operators.

    Parameters
    ----------
    param_space : dict
        ``{parameter name: gene}`` as described in the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import loguniform
    >>> from sksparse.search import LayerSizes, ParamSpace
    >>> space = ParamSpace({"hidden_layer_sizes": LayerSizes(max_layers=2),
    ...                     "lr": loguniform(1e-4, 1e-1),
    ...                     "activation": ["relu", "tanh"]})
    >>> rng = np.random.default_rng(0)
    >>> genome = space.sample(rng)
    >>> child = space.mutate(genome, rng, rate=1.0)
    >>> space.contains(child)
    True
    """

    def __init__(self, param_space):
        if not isinstance(param_space, dict) or not param_space:
            raise ValueError(
                "param_space must be a non-empty dict {parameter name: gene}, "
                f"got {param_space!r}."
            )
        for name in param_space:
            if not isinstance(name, str):
                raise TypeError(
                    f"param_space keys must be parameter names (str), got {name!r}."
                )
        self.param_space = param_space
        self.genes = {
            name: _make_gene(name, spec) for name, spec in sorted(param_space.items())
        }

    def sample(self, rng):
        """Draw a genome from the space."""
        return {name: gene.sample(rng) for name, gene in self.genes.items()}

    def mutate(self, genome, rng, *, rate, force=False):
        """Mutate each gene with probability ``rate``.

        With ``force=True`` at least one gene mutates (used to make a
        duplicate child new).
        """
        child = dict(genome)
        names = list(self.genes)
        mutated = False
        for name in names:
            if rng.random() < rate:
                child[name] = self.genes[name].mutate(child[name], rng)
                mutated = True
        if force and not mutated:
            name = names[int(rng.integers(len(names)))]
            child[name] = self.genes[name].mutate(child[name], rng)
        return child

    def crossover(self, genome_a, genome_b, rng):
        """Uniform crossover of genes, plus each gene's own crossover.

        Genes that define one (:class:`LayerSizes`) are recombined inside,
        with probability 1/2; the others are swapped whole.
        """
        child_a, child_b = uniform_crossover(genome_a, genome_b, rng)
        for name, gene in self.genes.items():
            if hasattr(gene, "crossover") and rng.random() < 0.5:
                child_a[name], child_b[name] = gene.crossover(
                    child_a[name], child_b[name], rng
                )
        return child_a, child_b

    def contains(self, genome):
        """Whether every gene of ``genome`` lies in the space."""
        return genome.keys() == self.genes.keys() and all(
            gene.contains(genome[name]) for name, gene in self.genes.items()
        )

    def to_params(self, genome):
        """The estimator parameters a genome stands for."""
        params = {}
        for name, gene in self.genes.items():
            params.update(gene.to_params(name, genome[name]))
        return params

    def key(self, genome):
        """A hashable key: equal genomes have equal keys."""
        return _key(genome)

    def encode(self, genome):
        """A numeric vector of the genome (one-hot categories, quantiles)."""
        out = []
        for name, gene in self.genes.items():
            out += gene.encode(genome[name])
        return np.asarray(out, dtype=np.float64)

    def feature_names(self):
        """Names of the entries of :meth:`encode`."""
        names = []
        for name, gene in self.genes.items():
            names += gene.feature_names(name)
        return names
