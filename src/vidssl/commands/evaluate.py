"""CLI commands that evaluate a backbone: ``finetune``, ``retrieve``, ``linear-probe``,
``extract``, ``tsne``, and ``plot-curves``.

Every evaluation command takes the backbone from ``--checkpoint PATH`` (a pretraining or
fine-tuning checkpoint) or ``--init random`` (the config's backbone, seed ``train.seed``).
The experiment config is the checkpoint's own unless ``--config FILE`` names another (then the
file's data / eval / finetune sections apply, but the ``model`` section and ``data.input``
always come from the checkpoint: they describe the network that was trained); ``key=value``
overrides apply last. Results go to ``--out DIR`` (default: the checkpoint's folder) as
``<task>.json`` plus a short ``<task>.md`` report with its pictures.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vidssl.commands.common import shortcut_overrides
from vidssl.config import Config, ConfigError, apply_overrides, config_from_dict, load_config
from vidssl.data.layouts import LAYOUTS, labelled_datasets
from vidssl.protocols import PROTOCOLS


def _add_backbone_args(p: argparse.ArgumentParser, protocol: str = "") -> None:
    """The options every evaluation command shares; ``protocol`` (a :data:`PROTOCOLS` name)
    says whether it needs labelled videos (``--dataset`` then offers only those)."""
    labelled = not protocol or PROTOCOLS[protocol].needs_labels
    p.add_argument("--checkpoint", metavar="PATH",
                   help="pretraining (or fine-tuning) checkpoint whose backbone is evaluated")
    p.add_argument("--init", choices=("checkpoint", "random"), default="checkpoint",
                   help="'random': evaluate the config's backbone with random weights "
                        "(seed train.seed) instead of a checkpoint, the baseline of the paper's "
                        "tables; it is evaluated exactly like a pretrained one (default: "
                        "checkpoint)")
    p.add_argument("--config", metavar="FILE",
                   help="experiment YAML for the data / eval / finetune sections (default: the "
                        "checkpoint's config; needed with --init random unless the defaults do)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="override config keys, e.g. data.root=/data/UCF101 eval.clips=5 "
                        "(values parsed as YAML)")
    p.add_argument("--dataset", choices=labelled_datasets() if labelled else tuple(LAYOUTS),
                   help="dataset to evaluate on (shortcut for data.dataset=NAME; default: the "
                        "config's)")
    p.add_argument("--root", metavar="DIR",
                   help="dataset folder (shortcut for data.root=DIR)")
    p.add_argument("--split", type=int, choices=(1, 2, 3),
                   help="official UCF101 / HMDB51 split (shortcut for data.split=N; default 1)")
    p.add_argument("--device", metavar="DEV",
                   help="cpu, cuda or cuda:N (shortcut for train.device=...; default auto)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="DataLoader worker processes (shortcut for data.num_workers=N)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_out_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--out", metavar="DIR",
                   help=f"folder for {what} (default: next to the checkpoint; with --init "
                        "random: train.out_dir)")


def _overrides(args: argparse.Namespace) -> list[str]:
    return shortcut_overrides(args, ("dataset", "root", "split", "device", "workers"))


def resolve_backbone(args: argparse.Namespace) -> tuple[Any, Config, str]:
    """``(backbone, config, init)`` from ``--checkpoint`` / ``--init`` / ``--config``."""
    from vidssl.eval.features import random_backbone

    overrides = _overrides(args)
    if args.init == "random":
        if args.checkpoint:
            raise ConfigError("give either --checkpoint or --init random, not both")
        cfg = load_config(args.config, overrides)
        return random_backbone(cfg), cfg, "random"
    if not args.checkpoint:
        raise ConfigError("--checkpoint PATH is required (or --init random for the baseline)")
    from vidssl.train.checkpoint import load_backbone

    backbone, ckpt_cfg = load_backbone(args.checkpoint)
    _refuse_model_overrides(overrides, ckpt_cfg, args.checkpoint)
    if args.config:
        cfg = load_config(args.config, overrides)
        cfg.model = ckpt_cfg.model
        cfg.data.input = ckpt_cfg.data.input
    else:
        cfg = config_from_dict(apply_overrides(ckpt_cfg.to_dict(), overrides))
    return backbone, cfg, "checkpoint"


# What describes the trained network: taken from the checkpoint, never from the command line.
_NETWORK_KEYS = ("model", "data.input")


def _refuse_model_overrides(overrides: list[str], ckpt_cfg: Config, checkpoint: str) -> None:
    """An override of a model key (or ``data.input``) that contradicts the checkpoint would
    evaluate one network and label the results with another: refuse it, naming the key.
    An override that repeats the checkpoint's own value is harmless and allowed."""
    from vidssl.config import parse_override

    base = ckpt_cfg.to_dict()
    for text in overrides:
        key = ".".join(parse_override(text)[0])
        if not any(key == k or key.startswith(k + ".") for k in _NETWORK_KEYS):
            continue
        cfg = config_from_dict(apply_overrides(base, [text]))
        if cfg.model != ckpt_cfg.model or cfg.data.input != ckpt_cfg.data.input:
            node: Any = base
            for part in key.split("."):
                node = node.get(part, "<unset>") if isinstance(node, dict) else "<unset>"
            raise ConfigError(
                f"{text}: contradicts the checkpoint {checkpoint}, whose {key} is {node!r}; "
                "the model keys and data.input of an evaluation are the checkpoint's (they "
                "describe the network that was trained): drop the override"
            )


