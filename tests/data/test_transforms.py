"""Augmentation is the same for every frame of a clip; diff input is documented and O(1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidssl.data.transforms import ClipTransform


def static_clip(T=8, H=40, W=60):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    return np.repeat(frame[None], T, axis=0)


def test_train_augmentation_is_clip_consistent():
    t = ClipTransform(resize=(32, 48), crop=24, train=True, color_jitter=0.4)
    for seed in range(5):
        out = t(static_clip(), np.random.default_rng(seed))
        assert out.shape == (3, 8, 24, 24) and out.dtype == torch.float32
        # every frame of a static video stays identical after augmentation
        assert torch.allclose(out, out[:, :1].expand_as(out), atol=1e-6)


def test_train_draws_differ_and_eval_is_deterministic():
    clip = static_clip()
    train = ClipTransform(resize=(32, 48), crop=24, train=True)
    a = train(clip, np.random.default_rng(0))
    b = train(clip, np.random.default_rng(1))
    assert not torch.allclose(a, b)
    ev = ClipTransform(resize=(32, 48), crop=24, train=False)
    assert torch.equal(ev(clip, np.random.default_rng(0)), ev(clip, np.random.default_rng(1)))


def test_eval_centre_crop_without_resize():
    clip = np.zeros((2, 32, 48, 3), np.uint8)
    clip[:, 4:28, 12:36] = 255  # exactly the centre 24x24 square
    out = ClipTransform(resize=(32, 48), crop=24, train=False, mean=(0, 0, 0), std=(1, 1, 1))(
        clip, np.random.default_rng(0)
    )
    assert torch.all(out == 1.0)


def test_frame_differences():
    T = 6
    clip = np.zeros((T, 16, 16, 3), np.uint8)
    for t in range(T):
        clip[t, :, : 2 * t + 2] = 200  # a bar growing to the right
    t = ClipTransform(resize=(16, 16), crop=16, train=False, input="diff")
    out = t(clip, np.random.default_rng(0))
    assert out.shape == (3, T, 16, 16)
    assert abs(float(out.pow(2).mean().sqrt()) - 1.0) < 1e-4  # rms-normalised: O(1)
    assert (out >= 0).all()  # frames only gain bright pixels: x_{t+1} - x_t >= 0
    assert torch.equal(out[:, -1], out[:, -2])  # last difference repeated
    still = t(static_clip(T, 16, 16), np.random.default_rng(0))
    assert torch.all(still == 0)


@pytest.mark.parametrize("input_kind", ["rgb", "diff"])
def test_batch_equals_clips_transformed_one_after_another(input_kind: str) -> None:
    """A pretext sample's query and key (and an evaluation video's clips) go through
    ``ClipTransform.batch`` in one call: each clip must get exactly the random choices and the
    pixels it would get alone, in the same order of draws."""
    t = ClipTransform(resize=(20, 24), crop=16, train=True, color_jitter=0.4, hflip=True,
                      input=input_kind)
    clips = np.random.default_rng(0).integers(0, 256, (5, 6, 30, 40, 3), dtype=np.uint8)
    rng = np.random.default_rng(7)
    one_by_one = torch.stack([t(c, rng) for c in clips])
    after = rng.random()
    rng = np.random.default_rng(7)
    batched = t.batch(clips, rng)
    torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=1e-5)
    assert rng.random() == after  # the same number of draws


def _documented_pipeline(t: ClipTransform, clips: np.ndarray,
                         rng: np.random.Generator) -> torch.Tensor:
    """The module docstring's pipeline written out plainly, out of place, for clips already at
    ``t.resize``: float, crop, jitter, flip, clamp, normalise."""
    out = []
    w = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1, 1)
    for clip in clips:
        top, left, jitter, flip = t._draw(rng)
        x = torch.as_tensor(clip).permute(3, 0, 1, 2).float() / 255.0  # (3, T, H, W)
        x = x[..., top:top + t.crop, left:left + t.crop]
        if jitter is not None:
            b, c, s = (float(v) for v in jitter)
            x = x * b
            mean = (x.clamp(0, 1) * w).sum(0, keepdim=True).mean()
            x = (x - mean) * c + mean
            grey = (x.clamp(0, 1) * w).sum(0, keepdim=True)
            x = (x - grey) * s + grey
        if flip:
            x = x.flip(-1)
        out.append((x.clamp(0, 1) - t.mean) / t.std)
    return torch.stack(out)


@pytest.mark.parametrize("train", [True, False])
def test_frames_at_the_resize_size_give_the_documented_pipeline(train: bool) -> None:
    """Frames resized on decode arrive at ``resize``: the transform crops them as uint8 and
    jitters in place (less work at paper scale); the values are the documented pipeline's."""
    t = ClipTransform(resize=(20, 24), crop=16, train=train, color_jitter=0.4, hflip=True)
    clips = np.random.default_rng(0).integers(0, 256, (4, 6, 20, 24, 3), dtype=np.uint8)
    got = t.batch(clips, np.random.default_rng(3))
    want = _documented_pipeline(t, clips, np.random.default_rng(3))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
