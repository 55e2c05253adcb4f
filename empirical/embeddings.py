"""An on-disk cache of a frozen encoder's pooled representation of (prompt, completion) pairs.

The representation is what the sequence-classification head of ``model.load_reward_model``
reads: the input of its ``classifier`` module, captured by a forward pre-hook in eval mode
(no dropout). For BERT-family models (tiny, minilm) that is the pooler output,
tanh(W h_[CLS] + b) (``BertForSequenceClassification`` feeds ``pooler_output`` to its
classifier); for DeBERTa-v2/v3 the ``ContextPooler`` output; a head that reads the whole
sequence (RoBERTa's) gets the first token's hidden state. Each pair is tokenized as for
scoring (``model.encode_pairs``: one sequence, truncating the longer part first, at
``max_length``).

One ``.npy`` file per pair, ``DIR/BACKBONE_KEY/SHA[:2]/SHA.npy``, SHA being the SHA-256 of
the pair, ``max_length`` and the encoder's precision (``fp32``, or ``bf16``: the forward
pass under ``torch.autocast`` in bfloat16: on this project's 2-core machine (AMX),
minilm, one thread, 2.5x the rate of fp32, pooled features within 0.0017 of fp32's, whose
mean magnitude is 0.049; measured with ``python -m rcollapse.benchmarks.encoder_rate``,
recorded in ``benchmarks/results/encoder_rate.json``); ``backbone_key`` names the backbone (its resolved directory,
the names and sizes of its files; for ``tiny``, whose weights are built from the seed, the
seed). ``DIR`` is the ``cache`` argument, else ``$RCOLLAPSE_CACHE``, else
``~/.cache/rcollapse/embeddings``. A second build of the same pairs encodes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["CACHE_ENV", "ENCODER_PRECISIONS", "EmbeddingTable", "backbone_key", "build_embeddings", "cache_root",
           "pair_key"]

#: The environment variable that moves the cache.
CACHE_ENV = "RCOLLAPSE_CACHE"


def cache_root(cache=None) -> Path:
    """The cache directory: ``cache``, else ``$RCOLLAPSE_CACHE``, else
    ``~/.cache/rcollapse/embeddings``."""
    if cache is not None:
        return Path(cache)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path.home() / ".cache" / "rcollapse" / "embeddings"


def backbone_key(backbone: str, *, seed: int) -> str:
    """A folder name for a backbone's embeddings: ``tiny-seedS-HASH`` (the tiny config and
    the seed its random weights come from) or ``NAME-HASH`` of the resolved directory and
    the names and sizes of its files."""
    from rcollapse.empirical.model import TINY_CONFIG, resolve_backbone

    path = resolve_backbone(backbone)
    if path is None:
        ident = {"tiny": TINY_CONFIG, "seed": seed}
        name = f"tiny-seed{seed}"
    else:
        files = sorted((str(p.relative_to(path)), p.stat().st_size)
                       for p in path.rglob("*") if p.is_file())
        ident = {"path": str(path.resolve()), "files": files}
        name = path.name
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    return f"{name}-{digest}"


#: The encoder precisions of ``build_embeddings``.
ENCODER_PRECISIONS = ("fp32", "bf16")


def pair_key(prompt: str, completion: str, *, max_length: int, precision: str = "fp32") -> str:
    """The SHA-256 (hex) of one (prompt, completion) pair at ``max_length`` tokens, encoded
    in ``precision``."""
    fields = [prompt, completion, max_length] + ([] if precision == "fp32" else [precision])
    blob = json.dumps(fields, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


def _pooled(model, tokenizer, chunk, *, max_length: int, precision: str = "fp32") -> np.ndarray:
    """The classifier's input for a batch of pairs (see the module docstring)."""
    import contextlib

    import torch

    seen = {}
    hook = model.classifier.register_forward_pre_hook(
        lambda module, args: seen.__setitem__("x", args[0]))
    try:
        enc = tokenizer([p for p, _ in chunk], [c for _, c in chunk], truncation="longest_first",
                        max_length=max_length, padding=True, return_tensors="pt")
        device = next(model.parameters()).device
        cast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
                else contextlib.nullcontext())
        with torch.no_grad(), cast:
            model(**{k: v.to(device) for k, v in enc.items()})
    finally:
        hook.remove()
    x = seen["x"]
    if x.dim() == 3:  # a head that reads the sequence: its first token
        x = x[:, 0, :]
    return x.float().cpu().numpy()