def _out_dir(args: argparse.Namespace, cfg: Config, sub: str = "") -> Path:
    from vidssl.train.run_dir import prepare_out_dir

    if args.out:
        out = Path(args.out)
    else:
        base = Path(args.checkpoint).parent if args.checkpoint else Path(cfg.train.out_dir)
        out = base / sub if sub else base
    return prepare_out_dir(out, "--out")


def _tag(cfg: Config) -> str:
    numbered = LAYOUTS[cfg.data.dataset].numbered_splits
    split = f"-split{cfg.data.split}" if numbered else ""
    return f"{cfg.data.dataset}{split}"


def register(sub: argparse._SubParsersAction) -> None:
    """Adds this group's commands to the vidssl parser."""
    p = sub.add_parser(
        "finetune",
        help="fine-tune a backbone for action recognition (UCF101 / HMDB51 / folder / synthetic)",
        description=(
            "Fine-tune for action recognition (DESIGN 7): the backbone plus a new linear "
            "classifier (dropout finetune.dropout), trained on random 16-frame clips with the "
            "training augmentation, tested with 10 uniformly spaced centre-cropped clips per "
            "video (softmax averaged: video-level top-1; clip-level top-1 beside it). Writes "
            "finetune.csv, finetune_last.pt (every epoch, atomically; rerunning with the same "
            "--out resumes), finetune.json and finetune.md. Example: vidssl finetune "
            "--checkpoint runs/r3d/checkpoint.pt --config configs/finetune/ucf101_r3d.yaml "
            "data.root=/data/UCF101 --split 1"
        ),
    )
    _add_backbone_args(p, "finetune")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default: <checkpoint folder>/finetune-<dataset>-splitN; "
                        "with --init random: <train.out_dir>/finetune-<dataset>-splitN)")
    p.add_argument("--no-resume", action="store_true",
                   help="start over even if the output folder holds finetune_last.pt (deletes "
                        "that fine-tuning; without this flag it is resumed, but only if it "
                        "started from the same checkpoint and settings)")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="start N processes with torchrun (DistributedDataParallel); same as "
                        "'torchrun --nproc_per_node N -m vidssl finetune ...'")
    p.set_defaults(func=run_finetune)

    p = sub.add_parser(
        "retrieve",
        help="nearest-neighbour video retrieval top-k (test videos query train videos)",
        description=(
            "Video retrieval (the VCOP protocol, DESIGN 7): eval.clips clips of "
            "eval.clip_len frames per video, centre crop, backbone in eval mode; test items "
            "query train items by cosine similarity; top-k is a hit when an item of the "
            "query's class is among the k nearest (k from eval.topk). The search is chunked "
            "(eval.chunk_size) so UCF101 clip level fits in a few GB. Writes retrieval-*.json, "
            ".md and a grid picture of queries and their top-3 (hits green, misses red)."
        ),
    )
    _add_backbone_args(p, "retrieval")
    _add_out_arg(p, "retrieval-<dataset>-<level>-<feature>.json/.md/_grid.png")
    p.add_argument("--level", choices=("video", "clip"),
                   help="video: mean of the clip features per video (default, eval.level); "
                        "clip: every clip is its own query / gallery item")
    p.add_argument("--feature", choices=("pool", "conv5"),
                   help="pool: the pooled backbone output (default, eval.feature); conv5: "
                        "VCOP's conv5 map max-pooled (1,2,2) and flattened")
    p.add_argument("--backend", choices=("torch", "faiss"), default="torch",
                   help="similarity search: chunked torch matmul + topk (default), or faiss "
                        "(exact inner product; needs pip install 'vidssl[faiss]')")
    p.add_argument("--grid", metavar="PNG",
                   help="where to write the retrieval grid (default: in the output folder)")
    p.add_argument("--grid-queries", type=int, default=8, metavar="N",
                   help="queries (rows) in the grid, one per class (default 8)")
    p.set_defaults(func=run_retrieve)

    p = sub.add_parser(
        "linear-probe",
        help="logistic regression on frozen video-level features",
        description=(
            "Linear probe: frozen backbone, the video-level features of retrieval (mean of "
            "eval.clips clip features), standardised on the train split, scikit-learn "
            "LogisticRegression; reports test accuracy. Writes linear-probe-*.json and .md."
        ),
    )
    _add_backbone_args(p, "probe")
    _add_out_arg(p, "linear-probe-<dataset>-<feature>.json/.md")
    p.add_argument("--feature", choices=("pool", "conv5"),
                   help="which feature (default eval.feature, see 'vidssl retrieve --help')")
    p.add_argument("--C", type=float, default=1.0, dest="C",
                   help="inverse L2 regularisation strength of the logistic regression "
                        "(default 1.0)")
    p.set_defaults(func=run_probe)

    p = sub.add_parser(
        "extract",
        help="backbone features for a folder of videos (.npy + JSON index)",
        description=(
            "Extract features for every video file / frame folder under VIDEO_DIR "
            "(recursively): eval.clips uniformly spaced clips per video, centre crop. Writes "
            "FEATURES.npy (videos x D, mean over clips), FEATURES.clips.npy with --per-clip "
            "(videos x clips x D) and FEATURES.json (row -> video path). Videos that cannot be "
            "decoded are skipped and listed in the index."
        ),
    )
    p.add_argument("video_dir", metavar="VIDEO_DIR",
                   help="folder of videos (KEY=VALUE overrides, if any, follow it directly)")
    _add_backbone_args(p)
    p.add_argument("--out", required=True, metavar="FEATURES",
                   help="output path stem, e.g. feats/ucf (writes feats/ucf.npy, .json)")
    p.add_argument("--per-clip", action="store_true",
                   help="also write the per-clip features (FEATURES.clips.npy)")
    p.add_argument("--feature", choices=("pool", "conv5"),
                   help="which feature (default eval.feature, see 'vidssl retrieve --help')")
    p.add_argument("--clips", type=int, metavar="N",
                   help="clips per video (default eval.clips)")
    p.set_defaults(func=run_extract)

    p = sub.add_parser(
        "tsne",
        help="t-SNE picture of video features coloured by class (Fig. 4)",
        description=(
            "t-SNE of video-level features (Fig. 4 of the paper), coloured by class. Features "
            "come from the backbone on the chosen split, or from --features (written by "
            "'vidssl extract --per-clip' or the demo). Writes tsne-<dataset>-<split>.png and .md."
        ),
    )
    _add_backbone_args(p)
    _add_out_arg(p, "the picture and its report")
    p.add_argument("--set", dest="which", choices=("train", "test"), default="test",
                   help="which split's videos to embed (default test)")
    p.add_argument("--features", metavar="FILE",
                   help="precomputed features (.npy or .json of 'vidssl extract') instead of a "
                        "backbone")
    p.add_argument("--classes", type=int, nargs="+", metavar="LABEL",
                   help="only these 0-based class labels (the paper's Fig. 4 shows 0 10 20 30 40)")
    p.add_argument("--max-videos", type=int, default=2000, metavar="N",
                   help="embed at most N videos (evenly spaced; t-SNE is quadratic, default 2000)")
    p.set_defaults(func=run_tsne)

    p = sub.add_parser(
        "plot-curves",
        help="training curves (or final-value bars) from CSV logs",
        description=(
            "Plot metrics from CSV logs written during training (metrics.csv of pretraining, "
            "finetune.csv of fine-tuning): one panel per metric, one line per run. With --bars, "
            "the last value of each metric per run as grouped bars (the pretext-metric "
            "figures: order accuracy, rate error, contrastive loss)."
        ),
    )
    p.add_argument("logs", nargs="+", metavar="[LABEL=]CSV",
                   help="CSV log files, optionally labelled (e.g. ours=runs/a/metrics.csv)")
    p.add_argument("--out", required=True, metavar="PNG", help="picture to write")
    p.add_argument("--columns", nargs="+", metavar="NAME",
                   help="metrics to draw (default: every numeric column)")
    p.add_argument("--x", default="epoch", help="column for the x axis (default epoch)")
    p.add_argument("--bars", action="store_true",
                   help="draw the last value of each metric per run as bars instead of curves")
    p.set_defaults(func=run_plot_curves)


