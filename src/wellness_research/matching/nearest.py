"""Nearest-neighbour matching kernels (one exact stratum at a time, positions local to it).

Scalar distances (a propensity score on either scale) use a sort of the controls and
``searchsorted`` — never a dense treated × control matrix: with replacement the k nearest controls
of every treated unit are found by a vectorised two-pointer walk; without replacement a greedy
pass visits the treated in the chosen order and skips used controls with union–find "next free"
pointers to the left and right (amortised near-constant time per step).

Ties rule (documented, deterministic): the matched set of a treated unit is the k nearest controls
**plus every control whose distance equals the k-th nearest distance exactly** (same floating-point
computation ``|d_c − d_t|``). All controls in the set share the treated unit's weight equally, as
R ``Matching``'s ``ties=TRUE``. Without replacement the tied controls are all used up.

References
----------
Abadie, A. and Imbens, G. W. (2006). Large sample properties of matching estimators for average
treatment effects. Econometrica 74(1), 235–267 (matching with ties, eq. 3).
Sekhon, J. S. (2011). Multivariate and propensity score matching software with automated balance
optimization: the Matching package for R. Journal of Statistical Software 42(7) (``ties=TRUE``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["nn_mahalanobis", "nn_with_replacement", "nn_without_replacement"]


def nn_with_replacement(
    dc_sorted: np.ndarray, dt: np.ndarray, *, ratio: int = 1, width: float = np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest controls with ties, with replacement.

    Parameters
    ----------
    dc_sorted : numpy.ndarray
        Control distances, sorted ascending.
    dt : numpy.ndarray
        Treated distances.
    ratio : int, default 1
        k.
    width : float, default inf
        Caliper on ``|d_c − d_t|`` (inclusive).

    Returns
    -------
    lo, hi : numpy.ndarray
        The matched controls of treated ``i`` are ``dc_sorted[lo[i]:hi[i]]`` (a contiguous range,
        because ``|d_c − d_t|`` is monotone on each side of ``d_t``); ``lo == hi``: none.

    Examples
    --------
    >>> nn_with_replacement(np.array([1.0, 3.0, 3.0, 9.0]), np.array([2.0, 3.5, 20.0]), width=5.0)
    (array([0, 1, 4]), array([3, 3, 4]))
    """
    dc = np.asarray(dc_sorted, dtype=float)
    dt = np.asarray(dt, dtype=float)
    n = len(dc)
    nt = len(dt)
    if n == 0:
        z = np.zeros(nt, dtype=np.int64)
        return z, z.copy()
    pos = np.searchsorted(dc, dt, side="left")
    L = pos - 1
    R = pos.copy()
    kth = np.full(nt, np.inf)
    got = np.zeros(nt, dtype=np.int64)
    active = np.ones(nt, dtype=bool)
    for _ in range(ratio):
        dl = np.where(L >= 0, dt - dc[np.maximum(L, 0)], np.inf)
        dr = np.where(R < n, dc[np.minimum(R, n - 1)] - dt, np.inf)
        best = np.minimum(dl, dr)
        ok = active & np.isfinite(best) & (best <= width)
        left = ok & (dl <= dr)
        right = ok & ~(dl <= dr)
        L -= left
        R += right
        kth = np.where(ok, best, kth)
        got += ok
        active = ok
    # extend by ties at exactly the k-th distance, one run of equal control values at a time
    idx = np.flatnonzero((got > 0) & (L >= 0))
    while idx.size:
        eq = dt[idx] - dc[L[idx]] == kth[idx]
        idx = idx[eq]
        if not idx.size:
            break
        L[idx] = np.searchsorted(dc, dc[L[idx]], side="left") - 1
        idx = idx[L[idx] >= 0]
    idx = np.flatnonzero((got > 0) & (R < n))
    while idx.size:
        eq = dc[R[idx]] - dt[idx] == kth[idx]
        idx = idx[eq]
        if not idx.size:
            break
        R[idx] = np.searchsorted(dc, dc[R[idx]], side="right")
        idx = idx[R[idx] < n]
    lo = L + 1
    hi = np.where(got > 0, R, lo)
    return lo, hi