class EmbeddingTable:
    """The embeddings of a set of pairs in memory: ``rows(pairs)`` -> (len, d) float32."""

    def __init__(self, keys: dict, matrix: np.ndarray, *, encoded: int, seconds: float):
        self.index, self.matrix = keys, matrix
        self.encoded, self.seconds = encoded, seconds

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def rows(self, pairs) -> np.ndarray:
        return self.matrix[[self.index[tuple(p)] for p in pairs]]


def build_embeddings(pairs, *, backbone: str, seed: int, max_length: int = 256, cache=None,
                     batch_size: int = 64, threads: int | None = None, precision: str = "fp32",
                     progress: bool = True) -> EmbeddingTable:
    """Encode each distinct pair not yet in the cache (the model is loaded only then; the
    pairs in order of length, so that a batch carries little padding), write it, and
    return the table of all ``pairs``. When it encoded anything it prints one line on
    stderr, with or without ``progress`` (the bar): how many texts, the seconds and the
    rate in texts/s."""
    if precision not in ENCODER_PRECISIONS:
        raise ValueError(f"--encoder-precision {precision!r}: valid: "
                         + ", ".join(ENCODER_PRECISIONS))
    distinct = list(dict.fromkeys(tuple(p) for p in pairs))
    folder = cache_root(cache) / backbone_key(backbone, seed=seed)
    files = [folder / k[:2] / f"{k}.npy" for k in
             (pair_key(p, c, max_length=max_length, precision=precision) for p, c in distinct)]
    missing = [i for i, f in enumerate(files) if not f.is_file()]
    missing.sort(key=lambda i: len(distinct[i][0]) + len(distinct[i][1]))
    t0 = time.perf_counter()
    if missing:
        _encode_missing([distinct[i] for i in missing], [files[i] for i in missing],
                        backbone=backbone, seed=seed, max_length=max_length,
                        batch_size=batch_size, threads=threads, precision=precision,
                        progress=progress)
    seconds = time.perf_counter() - t0
    if missing:
        print(f"embeddings: encoded {len(missing)} texts in {seconds:.1f} s "
              f"({len(missing) / max(seconds, 1e-9):.1f} texts/s); {len(distinct) - len(missing)} "
              f"from the cache {folder}", file=sys.stderr, flush=True)
    matrix = np.stack([np.load(f) for f in files]) if files else np.zeros((0, 0), np.float32)
    return EmbeddingTable({p: i for i, p in enumerate(distinct)}, matrix,
                          encoded=len(missing), seconds=seconds)


def _encode_missing(pairs, files, *, backbone, seed, max_length, batch_size, threads,
                    precision, progress) -> None:
    import torch
    from tqdm.auto import tqdm

    from rcollapse.empirical.model import load_reward_model

    if threads is not None:
        torch.set_num_threads(threads)
    model, tokenizer = load_reward_model(backbone, seed=seed, dropout=0.0)
    model.eval()
    if not hasattr(model, "classifier"):
        raise ValueError(f"--backbone {backbone}: its classification model has no 'classifier' "
                         "module to read the pooled representation from")
    with tqdm(total=len(pairs), desc="embeddings", unit="text", disable=not progress) as bar:
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            for f, row in zip(files[start:start + batch_size],
                              _pooled(model, tokenizer, chunk, max_length=max_length,
                                      precision=precision)):
                f.parent.mkdir(parents=True, exist_ok=True)
                tmp = f.with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(tmp, row.astype(np.float32))
                os.replace(tmp, f)
            bar.update(len(chunk))
