"""``vidssl demo``: the whole pipeline on the built-in synthetic data, in minutes on a CPU.

Pretrain the demo config, then evaluate the pretrained backbone and the same network at random
init *exactly the same way* (same clips, eval-mode BatchNorm, same features, same probe), print
one table and write a report with pictures. Each stage reuses what an earlier run of the demo
left in the output folder (a finished pretraining, a fine-tuning checkpoint), so a killed demo
continues where it stopped.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vidssl.config import Config
from vidssl.data.layouts import build_source, data_workers
from vidssl.eval.features import extract_features, random_backbone
from vidssl.eval.plots import plot_curves, plot_tsne
from vidssl.eval.report import format_seconds, write_report
from vidssl.protocols import PROTOCOLS, Scoring
from vidssl.resources import available_cores, configure_threads
from vidssl.train.checkpoint import load_backbone
from vidssl.train.pretrain import ensure_pretrained

DEMO_CONFIG = "configs/demo.yaml"


def _pretrained_checkpoint(cfg: Config, progress: bool) -> Path:
    """Pretrain, or resume / reuse what an earlier demo run left in the output folder (the
    rule of ``vidssl compare``: :func:`vidssl.train.pretrain.ensure_pretrained`)."""

    return ensure_pretrained(cfg, progress, tqdm.write, "demo", what="demo",
                             restart_hint="choose another --out (or delete that folder to "
                             "start again)")


def _evaluate(name: str, backbone: Any, checkpoint: Path | None, cfg: Config, out: Path,
              sources: tuple[Any, Any], do_finetune: bool,
              progress: bool) -> tuple[dict[str, Any], list[tuple[str, Path]]]:
    """Retrieval, linear probe, t-SNE (and fine-tuning) of one backbone on the same features:
    the protocols of :data:`vidssl.protocols.PROTOCOLS`, run as ``vidssl compare`` runs them."""

    tag = name.replace(" ", "_")
    train_src, test_src = sources
    train = extract_features(backbone, train_src, cfg, progress=progress,
                             desc=f"{name}: train features")
    test = extract_features(backbone, test_src, cfg, progress=progress,
                            desc=f"{name}: test features")

    def scoring(protocol: str, **kw: Any) -> Scoring:
        return Scoring(cfg, "test", lambda: backbone, lambda split: (train, test),
                       out / f"{protocol}_{tag}", sources=sources, progress=progress,
                       checkpoint=checkpoint, **kw)

    ret = PROTOCOLS["retrieval"].run(scoring("retrieval", level="video",
                                             grid=out / f"retrieval_{tag}.png"))
    probe = PROTOCOLS["probe"].run(scoring("probe"))
    images = [(f"Retrieval, {name}: test queries and their top-3 train videos",
               Path(ret["grid"]))] if ret["grid"] else []
    images += [(f"t-SNE of test-video features, {name}",
                plot_tsne(test.video_level(), test.labels, out / f"tsne_{tag}.png",
                          classes=test.classes, title=f"t-SNE, {name}", seed=cfg.train.seed))]
    row = {"retrieval top-1": ret["top1"], "retrieval top-5": ret["top5"],
           "retrieval top-10": ret["top10"], "linear probe": probe["accuracy"]}
    if do_finetune:
        ft = PROTOCOLS["finetune"].run(scoring("finetune"))
        row["fine-tune top-1"] = ft["video_top1"]
    return row, images


def format_table(rows: dict[str, dict[str, float]], chance: float) -> str:
    """A markdown table: one column per method, one row per metric, plus the gain."""
    methods = list(rows)
    metrics: list[str] = []
    for r in rows.values():
        metrics += [m for m in r if m not in metrics]
    head = ["metric", *methods]
    if len(methods) == 2:
        head.append("gain (points)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in metrics:
        vals = [rows[k].get(m, math.nan) for k in methods]
        cells = [m] + [f"{100 * v:.1f}" for v in vals]
        if len(methods) == 2:
            cells.append(f"{100 * (vals[1] - vals[0]):+.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"\nChance level: {100 * chance:.1f}%. Figures are percentages on the synthetic "
                 "test split (video level).")
    return "\n".join(lines)


def run_demo(cfg: Config, do_finetune: bool = True, progress: bool = True) -> dict[str, Any]:
    """Run the demo; return the table rows and write ``<out>/demo.md`` / ``demo.json``."""

    t0 = time.perf_counter()
    out = Path(cfg.train.out_dir).parent
    out.mkdir(parents=True, exist_ok=True)
    tqdm.write(f"demo: synthetic '{cfg.data.synthetic.variant}' videos "
               f"({cfg.data.synthetic.size}x{cfg.data.synthetic.size}), generating...")
    sources = (build_source(cfg.data, "train"), build_source(cfg.data, "test"))
    generate_s = time.perf_counter() - t0
    threads = configure_threads(cfg.train.threads)
    workers = data_workers(cfg.data, cfg.train.device)
    tqdm.write(f"demo: {len(sources[0])} train / {len(sources[1])} test videos, "
               f"{len(sources[0].classes)} classes ({generate_s:.0f} s); {threads} torch "
               f"thread{'s' if threads != 1 else ''}, {workers} loader "
               f"worker{'s' if workers != 1 else ''} on {available_cores()} cores")
    t_pre = time.perf_counter()
    ckpt = _pretrained_checkpoint(cfg, progress)
    pretrain_s = time.perf_counter() - t_pre

    pretrained, _ = load_backbone(ckpt, device="cpu")
    backbones = {"random init": random_backbone(cfg), "pretrained": pretrained}
    rows: dict[str, dict[str, float]] = {}
    images: list[tuple[str, Path]] = []
    t_eval = time.perf_counter()
    for name, bb in backbones.items():
        rows[name], imgs = _evaluate(name, bb, None if name == "random init" else ckpt, cfg,
                                     out, sources, do_finetune, progress)
        images += imgs
    evaluate_s = time.perf_counter() - t_eval
    metrics_csv = Path(cfg.train.out_dir) / "metrics.csv"
    rate = 0.0
    if metrics_csv.is_file():
        images.insert(0, ("Pretraining curves (train and held-out pretext metrics)",
                          plot_curves({"pretrain": metrics_csv}, out / "pretrain_curves.png")))
        last = _last_row(metrics_csv)
        rate = _clips_per_second(metrics_csv, cfg.train.batch_size)
        for key, label in (("val_order_acc", "held-out order accuracy"),
                           ("val_rate_mse", "held-out rate MSE"),
                           ("val_loss_contrastive", "held-out contrastive loss"),
                           ("val_contrastive_acc", "held-out contrastive accuracy")):
            if key in last:
                rows["pretrained"][label] = last[key]

    chance = 1.0 / max(1, len(sources[1].classes))
    table = format_table({k: {m: v for m, v in r.items() if not m.startswith("held-out")}
                          for k, r in rows.items()}, chance)
    total = time.perf_counter() - t0
    pretext = {m: v for m, v in rows["pretrained"].items() if m.startswith("held-out")}
    results = {"table": rows, "chance": chance, "generate_seconds": generate_s,
               "pretrain_seconds": pretrain_s, "evaluate_seconds": evaluate_s,
               "total_seconds": total, "pretrain_clips_per_second": rate,
               "threads": threads, "workers": workers,
               "checkpoint": str(ckpt), "variant": cfg.data.synthetic.variant}
    n = cfg.sampler.n_segments
    notes = [f"The whole demo took {format_seconds(total)}: generating the videos "
             f"{format_seconds(generate_s)}, pretraining {format_seconds(pretrain_s)}, "
             f"evaluating both networks {format_seconds(evaluate_s)} ({threads} torch "
             f"thread{'s' if threads != 1 else ''}, {workers} loader "
             f"worker{'s' if workers != 1 else ''}); pretraining steps ran at {rate:.0f} "
             "clips/s.",
             "Held-out pretext metrics of the pretrained model: "
             + ", ".join(f"{k} {100 * v:.1f} %" if k.endswith("accuracy") else f"{k} {v:.3g}"
                         for k, v in pretext.items())
             + f" (order chance {100 / math.factorial(n):.1f} %).",
             "Random init is the same network with weights from the same seed, evaluated "
             "exactly like the pretrained one (eval-mode BatchNorm, same clips and probe)."]
    report = write_report(out, "demo", "vidssl demo: pretrained vs random init", results,
                          images=images, config=cfg, notes=notes, summary=table)
    print("\n" + table)
    for line in notes[:2]:
        print(line)
    print(f"report: {report}")
    return results


def _clips_per_second(path: Path, batch_size: int) -> float:
    """Training clips per second over the pretraining's epochs (the held-out evaluations and
    checkpoints between epochs left out: the rate to set against benchmarks/loader.py's)."""
    import csv

    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    steps, seconds, prev = 0, 0.0, 0
    for row in rows:
        step = int(float(row.get("step") or 0))
        if step <= prev:  # rows of an earlier run in the same folder: count the last run only
            steps, seconds, prev = 0, 0.0, 0
        steps, prev = steps + step - prev, step
        seconds += float(row.get("seconds") or 0.0)
    return steps * batch_size / seconds if seconds > 0 else 0.0


def _last_row(path: Path) -> dict[str, float]:
    import csv

    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, float] = {}
    for row in rows:  # the latest non-empty value of each column
        for k, v in row.items():
            if v not in ("", None):
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
    return out
