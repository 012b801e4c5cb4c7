"""MoCo pieces: the key queue, the momentum update and InfoNCE."""

from __future__ import annotations

import math

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
    assert set(state) == {"keys", "ptr"}
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
    assert 0 <= acc <= 1
    # a positive far above every negative gives a near-zero loss and full accuracy
    loss, acc = info_nce(torch.full((3,), 50.0), torch.zeros(3, 100))
    assert loss < 1e-6 and acc == 1
    # all logits equal: log(1 + K)
    loss, _ = info_nce(torch.zeros(2), torch.zeros(2, 7))
    assert math.isclose(loss.item(), math.log(8), rel_tol=1e-6)
