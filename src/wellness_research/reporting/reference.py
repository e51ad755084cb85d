"""National reference figures shown beside the municipality's own numbers.

Each figure carries its source and the tag of ``reference/DOMAIN.md``: [S] sourced, [D] derived,
[E] estimate, [M] unconfirmed.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["NATIONAL_CERTIFICATION_BY_AGE"]

#: Certification prevalence (要支援 + 要介護) among first-insured persons by 10-year age band,
#: end of FY2022. Source: 令和7年版高齢社会白書 (DOMAIN.md §2.2, tag [S]).
NATIONAL_CERTIFICATION_BY_AGE = pd.DataFrame(
    {
        "age_band": ["65-74", "75-84", "85+"],
        "national_support_pct": [1.4, 6.0, 14.0],
        "national_care_pct": [3.0, 11.6, 44.5],
        "national_total_pct": [4.4, 17.6, 58.5],
        "tag": ["[S]", "[S]", "[S]"],
        "source": ["令和7年版高齢社会白書 (FY2022), DOMAIN.md §2.2"] * 3,
    }
)
