"""``vidssl prepare``: a resized copy that keeps frame indices, layout and split files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import coded_frames, decode_index, write_frame_folder, write_video  # noqa: E402

from vidssl.cli import main  # noqa: E402
from vidssl.data.prepare import parse_size, prepare_tree  # noqa: E402
from vidssl.data.video import open_video  # noqa: E402


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    write_video(src / "Jump" / "v_a.avi", coded_frames(40, 96, 128), codec="mpeg4")
    write_video(src / "Run" / "v_b.mp4", coded_frames(30, 96, 128))  # H.264 with B-frames
    write_frame_folder(src / "Run" / "v_c", coded_frames(20, 96, 128))
    (src / "lists").mkdir()
    (src / "lists" / "trainlist01.txt").write_text("Jump/v_a.avi 1\n")
    return src


@pytest.mark.parametrize("fmt", ["video", "frames"])
def test_prepared_copy_keeps_frames_layout_and_lists(tree: Path, tmp_path: Path,
                                                     fmt: str) -> None:
    dst = tmp_path / fmt
    summary = prepare_tree(tree, dst, (64, 85), fmt=fmt, progress=False)  # odd width
    assert (summary.written, summary.copied, summary.failed) == (3, 1, [])
    assert (dst / "lists" / "trainlist01.txt").read_text() == "Jump/v_a.avi 1\n"
    names = {"video": ["Jump/v_a.avi", "Run/v_b.mp4", "Run/v_c"],
             "frames": ["Jump/v_a", "Run/v_b", "Run/v_c"]}[fmt]
    for name, count in zip(names, (40, 30, 20)):
        video = open_video(dst / name)
        frames = video.frames([0, 7, 19, 3])
        assert video.num_frames == count
        assert frames.shape == (4, 64, 85, 3)
        assert decode_index(frames).tolist() == [0, 7, 19, 3]  # same index, same frame
    again = prepare_tree(tree, dst, (64, 85), fmt=fmt, progress=False)
    assert (again.written, again.skipped) == (0, 3)


def test_cli_reports_bad_size_and_refuses_destination_inside_source(tree: Path) -> None:
    with pytest.raises(ValueError, match="HEIGHTxWIDTH"):
        parse_size("128")
    assert main(["prepare", str(tree), str(tree / "small"), "--no-progress"]) == 2
