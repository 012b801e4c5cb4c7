"""MoCo pieces: the key queue, the momentum update and InfoNCE."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vidssl.method.moco import KeyQueue, info_nce, momentum_update


def test_queue_newest_entries_are_last_keys_and_length_is_fixed() -> None:
    queue = KeyQueue(size=12, dim=5)
    batches = [torch.randn(4, 5) for _ in range(7)]  # 28 keys: wraps around twice
    for i, keys in enumerate(batches):
        queue.enqueue(keys)
        assert queue.keys.shape == (12, 5)
        newest = queue.newest_first()
        assert newest.shape == (12, 5)
        # newest first: this step's keys, in reverse order of arrival
        torch.testing.assert_close(newest[:4], keys.flip(0))
        if i >= 2:  # the queue now holds exactly the last three batches
            expect = torch.cat([batches[i].flip(0), batches[i - 1].flip(0), batches[i - 2].flip(0)])
            torch.testing.assert_close(newest, expect)


def test_queue_is_in_state_dict_and_restores() -> None:
    queue = KeyQueue(size=8, dim=3)
    queue.enqueue(torch.randn(4, 3))
    queue.enqueue(torch.randn(4, 3))
    queue.enqueue(torch.randn(4, 3))
    state = queue.state_dict()
    assert set(state) == {"keys", "ptr", "ids"}
    other = KeyQueue(size=8, dim=3, seed=5)
    other.load_state_dict(state)
    torch.testing.assert_close(other.newest_first(), queue.newest_first())
    new = torch.randn(4, 3)
    other.enqueue(new)
    torch.testing.assert_close(other.newest_first()[:4], new.flip(0))


def test_queue_batch_not_dividing_size_wraps() -> None:
    queue = KeyQueue(size=5, dim=2)
    seen = []
    for _ in range(4):
        keys = torch.randn(3, 2)
        seen.append(keys)
        queue.enqueue(keys)
        assert queue.keys.shape == (5, 2)
    last5 = torch.cat(seen)[-5:]
    torch.testing.assert_close(queue.newest_first(), last5.flip(0))


def test_momentum_update_formula() -> None:
    query, key = nn.Linear(4, 3), nn.Linear(4, 3)
    before = [p.detach().clone() for p in key.parameters()]
    momentum_update(key.parameters(), query.parameters(), 0.9)
    for k, kb, q in zip(key.parameters(), before, query.parameters()):
        torch.testing.assert_close(k, 0.9 * kb + 0.1 * q.detach())
    momentum_update(key.parameters(), query.parameters(), 0.0)
    for k, q in zip(key.parameters(), query.parameters()):
        torch.testing.assert_close(k, q.detach())


def test_info_nce_is_cross_entropy_with_positive_first() -> None:
    pos, neg = torch.randn(6), torch.randn(6, 10)
    loss, acc = info_nce(pos, neg)
    logits = torch.cat([pos[:, None], neg], 1)
    want = nn.functional.cross_entropy(logits, torch.zeros(6, dtype=torch.long))
    torch.testing.assert_close(loss, want)
    assert acc == (pos > neg.max(1).values).float().mean()
    # a positive far above every negative gives a near-zero loss and full accuracy
    loss, acc = info_nce(torch.full((3,), 50.0), torch.zeros(3, 100))
    assert loss < 1e-6 and acc == 1
    # all logits equal: log(1 + K)
    loss, _ = info_nce(torch.zeros(2), torch.zeros(2, 7))
    assert math.isclose(loss.item(), math.log(8), rel_tol=1e-6)


# ------------------------------------------------------------------ shuffle-BN (DESIGN 3)


class LeaveOneOutBatchMean(nn.Module):
    """An encoder whose output depends only on batch statistics: each sample's feature is the
    mean of the *other* samples of its BN batch, i.e. exactly what a sample can learn about its
    batch-mates through BatchNorm. A positive it identifies is identified by the leak alone.

    ``grouped``: it normalises groups in one pass like a split BatchNorm (``bn_groups``, see
    vidssl.models.split_bn); otherwise MoCo runs it once per BN sub-batch."""

    feature_dim = 48

    def __init__(self, grouped: bool = True) -> None:
        super().__init__()
        if grouped:
            self.bn_groups = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)[:, : self.feature_dim]
        s = getattr(self, "bn_groups", 1)
        groups = flat.view(flat.shape[0] // s, s, -1)  # strided groups, as split BN's
        out = (groups.sum(0, keepdim=True) - groups) / max(groups.shape[0] - 1, 1)
        return out.reshape(flat.shape)


def _leak_accuracy(key_bn: str, batch: int = 16, steps: int = 12, grouped: bool = True) -> float:
    """Instance-discrimination accuracy of the batch-statistics encoder after the queue has
    been filled with keys of earlier batches (positive above every queue entry)."""
    from vidssl.method.moco import MoCo

    torch.manual_seed(0)
    moco = MoCo(LeaveOneOutBatchMean(grouped), 48, dim=48, queue_size=4 * batch, momentum=0.99,
                temperature=0.1, similarity="cosine", key_bn=key_bn).train()
    with torch.no_grad():  # an identity projection: the keys are the encoder's statistics
        for proj in (moco.projection, moco.key_projection):
            proj.net[0].weight.copy_(torch.eye(48))
            proj.net[0].bias.zero_()
            proj.net[2].weight.copy_(torch.eye(48))
            proj.net[2].bias.zero_()
    accs = []
    for _ in range(steps):
        clip = torch.randn(batch, 3, 4, 2, 2).abs()  # ReLU in the head: positive inputs
        with torch.enable_grad():
            feats = moco.encode_queries(moco.key_backbone, clip)
            _, acc = moco.loss(feats, clip.clone(), training=True)  # key = the same video
        moco.after_step(moco.key_backbone)
        accs.append(float(acc))
    return sum(accs[-4:]) / 4  # once the queue holds only earlier batches' keys


@pytest.mark.parametrize("grouped", [True, False], ids=["one-pass", "pass-per-group"])
def test_batch_statistics_identify_the_positive_without_shuffle_bn_and_not_with_it(
        grouped: bool) -> None:
    assert _leak_accuracy("none", grouped=grouped) == 1.0  # one BN batch for queries and keys
    assert _leak_accuracy("shuffle", grouped=grouped) <= 0.25  # chance: 1 / 65 for a queue of 64


def test_key_bn_groups_share_only_the_query_itself() -> None:
    """One process, batch 16: queries in 4 BN groups of 4; every key is normalised in a group
    that holds no other sample of its query's group (DESIGN 3)."""
    from vidssl.method.moco import MoCo, bn_splits_for, interleave

    b = 16
    splits = bn_splits_for(b)
    assert splits == 4
    m = b // splits
    query_group = {i: i // m for i in range(b)}
    perm = interleave(b, splits)
    key_group = {int(perm[j]): j // m for j in range(b)}
    for i in range(b):
        mates_q = {j for j in range(b) if query_group[j] == query_group[i]}
        mates_k = {j for j in range(b) if key_group[j] == key_group[i]}
        assert mates_q & mates_k == {i}

    # and the component really encodes in those groups: record each BN batch the key encoder
    # and the query encoder see
    seen: list[list[int]] = []

    class Record(nn.Module):
        """Records the samples of each BN group it normalises, in one pass (split BN)."""

        feature_dim = 1
        bn_groups = 1

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for g in range(self.bn_groups):  # strided groups, as split BN's
                seen.append(x[g::self.bn_groups, 0, 0, 0, 0].round().long().tolist())
            return x.flatten(1)[:, :1]

    moco = MoCo(Record(), 1, dim=3, queue_size=32, momentum=0.9, temperature=0.1,
                similarity="cosine").train()
    clip = torch.arange(b, dtype=torch.float32).view(b, 1, 1, 1, 1).expand(b, 3, 2, 2, 2)
    with torch.enable_grad():
        moco.encode_queries(moco.key_backbone, clip)
    queries, seen[:] = list(seen), []
    out = moco.encode_keys(clip, training=True)
    keys = list(seen)
    # and put back in place: each key is its own clip's (the Record encoder is per sample)
    torch.testing.assert_close(out, moco._key_encoder(clip).float())
    assert [sorted(g) for g in queries] == [list(range(s * m, (s + 1) * m)) for s in range(4)]
    for g in keys:
        assert len({query_group[i] for i in g}) == len(g) == m


def _bn_encoder() -> nn.Module:
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1, bias=False), nn.BatchNorm3d(4), nn.ReLU(),
                        nn.AdaptiveAvgPool3d(1), nn.Flatten())
    enc.feature_dim = 4  # type: ignore[attr-defined]
    return enc