def _progress(args: argparse.Namespace) -> bool:
    return not args.no_progress


def run_finetune(args: argparse.Namespace) -> int:
    import sys

    if args.nproc > 1:
        from vidssl.train.launch import relaunch_with_torchrun

        return relaunch_with_torchrun(args.nproc, sys.argv[1:])
    from vidssl.train.finetune import finetune, stopped_message
    from vidssl.train.loop import Interrupted

    backbone, cfg, init = resolve_backbone(args)
    out = _out_dir(args, cfg, f"finetune-{_tag(cfg)}" + ("-random" if init == "random" else ""))
    # a NaN is one line and exit status 3 (cli.main), as in every command that trains
    try:
        res = finetune(backbone if init == "checkpoint" else None, cfg, out_dir=out,
                       resume=not args.no_resume, progress=_progress(args), init=init,
                       source=args.checkpoint or "")
    except Interrupted:  # Ctrl-C / SIGTERM, after the last finished epoch's checkpoint
        print(stopped_message(out), file=sys.stderr)
        return 130
    if not res:  # another rank under torchrun: rank 0 tests and reports
        return 0
    print(f"video top-1 {res['video_top1']:.4f}  clip top-1 {res['clip_top1']:.4f}  "
          f"({res['num_test_videos']} test videos)")
    print(f"report: {out / 'finetune.md'}")
    return 0


