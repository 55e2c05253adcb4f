"""Empirical reward-model training (installed as ``rcollapse.empirical``).

- ``data``: the paper's controlled length dataset (section 5.2), built offline, and
  users' JSONL rankings and TRL pairs;
- ``model``: reward models, sigmoid(logit) of a one-label sequence classifier;
- ``losses``: the utility loss (1), TRL's Bradley-Terry loss, Plackett-Luce;
- ``monitor``: ``CollapseMonitor`` and its ``transformers.TrainerCallback``;
- ``train``: ``TrainConfig`` and ``train`` on ``transformers.Trainer``;
- ``random_features``: Theorem 1 in a random-feature model (numpy);
- ``warm``, ``soup``: weight-averaged reward models (WARM, Rame et al. 2024).
"""