def test_shuffle_bn_in_one_pass_equals_a_backbone_pass_per_sub_batch() -> None:
    """Queries and keys from one backbone pass over split BN layers equal those of the pass per
    BN sub-batch MoCo took before (plain BN layers still take it), gradients included."""
    from vidssl.method.moco import MoCo
    from vidssl.models.split_bn import SplitBatchNorm3d, revert

    def moco(one_pass: bool) -> tuple[MoCo, nn.Module]:
        enc = _bn_encoder().train()
        m = MoCo(enc, 4, dim=6, queue_size=32, momentum=0.9, temperature=0.1,
                 similarity="cosine", key_bn="shuffle").train()
        for sub in [*m.modules(), *enc.modules()]:
            assert not isinstance(sub, nn.BatchNorm3d) or type(sub) is SplitBatchNorm3d
        if not one_pass:  # plain BN: a backbone pass per sub-batch
            revert(m)
            revert(enc)
        return m, enc

    (new, enc_new), (old, enc_old) = moco(True), moco(False)
    clip, key = torch.randn(16, 3, 2, 4, 4), torch.randn(16, 3, 2, 4, 4)
    q_new = new.encode_queries(enc_new, clip)
    q_old = old.encode_queries(enc_old, clip)
    torch.testing.assert_close(q_new, q_old, rtol=1e-5, atol=1e-5)
    q_new.square().sum().backward()
    q_old.square().sum().backward()
    for a, b in zip(enc_new.parameters(), enc_old.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(new.encode_keys(key, training=True),
                               old.encode_keys(key, training=True), rtol=1e-5, atol=1e-5)


def test_only_shuffle_bn_converts_the_encoder_and_state_dict_keys_do_not_change() -> None:
    from vidssl.method.moco import MoCo
    from vidssl.models.split_bn import SplitBatchNorm3d

    kinds = {}
    for key_bn in ("shuffle", "none"):
        enc = _bn_encoder()
        m = MoCo(enc, 4, dim=6, queue_size=32, momentum=0.9, temperature=0.1, key_bn=key_bn)
        kinds[key_bn] = (type(enc[1]), type(m.key_backbone[1]), m.state_dict().keys())
    assert kinds["shuffle"][:2] == (SplitBatchNorm3d, SplitBatchNorm3d)
    assert kinds["none"][:2] == (nn.BatchNorm3d, nn.BatchNorm3d)
    assert kinds["shuffle"][2] == kinds["none"][2]  # checkpoints load either way


# ------------------------------------------------------------------ own-video negatives


def test_queue_keeps_video_ids_and_old_checkpoints_load_with_unknown_ids() -> None:
    queue = KeyQueue(size=6, dim=2)
    assert (queue.ids == -1).all()  # the initial random keys belong to no video
    queue.enqueue(torch.randn(4, 2), torch.tensor([3, 1, 4, 1]))
    queue.enqueue(torch.randn(4, 2), torch.tensor([5, 9, 2, 6]))  # wraps: 6 slots
    assert sorted(queue.ids.tolist()) == sorted([4, 1, 5, 9, 2, 6])
    queue.enqueue(torch.randn(2, 2))  # keys without ids: unknown
    assert (queue.ids == -1).sum() == 2
    old = {k: v for k, v in queue.state_dict().items() if k != "ids"}  # written before ids
    other = KeyQueue(size=6, dim=2)
    other.load_state_dict(old)
    assert (other.ids == -1).all()
    torch.testing.assert_close(other.keys, queue.keys)


def _moco_with_own_video_in_queue(exclude: bool) -> tuple[float, float]:
    """A queue holding exactly the positive key of every query, under the query's video id:
    (accuracy, loss) of a training forward."""
    from vidssl.method.moco import MoCo

    torch.manual_seed(0)
    enc = nn.Sequential(nn.Flatten(), nn.Linear(12, 8))
    enc.feature_dim = 8  # type: ignore[attr-defined]
    moco = MoCo(enc, 8, dim=8, queue_size=16, momentum=0.99, temperature=0.1,
                similarity="cosine", key_bn="none", exclude_own_video=exclude).train()
    clip = torch.randn(4, 3, 1, 2, 2)
    ids = torch.tensor([7, 8, 9, 10])
    keys = moco.encode_keys(clip, training=True)
    for _ in range(4):  # the queue: four copies of this batch's own keys, under its ids
        moco.queue.enqueue(keys, ids)
    with torch.enable_grad():
        loss, acc = moco.loss(enc(clip), clip, training=True, ids=ids)
    return float(acc), float(loss.detach())


def test_own_video_keys_in_the_queue_are_no_negatives() -> None:
    """Older keys of the query's own video are as close as its positive: kept as negatives they
    cap instance discrimination (the positive never beats them); excluded, it is not capped."""
    acc_kept, loss_kept = _moco_with_own_video_in_queue(exclude=False)
    acc_excl, loss_excl = _moco_with_own_video_in_queue(exclude=True)
    assert acc_kept == 0.0
    assert loss_excl < loss_kept
    assert acc_excl == 1.0  # the other videos' keys are farther than the query's own


def test_held_out_forwards_never_mask() -> None:
    """Held-out videos are not the training videos the queue's ids name: no masking there."""
    from vidssl.method.moco import MoCo

    enc = nn.Sequential(nn.Flatten(), nn.Linear(12, 8))
    moco = MoCo(enc, 8, dim=8, queue_size=8, momentum=0.99, temperature=0.1,
                similarity="cosine", key_bn="none").eval()
    clip = torch.randn(4, 3, 1, 2, 2)
    ids = torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        keys = moco.encode_keys(clip, training=False)
        moco.queue.enqueue(torch.cat([keys, keys]), torch.cat([ids, ids]))
        with_ids = moco.loss(enc(clip), clip, training=False, ids=ids)
        without = moco.loss(enc(clip), clip, training=False)
    assert float(with_ids[0]) == float(without[0])  # the identical entries stay negatives
    assert float(with_ids[0]) > math.log(2)  # (each query has copies of its key among them)


def test_a_checkpoint_from_before_queue_ids_and_moco_component_loads_through_load_weights(
        tmp_path, capsys, monkeypatch) -> None:
    """``--resume`` and compare's reuse load weights with ``load_weights``, which checks the
    keys: a state saved before MoCo was a component (parts at the top level) and before the
    queue kept video ids must still load there, with every id unknown."""
    from vidssl.config import load_config
    from vidssl.method import moco as moco_module
    from vidssl.method.registry import build_model
    from vidssl.train.checkpoint import load_weights

    monkeypatch.setattr(moco_module, "_told_about_ids", False)  # said once per process
    cfg = load_config("configs/demo.yaml", ["model.width=0.125"])
    model = build_model(cfg)
    model.moco.queue.enqueue(torch.randn(16, model.moco.queue.keys.shape[1]),
                             torch.arange(16))
    old = {}
    for key, value in model.state_dict().items():
        if key == "moco.queue.ids":
            continue  # written before the queue kept ids
        old[key.removeprefix("moco.")] = value.clone()  # before MoCo was a component
    fresh = build_model(cfg)
    load_weights(fresh, old, tmp_path / "old.pt", "model")
    torch.testing.assert_close(fresh.moco.queue.keys, model.moco.queue.keys)
    torch.testing.assert_close(fresh.moco.projection.net[0].weight,
                               model.moco.projection.net[0].weight)
    assert (fresh.moco.queue.ids == -1).all()
    assert "predates video ids" in capsys.readouterr().err