def run_retrieve(args: argparse.Namespace) -> int:
    from vidssl.eval.report import write_report
    from vidssl.eval.retrieval import evaluate_retrieval

    backbone, cfg, init = resolve_backbone(args)
    level = args.level or cfg.eval.level
    feature = args.feature or cfg.eval.feature
    out = _out_dir(args, cfg)
    name = f"retrieval-{_tag(cfg)}-{level}-{feature}" + ("-random" if init == "random" else "")
    grid = Path(args.grid) if args.grid else out / f"{name}_grid.png"
    res = evaluate_retrieval(backbone, cfg, level=level, feature=feature, backend=args.backend,
                             grid=grid, grid_queries=args.grid_queries,
                             progress=_progress(args))
    res = {"task": "retrieval", "dataset": cfg.data.dataset, "split": cfg.data.split,
           "backbone": cfg.model.backbone, "init": init, "checkpoint": args.checkpoint or "",
           **res}
    topk = [f"top{k}" for k in cfg.eval.topk]
    images = [("Queries and their top-3 (green: hit, red: miss)", grid)] if res["grid"] else []
    report = write_report(out, name, f"Retrieval: {cfg.data.dataset}, {level} level, {feature}",
                          res, images=images, config=cfg, headline=topk)
    print("  ".join(f"{k} {res[k]:.4f}" for k in topk))
    print(f"report: {report}")
    return 0


