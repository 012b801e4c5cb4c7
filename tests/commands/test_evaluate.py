"""The evaluation commands end to end on tiny inputs: checkpoint in, results and pictures out."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
import torch
from helpers import starts_with_markdown_table

from vidssl.cli import main
from vidssl.eval.features import FeatureSet
from vidssl.models.backbones import build_backbone
from vidssl.train.checkpoint import save_checkpoint

TINY = [
    "data.synthetic.size=32", "data.synthetic.train_per_class=2",
    "data.synthetic.test_per_class=1", "data.synthetic.min_frames=24",
    "data.synthetic.max_frames=24", "data.resize=[32,32]", "data.crop=32",
    "eval.clips=2", "eval.clip_len=8", "data.num_workers=0", "train.device=cpu",
]


@pytest.fixture
def checkpoint(tmp_path, tiny_config):
    cfg = tiny_config()
    torch.manual_seed(0)
    backbone = build_backbone("r3d", width=0.125)
    path = tmp_path / "pre" / "checkpoint.pt"
    save_checkpoint({"config": cfg.to_dict(), "backbone": backbone.state_dict(), "epoch": 1},
                    path)
    return path


def test_retrieve_and_probe_write_results_next_to_checkpoint(checkpoint, capsys):
    assert main(["retrieve", "--checkpoint", str(checkpoint), "--no-progress", *TINY]) == 0
    out = checkpoint.parent
    res = json.loads((out / "retrieval-synthetic-video-pool.json").read_text())
    assert res["num_queries"] == 10 and res["num_gallery"] == 20
    assert set(res) >= {"top1", "top5", "top10", "top20", "top50"}
    assert (out / "retrieval-synthetic-video-pool_grid.png").stat().st_size > 0
    report = (out / "retrieval-synthetic-video-pool.md").read_text()
    assert "retrieval-synthetic-video-pool_grid.png" in report
    assert starts_with_markdown_table(report), report[:400]  # top-k first, in percent
    assert f"| {100 * res['top1']:.1f} % |" in report
    assert main(["linear-probe", "--checkpoint", str(checkpoint), "--no-progress", *TINY]) == 0
    probe = json.loads((out / "linear-probe-synthetic-pool.json").read_text())
    assert 0.0 <= probe["accuracy"] <= 1.0 and probe["num_test_videos"] == 10
    assert starts_with_markdown_table((out / "linear-probe-synthetic-pool.md").read_text())
    assert "top1" in capsys.readouterr().out


def _write_mp4(path, frames: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(frames):
            img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())


def test_extract_skips_corrupt_videos_and_lists_rows(checkpoint, tmp_path):
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    _write_mp4(videos / "a.mp4", 20, 0)
    _write_mp4(videos / "sub" / "b.mp4", 30, 1)
    (videos / "broken.mp4").write_bytes(b"not a video at all" * 10)
    stem = tmp_path / "feats" / "folder"
    with pytest.warns(UserWarning, match="could not be decoded"):
        rc = main(["extract", "--checkpoint", str(checkpoint), str(videos), "eval.clips=2",
                   "eval.clip_len=8", "--out", str(stem), "--per-clip", "--no-progress"])
    assert rc == 0
    index = json.loads(stem.with_suffix(".json").read_text())
    assert [v["path"].split("/")[-1] for v in index["videos"]] == ["a.mp4", "b.mp4"]
    assert [s.split("/")[-1] for s in index["skipped"]] == ["broken.mp4"]
    assert np.load(stem.with_suffix(".npy")).shape == (2, 8 * 8)
    assert np.load(stem.with_name("folder.clips.npy")).shape == (2, 2, 8 * 8)


def test_tsne_and_plot_curves_draw_pictures(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 6)
    feats = FeatureSet(rng.standard_normal((18, 2, 5)) + labels[:, None, None], labels,
                       [f"v{i}" for i in range(18)], classes=["a", "b", "c"])
    written = feats.save(tmp_path / "f")
    assert main(["tsne", "--features", str(written["index"]), "--out", str(tmp_path),
                 "--classes", "0", "2"]) == 0
    assert (tmp_path / "tsne-f.png").stat().st_size > 0
    for run, acc in (("a", 0.5), ("b", 0.7)):
        (tmp_path / run).mkdir()
        (tmp_path / run / "metrics.csv").write_text(
            f"epoch,loss,order_acc\n1,2.0,0.3\n2,1.5,{acc}\n")
    logs = [str(tmp_path / "a" / "metrics.csv"), f"mine={tmp_path / 'b' / 'metrics.csv'}"]
    assert main(["plot-curves", *logs, "--out", str(tmp_path / "curves.png")]) == 0
    assert main(["plot-curves", *logs, "--bars", "--out", str(tmp_path / "bars.png")]) == 0
    assert (tmp_path / "curves.png").stat().st_size > 0 and (tmp_path / "bars.png").exists()


def test_random_init_needs_no_checkpoint_and_is_reproducible(tmp_path):
    args = ["linear-probe", "--init", "random", "--no-progress", "--out", str(tmp_path),
            "model.width=0.125", *TINY]
    assert main(args) == 0
    first = json.loads((tmp_path / "linear-probe-synthetic-pool-random.json").read_text())
    assert main(args) == 0
    second = json.loads((tmp_path / "linear-probe-synthetic-pool-random.json").read_text())
    assert first["accuracy"] == second["accuracy"] and first["init"] == "random"


def test_a_stopped_finetune_says_how_to_resume(tmp_path, capsys, monkeypatch):
    """Ctrl-C (the loop's stop request, made before the first step) leaves one line: what the
    checkpoint holds and that rerunning the command resumes, or that nothing was saved."""
    from vidssl.train.loop import StopRequest

    class StopAtOnce(StopRequest):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.requested = True

    monkeypatch.setattr("vidssl.train.loop.StopRequest", StopAtOnce)
    out = tmp_path / "ft"
    args = ["finetune", "--init", "random", "--no-progress", "--out", str(out),
            "model.width=0.125", *TINY, "finetune.epochs=2", "finetune.clip_len=8",
            "finetune.test_clips=2"]
    assert main([*args, "finetune.batch_size=8"]) == 130  # stopped inside epoch 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "nothing saved" in last and "starts the fine-tuning again" in last
    assert main([*args, "finetune.batch_size=64"]) == 130  # one step: after epoch 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{out / 'finetune_last.pt'} holds the fine-tuning after epoch 1" in last
    assert "rerun the same command to resume" in last


def test_retrieve_with_faiss_missing_is_one_line_before_any_work(checkpoint, capsys,
                                                                 monkeypatch):
    import sys

    def boom(*args, **kwargs):
        raise AssertionError("features were extracted before faiss was found missing")

    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss raises ImportError
    monkeypatch.setattr("vidssl.eval.features.extract_features", boom)
    code = main(["retrieve", "--checkpoint", str(checkpoint), "--no-progress", "--backend",
                 "faiss", *TINY])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("vidssl: retrieval backend 'faiss' needs")
