"""
Benchmarks that ship with the package, so that anyone can run them on their own hardware.

- :mod:`sb3_jedi.benchmarks.world_model`: JEDI's latent world model against DIAMOND's pixel world model (training
  step, imagination throughput, actor-critic update, peak memory, parameters), ``sb3-jedi bench world-model`` or
  ``python -m sb3_jedi.benchmarks.world_model``.
- :mod:`sb3_jedi.benchmarks.curves`: the evaluation callback and the JSON record of a learning curve, shared by the
  repository's curve scripts (``benchmarks/learning_curve.py`` for JEDI, ``benchmarks/baseline_curve.py`` for
  Stable-Baselines3's own algorithms).
"""

__all__: list[str] = []
