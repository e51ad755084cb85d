"""Wall time of ``wellness_research.data.validate`` on a city-sized medical_claims table.

Builds, with numpy, a medical_claims-shaped frame of about 17 million rows (200,000 people x 84
service months x 4 claim types, each combination kept with probability 17M / 67.2M) with
``person_id`` as a pandas Categorical of strings, plus the 200,000 residents it refers to, and
times three calls: the valid tables; a corrupted copy (1,000 unknown claim-type codes, 1,000
duplicated rows, one resident removed so that person's claims dangle); and the valid tables with
the string columns as plain ``object`` dtype.

Run from the repository root::

    .venv/bin/python benchmarks/bench_validate.py              # 17,000,000 rows
    .venv/bin/python benchmarks/bench_validate.py 1000000      # a smaller table

Target: well under a minute for 17M rows.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from wellness_research.data import validate

N_PERSONS, N_MONTHS, N_TYPES = 200_000, 84, 4
CLAIM_TYPES = ["inpatient", "outpatient", "dental", "pharmacy"]


def build(target: int, seed: int = 20240401) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Residents and a medical_claims frame of about ``target`` rows, all valid."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:07d}" for i in range(N_PERSONS)], dtype=object)
    first = np.datetime64("1930-01", "M")
    birth = (first + rng.integers(0, 12 * 29, N_PERSONS)).astype("datetime64[ns]")
    nat = np.full(N_PERSONS, np.datetime64("NaT"), dtype="datetime64[ns]")
    death = nat.copy()
    death[rng.random(N_PERSONS) < 0.1] = np.datetime64("2027-01-15")  # after every service month
    residents = pd.DataFrame(
        {
            "person_id": ids,
            "birth_month": birth,
            "sex": pd.Categorical.from_codes(rng.integers(0, 2, N_PERSONS), categories=["M", "F"]),
            "district": pd.Categorical.from_codes(
                rng.integers(0, 12, N_PERSONS), categories=[f"D{i:02d}" for i in range(1, 13)]
            ),
            "move_in_date": nat,
            "move_out_date": nat,
            "death_date": death,
        }
    )
    total = N_PERSONS * N_MONTHS * N_TYPES
    keep = np.flatnonzero(rng.random(total) < target / total)
    months = pd.date_range("2019-04-01", periods=N_MONTHS, freq="MS").to_numpy()
    points = rng.integers(0, 200_000, keep.size)
    claims = pd.DataFrame(
        {
            "person_id": pd.Categorical.from_codes(keep // (N_MONTHS * N_TYPES), categories=ids),
            "service_month": months[(keep // N_TYPES) % N_MONTHS],
            "claim_type": pd.Categorical.from_codes(keep % N_TYPES, categories=CLAIM_TYPES),
            "insurer": pd.Categorical.from_codes(rng.integers(0, 2, keep.size), categories=["kokuho", "koki"]),
            "points": points,
            "cost_yen": points * 10,
        }
    )
    return residents, claims


def _time(label: str, tables: dict[str, pd.DataFrame]) -> None:
    start = time.perf_counter()
    report = validate(tables)
    print(f"{label}: {time.perf_counter() - start:.1f} s; ok={report.ok}")
    for v in report.errors:
        print(f"    {v.message}")


def main() -> None:
    target = int(sys.argv[1]) if len(sys.argv) > 1 else 17_000_000
    start = time.perf_counter()
    residents, claims = build(target)
    print(f"built {len(claims):,} medical_claims rows in {time.perf_counter() - start:.1f} s")
    _time("validate (valid)", {"residents": residents, "medical_claims": claims})
    bad = claims.copy()
    bad["claim_type"] = bad["claim_type"].cat.add_categories(["visit"])
    bad.loc[bad.index[:1000], "claim_type"] = "visit"
    bad = pd.concat([bad, bad.iloc[-1000:]], ignore_index=True)
    _time("validate (corrupted)", {"residents": residents.iloc[1:], "medical_claims": bad})
    plain = claims.astype({"person_id": object, "claim_type": object, "insurer": object})
    _time("validate (object dtype strings)", {"residents": residents, "medical_claims": plain})


if __name__ == "__main__":
    main()
