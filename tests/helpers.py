"""Small real videos for tests, written with PyAV (H.264 / MPEG-4) or as frame folders.

``coded_frames(n)`` makes frames whose index can be read back after lossy compression: three
vertical bands hold the base-8 digits of ``k`` as flat grey levels ``32 * digit + 16``, so
``decode_index(frame)`` recovers ``k`` (up to 511) with +-15 grey levels of tolerance (MPEG-4
B-frames drift by about 10 levels on flat areas).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import av
import numpy as np
import yaml
from PIL import Image


def coded_frames(n: int, height: int = 48, width: int = 96) -> np.ndarray:
    """uint8 (n, H, W, 3) frames whose index k is readable with :func:`decode_index`."""
    if n > 512:
        raise ValueError("coded_frames encodes at most 512 frames")
    k = np.arange(n)
    out = np.empty((n, height, width, 3), np.uint8)
    third = width // 3
    for band in range(3):
        digit = (k // 8**band) % 8
        out[:, :, band * third : (band + 1) * third] = (32 * digit + 16)[:, None, None, None]
    return out


def decode_index(frames: np.ndarray) -> np.ndarray:
    """The frame index each frame of (T, H, W, 3) encodes (see :func:`coded_frames`)."""
    frames = np.asarray(frames, dtype=np.float64)
    h, w = frames.shape[1:3]
    third = w // 3
    k = np.zeros(len(frames), dtype=int)
    for band in range(3):
        # Sample the middle of each band, away from the edges the codec blurs.
        x0, x1 = band * third + third // 4, band * third + 3 * third // 4
        level = frames[:, h // 4 : 3 * h // 4, x0:x1].mean(axis=(1, 2, 3))
        k += np.clip(np.round((level - 16) / 32), 0, 7).astype(int) * 8**band
    return k


def write_video(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    codec: str = "h264",
    fps: int = 25,
    gop: int = 12,
    b_frames: int = 2,
) -> Path:
    """Write uint8 (T, H, W, 3) RGB ``frames`` as a real encoded video file.

    ``codec`` is "h264" (libx264, near-lossless, with B-frames) or "mpeg4" (MPEG-4 Part 2, the
    xvid-like codec of UCF101's .avi files). ``gop`` keyframe interval: small so that seeking
    is exercised even in short test videos. ``b_frames``: B-frames between references (UCF101
    and HMDB51 AVIs have them; they are what makes AVI timestamps unreliable).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.asarray(frames, np.uint8)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264" if codec == "h264" else codec, rate=fps)
        stream.width = frames.shape[2]
        stream.height = frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.gop_size = gop
        if codec == "h264":
            stream.options = {"crf": "10", "preset": "ultrafast", "bf": str(b_frames)}
        else:
            stream.options = {"qscale": "2", "bf": str(b_frames)}
            stream.bit_rate = 4_000_000
        for arr in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_frame_folder(
    folder: str | os.PathLike[str],
    frames: np.ndarray,
    pattern: str = "img_{:05d}.jpg",
    start: int = 1,
) -> Path:
    """Write frames as numbered JPEG/PNG images (mmaction2 ``img_00001.jpg`` style by default)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, arr in enumerate(np.asarray(frames, np.uint8)):
        Image.fromarray(arr).save(folder / pattern.format(i + start), quality=95)
    return folder


def write_tiny_checkpoint(
    path: str | os.PathLike[str], kind: str = "pretrain", backbone: str = "r3d", seed: int = 0
) -> Path:
    """A real vidssl checkpoint of a tiny network (width 1/8, 8-frame 32x32 clips, 2 clips per
    video), laid out as ``vidssl pretrain`` writes it (``kind="pretrain"``: the whole pretext
    model, projection head included) or ``vidssl finetune`` (``"finetune"``: a 3-class
    classifier)."""
    import torch

    from vidssl.config import load_config
    from vidssl.eval.recognition import VideoClassifier
    from vidssl.method.order_rate_moco import PretextModel
    from vidssl.models.backbones import build_backbone
    from vidssl.train.checkpoint import FORMAT, save_checkpoint

    cfg = load_config(None, [
        f"model.backbone={backbone}", "model.width=0.125", "data.resize=[32,32]", "data.crop=32",
        "data.num_workers=0", "eval.clips=2", "eval.clip_len=8", "eval.batch_size=16",
        "train.device=cpu", "contrastive.queue_size=64", "train.batch_size=4",
    ])
    torch.manual_seed(seed)
    if kind == "pretrain":
        model: torch.nn.Module = PretextModel.from_config(cfg)
    else:
        model = VideoClassifier(build_backbone(backbone, width=0.125), 3)
    state = {"format": FORMAT, "kind": kind, "config": cfg.to_dict(), "epoch": 1,
             "model": model.state_dict(), "backbone": model.backbone.state_dict()}
    return save_checkpoint(state, path)


def touch(path: Path) -> Path:
    """An empty file at ``path`` (folders made): split-file parsers only need it to exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def write_text(path: Path, text: str) -> Path:
    """``text`` written to ``path`` (folders made): split lists and annotation files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def index_source(lengths: list[int], labels: list[int] | None = None):
    """A VideoSource of in-memory videos whose every pixel holds its frame index (mod 256), so
    clips can be read back (with :func:`frame_index_transform`)."""
    from vidssl.data.records import VideoRecord, VideoSource
    from vidssl.data.video import ArrayVideo

    labels = labels or [i % 2 for i in range(len(lengths))]
    videos = []
    for n in lengths:
        f = (np.arange(n) % 256).astype(np.uint8)[:, None, None, None]
        videos.append(ArrayVideo(np.broadcast_to(f, (n, 4, 4, 3)).copy()))
    records = [VideoRecord(f"v{i}", lab) for i, lab in enumerate(labels)]
    return VideoSource(records, classes=["a", "b"], videos=videos)


def frame_index_transform(frames: np.ndarray, rng: np.random.Generator):
    """A clip transform that keeps the frame index: (T, H, W, 3) -> (T,) float."""
    import torch

    return torch.from_numpy(frames[:, 0, 0, 0].astype(np.float32))
def starts_with_markdown_table(text: str) -> bool:
    """Whether ``text``, after its ``#`` title lines and blank lines, starts with a table a
    markdown renderer draws: a header row, then a separator row with one ``---`` cell per
    column, at the start of the line (no list item, quote or code indentation)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if len(lines) < 3:
        return False
    head, sep = lines[0], lines[1]
    if not (head.startswith("|") and head.rstrip().endswith("|") and sep.startswith("|")):
        return False
    cells = [c.strip() for c in sep.strip().strip("|").split("|")]
    return len(cells) == head.count("|") - 1 and all(
        re.fullmatch(r":?-{3,}:?", c) for c in cells) and lines[2].startswith("|")


# A tiny comparison: seconds per row on one CPU thread (tests/compare).
COMPARE_TINY = [
    "data.dataset=synthetic", "data.synthetic.size=32", "data.synthetic.train_per_class=2",
    "data.synthetic.test_per_class=1", "data.synthetic.min_frames=40",
    "data.synthetic.max_frames=48", "data.resize=[20,20]", "data.crop=16",
    "data.num_workers=0", "data.input=diff", "model.backbone=r3d", "model.width=0.125",
    "sampler.clip_len=8", "sampler.min_len=2", "train.batch_size=4", "train.epochs=1",
    "train.steps_per_epoch=2", "train.threads=1", "train.device=cpu", "train.eval_every=1",
    "contrastive.queue_size=16", "eval.clips=2", "eval.clip_len=8", "eval.batch_size=8",
    "finetune.epochs=1", "finetune.batch_size=8", "finetune.clip_len=8",
    "finetune.test_clips=2", "finetune.milestones=[10]",
]


def write_compare_spec(tmp_path: Path, evaluations: list[str], **extra) -> Path:
    """A compare file in ``tmp_path`` with two rows (order, random init) over base.yaml."""
    spec = {
        "name": "tiny",
        "base": "base.yaml",
        "overrides": ["loss.rate=0"],
        "evaluations": evaluations,
        "out_dir": str(tmp_path / "runs"),
        "methods": [
            {"name": "order", "overrides": ["loss.contrastive=0"]},
            {"name": "random", "pretrain": False, "label": "random init"},
        ],
        **extra,
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"name": "x"}))
    path = tmp_path / "cmp.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


