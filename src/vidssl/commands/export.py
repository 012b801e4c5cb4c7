"""``vidssl export``: a checkpoint's encoder as an ONNX or TorchScript file for serving."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``export`` to the vidssl parser."""
    p = sub.add_parser(
        "export",
        help="export a checkpoint's backbone (and head) to ONNX or TorchScript, checked",
        description=(
            "Export the backbone of a pretraining or fine-tuning checkpoint (with --head: "
            "followed by its projection head, or by the fine-tuned classifier) for serving. "
            "Input: prepared clips float32 (batch, C, T, crop, crop) of the checkpoint's "
            "evaluation protocol, batch axis dynamic; output: (batch, D). The written file is "
            "run by onnxruntime (ONNX) or torch.jit.load (TorchScript) on a random batch of "
            "another size and must match PyTorch to 1e-4 before it is put in place. Writes "
            "FILE and FILE.json (shapes and the preprocessing: frames per clip, resize, crop, "
            "mean/std). ONNX needs: pip install 'vidssl[onnx]'. Example: vidssl export "
            "--checkpoint runs/r3d/checkpoint.pt --format onnx"
        ),
    )
    p.add_argument("--checkpoint", required=True, metavar="PATH",
                   help="pretraining or fine-tuning checkpoint")
    p.add_argument("--format", required=True, choices=("onnx", "torchscript"),
                   help="onnx (opset 17, checked with onnxruntime) or torchscript (traced)")
    p.add_argument("--out", metavar="FILE",
                   help="file to write (default: next to the checkpoint, "
                        "<stem>-<output>.onnx or <stem>-<output>.torchscript.pt)")
    p.add_argument("--head", action="store_true",
                   help="append the checkpoint's head: the projection head (output "
                        "'projection') of a pretraining checkpoint, the classifier (output "
                        "'logits') of a fine-tuning one")
    p.add_argument("--overwrite", action="store_true",
                   help="replace FILE (and FILE.json) if they exist")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from vidssl.export import check_onnx_available, default_export_path, export_encoder

    try:
        if args.format == "onnx":
            check_onnx_available()  # before the checkpoint is read: fail fast
        from vidssl.api import load_encoder

        encoder = load_encoder(args.checkpoint, device="cpu")
        output = encoder.head_output if args.head and encoder.head is not None else "features"
        out = args.out or default_export_path(args.checkpoint, args.format, output)
        res = export_encoder(encoder, out, args.format, head=args.head,
                             overwrite=args.overwrite)
    except (ImportError, FileExistsError) as exc:
        print(f"vidssl: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {res.path} ({res.format}): clips {_shape(res.input_shape)} -> "
          f"{res.output_name} {_shape(res.output_shape)}; description in "
          f"{res.metadata_path.name}")
    print(f"checked with {res.runtime} on a batch of {res.check_batch}: max abs difference "
          f"from PyTorch {res.max_abs_diff:.2g}; {res.seconds:.1f} s")
    return 0


def _shape(dims: list[object]) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")"
