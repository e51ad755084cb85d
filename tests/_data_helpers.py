"""A small, hand-built, valid set of all twelve input tables (a few rows each), for data tests.

Every value is typed by hand so that each rule of the data dictionary can be broken on purpose
in exactly one row. Four residents:

* P001 woman born 1940-05, alive, resident throughout; KCL, checkup, 非該当 decision, SOFT, てくポ.
* P002 man born 1945-11, moved in 2020-06-15; KCL, short-term service episode, outreach, てくポ.
* P003 woman born 1935-02, died 2023-08-20; checkup, two consecutive certifications, LTC claims.
* P004 man born 1950-07, moved out 2024-01-31; short-term episode not started, outreach not answered.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

D = pd.Timestamp
NAT = pd.NaT


def _dates(*values: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values)), dtype="datetime64[ns]")


def valid_tables() -> dict[str, pd.DataFrame]:
    """Return a fresh dict of the twelve tables in contract dtypes; every rule holds."""
    residents = pd.DataFrame(
        {
            "person_id": ["P001", "P002", "P003", "P004"],
            "birth_month": _dates("1940-05-01", "1945-11-01", "1935-02-01", "1950-07-01"),
            "sex": ["F", "M", "F", "M"],
            "district": ["D01", "D03", "D12", "D05"],
            "move_in_date": _dates(None, "2020-06-15", None, None),
            "move_out_date": _dates(None, None, None, "2024-01-31"),
            "death_date": _dates(None, None, "2023-08-20", None),
        }
    )
    kcl = {"person_id": ["P001", "P002"], "survey_date": _dates("2022-06-01", "2023-07-10")}
    answers_p001 = [0, 0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1]
    answers_p002 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0, 0, 0]
    for i in range(25):
        kcl[f"q{i + 1:02d}"] = pd.array([answers_p001[i], answers_p002[i]], dtype="Int64")
    kihon_checklist = pd.DataFrame(kcl)

    health_checkups = pd.DataFrame(
        {
            "person_id": ["P001", "P003"],
            "checkup_date": _dates("2022-09-12", "2021-10-04"),
            "height_cm": [152.3, 148.0],
            "weight_kg": [48.0, np.nan],
            "bmi": [20.7, np.nan],
            "sbp": pd.array([128, 142], dtype="Int64"),
            "dbp": pd.array([76, 88], dtype="Int64"),
            "hba1c": [5.6, 6.1],
            "ldl_c": pd.array([118, None], dtype="Int64"),
            "egfr": [68.5, 44.2],
        }
    )
    ltc_certifications = pd.DataFrame(
        {
            "certification_id": ["C0001", "C0002", "C0003"],
            "person_id": ["P003", "P003", "P001"],
            "application_date": _dates("2021-11-01", "2022-10-15", "2023-01-10"),
            "decision_date": _dates("2021-12-01", "2022-11-20", "2023-02-10"),
            "level": ["要支援2", "要介護1", "非該当"],
            "valid_from": _dates("2021-12-01", "2022-12-01", None),
            "valid_to": _dates("2022-11-30", "2023-11-30", None),
        }
    )
    ltc_claims = pd.DataFrame(
        {
            "person_id": ["P003", "P003", "P003"],
            "service_month": _dates("2022-01-01", "2023-01-01", "2023-08-01"),
            "service_type": ["prevention", "home", "care_management"],
            "units": [4000, 9000, 1200],
            "cost_yen": [40000, 90000, 12000],
            "benefit_yen": [36000, 81000, 12000],
        }
    )
    medical_claims = pd.DataFrame(
        {
            "person_id": pd.Categorical(["P001", "P003", "P002"]),
            "service_month": _dates("2022-05-01", "2023-08-01", "2023-03-01"),
            "claim_type": pd.Categorical(["outpatient", "inpatient", "pharmacy"]),
            "insurer": pd.Categorical(["kokuho", "koki", "kokuho"]),
            "points": [1500, 60000, 800],
            "cost_yen": [15000, 600000, 8000],
        }
    )
    soft_sites = pd.DataFrame(
        {
            "site_id": ["S001", "S002"],
            "district": ["D01", "D03"],
            "start_date": _dates("2024-04-01", "2024-06-01"),
            "end_date": _dates(None, "2025-03-31"),
        }
    )
    soft_attendance = pd.DataFrame(
        {
            "person_id": ["P001", "P001", "P002"],
            "site_id": ["S001", "S001", "S002"],
            "session_date": _dates("2024-04-08", "2024-04-08", "2024-06-03"),
            "mode": ["live", "recorded", "live"],
        }
    )
    short_term_episodes = pd.DataFrame(
        {
            "episode_id": ["E001", "E002"],
            "person_id": ["P002", "P004"],
            "referral_route": ["outreach", "self"],
            "assessment_date": _dates("2022-05-10", "2023-02-01"),
            "able_to_improve": [True, False],
            "start_date": _dates("2022-05-20", None),
            "end_date": _dates("2022-08-19", None),
            "sessions_attended": [12, 0],
            "completed": [True, False],
            "destination": ["community_activity", None],
        }
    )
    outreach_contacts = pd.DataFrame(
        {
            "contact_id": ["K001", "K002"],
            "person_id": ["P002", "P004"],
            "survey_date": _dates("2022-04-15", "2022-04-15"),
            "responded": [True, False],
            "risk_flag": pd.array([True, None], dtype="boolean"),
            "visit_date": _dates("2022-05-02", None),
            "visit_result": ["assessed", None],
        }
    )
    tekupo_users = pd.DataFrame(
        {"person_id": ["P001", "P002"], "registration_date": _dates("2021-11-01", "2022-03-15")}
    )
    tekupo_activity = pd.DataFrame(
        {
            "person_id": ["P001", "P001", "P002"],
            "month": _dates("2021-11-01", "2021-12-01", "2022-03-01"),
            "steps": [150000, 180000, 90000],
            "points_earned": [40, 55, 20],
            "points_redeemed": [0, 30, 0],
        }
    )
    return {
        "residents": residents,
        "kihon_checklist": kihon_checklist,
        "health_checkups": health_checkups,
        "ltc_certifications": ltc_certifications,
        "ltc_claims": ltc_claims,
        "medical_claims": medical_claims,
        "soft_sites": soft_sites,
        "soft_attendance": soft_attendance,
        "short_term_episodes": short_term_episodes,
        "outreach_contacts": outreach_contacts,
        "tekupo_users": tekupo_users,
        "tekupo_activity": tekupo_activity,
    }
