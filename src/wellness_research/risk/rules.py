"""The rule-based 事業対象者 criteria on the Kihon Checklist (DOMAIN.md §4.3).

A person qualifies as 事業対象者 (eligible for the 総合事業 services without certification) when
**any one** of seven criteria holds on the 25-item Kihon Checklist (items coded 1 = the risk answer,
DOMAIN.md §4.1):

1. 10 or more of items 1–20 (``c1_general``);
2. 3 or more of items 6–10, 運動器 (``c2_physical``);
3. both items 11 and 12, 栄養 (``c3_nutrition``; item 12 is BMI < 18.5);
4. 2 or more of items 13–15, 口腔 (``c4_oral``);
5. item 16, 閉じこもり (``c5_housebound``);
6. 1 or more of items 18–20, 認知 (``c6_cognition``);
7. 2 or more of items 21–25, うつ (``c7_mood``).

DOMAIN.md tags this list **[M]**: taken from the 厚労省告示 (平成27年) / 総合事業ガイドライン but not
checked word for word, in particular whether (7) belongs to the eligibility rule. ``include_mood``
therefore lets the analysis run with and without it.

Unanswered items (``NaN``) count as not 該当: a criterion holds only on answered risk answers. A
questionnaire with unanswered items may therefore miss a criterion it would meet if complete; the
count of unanswered items is reported beside the flag by :func:`wellness_research.risk.risk_features`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wellness_research.errors import DataValidationError

__all__ = ["JIGYO_CRITERIA", "KCL_ITEMS", "jigyo_taishosha"]

#: The 25 Kihon Checklist item columns (1 = the risk answer; DOMAIN.md §4.1).
KCL_ITEMS: tuple[str, ...] = tuple(f"q{i:02d}" for i in range(1, 26))

#: The criteria of DOMAIN.md §4.3: name -> (items, minimum count of 該当 among them).
JIGYO_CRITERIA: dict[str, tuple[tuple[int, ...], int]] = {
    "c1_general": (tuple(range(1, 21)), 10),
    "c2_physical": ((6, 7, 8, 9, 10), 3),
    "c3_nutrition": ((11, 12), 2),
    "c4_oral": ((13, 14, 15), 2),
    "c5_housebound": ((16,), 1),
    "c6_cognition": ((18, 19, 20), 1),
    "c7_mood": ((21, 22, 23, 24, 25), 2),
}


def jigyo_taishosha(kcl_items: pd.DataFrame, *, include_mood: bool = True) -> pd.DataFrame:
    """Apply the 事業対象者 criteria to Kihon Checklist answers, one row per questionnaire.

    Parameters
    ----------
    kcl_items : pandas.DataFrame
        Columns ``q01``–``q25`` coded 1 (risk answer), 0 (other answer) or missing (unanswered);
        other columns are ignored. Not modified.
    include_mood : bool, default True
        Whether criterion 7 (うつ) makes a person eligible (DOMAIN.md §4.3 flags it as unverified).
        The ``c7_mood`` column is returned either way.

    Returns
    -------
    pandas.DataFrame
        Same index as ``kcl_items``: one boolean column per criterion (``c1_general`` …
        ``c7_mood``), ``n_criteria`` (how many of the eligibility criteria hold) and ``eligible``
        (any of them).

    Raises
    ------
    DataValidationError
        An item column is missing, or a value is not 0, 1 or missing (the message names the column,
        the number of bad rows and an example).

    References
    ----------
    厚生労働省 (2015). 介護予防・日常生活支援総合事業のガイドライン
    (基本チェックリストによる事業対象者の基準); as transcribed in DOMAIN.md §4.3 [M].

    Examples
    --------
    >>> import pandas as pd
    >>> from wellness_research.risk import jigyo_taishosha
    >>> answers = pd.DataFrame(0, index=[0, 1, 2], columns=[f"q{i:02d}" for i in range(1, 26)])
    >>> answers.loc[1, "q16"] = 1                            # 閉じこもり alone qualifies
    >>> answers.loc[2, ["q06", "q07"]] = 1                   # 2 of 5 運動 items: not enough
    >>> jigyo_taishosha(answers)["eligible"].tolist()
    [False, True, False]
    """
    missing = [c for c in KCL_ITEMS if c not in kcl_items.columns]
    if missing:
        raise DataValidationError(f"jigyo_taishosha: kcl_items lacks column(s) {missing} ({len(kcl_items)} rows); "
                                  f"needed are {KCL_ITEMS[0]}..{KCL_ITEMS[-1]}.")
    values = kcl_items[list(KCL_ITEMS)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    raw_na = kcl_items[list(KCL_ITEMS)].isna().to_numpy()
    bad = (~raw_na) & ~np.isin(values, (0.0, 1.0))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataValidationError(
            f"jigyo_taishosha: column {KCL_ITEMS[c]!r} has values other than 0, 1 or missing "
            f"({int(bad.any(axis=1).sum())} rows, e.g. {kcl_items[KCL_ITEMS[c]].iloc[r]!r} at row {r}).")
    risk = np.nan_to_num(values, nan=0.0)
    out = pd.DataFrame(index=kcl_items.index)
    for name, (items, minimum) in JIGYO_CRITERIA.items():
        out[name] = risk[:, [i - 1 for i in items]].sum(axis=1) >= minimum
    used = [c for c in JIGYO_CRITERIA if include_mood or c != "c7_mood"]
    out["n_criteria"] = out[used].sum(axis=1).astype(np.int64)
    out["eligible"] = out["n_criteria"] > 0
    return out
