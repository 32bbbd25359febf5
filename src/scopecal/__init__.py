"""scopecal: run and calibrate SCOPE (scope-rtm) on ARC crop retrievals.

The modules follow the workflow's stages: assets, retrieval, bridge, weather,
geometry, inputs, forward, figures.
"""

import os

# scope-rtm draws a tqdm progress bar on every call; tqdm reads this when scope-rtm imports it.
os.environ.setdefault("TQDM_DISABLE", "1")

__version__ = "0.1.0"
