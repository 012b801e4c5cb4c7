"""``vidssl pretrain-view`` and ``vidssl show-view``: the view-synthesis module (DESIGN 5).

``pretrain-view`` trains the generator G and the flow estimator O and writes the checkpoint that
``view.checkpoint`` of a pretraining config points at. ``show-view`` draws what the module does
to one clip: the clip, the synthesized view and the flow O sees in each (colour-wheel coded),
one row each, so a user can check that the view keeps the motion and changes the look.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from vidssl.commands.common import add_config_args, config_from_args
from vidssl.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain-view",
        help="pretrain the view-synthesis module (generator G + flow estimator O)",
        description=(
            "Train the view-synthesis module of the paper (section III-G): a 3D-conv VAE G whose "
            "views keep a clip's motion (info-max, measured by a flow estimator O trained on the "
            "photometric loss) and lose its appearance (info-min, against a frozen backbone). "
            "Trains on clips of sampler.clip_len consecutive frames of the train split; G uses "
            "the optim section, O its own Adam with view.flow_lr. Writes config.yaml, "
            "view_metrics.csv (losses per epoch) and checkpoint.pt (G and O, atomically after "
            "every epoch and on Ctrl-C; --resume continues it exactly) into train.out_dir; point "
            "view.checkpoint of a pretraining config at it. Example: vidssl pretrain-view "
            "--config configs/view/demo.yaml"
        ),
    )
    add_config_args(p)
    p.add_argument("--overwrite", action="store_true",
                   help="train again in an output folder that holds a view module, deleting "
                        "it (without this flag such a folder is refused)")
    p.add_argument("--resume", metavar="CKPT",
                   help="continue the view training that wrote CKPT (its checkpoint.pt), also "
                        "from the middle of an epoch, as if it had not stopped")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_pretrain_view)

    s = sub.add_parser(
        "show-view",
        help="draw a clip, its synthesized view and both flows to a PNG",
        description=(
            "Run a trained view module on one clip and save a picture with four rows: the clip "
            "as the model sees it, the synthesized view G(x), the flow O(x) and the flow O(G(x)) "
            "(colour wheel: hue = direction, saturation = speed, white = still; both flow rows "
            "share one scale). The clip is preprocessed with the checkpoint's data settings "
            "(evaluation transform: resize and centre crop)."
        ),
    )
    s.add_argument(
        "--checkpoint",
        required=True,
        metavar="PATH",
        help="checkpoint.pt written by vidssl pretrain-view",
    )
    s.add_argument(
        "source",
        metavar="SOURCE",
        help="a video file or a frame folder; or synthetic:INDEX (synthetic:test:INDEX) "
        "for a video of the checkpoint config's data set (train split unless "
        "named)",
    )
    s.add_argument("--png", required=True, metavar="FILE", help="where to write the picture")
    s.add_argument(
        "--start",
        type=int,
        default=-1,
        metavar="FRAME",
        help="first frame of the clip (default: the clip centred in the video)",
    )
    s.add_argument(
        "--mean",
        action="store_true",
        help="decode the posterior mean instead of sampling the VAE noise",
    )
    s.add_argument("--seed", type=int, default=0, help="seed of the VAE noise (default 0)")
    s.add_argument("--device", default="cpu", metavar="DEV", help="cpu (default), cuda, cuda:N")
    s.set_defaults(func=run_show_view)


def run_pretrain_view(args: argparse.Namespace) -> int:
    from vidssl.train.loop import Interrupted
    from vidssl.train.view import train_view

    cfg = config_from_args(args)
    start = time.time()
    try:
        path = train_view(cfg, cfg.train.out_dir, progress=not args.no_progress,
                          overwrite=args.overwrite, resume=args.resume)
    except Interrupted:
        print(f"vidssl: stopped; resume with --resume {cfg.train.out_dir}/checkpoint.pt",
              file=sys.stderr)
        return 130
    print(f"checkpoint: {path} ({time.time() - start:.0f} s)")
    return 0


def _open_source(text: str, cfg: Any) -> Any:
    """A ``Video`` for SOURCE: a path, or ``synthetic:[split:]INDEX`` of the config's data."""
    if text.startswith("synthetic:"):
        from vidssl.data.layouts import build_source

        parts = text.split(":")[1:]
        split = parts[0] if len(parts) == 2 else "train"
        if len(parts) not in (1, 2) or split not in ("train", "test") or not parts[-1].isdigit():
            raise UserError(
                f"SOURCE {text!r}: expected synthetic:INDEX or synthetic:SPLIT:INDEX "
                "(SPLIT train or test, INDEX a number)"
            )
        index = int(parts[-1])
        source = build_source(cfg.data, split)
        if not 0 <= index < len(source):
            raise UserError(f"SOURCE {text!r}: index outside 0..{len(source) - 1}")
        return source.open(index)
    from vidssl.data.video import open_video

    return open_video(text, cfg.data.frame_pattern)