def run_probe(args: argparse.Namespace) -> int:
    from vidssl.eval.probe import linear_probe
    from vidssl.eval.report import write_report

    backbone, cfg, init = resolve_backbone(args)
    feature = args.feature or cfg.eval.feature
    out = _out_dir(args, cfg)
    res = linear_probe(backbone, cfg, feature=feature, C=args.C, progress=_progress(args))
    res = {"task": "linear-probe", "dataset": cfg.data.dataset, "split": cfg.data.split,
           "backbone": cfg.model.backbone, "init": init, "checkpoint": args.checkpoint or "",
           **res}
    name = f"linear-probe-{_tag(cfg)}-{feature}" + ("-random" if init == "random" else "")
    report = write_report(out, name, f"Linear probe: {cfg.data.dataset}, {feature}", res,
                          config=cfg, headline=("accuracy", "train_accuracy"))
    print(f"linear probe accuracy {res['accuracy']:.4f} ({res['num_test_videos']} test videos)")
    print(f"report: {report}")
    return 0


def run_extract(args: argparse.Namespace) -> int:
    from vidssl.api import Encoder
    from vidssl.data.layouts import build_source

    args.overrides = [*(args.overrides or []), "data.dataset=unlabeled",
                      f"data.root={args.video_dir}"]
    backbone, cfg, _ = resolve_backbone(args)
    encoder = Encoder(backbone, cfg, device=cfg.train.device, checkpoint=args.checkpoint)
    feats = encoder.features(build_source(cfg.data, "all"), feature=args.feature,
                             clips=args.clips, progress=_progress(args), desc="extract")
    written = feats.save(args.out, per_clip=args.per_clip)
    print(f"{len(feats)} videos, {feats.dim}-d features: "
          + ", ".join(str(p) for p in written.values()))
    if feats.skipped:
        print(f"skipped {len(feats.skipped)} videos that could not be decoded (listed in "
              f"{written['index']})")
    return 0


def run_tsne(args: argparse.Namespace) -> int:
    import numpy as np

    from vidssl.eval.features import FeatureSet
    from vidssl.eval.plots import plot_tsne
    from vidssl.eval.report import write_report

    if args.features:
        feats = FeatureSet.load(args.features)
        cfg = load_config(args.config, _overrides(args)) if args.config else Config()
        out = Path(args.out) if args.out else Path(args.features).parent
        name = f"tsne-{Path(args.features).stem}"
    else:
        from vidssl.data.layouts import build_source
        from vidssl.eval.features import extract_features

        backbone, cfg, init = resolve_backbone(args)
        source = build_source(cfg.data, args.which)
        feats = extract_features(backbone, source, cfg, progress=_progress(args),
                                 desc=f"{args.which} features")
        out = _out_dir(args, cfg)
        name = f"tsne-{_tag(cfg)}-{args.which}" + ("-random" if init == "random" else "")
    rows = np.arange(len(feats))
    if args.classes:
        rows = rows[np.isin(feats.labels, args.classes)]
        if len(rows) < 4:
            raise ConfigError(f"--classes {args.classes}: only {len(rows)} videos to embed")
    if len(rows) > args.max_videos:
        rows = rows[np.linspace(0, len(rows) - 1, args.max_videos).round().astype(int)]
    png = plot_tsne(feats.video_level()[rows], feats.labels[rows], out / f"{name}.png",
                    classes=feats.classes, seed=cfg.train.seed)
    report = write_report(out, name, "t-SNE of video features",
                          {"task": "tsne", "videos": int(len(rows)), "feature": feats.feature,
                           "skipped_videos": feats.skipped},
                          images=[("t-SNE, coloured by class", png)], config=cfg)
    print(f"picture: {png}\nreport: {report}")
    return 0


def run_plot_curves(args: argparse.Namespace) -> int:
    from vidssl.eval.plots import plot_bars, plot_curves, read_csv_log

    logs: dict[str, str] = {}
    for item in args.logs:
        label, sep, path = item.partition("=")
        if not sep:
            label, path = Path(item).parent.name or Path(item).stem, item
        if label in logs:
            label = f"{label}#{len(logs)}"
        if not Path(path).is_file():
            raise FileNotFoundError(f"CSV log not found: {path}")
        logs[label] = path
    if args.bars:
        last = {}
        for label, path in logs.items():
            cols = read_csv_log(path)
            last[label] = {k: float(v[-1]) for k, v in cols.items()
                           if len(v) and k not in (args.x, "step", "seconds", "time")}
        png = plot_bars(last, args.out, metrics=args.columns or ())
    else:
        png = plot_curves(logs, args.out, columns=args.columns or (), x=args.x)
    print(f"picture: {png}")
    return 0