def nn_without_replacement(
    dc_sorted: np.ndarray, dt: np.ndarray, *, ratio: int = 1, width: float = np.inf
) -> list[list[int]]:
    """Greedy k nearest controls with ties, without replacement, treated visited in given order.

    Parameters
    ----------
    dc_sorted : numpy.ndarray
        Control distances, sorted ascending.
    dt : numpy.ndarray
        Treated distances **in the order in which they are to be matched**.
    ratio, width
        As :func:`nn_with_replacement`.

    Returns
    -------
    list of list of int
        Per treated unit (same order as ``dt``), the positions in ``dc_sorted`` of its controls.

    Examples
    --------
    >>> nn_without_replacement(np.array([1.0, 3.0, 9.0]), np.array([3.5, 3.0, 2.0]), width=5.0)
    [[1], [0], []]
    """
    dc = np.asarray(dc_sorted, dtype=float)
    n = len(dc)
    pos = np.searchsorted(dc, np.asarray(dt, dtype=float), side="left").tolist()
    dcl = dc.tolist()
    dtl = np.asarray(dt, dtype=float).tolist()
    right = list(range(n + 1))  # right[i]: smallest free j >= i (n = none)
    left = list(range(n + 1))  # left[i + 1] - 1: largest free j <= i (-1 = none)
    inf = float("inf")

    def find_right(i: int) -> int:
        root = i
        while right[root] != root:
            root = right[root]
        while right[i] != root:
            right[i], i = root, right[i]
        return root

    def find_left(i: int) -> int:
        x = i + 1
        root = x
        while left[root] != root:
            root = left[root]
        while left[x] != root:
            left[x], x = root, left[x]
        return root - 1

    out: list[list[int]] = []
    for d, p in zip(dtl, pos):
        lft = find_left(p - 1) if p > 0 else -1
        rgt = find_right(p)
        chosen: list[int] = []
        kth = inf
        for _ in range(ratio):
            dl = d - dcl[lft] if lft >= 0 else inf
            dr = dcl[rgt] - d if rgt < n else inf
            best = dl if dl <= dr else dr
            if best == inf or best > width:
                break
            kth = best
            if dl <= dr:
                chosen.append(lft)
                lft = find_left(lft - 1) if lft > 0 else -1
            else:
                chosen.append(rgt)
                rgt = find_right(rgt + 1)
        if chosen:
            while lft >= 0 and d - dcl[lft] == kth:
                chosen.append(lft)
                lft = find_left(lft - 1) if lft > 0 else -1
            while rgt < n and dcl[rgt] - d == kth:
                chosen.append(rgt)
                rgt = find_right(rgt + 1)
            for j in chosen:
                right[j] = j + 1
                left[j + 1] = j
        out.append(sorted(chosen))
    return out


def nn_mahalanobis(
    Zt: np.ndarray,
    Zc: np.ndarray,
    *,
    ratio: int = 1,
    replace: bool = False,
    ps_t: np.ndarray | None = None,
    ps_c: np.ndarray | None = None,
    width: float = np.inf,
) -> list[list[int]]:
    """Nearest controls in Mahalanobis distance (inputs already whitened), optionally inside a caliper
    on a scalar score ``ps`` — MatchIt's ``mahvars`` inside a propensity caliper.

    Treated are visited in the order given; cost O(n_t × candidates × p) time, O(n_c) memory.
    Ties: every control whose squared distance equals the k-th smallest exactly joins the set.

    Returns
    -------
    list of list of int
        Per treated unit, positions (into ``Zc``) of its controls.

    Examples
    --------
    >>> nn_mahalanobis(np.array([[0.0], [1.0]]), np.array([[0.9], [0.2], [5.0]]))
    [[1], [0]]
    """
    nc = len(Zc)
    used = np.zeros(nc, dtype=bool)
    out: list[list[int]] = []
    if ps_c is not None:
        ps_c = np.asarray(ps_c, dtype=float)
        corder = np.argsort(ps_c, kind="stable")
        ps_sorted = ps_c[corder]
    for i in range(len(Zt)):
        if ps_c is not None and np.isfinite(width):
            lo = np.searchsorted(ps_sorted, ps_t[i] - width, side="left")
            hi = np.searchsorted(ps_sorted, ps_t[i] + width, side="right")
            lo, hi = max(lo - 1, 0), min(hi + 1, nc)
            cand = corder[lo:hi]
            cand = cand[np.abs(ps_c[cand] - ps_t[i]) <= width]
        else:
            cand = np.arange(nc)
        if not replace:
            cand = cand[~used[cand]]
        if cand.size == 0:
            out.append([])
            continue
        d2 = ((Zc[cand] - Zt[i]) ** 2).sum(axis=1)
        k = min(ratio, cand.size)
        kth = np.partition(d2, k - 1)[k - 1]
        chosen = np.sort(cand[d2 <= kth])
        if not replace:
            used[chosen] = True
        out.append(chosen.tolist())
    return out
