"""How much one still frame tells the class, per synthetic variant: the scene-bias figure.

For each variant, on the compare files' sizes (20 train and 40 test videos per class, 32x32,
seed 0), prints the test accuracy of linear probes fitted on train:
- one frame's pixels and a random 2D CNN's features of it (`vidssl.eval.single_frame`): what
  appearance alone gives, the number the literature reports as UCF101's scene bias (a
  single-frame ImageNet network, the two-stream paper's spatial stream: 72.7 %, chance 1 %);
- random-init R3D (the demo's width 1/4) on RGB clips and on frame differences: the 3D
  baseline every compare table starts from.
Chance is 10 % everywhere. With ``--seeds 0 1 2`` every figure is the mean and 95 % interval
over data seeds (new videos, the same class scenes). A scene-biased variant must show the frame
probes far above chance and rising with ``scene_bias``; the others must not. Example::

    python benchmarks/scene_bias.py --seeds 0 1 2         # every variant, 3 data seeds
    python benchmarks/scene_bias.py --variants scene --sweep 0 0.4 0.8 1
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from vidssl.compare.results import machine_description
from vidssl.compare.table import mean_ci
from vidssl.config import load_config
from vidssl.data.synthetic import VARIANTS, clear_cache, synthetic_source
from vidssl.eval.features import extract_features, random_backbone
from vidssl.eval.probe import probe_features
from vidssl.eval.single_frame import single_frame_probe


def _random_3d(cfg, train, test, data_input: str) -> float:
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, input=data_input))
    net = random_backbone(cfg)
    kw = {"progress": False, "num_workers": 0}
    return probe_features(extract_features(net, train, cfg, **kw),
                          extract_features(net, test, cfg, **kw))["accuracy"]


def _measure(base, variant: str, p_value: float, seed: int, args) -> list[float | None]:
    """The four accuracies (%) of one data seed: frame pixels, frame random 2D, R3D RGB, diff."""
    syn = dataclasses.replace(base.data.synthetic, variant=variant, scene_bias=p_value, seed=seed,
                              train_per_class=args.train_per_class,
                              test_per_class=args.test_per_class, val_per_class=0)
    cfg = dataclasses.replace(base, data=dataclasses.replace(base.data, synthetic=syn))
    train, test = synthetic_source(syn, "train"), synthetic_source(syn, "test")
    out: list[float | None] = [100 * single_frame_probe(train, test, kind=k)["accuracy"]
                               for k in ("pixels", "random2d")]
    out += [None, None] if args.no_3d else [100 * _random_3d(cfg, train, test, x)
                                            for x in ("rgb", "diff")]
    clear_cache()
    return out


def _cell(values: list[float | None]) -> str:
    """``mean`` from one seed, ``mean ± half-width`` of the 95% t-interval from several."""
    if values[0] is None:
        return "–"
    mean, half = mean_ci(values)
    return f"{mean:.1f}" if half is None else f"{mean:.1f} ± {half:.1f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=tuple(VARIANTS))
    p.add_argument("--sweep", nargs="*", type=float, default=[], metavar="P",
                   help="scene_bias values to measure instead of each variant's own")
    p.add_argument("--train-per-class", type=int, default=20)
    p.add_argument("--test-per-class", type=int, default=40)
    p.add_argument("--seeds", nargs="+", type=int, default=[0], metavar="S",
                   help="data seeds (data.synthetic.seed); with several, each figure is the "
                        "mean and 95%% t-interval over them (default: 0)")
    p.add_argument("--no-3d", action="store_true", help="skip the random-init R3D probes")
    args = p.parse_args()
    torch.set_num_threads(1)
    base = load_config("configs/demo.yaml")
    print(f"# {machine_description()}, data seeds {args.seeds}, "
          f"{args.train_per_class} train / {args.test_per_class} test videos per class, 32x32")
    print("| variant | scene_bias | camera | frame pixels | frame random 2D | "
          "random R3D (RGB) | random R3D (diff) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for variant in args.variants:
        for p_value in (args.sweep or [-1.0]):
            start = time.perf_counter()
            runs = [_measure(base, variant, p_value, seed, args) for seed in args.seeds]
            cells = [_cell([run[k] for run in runs]) for k in range(4)]
            spec = VARIANTS[variant]
            shown_p = spec.scene_bias if p_value < 0 else p_value
            seconds = time.perf_counter() - start
            print(f"| {variant} | {shown_p:.1f} | {spec.camera:.1f} | {' | '.join(cells)} |  "
                  f"<!-- seeds {','.join(map(str, args.seeds))}; {seconds:.0f} s -->", flush=True)

if __name__ == "__main__":
    main()