# --------------------------------------------------------------------------------------------
# The package's import graph (tests/test_imports.py, tests/test_layering.py)
# --------------------------------------------------------------------------------------------


def vidssl_modules() -> dict[str, Path]:
    """Every module of the installed vidssl package: dotted name -> file."""
    import vidssl

    package = Path(vidssl.__file__).parent
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def module_imports(name: str, path: Path, known: set[str],
                   type_checking: bool = False) -> set[str]:
    """The vidssl modules ``name`` imports anywhere in its text: at module level and inside
    functions; those under ``if TYPE_CHECKING:`` only with ``type_checking``."""
    import ast

    is_package = path.name == "__init__.py"
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = set() if type_checking else {
        id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
        and getattr(block.test, "id", "") == "TYPE_CHECKING"
        for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names}  # `from pkg import submodule`
    return {m for m in found if m in known and m != name}


def import_graph(type_checking: bool = False) -> dict[str, set[str]]:
    """Module -> the vidssl modules it imports (see :func:`module_imports`). The method
    package imports its method modules by name (importlib): those edges are added."""
    from vidssl.method import METHOD_MODULES

    mods = vidssl_modules()
    graph = {m: module_imports(m, p, set(mods), type_checking) for m, p in mods.items()}
    graph["vidssl.method"] |= set(METHOD_MODULES)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan): the import cycles."""
    import sys

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for v in graph:
        if v not in index:
            visit(v)
    return out


# Tiny view-module training (tests/train/test_view.py, tests/commands/test_view.py).
VIEW_TINY = [
    "data.dataset=synthetic",
    "data.synthetic.variant=direction",
    "data.synthetic.size=16",
    "data.synthetic.min_frames=12",
    "data.synthetic.max_frames=12",
    "data.synthetic.train_per_class=1",
    "data.synthetic.test_per_class=1",
    "data.input=diff",
    "data.resize=[16,16]",
    "data.crop=16",
    "data.num_workers=0",
    "sampler.clip_len=6",
    "sampler.n_segments=2",
    "model.backbone=r3d",
    "model.width=0.125",
    "view.channels=4",
    "view.latent=4",
    "optim.name=adamw",
    "train.epochs=2",
    "train.batch_size=2",
    "train.steps_per_epoch=2",
    "train.threads=1",
]
