"""Shared fixtures: small real videos (PyAV H.264 / MPEG-4 files and frame folders).

Videos are written once per test session into a temporary folder; ``coded_videos`` maps a
kind to a path whose frame ``k`` reads back as ``k`` through ``helpers.decode_index``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from helpers import coded_frames, write_frame_folder, write_video  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests run tiny networks: one torch thread is fastest for them and keeps a test from
    competing with itself for the CI machine's two cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


CODED_LENGTH = 150  # frames in each coded video: longer than the longest pretext span (121)


@pytest.fixture(scope="session")
def coded_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{kind: path} of 150-frame coded videos: h264 mp4, mpeg4 avi (with B-frames, counting
    mode), mpeg4 avi without B-frames, and img_00001.jpg / frame000001.jpg frame folders."""
    root = tmp_path_factory.mktemp("coded")
    frames = coded_frames(CODED_LENGTH)
    return {
        "h264.mp4": write_video(root / "h264.mp4", frames, "h264"),
        "mpeg4.avi": write_video(root / "mpeg4.avi", frames, "mpeg4"),
        "mpeg4-nob.avi": write_video(root / "mpeg4-nob.avi", frames, "mpeg4", b_frames=0),
        "img_folder": write_frame_folder(root / "img_folder", frames, "img_{:05d}.jpg"),
        "frame_folder": write_frame_folder(root / "frame_folder", frames, "frame{:06d}.jpg"),
    }


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: longer end-to-end tests (still part of CI)")
