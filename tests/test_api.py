"""The Python API (``vidssl.load_encoder`` / ``Encoder.embed``): the same features as
``vidssl extract``, every input kind, and one clear error for each mistake a caller can make."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import coded_frames, write_frame_folder, write_tiny_checkpoint, write_video

import vidssl
from vidssl.cli import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "checkpoint.pt")


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    """An H.264 mp4, an MPEG-4 avi with B-frames (of other lengths) and a frame folder."""
    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    noisy = np.clip(coded_frames(40, 32, 48).astype(int)
                    + rng.integers(-20, 20, (40, 32, 48, 3)), 0, 255).astype(np.uint8)
    write_video(root / "a.mp4", noisy[:30], "h264")
    write_video(root / "b.avi", noisy[::-1], "mpeg4")
    write_frame_folder(root / "c", noisy[5:25])
    return root


def test_embed_gives_the_features_of_vidssl_extract(checkpoint, video_dir, tmp_path):
    stem = tmp_path / "feats"
    assert main(["extract", str(video_dir), "--checkpoint", str(checkpoint), "--out", str(stem),
                 "--per-clip", "--no-progress", "--device", "cpu"]) == 0
    index = json.loads(stem.with_suffix(".json").read_text())
    paths = [v["path"] for v in index["videos"]]
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["a.mp4", "b.avi", "c"]
    video_level = np.load(stem.with_suffix(".npy"))
    clip_level = np.load(stem.with_name("feats.clips.npy"))

    enc = vidssl.load_encoder(checkpoint, device="cpu")
    got = enc.embed(paths)
    assert got.dtype == torch.float32 and got.shape == (3, enc.feature_dim)
    np.testing.assert_allclose(got.numpy(), video_level, rtol=0, atol=1e-6)
    np.testing.assert_allclose(enc.embed(paths, level="clip").numpy(), clip_level,
                               rtol=0, atol=1e-6)
    # one path at a time, in another order, with other batch sizes: the same rows
    np.testing.assert_allclose(enc.embed(paths[2], batch_size=1).numpy(), video_level[2],
                               rtol=0, atol=1e-5)
    np.testing.assert_allclose(enc.embed(paths[::-1], batch_size=3).numpy(),
                               video_level[::-1], rtol=0, atol=1e-5)
    feats = enc.features(paths)
    assert feats.paths == paths and feats.skipped == []
    np.testing.assert_allclose(feats.features, clip_level, rtol=0, atol=1e-6)


def test_embedding_one_video_opens_its_file_once(checkpoint, video_dir, monkeypatch):
    """The file opened to check a video (header, first frames) is the one decoded."""
    import av

    opened: list[str] = []
    real_open = av.open

    def counting_open(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    enc = vidssl.load_encoder(checkpoint, device="cpu")
    one = enc.embed(video_dir / "a.mp4")
    assert opened == [str(video_dir / "a.mp4")]
    both = enc.embed([video_dir / "a.mp4", video_dir / "b.avi"])  # checked, closed, reopened
    np.testing.assert_allclose(one.numpy(), both[0].numpy(), rtol=0, atol=1e-6)


def test_frames_and_prepared_clips_follow_the_same_protocol(checkpoint):
    enc = vidssl.load_encoder(checkpoint, device="cpu")
    assert enc.clip_shape == (3, 8, 32, 32) and enc.config.model.backbone == "r3d"
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (8, 40, 40, 3), dtype=np.uint8)  # exactly one clip long
    clip = enc.transform(frames)
    assert clip.shape == enc.clip_shape
    from_frames = enc.embed(frames, level="clip", clips=1)  # (1, D)
    from_clip = enc.embed(clip)  # (D,)
    assert from_clip.shape == (enc.feature_dim,)
    torch.testing.assert_close(from_frames[0], from_clip, rtol=0, atol=1e-6)
    # a batch of prepared clips, in chunks of 2: one row per clip, as one at a time
    batch = torch.stack([clip, clip.flip(-1), clip * 0.5])
    rows = enc.embed(batch, batch_size=2)
    assert rows.shape == (3, enc.feature_dim)
    for i in range(3):
        torch.testing.assert_close(rows[i], enc.embed(batch[i]), rtol=0, atol=1e-5)
    # a torch uint8 tensor is decoded frames too, and a list mixes kinds
    torch.testing.assert_close(enc.embed(torch.from_numpy(frames)), from_clip, rtol=0,
                               atol=1e-6)
    assert enc.embed([frames, frames[::-1].copy()]).shape == (2, enc.feature_dim)
    assert enc.embed(batch, feature="conv5").shape[0] == 3


def test_fine_tuning_checkpoint_loads_with_its_classifier(tmp_path):
    enc = vidssl.load_encoder(write_tiny_checkpoint(tmp_path / "ft.pt", "finetune"), "cpu")
    assert enc.head_output == "logits" and enc.head.out_features == 3
    assert enc.embed(torch.zeros(2, *enc.clip_shape)).shape == (2, enc.feature_dim)
    pre = vidssl.load_encoder(write_tiny_checkpoint(tmp_path / "pre.pt"), "cpu")
    assert pre.head_output == "projection"
    # a checkpoint from before MoCo became a component keeps the head at the top level
    state = torch.load(tmp_path / "pre.pt", weights_only=True)
    state["model"] = {k.removeprefix("moco."): v for k, v in state["model"].items()}
    torch.save(state, tmp_path / "legacy.pt")
    legacy = vidssl.load_encoder(tmp_path / "legacy.pt", "cpu")
    x = torch.randn(2, *pre.clip_shape)
    torch.testing.assert_close(legacy.head(legacy.embed(x)), pre.head(pre.embed(x)))


def test_a_callers_mistakes_raise_one_clear_error(checkpoint, video_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        vidssl.load_encoder(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint" * 4)
    with pytest.raises(vidssl.CheckpointError, match="junk.pt: not a readable vidssl") as err:
        vidssl.load_encoder(junk)
    assert "weights_only" not in str(err.value)  # never advise loading a file unsafely
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(vidssl.CheckpointError, match="empty file"):
        vidssl.load_encoder(tmp_path / "empty.pt")
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ValueError, match="other.pt: not a vidssl checkpoint"):
        vidssl.load_encoder(other)
    enc = vidssl.load_encoder(checkpoint, device="cpu")
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        enc.embed([video_dir / "a.mp4", tmp_path / "missing.mp4"])
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 10)
    with pytest.raises(vidssl.VideoError, match="broken.mp4"):
        enc.embed(broken)
    with pytest.raises(ValueError, match="level"):
        enc.embed(video_dir / "a.mp4", level="frame")
    with pytest.raises(ValueError, match="uint8"):
        enc.embed([np.zeros((8, 32, 32), np.uint8)])
    # the command line gives the same errors one line and exit code 2
    assert main(["extract", str(video_dir), "--checkpoint", str(junk),
                 "--out", str(tmp_path / "f")]) == 2


def test_import_vidssl_stays_light():
    code = ("import sys, vidssl; assert 'torch' not in sys.modules, 'import vidssl loads torch'; "
            "assert {'load_encoder', 'Encoder', 'export_encoder'} <= set(dir(vidssl))")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert vidssl.export_encoder.__module__ == "vidssl.export"  # the lazy names resolve
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        vidssl.nope  # noqa: B018
