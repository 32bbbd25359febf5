"""scopecal: run and calibrate SCOPE (scope-rtm) on ARC crop retrievals.

The modules follow the workflow's stages: assets, retrieval, bridge, weather,
geometry, inputs, forward, twin, objective, optimizers, trace, metrics, figures.
"""

__version__ = "0.1.0"
