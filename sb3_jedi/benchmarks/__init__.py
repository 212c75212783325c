"""
Benchmarks that ship with the package, so that anyone can run them on their own hardware.

- :mod:`sb3_jedi.benchmarks.world_model`: JEDI's latent world model against DIAMOND's pixel world model (training
  step, imagination throughput, actor-critic update, peak memory, parameters), ``sb3-jedi bench world-model`` or
  ``python -m sb3_jedi.benchmarks.world_model``.
"""

__all__: list[str] = []
