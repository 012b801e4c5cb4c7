"""``vidssl synth``: the synthetic data set written as mp4 files and split lists that the folder
layout reads back with the same classes and counts."""

from __future__ import annotations

from vidssl.cli import main
from vidssl.config import load_config
from vidssl.data.layouts import build_source


def test_written_files_read_back_as_a_folder_data_set(tmp_path) -> None:
    out = tmp_path / "syn"
    assert main(["synth", "--out", str(out), "--size", "16", "--train-per-class", "1",
                 "--test-per-class", "1", "--val-per-class", "0", "--min-frames", "8",
                 "--max-frames", "8", "--no-progress"]) == 0
    data = load_config(None, ["data.dataset=folder", f"data.root={out}",
                              f"data.train_list={out / 'train.txt'}",
                              f"data.test_list={out / 'test.txt'}"]).data
    train = build_source(data, "train")
    classes = (out / "classes.txt").read_text().split()
    assert train.classes == classes and len(train) == len(classes)
    assert sorted(train.labels) == list(range(len(classes)))
    assert train.open(0).num_frames == 8
