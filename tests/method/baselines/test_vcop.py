"""VCOP: the order label is the clip permutation, short videos shrink gaps then wrap, the head's
size follows its definition and a tuple costs n backbone passes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from helpers import frame_index_transform, index_source

from vidssl.method.baselines.vcop import VCOPDataset, VCOPHead, vcop_tuple_indices
from vidssl.models.backbones import build_backbone
from vidssl.models.flops import count_macs, count_params


@pytest.mark.parametrize("n", [2, 3, 4])
def test_param_count_is_its_definition(n: int) -> None:
    d, hidden = 512, 512
    pairs = n * (n - 1) // 2
    classes = {2: 2, 3: 6, 4: 24}[n]
    head = VCOPHead(d, n)
    expected = (2 * d * hidden + hidden) + (hidden * pairs * classes + classes)
    assert count_params(head) == expected
    assert head(torch.randn(5, n, d)).shape == (5, classes)


def test_pairs_are_ordered_and_shared() -> None:
    torch.manual_seed(0)
    head = VCOPHead(8, 3, hidden=4, dropout=0.0).eval()
    f = torch.randn(2, 3, 8)
    # Swapping two clips changes the logits: the head sees which clip came first.
    assert not torch.allclose(head(f), head(f[:, [1, 0, 2]]))


def test_vcop_macs_are_n_backbone_passes() -> None:
    with torch.device("meta"):
        backbone = build_backbone("c3d")
    head = VCOPHead(backbone.feature_dim, 3)
    one_clip = count_macs(backbone, (1, 3, 16, 112, 112))
    tuple_macs = 3 * one_clip + count_macs(head, (1, 3, backbone.feature_dim))
    assert tuple_macs == pytest.approx(115.8e9, rel=0.05)  # Table VIII, VCOP with C3D
    assert tuple_macs == pytest.approx(3 * one_clip, rel=0.01)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_vcop_order_label_is_the_clip_permutation(n: int) -> None:
    ds = VCOPDataset(index_source([200] * 6), frame_index_transform, clip_len=5, n_clips=n,
                     gap=3, seed=1)
    perms = list(itertools.permutations(range(n)))
    seen = set()
    for i in range(len(ds)):
        item = ds[i]
        clips = item["clip"].numpy()  # (n, T) frame indices
        assert clips.shape == (n, 5)
        assert (np.diff(clips, axis=1) == 1).all()  # consecutive frames inside a clip
        # Rank of each clip in time = the original position it came from.
        perm = tuple(int(x) for x in np.argsort(np.argsort(clips[:, 0])))
        assert perms[int(item["order"])] == perm
        starts = np.sort(clips[:, 0])
        assert (np.diff(starts) == 5 + 3).all()  # clip length + gap
        seen.add(int(item["order"]))
    assert len(seen) > 1


def test_vcop_tuple_shrinks_gaps_then_wraps_on_short_videos() -> None:
    rng = np.random.default_rng(0)
    idx, wrapped = vcop_tuple_indices(40, 10, 3, 8, rng)  # 30 frames of clips + 10 of gaps
    assert not wrapped and idx.max() < 40 and (np.diff(idx[:, 0]) == 15).all()
    idx, wrapped = vcop_tuple_indices(20, 10, 3, 8, rng)
    assert wrapped and idx.shape == (3, 10) and idx.max() < 20


def test_one_augmentation_draw_per_tuple() -> None:
    """Every clip of a tuple gets the same crop, jitter and flip: on a video whose frames are
    all one textured image, the n transformed clips are identical (drawn per clip, a flip or a
    crop would differ between them and break the order cues that cross clips)."""
    from vidssl.data.records import VideoRecord, VideoSource
    from vidssl.data.transforms import ClipTransform
    from vidssl.data.video import ArrayVideo

    image = np.random.default_rng(0).integers(0, 256, (1, 20, 24, 3), dtype=np.uint8)
    video = ArrayVideo(np.repeat(image, 60, axis=0))
    source = VideoSource([VideoRecord("v", 0)], classes=["a"], videos=[video])
    transform = ClipTransform(resize=(20, 24), crop=16, train=True, color_jitter=0.4)
    ds = VCOPDataset(source, transform, clip_len=4, n_clips=3, gap=2, seed=0)
    for epoch in range(4):
        ds.set_epoch(epoch)
        clips = ds[0]["clip"]
        for j in range(1, 3):
            torch.testing.assert_close(clips[j], clips[0])
