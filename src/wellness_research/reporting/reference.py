"""National reference figures shown beside the municipality's own numbers.

Each figure carries its source and the tag of ``reference/DOMAIN.md``: [S] sourced, [D] derived,
[E] estimate, [M] unconfirmed.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["NATIONAL_CERTIFICATION_BY_AGE"]

#: Certification prevalence (要支援 + 要介護) among first-insured persons, end of FY2022.
#: By 10-year age band: 令和7年版高齢社会白書 (DOMAIN.md §2.2, tag [S]). All 65+: 19.0 % [S]
#: (DOMAIN.md §2.1); its split into 要支援/要介護 is derived [D] from the FY2022 level mix of
#: §2.2 (要支援1+2 = 14.3 % + 13.8 % = 28.1 % of the certified): 19.0 × 0.281 = 5.3 and
#: 19.0 − 5.3 = 13.7.
NATIONAL_CERTIFICATION_BY_AGE = pd.DataFrame(
    {
        "age_band": ["65-74", "75-84", "85+", "all 65+"],
        "national_support_pct": [1.4, 6.0, 14.0, 5.3],
        "national_care_pct": [3.0, 11.6, 44.5, 13.7],
        "national_total_pct": [4.4, 17.6, 58.5, 19.0],
        "tag": ["[S]", "[S]", "[S]", "[S] total, [D] split"],
        "source": ["令和7年版高齢社会白書 (FY2022), DOMAIN.md §2.2"] * 3
        + ["DOMAIN.md §2.1 (total) and §2.2 level mix (split)"],
    }
)
