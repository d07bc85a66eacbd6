"""Reading a feed-forward network as stages; removing the neurons it does not need."""

import copy

import torch
from torch import nn

from sksparse.nn._masked import select_kept

# Element-wise modules a compressed network can apply between its layers:
# each maps a unit's pre-activation to its activation on its own, which is
# what folding a constant neuron into the next bias needs.
ELEMENTWISE = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Softsign,
    nn.Hardtanh,
    nn.Hardsigmoid,
    nn.Hardswish,
    nn.Hardshrink,
    nn.Softshrink,
    nn.Tanhshrink,
    nn.LogSigmoid,
    nn.Threshold,
)
# Modules that are the identity at inference time.
INFERENCE_IDENTITY = (
    nn.Identity,
    nn.Dropout,
    nn.Dropout1d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


# -- compression -----------------------------------------------------------------
class _Stage:
    """One linear layer of a feed-forward net: weights over its read blocks."""

    def __init__(self, weight, bias, reads, activation):
        self.weight = weight
        self.bias = bias
        self.reads = list(reads)
        self.activation = activation


def _effective_weight(linear):
    weight = linear.weight.detach()
    mask = getattr(linear, "mask", None)
    if isinstance(mask, torch.Tensor):
        # A select: a NaN or inf at a removed position is 0, not 0 * nan.
        weight = select_kept(weight, mask)
    bias = linear.bias
    if bias is None:
        bias = torch.zeros(weight.shape[0], dtype=weight.dtype)
    return weight.cpu().clone(), bias.detach().cpu().to(weight.dtype).clone()


def _is_elementwise(module):
    if isinstance(module, nn.PReLU):
        return module.num_parameters == 1
    return isinstance(module, ELEMENTWISE)


def _unroll(module):
    for sub in module:
        if isinstance(sub, nn.Sequential):
            yield from _unroll(sub)
        else:
            yield sub


def _sequential_stages(sequential):
    """Stages of an ``nn.Sequential`` of Linear layers and element-wise maps."""
    stages, pending, flatten = [], [], False
    for sub in _unroll(sequential):
        if isinstance(sub, nn.Linear):
            if stages:
                stages[-1].activation = _chain(pending)
            elif pending:
                raise TypeError(
                    "compress needs a Linear layer before any activation, "
                    f"got {type(pending[0]).__name__} first."
                )
            pending = []
            weight, bias = _effective_weight(sub)
            stages.append(_Stage(weight, bias, [len(stages)], None))
        elif isinstance(sub, INFERENCE_IDENTITY):
            continue
        elif isinstance(sub, nn.Flatten) and not stages and not pending:
            if sub.start_dim != 1 or sub.end_dim != -1:
                raise TypeError("compress handles nn.Flatten(1, -1) only.")
            flatten = True
        elif _is_elementwise(sub):
            pending.append(sub)
        else:
            raise TypeError(
                "compress handles feed-forward stacks of nn.Linear layers and "
                f"element-wise activations; cannot compress {type(sub).__name__}."
            )
    if not stages:
        raise TypeError("compress found no nn.Linear layer in the module.")
    stages[-1].activation = _chain(pending)
    return stages, flatten


def _chain(modules):
    modules = [copy.deepcopy(m).eval() for m in modules]
    if not modules:
        return None
    return modules[0] if len(modules) == 1 else nn.Sequential(*modules)


def _dag_stages(module):
    """Stages of a :class:`~sksparse.nn.DAGNetwork`: layer i reads blocks 0..i."""
    stages = []
    activation = _chain([module.activation])
    for i, layer in enumerate(module.hidden):
        weight, bias = _effective_weight(layer)
        stages.append(_Stage(weight, bias, range(i + 1), activation))
    weight, bias = _effective_weight(module.output)
    stages.append(_Stage(weight, bias, range(len(stages) + 1), None))
    return stages


def _stages_of(module):
    from sksparse.nn._mlp import DAGNetwork, SparseMLP

    if isinstance(module, SparseMLP):
        return _sequential_stages(module.layers)
    if isinstance(module, DAGNetwork):
        return _dag_stages(module), False
    if isinstance(module, nn.Sequential):
        return _sequential_stages(module)
    if isinstance(module, nn.Linear):
        return _sequential_stages(nn.Sequential(module))
    raise TypeError(
        "compress takes a SparseMLP, a DAGNetwork, or an nn.Sequential of "
        f"nn.Linear layers and element-wise activations; got {type(module).__name__}."
    )


def _block_slices(stage, sizes):
    """``(block, slice)`` of each read block in the stage's weight columns."""
    start, out = 0, []
    for block in stage.reads:
        out.append((block, slice(start, start + sizes[block])))
        start += sizes[block]
    if start != stage.weight.shape[1]:
        raise ValueError(
            f"a layer has {stage.weight.shape[1]} inputs but the blocks it reads "
            f"hold {start} units; the layer sizes do not chain."
        )
    return out


def _eliminate(stages, n_features):
    """Fold constant neurons into biases, then find the neurons still needed.

    Returns ``needed``: one boolean tensor per block (block 0: input
    features). The stages' weights and biases are updated in place: the
    columns of constant neurons are zeroed and their effect added to the bias.
    """
    sizes = [n_features] + [s.weight.shape[0] for s in stages]
    constant = [torch.zeros(n, dtype=torch.bool) for n in sizes]
    value = [torch.zeros(n, dtype=torch.float64) for n in sizes]
    # Forward: a neuron with no non-zero input outputs act(bias), a constant.
    # Its contribution W[:, j] * act(b_j) to every reader joins the reader's
    # bias, exactly; then the reader may itself have lost all its inputs.
    for i, stage in enumerate(stages):
        slices = _block_slices(stage, sizes)
        bias = stage.bias.to(torch.float64)
        for block, sl in slices:
            if constant[block].any():
                cols = torch.arange(sl.start, sl.stop)[constant[block]]
                bias = (
                    bias
                    + stage.weight[:, cols].to(torch.float64)
                    @ (value[block][constant[block]])
                )
                stage.weight[:, cols] = 0
        stage.bias = bias.to(stage.weight.dtype)
        if i == len(stages) - 1:
            break  # the network's outputs stay, whatever they read
        no_input = ~(stage.weight != 0).any(dim=1)
        constant[i + 1] = no_input
        if no_input.any():
            b = stage.bias[no_input]
            with torch.no_grad():
                act = stage.activation(b) if stage.activation is not None else b
            value[i + 1][no_input] = act.to(torch.float64)
    # Backward: a neuron is needed if a needed neuron reads it.
    needed = [torch.zeros(n, dtype=torch.bool) for n in sizes]
    needed[-1][:] = True
    for i in reversed(range(len(stages))):
        rows = needed[i + 1]
        if not rows.any():
            continue
        used = (stages[i].weight[rows] != 0).any(dim=0)
        for block, sl in _block_slices(stages[i], sizes):
            needed[block] |= used[sl]
    return needed


def input_support(module):
    """Which input features a feed-forward network's outputs depend on.

    A feature is supported when a kept weight of a neuron that reaches the
    output reads it: what :func:`~sksparse.nn.compress` keeps, so a network
    and its compressed form agree. A neuron that lost all its inputs is a
    constant and one that lost all its outputs is never read; the features
    only such neurons read are unsupported.

    Parameters
    ----------
    module : SparseMLP, DAGNetwork, CompressedNetwork, nn.Sequential or nn.Linear

    Returns
    -------
    torch.Tensor of shape (n_features,), bool
    """
    from sksparse.nn._compressed import CompressedNetwork

    if isinstance(module, CompressedNetwork):
        support = torch.zeros(module.n_features_in, dtype=torch.bool)
        index = module._buffers.get("input_features")
        if index is None:
            support[:] = True
        else:
            support[index.cpu()] = True
        return support
    stages, _ = _stages_of(module)
    return _eliminate(stages, stages[0].weight.shape[1])[0]
