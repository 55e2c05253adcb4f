"""The frozen-encoder track's encoding rate: fp32 against bf16, texts per second.

Encodes the (prompt, completion) pairs of the first ``--prompts`` built-in prompts with
``--backbone`` at each encoder precision (``empirical.embeddings``: the pooled features
the classification head reads; bf16 runs the forward pass under ``torch.autocast``), the
pairs in order of length as ``build_embeddings`` sends them, and reports texts/s and the
largest difference of bf16's features from fp32's, beside their mean magnitude. One run
on one machine: compare the two precisions' rates with each other, not across machines.

    python -m rcollapse.benchmarks.encoder_rate --backbone minilm --prompts 48 --threads 1
"""

from __future__ import annotations

import argparse
import os
import platform
import time

__all__ = ["encoder_rates", "main"]


def encoder_rates(*, backbone: str, prompts: int, threads: int, max_length: int = 512,
                  batch_size: int = 64) -> dict:
    """texts/s of fp32 and bf16 on the same pairs, and bf16's largest feature difference."""
    import numpy as np
    import torch

    from rcollapse.empirical.data import build_length_dataset
    from rcollapse.empirical.embeddings import ENCODER_PRECISIONS, _pooled
    from rcollapse.empirical.model import load_reward_model

    torch.set_num_threads(threads)
    examples = build_length_dataset(prompts, seed=0)
    pairs = sorted(((ex.prompt, c) for ex in examples for c in ex.completions),
                   key=lambda p: len(p[0]) + len(p[1]))
    model, tokenizer = load_reward_model(backbone, seed=0, dropout=0.0)
    model.eval()
    result, features = {}, {}
    for precision in ENCODER_PRECISIONS:
        _pooled(model, tokenizer, pairs[:8], max_length=max_length, precision=precision)
        t0 = time.perf_counter()
        rows = [_pooled(model, tokenizer, pairs[k:k + batch_size], max_length=max_length,
                        precision=precision) for k in range(0, len(pairs), batch_size)]
        seconds = time.perf_counter() - t0
        features[precision] = np.concatenate(rows)
        result[precision] = {"texts_per_second": len(pairs) / seconds, "seconds": seconds}
    diff = np.abs(features["bf16"] - features["fp32"])
    return {"backbone": backbone, "texts": len(pairs), "threads": threads,
            "max_length": max_length, "rates": result,
            "bf16_speedup": result["fp32"]["seconds"] / result["bf16"]["seconds"],
            "bf16_max_abs_difference": float(diff.max()),
            "fp32_mean_abs_feature": float(np.abs(features["fp32"]).mean()),
            "machine": platform.processor() or platform.machine(),
            "load_average": os.getloadavg()[0]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rcollapse.benchmarks.encoder_rate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="minilm")
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--save", metavar="FILE.json", default=None,
                        help="also write the result as JSON")
    args = parser.parse_args(argv)
    if args.prompts < 1 or args.threads < 1:
        parser.error(f"--prompts {args.prompts} --threads {args.threads}: valid: integers >= 1")
    out = encoder_rates(backbone=args.backbone, prompts=args.prompts, threads=args.threads)
    for precision, r in out["rates"].items():
        print(f"{precision}: {r['texts_per_second']:.1f} texts/s ({out['texts']} texts, "
              f"{out['threads']} thread(s))")
    print(f"bf16: {out['bf16_speedup']:.2f}x fp32's rate; features within "
          f"{out['bf16_max_abs_difference']:.2g} of fp32's (mean magnitude "
          f"{out['fp32_mean_abs_feature']:.2g}); load {out['load_average']:.2f}")
    if args.save:
        from rcollapse.outputs import write_json

        write_json(args.save, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
