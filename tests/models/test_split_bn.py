"""Split BatchNorm: groups of a batch normalised in one pass, as if each went through alone."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from vidssl.models import split_bn


def _net() -> nn.Sequential:
    """Conv + BN3d, pooling, linear + BN1d: per-sample layers around two BN layers."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(3, 4, 3, padding=1, bias=False), nn.BatchNorm3d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 5, bias=False),
                         nn.BatchNorm1d(5))


def _bns(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def test_convert_keeps_parameters_state_dict_and_plain_behaviour() -> None:
    plain = _net().train()
    split = split_bn.convert(copy.deepcopy(plain)).train()
    assert [type(m) for m in _bns(split)] == [split_bn.SplitBatchNorm3d, split_bn.SplitBatchNorm1d]
    assert all(isinstance(m, nn.BatchNorm3d | nn.BatchNorm1d) for m in _bns(split))
    assert split.state_dict().keys() == plain.state_dict().keys()
    assert [type(m) for m in _bns(split_bn.revert(copy.deepcopy(split)))] == [
        nn.BatchNorm3d, nn.BatchNorm1d]
    split.load_state_dict(plain.state_dict())  # checkpoints of either load into the other
    plain.load_state_dict(split.state_dict())
    x = torch.randn(6, 3, 2, 4, 4)
    torch.testing.assert_close(split(x), plain(x))  # bn_groups 1: ordinary BatchNorm
    torch.testing.assert_close(split[1].running_var, plain[1].running_var)


@pytest.mark.parametrize("groups", [2, 4])
def test_one_pass_equals_a_pass_per_group(groups: int) -> None:
    """Outputs and gradients as if each consecutive group went through alone; running
    statistics move once, to the average of what each group alone would give."""
    plain = _net().train()
    split = split_bn.convert(copy.deepcopy(plain)).train()
    x = torch.randn(8, 3, 2, 4, 4)
    want = torch.cat([plain(part) for part in x.chunk(groups)])
    got = split_bn.grouped_forward(split, x, groups, split_bn.group_layers([split]))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(want)
    want.backward(grad)
    got.backward(grad)
    for p, q in zip(plain.parameters(), split.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5)

    for bn_split in _bns(split):
        assert int(bn_split.num_batches_tracked) == 1  # once per call, not once per group
        assert bn_split.bn_groups == 1  # set for the call only
    # each group alone, from the same starting statistics
    alone = []
    for part in x.chunk(groups):
        net = _net().train()
        net(part)
        alone.append(_bns(net))
    for i, bn_split in enumerate(_bns(split)):
        torch.testing.assert_close(bn_split.running_mean,
                                   torch.stack([a[i].running_mean for a in alone]).mean(0))
        torch.testing.assert_close(bn_split.running_var,
                                   torch.stack([a[i].running_var for a in alone]).mean(0))


def test_eval_mode_reads_running_statistics_whatever_the_groups() -> None:
    split = split_bn.convert(_net()).train()
    split(torch.randn(8, 3, 2, 4, 4))  # some running statistics
    split.eval()
    x = torch.randn(8, 3, 2, 4, 4)
    before = copy.deepcopy(split.state_dict())
    torch.testing.assert_close(split_bn.grouped_forward(split, x, 4, _bns(split)), split(x))
    for key, value in split.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_one_pass_only_when_every_batchnorm_can_group() -> None:
    split = split_bn.convert(_net())
    assert split_bn.group_layers([split]) == _bns(split)
    assert split_bn.group_layers([_net()]) is None  # plain BN: not converted
    assert split_bn.group_layers([nn.Linear(2, 2)]) is None  # nothing says how samples couple

    class OwnBN(nn.BatchNorm1d):
        pass

    mixed = split_bn.convert(nn.Sequential(nn.BatchNorm1d(3), OwnBN(3)))
    assert type(mixed[1]) is OwnBN  # a subclass is left alone ...
    assert split_bn.group_layers([mixed]) is None  # ... and keeps the pass per group


def test_a_batch_that_does_not_split_is_refused() -> None:
    split = split_bn.convert(_net()).train()
    with pytest.raises(ValueError, match="does not split"):
        split_bn.grouped_forward(split, torch.randn(6, 3, 2, 4, 4), 4, _bns(split))


def test_torch_compile_traces_the_grouped_layer_in_one_graph() -> None:
    """``train.compile`` compiles backbones in place: the grouped BN must trace without a
    graph break (fullgraph), mutate the running statistics like eager, and a later call with
    other groups must not reuse the grouped graph. The ``aot_eager`` backend runs the same
    tracing and autograd as inductor without its code generation (tens of seconds on two cores
    for this model); the inductor test below compiles a smaller one."""
    eager = split_bn.convert(_net()).train()
    compiled = copy.deepcopy(eager)
    try:
        compiled.compile(backend="aot_eager", fullgraph=True)
        x = torch.randn(8, 3, 2, 4, 4)
        got = split_bn.grouped_forward(compiled, x, 4, split_bn.group_layers([compiled]))
    except (RuntimeError, ImportError) as err:  # no dynamo on this platform / build
        if "compile" not in str(err).lower() and "dynamo" not in str(err).lower():
            raise
        pytest.skip(f"torch.compile unavailable here: {err}")
    want = split_bn.grouped_forward(eager, x, 4, split_bn.group_layers([eager]))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    got.sum().backward()
    want.sum().backward()
    for p, q in zip(eager.parameters(), compiled.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6)
    for a, b in zip(_bns(compiled), _bns(eager)):
        torch.testing.assert_close(a.running_mean, b.running_mean)
        torch.testing.assert_close(a.running_var, b.running_var)
    # one BN batch again: the grouped graph is not reused
    torch.testing.assert_close(compiled(x), eager(x), rtol=1e-5, atol=1e-6)


def _toolchain_missing(err: BaseException) -> bool:
    """Inductor failed for want of a working C++ compiler (not a fault of the model)."""
    text = f"{type(err).__name__}: {err}"
    return any(s in text for s in ("InvalidCxxCompiler", "CppCompileError", "C++ compiler",
                                   "No working C compiler", "Python.h"))


def test_inductor_compiles_the_grouped_layer() -> None:
    """The default ``torch.compile`` backend (inductor) on a tiny model: outputs and running
    statistics as eager. Skipped where no C++ toolchain is installed."""
    torch.manual_seed(0)
    eager = split_bn.convert(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))).train()
    compiled = copy.deepcopy(eager)
    compiled.compile()
    x = torch.randn(8, 3)
    try:
        got = split_bn.grouped_forward(compiled, x, 4, split_bn.group_layers([compiled]))
    except Exception as err:  # noqa: BLE001 - only a missing toolchain is skipped
        if _toolchain_missing(err):
            pytest.skip(f"inductor needs a C++ toolchain: {err}")
        raise
    want = split_bn.grouped_forward(eager, x, 4, split_bn.group_layers([eager]))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(compiled[1].running_var, eager[1].running_var)
