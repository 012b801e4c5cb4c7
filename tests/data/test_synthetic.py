"""The built-in synthetic motion data set: determinism, splits, motion, and `vidssl synth`."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vidssl.cli import main
from vidssl.config import ConfigError, DataConfig, SyntheticConfig
from vidssl.data import synthetic
from vidssl.data.layouts import build_source, has_split
from vidssl.data.synthetic import (
    DIRECTION_CLASSES,
    MOTION_CLASSES,
    class_names,
    render_video,
    synthetic_source,
)

# Tiny splits; the in-process cache lets the tests below share one generation of them.
SMALL = SyntheticConfig(size=32, min_frames=8, max_frames=12, train_per_class=2, test_per_class=1)


@pytest.fixture(scope="module", autouse=True)
def _free_memory_afterwards():
    yield
    synthetic.clear_cache()


def test_class_lists_match_folder_label_order():
    # A folder data set labels sorted class folders; the in-memory labels must agree.
    for names in (MOTION_CLASSES, DIRECTION_CLASSES):
        assert len(names) >= 10
        assert list(names) == sorted(names)
        assert len(set(names)) == len(names)
    assert class_names("motion") == MOTION_CLASSES
    assert class_names("direction") == DIRECTION_CLASSES
    with pytest.raises(ValueError):
        class_names("colour")


@pytest.mark.parametrize("size", [32, 64])
def test_render_video_shape_and_dtype(size):
    video = render_video("motion", 3, np.random.default_rng(0), size=size, num_frames=10)
    assert video.shape == (10, size, size, 3)
    assert video.dtype == np.uint8
    assert video.std() > 10  # textured, not a flat image


def test_same_seed_same_bytes_whatever_the_thread_count():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = render_video("motion", 7, np.random.default_rng(5), 32, 16)
        torch.set_num_threads(2)
        b = render_video("motion", 7, np.random.default_rng(5), 32, 16)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(a, b)
    c = render_video("motion", 7, np.random.default_rng(6), 32, 16)
    assert not np.array_equal(a, c)


def test_source_is_deterministic_for_a_seed():
    src = synthetic_source(SMALL, "train")
    for i in (0, 7, len(src) - 1):
        label, k = synthetic.split_plan(SMALL, "train")[i]
        video = src.open(i)
        again = synthetic.make_video(SMALL, "train", label, k)  # rendered afresh
        assert np.array_equal(video.frames(range(video.num_frames)), again)
        other = synthetic.make_video(dataclasses.replace(SMALL, seed=1), "train", label, k)
        assert not np.array_equal(other[:1], again[:1])


def test_frame_counts_within_range_and_shapes():
    src = synthetic_source(SMALL, "all")
    counts = set()
    for i in range(len(src)):
        video = src.open(i)
        assert SMALL.min_frames <= video.num_frames <= SMALL.max_frames
        frames = video.frames([0, video.num_frames - 1])
        assert frames.shape == (2, 32, 32, 3) and frames.dtype == np.uint8
        counts.add(video.num_frames)
    assert len(counts) > 1  # lengths vary


def test_splits_are_balanced_disjoint_and_labelled_by_name():
    train = synthetic_source(SMALL, "train")
    test = synthetic_source(SMALL, "test")
    n = len(MOTION_CLASSES)
    assert Counter(train.labels) == {c: SMALL.train_per_class for c in range(n)}
    assert Counter(test.labels) == {c: SMALL.test_per_class for c in range(n)}
    assert train.classes == test.classes == list(MOTION_CLASSES)
    assert not {r.path for r in train.records} & {r.path for r in test.records}
    for rec in train.records + test.records:
        assert rec.path.split("/")[-2] == MOTION_CLASSES[rec.label]
    # No test video is a copy of a train video (disjoint seeds).
    train_first = {train.open(i).frames([0]).tobytes() for i in range(len(train))}
    assert all(test.open(i).frames([0]).tobytes() not in train_first for i in range(len(test)))
    both = synthetic_source(SMALL, "all")
    assert [r.path for r in both.records] == [r.path for r in train.records + test.records]


def test_train_and_test_videos_do_not_depend_on_the_val_split():
    """Adding the val split must not change a single byte of train or test, so results computed
    before it existed stay valid. (A digest of today's bytes would also fail on a CPU whose float
    rounding differs; the split's own seed stream is what guarantees this, checked here.)"""
    without = dataclasses.replace(SMALL, val_per_class=0)
    with_val = dataclasses.replace(SMALL, val_per_class=5)
    for split in ("train", "test"):
        for a, b in zip(synthetic.generate_split(without, split),
                        synthetic.generate_split(with_val, split), strict=True):
            assert np.array_equal(a, b)


def test_val_split_is_its_own_balanced_set_of_new_videos():
    val = synthetic_source(SMALL, "val")
    n = len(MOTION_CLASSES)
    assert Counter(val.labels) == {c: SMALL.test_per_class for c in range(n)}  # default: as test
    other = synthetic_source(dataclasses.replace(SMALL, val_per_class=3), "val")
    assert Counter(other.labels) == {c: 3 for c in range(n)}
    seen = set()
    for split in ("train", "test"):
        src = synthetic_source(SMALL, split)
        seen |= {src.open(i).frames([0]).tobytes() for i in range(len(src))}
    assert all(other.open(i).frames([0]).tobytes() not in seen for i in range(len(other)))
    assert all("_val_" in r.path for r in other.records)
    # "all" stays train + test: val is kept apart for model selection.
    assert len(synthetic_source(SMALL, "all")) == len(seen)
    no_val = DataConfig(dataset="synthetic", synthetic=dataclasses.replace(SMALL, val_per_class=0))
    assert not has_split(no_val, "val") and has_split(DataConfig(synthetic=SMALL), "val")
    with pytest.raises(ConfigError, match="no val split"):
        build_source(no_val, "val")
    with pytest.raises(ConfigError, match="val_per_class"):
        synthetic_source(dataclasses.replace(SMALL, val_per_class=-2), "val")


def test_build_source_uses_the_synthetic_config_and_caches():
    cfg = DataConfig(dataset="synthetic", synthetic=dataclasses.replace(SMALL, variant="direction"))
    src = build_source(cfg, "test")
    assert src.classes == list(DIRECTION_CLASSES)
    assert len(src) == len(DIRECTION_CLASSES) * SMALL.test_per_class
    # A second source in the same process (evaluation after training) reuses the arrays.
    assert synthetic.generate_split(cfg.synthetic, "test") is synthetic.generate_split(
        cfg.synthetic, "test"
    )


@pytest.mark.parametrize("variant", ["motion", "direction"])
def test_every_class_moves(variant):
    # A single frame should not tell the class (hard to test); that consecutive frames differ
    # for every class is what gives the frame-difference input its signal.
    for label in range(len(class_names(variant))):
        video = render_video(variant, label, np.random.default_rng(label), 32, 16).astype(float)
        step = np.abs(np.diff(video, axis=0)).mean(axis=(1, 2, 3))
        assert step.mean() > 0.5, (variant, class_names(variant)[label], step)
        assert (step > 0.05).mean() >= 0.75, (variant, class_names(variant)[label], step)


def test_bad_config_is_rejected():
    with pytest.raises(ConfigError, match="min_frames"):
        synthetic_source(dataclasses.replace(SMALL, min_frames=30, max_frames=20), "train")
    with pytest.raises(ConfigError, match="variant"):
        synthetic_source(dataclasses.replace(SMALL, variant="colour"), "train")


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_synth_command_writes_a_folder_dataset(tmp_path, capsys):
    out = tmp_path / "synth"
    argv = ["synth", "--out", str(out), "--size", "32", "--seed", "3", "--no-progress",
            "--train-per-class", "1", "--test-per-class", "1", "--val-per-class", "1",
            "--min-frames", "10", "--max-frames", "14"]  # fmt: skip
    assert main(argv) == 0
    assert "data.dataset=folder" in capsys.readouterr().out
    cfg = SyntheticConfig(size=32, seed=3, train_per_class=1, test_per_class=1,
                          val_per_class=1, min_frames=10, max_frames=14)  # fmt: skip
    assert (out / "classes.txt").read_text().split() == list(MOTION_CLASSES)

    folder = DataConfig(dataset="folder", root=str(out), train_list=str(out / "train.txt"),
                        test_list=str(out / "test.txt"),
                        val_list=str(out / "val.txt"))  # fmt: skip
    for split in ("train", "test", "val"):
        files = build_source(folder, split)
        memory = synthetic_source(cfg, split)
        assert files.classes == memory.classes
        assert files.labels == memory.labels
        for i in (0, len(files) - 1):
            decoded = _decode(Path(files.records[i].path))
            expected = memory.open(i).frames(range(memory.open(i).num_frames))
            assert decoded.shape == expected.shape
            # Lossy (h264 / mpeg4, 4:2:0 colour) but the same pictures.
            assert np.abs(decoded.astype(int) - expected).mean() < 12


def test_rendering_in_processes_gives_the_same_bytes(monkeypatch):
    cfg = SyntheticConfig(size=16, min_frames=6, max_frames=9, train_per_class=4,
                          test_per_class=1, seed=3)
    synthetic.clear_cache()
    monkeypatch.setattr(synthetic, "available_cores", lambda: 2)
    assert synthetic._render_processes(40) == 2 and synthetic._render_processes(8) == 1
    pooled = synthetic.generate_split(cfg, "train")  # 40 videos: two processes
    assert len(pooled) == 40
    for i, (label, k) in enumerate(synthetic.split_plan(cfg, "train")):
        assert np.array_equal(pooled[i], synthetic.make_video(cfg, "train", label, k))
    synthetic.clear_cache()


# --------------------------------------------------------------------------------------------
# Realism: scene bias, phased actions, camera motion (issue 17)
# --------------------------------------------------------------------------------------------

# sha256 of the train, test and val video 0 of every class at size 32 and 16-24 frames, as the
# generator made them before the realism knobs existed (commit d15188b): every result measured
# on `motion` and `direction` stays valid only while these bytes do not change.
_BYTES_BEFORE_REALISM = {
    "motion": "7020e849d1d8cef6410fa8f7a4972ba2f07d56b09fa8b3fe98ee8e8d055167fd",
    "direction": "8a6019634d7691205e3639aa597d68859ec4af5dd3f8791d99bc9525ac3b062b",
}


@pytest.mark.parametrize("variant", sorted(_BYTES_BEFORE_REALISM))
def test_motion_and_direction_bytes_are_unchanged(variant):
    import hashlib

    cfg = SyntheticConfig(variant=variant, size=32, min_frames=16, max_frames=24)
    digest = hashlib.sha256()
    for split in ("train", "test", "val"):
        for label in range(10):
            digest.update(synthetic.make_video(cfg, split, label, 0).tobytes())
    assert digest.hexdigest() == _BYTES_BEFORE_REALISM[variant]


def test_variants_name_their_classes_and_knobs():
    assert list(synthetic.PHASED_CLASSES) == sorted(synthetic.PHASED_CLASSES)
    assert class_names("scene") == MOTION_CLASSES
    assert class_names("phased") == class_names("real") == synthetic.PHASED_CLASSES
    assert synthetic.realism(SyntheticConfig(variant="motion")) == (0.0, 0.0)
    assert synthetic.realism(SyntheticConfig(variant="real")) == (0.8, 0.5)
    assert synthetic.realism(SyntheticConfig(variant="real", scene_bias=0.3, camera=0)) == (0.3, 0)


def test_scene_variant_at_zero_bias_is_the_motion_variant():
    motion = SyntheticConfig(variant="motion", size=32, min_frames=12, max_frames=12)
    scene0 = dataclasses.replace(motion, variant="scene", scene_bias=0.0)
    for label in (0, 5):
        assert np.array_equal(synthetic.make_video(motion, "train", label, 1),
                              synthetic.make_video(scene0, "train", label, 1))


def test_scene_bias_changes_the_scene_and_not_the_motion(monkeypatch):
    seen = []
    original = synthetic._motion

    def recording(*args):
        out = original(*args)
        seen.append(out)
        return out

    monkeypatch.setattr(synthetic, "_motion", recording)
    cfg = SyntheticConfig(variant="scene", size=32, min_frames=12, max_frames=12)
    a = synthetic.make_video(dataclasses.replace(cfg, scene_bias=0.0), "train", 3, 0)
    b = synthetic.make_video(dataclasses.replace(cfg, scene_bias=1.0), "train", 3, 0)
    assert not np.array_equal(a, b)  # the class's own scene replaced the shared one
    for x, y in zip(seen[0], seen[1], strict=True):
        assert np.array_equal(x, y)  # the same motion


def test_camera_moves_the_frame_and_changes_nothing_else():
    cfg = SyntheticConfig(variant="motion", size=32, min_frames=24, max_frames=24)
    still = synthetic.make_video(dataclasses.replace(cfg, camera=0.0), "train", 2, 0)
    moving = synthetic.make_video(dataclasses.replace(cfg, camera=1.0), "train", 2, 0)
    # The camera track is centred on the middle frame: there the two videos are one picture.
    assert np.array_equal(still[12], moving[12])
    assert not np.array_equal(still[0], moving[0])


def test_camera_moves_the_background_with_the_actor():
    # A turning camera shifts the whole picture, not only the sprite: away from the middle
    # frame most pixels of the background change too.
    cfg = SyntheticConfig(variant="motion", size=32, min_frames=24, max_frames=24)
    changed = []
    for label in range(4):
        still = synthetic.make_video(dataclasses.replace(cfg, camera=0.0), "train", label, 0)
        moving = synthetic.make_video(dataclasses.replace(cfg, camera=1.0), "train", label, 0)
        changed.append((np.abs(still[0].astype(int) - moving[0]).max(-1) > 8).mean())
    assert min(changed) > 0.5, changed


def test_camera_tracks_do_not_depend_on_the_class():
    rng = np.random.default_rng
    assert np.array_equal(synthetic._camera(rng(1), 30), synthetic._camera(rng(1), 30))
    pans = [synthetic._camera(rng(s), 30) for s in range(20)]
    assert all(p.shape == (30, 2) and np.allclose(p[15], 0) for p in pans)
    assert max(float(np.abs(p).max()) for p in pans) > 5  # the frame really moves


def test_phased_actions_change_their_motion_between_thirds():
    # VCOP's setting: windows a third of a video apart must see different motion, else their
    # order cannot be decided. Velocities (translation, rotation, zoom) per third must differ.
    n = 90
    t = np.arange(n) - (n - 1) / 2
    for label, name in enumerate(synthetic.PHASED_CLASSES):
        d, theta, zeta, _ = synthetic._motion(name, np.random.default_rng(label), t)
        v = np.concatenate([np.diff(d, axis=0), np.diff(theta)[:, None] * 20,
                            np.diff(zeta)[:, None] * 100], 1)
        thirds = [v[5:25].mean(0), v[35:55].mean(0), v[65:85].mean(0)]
        gaps = [np.linalg.norm(thirds[i] - thirds[j]) for i, j in ((0, 1), (1, 2), (0, 2))]
        assert max(gaps) > 0.5, (name, thirds)


def test_phased_pairs_differ_only_by_the_order_of_their_phases():
    n = 90
    t = np.arange(n) - (n - 1) / 2
    grow = synthetic._motion("grow_shrink", np.random.default_rng(0), t)[2]
    shrink = synthetic._motion("shrink_grow", np.random.default_rng(0), t)[2]
    assert np.allclose(grow, -shrink)


@pytest.mark.parametrize("variant", ["phased", "real"])
def test_realistic_variants_render(variant):
    cfg = SyntheticConfig(variant=variant, size=32, min_frames=20, max_frames=20)
    for label in range(10):
        video = synthetic.make_video(cfg, "train", label, 0)
        assert video.shape == (20, 32, 32, 3) and video.dtype == np.uint8
        assert video.std() > 10


def test_bad_realism_knobs_are_one_line(capsys, tmp_path):
    with pytest.raises(ConfigError, match="data.synthetic.camera"):
        synthetic_source(dataclasses.replace(SMALL, camera=1.5), "train")
    assert main(["synth", "--out", str(tmp_path / "x"), "--scene-bias", "nan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("vidssl: data.synthetic.scene_bias must be in [0, 1]")
