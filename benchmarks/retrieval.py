"""Chunked retrieval at UCF101 clip-level scale: seconds and peak memory.

UCF101 split 1 at clip level is ~38k test clips querying ~95k train clips (10 clips per video);
the full cosine matrix would be 38k x 95k float32 = 14.4 GB. ``knn_search`` walks it in blocks,
so memory should stay at the inputs plus one block. This script times it on random 512-d
features and reports the process's peak resident memory (``resource.getrusage``) next to the
resident memory just before the search, so the search's own overhead is the difference.

    python benchmarks/retrieval.py                      # 38k x 95k x 512, chunk 4096
    python benchmarks/retrieval.py --queries 3800 --gallery 9500 --threads 2
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import torch

from vidssl.eval.retrieval import retrieval_scores


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc; falls back to the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB else


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=38_000, help="number of query clips")
    ap.add_argument("--gallery", type=int, default=95_000, help="number of gallery clips")
    ap.add_argument("--dim", type=int, default=512, help="feature size")
    ap.add_argument("--classes", type=int, default=101, help="number of classes")
    ap.add_argument("--chunk", type=int, default=4096, help="block side of the chunked search")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    ap.add_argument("--device", default="cpu", help="device for the similarity blocks")
    ap.add_argument("--backend", default="torch", choices=("torch", "faiss"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    q = torch.randn(args.queries, args.dim, generator=g)
    x = torch.randn(args.gallery, args.dim, generator=g)
    qy = torch.randint(0, args.classes, (args.queries,), generator=g).numpy()
    xy = torch.randint(0, args.classes, (args.gallery,), generator=g).numpy()
    before = rss_mb()
    t0 = time.perf_counter()
    acc, idx = retrieval_scores(q, qy, x, xy, topk=(1, 5, 10, 20, 50), chunk_size=args.chunk,
                                backend=args.backend, device=args.device)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    peak = peak_rss_mb()
    full_gb = args.queries * args.gallery * 4 / 1e9
    print(f"retrieval {args.queries} x {args.gallery} x {args.dim}, chunk {args.chunk}, "
          f"{torch.get_num_threads()} threads, device {args.device}, backend {args.backend}")
    print(f"seconds: {secs:.1f}  ({args.queries / secs:.0f} queries/s)")
    print(f"RSS before search: {before:.0f} MiB; peak RSS: {peak:.0f} MiB; "
          f"search overhead: {peak - before:.0f} MiB (full matrix would be {full_gb:.1f} GB)")
    if args.device.startswith("cuda"):
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print("top-k on random labels (should be near k/classes): "
          + ", ".join(f"top{k} {v:.3f}" for k, v in acc.items()))


if __name__ == "__main__":
    main()
