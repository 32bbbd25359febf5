"""Make the SYNTHETIC second field of config/sites.yaml (not a real field, not measured weather).

Writes, beside this script:

- ``field_synthetic.geojson``: a made-up arable field of about 1 ha in northern France (49.87 N, 2.30 E), drawn
  for this example;
- ``weather_synthetic.csv``: hourly forcing at that field (UTC), May to September 2022, from
  :func:`scopecal.weather.synthetic_weather` (a season 2 degC cooler and cloudier than the default field's example),
  its ``note`` column saying SYNTHETIC on every row.

Run from the repository root (a few seconds):

    python examples/sites/make_example.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from scopecal import weather

HERE = Path(__file__).resolve().parent
SEED = 2022
# lon, lat corners: an irregular quadrilateral of about 110 m x 90 m
CORNERS = [(2.29920, 49.87010), (2.30070, 49.87000), (2.30085, 49.87085), (2.29930, 49.87095)]


def main() -> None:
    field = HERE / "field_synthetic.geojson"
    polygon = {"type": "Polygon", "coordinates": [[*CORNERS, CORNERS[0]]]}
    feature = {
        "type": "Feature",
        "properties": {"FieldName": "france_synthetic", "note": "SYNTHETIC"},
        "geometry": polygon,
    }
    field.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}) + "\n")

    times = pd.date_range("2022-05-01", "2022-09-30 23:00", freq="1h")
    table = weather.synthetic_weather(
        field, times, np.random.default_rng(SEED), mean_air_temp_c=15.0, mean_cloudiness=0.65, longitude_deg=2.3
    )
    table["note"] = "SYNTHETIC (examples/sites/make_example.py)"
    table.to_csv(HERE / "weather_synthetic.csv", index=False)
    print(f"wrote {field} and {HERE / 'weather_synthetic.csv'} ({len(table)} hours)")


if __name__ == "__main__":
    main()