def _read_frames(video: Any, start: int, t: int) -> tuple[int, np.ndarray]:
    """``(start, frames)``: ``t`` frames from ``start``; a video shorter than its header says
    is read again within its true length (its ``num_frames`` is corrected by then)."""
    from vidssl.data.video import ShortVideoError

    try:
        return start, video.frames(list(range(start, start + t)))
    except ShortVideoError:
        if video.num_frames < 2:
            raise
        t = min(t, video.num_frames)
        start = min(start, video.num_frames - t)
        return start, video.frames(list(range(start, start + t)))


def _display(x: np.ndarray, input_mode: str, mean: Any, std: Any) -> np.ndarray:
    """Model-space clip ``(3, T, H, W)`` -> displayable ``(T, H, W, 3)`` in [0, 1]."""
    if input_mode == "diff":
        # Differences: mid-grey = no change, scaled by the largest change in the clip.
        scale = max(float(np.abs(x).max()), 1e-6)
        img = 0.5 + 0.5 * x / scale
    else:
        img = x * np.asarray(std).reshape(3, 1, 1, 1) + np.asarray(mean).reshape(3, 1, 1, 1)
    return np.clip(img.transpose(1, 2, 3, 0), 0.0, 1.0)


def run_show_view(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from vidssl.commands.sample_clip import PICTURE_SUFFIXES
    from vidssl.data.transforms import ClipTransform
    from vidssl.devices import resolve_device
    from vidssl.models.view_synthesis import flow_to_rgb
    from vidssl.train.checkpoint import load_view_module

    if not args.png.lower().endswith(PICTURE_SUFFIXES):
        raise UserError(f"--png {args.png}: the picture must end in "
                        f"{', '.join(PICTURE_SUFFIXES)}")
    device = resolve_device(args.device)
    module, cfg = load_view_module(args.checkpoint, device)
    module.eval()
    video = _open_source(args.source, cfg)
    t = cfg.sampler.clip_len
    if video.num_frames < 2:
        raise UserError(f"{args.source}: {video.num_frames} frame(s); need at least 2")
    t = min(t, video.num_frames)
    start = args.start if args.start >= 0 else (video.num_frames - t) // 2
    start = min(start, video.num_frames - t)
    start, frames = _read_frames(video, start, t)
    t = len(frames)
    transform = ClipTransform.from_config(cfg.data, train=False)
    x = transform(frames, np.random.default_rng(0))[None].to(device)

    torch.manual_seed(args.seed)
    with torch.no_grad():
        view = module.generator(x, sample=not args.mean)[0]
        flow_x = module.flow(x)[0].cpu().numpy()
        flow_v = module.flow(view)[0].cpu().numpy()
    mean, std = transform.mean.flatten().numpy(), transform.std.flatten().numpy()
    rows_img = [
        _display(x[0].cpu().numpy(), cfg.data.input, mean, std),
        _display(view[0].cpu().numpy(), cfg.data.input, mean, std),
    ]
    vmax = max(float(np.hypot(*flow_x).max()), float(np.hypot(*flow_v).max()), 1e-6)

    cell = 1.1
    fig, axes = plt.subplots(4, t, figsize=(cell * t + 1.5, cell * 4 + 0.6), squeeze=False)
    titles = ["clip x", "view G(x)", "flow O(x)", "flow O(G(x))"]
    for r in range(4):
        for c in range(t):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if r < 2:
                ax.imshow(rows_img[r][c], interpolation="nearest")
            elif c < t - 1:
                flow = flow_x if r == 2 else flow_v
                ax.imshow(flow_to_rgb(flow[:, c], vmax), interpolation="nearest")
            else:
                ax.axis("off")
            if c == 0:
                ax.set_ylabel(titles[r], fontsize=8)
    mx, mv = flow_x.mean(axis=(1, 2, 3)), flow_v.mean(axis=(1, 2, 3))
    fig.suptitle(
        f"{args.source} frames {start}..{start + t - 1}  |  mean flow x: ({mx[0]:+.2f}, "
        f"{mx[1]:+.2f}) px, view: ({mv[0]:+.2f}, {mv[1]:+.2f}) px, max {vmax:.2f} px",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(args.png, dpi=100)
    plt.close(fig)
    print(f"wrote {args.png}")
    return 0
