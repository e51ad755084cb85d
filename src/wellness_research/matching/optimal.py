"""Optimal pair matching and optimal full matching inside one exact stratum.

Both functions work on *local* positions (0 … n_t−1 for the treated, 0 … n_c−1 for the controls)
and on a distance that is either the absolute difference of a one-dimensional score (the
propensity score or its logit, already computed by the caller) or the Mahalanobis distance between
covariate vectors. :func:`~wellness_research.matching.match` calls them once per exact stratum and
builds the :class:`~wellness_research.matching.result.MatchResult`.

Algorithms
----------
* :func:`optimal_pair` solves a linear assignment problem (each treated unit replicated ``ratio``
  times) with :func:`scipy.optimize.linear_sum_assignment` when the dense matrix is small, and with
  :func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching` (LAPJVsp) on the sparse graph of
  pairs inside the caliper otherwise. Pairs outside the caliper are allowed only at a prohibitive
  cost, so the solution first maximises the number of links and then minimises their total distance.
* :func:`full_match` solves the minimum-cost *edge cover* of the bipartite treated–control graph,
  which is exactly optimal full matching without ratio restrictions (Rosenbaum 1991: a minimal
  edge cover is a forest of stars, i.e. subclasses of one treated and ≥ 1 controls or one control
  and ≥ 1 treated, and its cost is the total within-subclass treated–control distance; Hansen &
  Klopfer 2006 solve the same problem as a network flow). The edge cover is reduced to an
  assignment problem (Schrijver 2003, Section 19.3): every unit first takes its cheapest partner
  (cost ``m_v``); a pair (i, j) covering both ends at once saves ``m_i + m_j − d_ij``; the best
  set of disjoint pairs is a minimum-weight matching on the (sparse) pairs with a positive saving,
  solved exactly by LAPJVsp. The same reduction is used by pymatchit-causal 0.6.1.

Size limits (raise :class:`~wellness_research.errors.ProblemSizeError`, naming the sizes, rather
than exhausting memory):

* ``optimal_pair``: a dense ``(ratio·n_t) × n_c`` cost matrix is used up to
  :data:`MAX_DENSE_CELLS` (2·10⁷ cells, 160 MB); beyond it a caliper is required and the number of
  treated–control pairs inside the caliper may not exceed :data:`MAX_SPARSE_EDGES` (2·10⁷).
* ``full_match``: every treated–control pair is evaluated once, in row blocks, up to
  :data:`MAX_PRICED_PAIRS` (4·10⁸ pairs, e.g. 2,000 × 200,000), and at most
  :data:`MAX_SPARSE_EDGES` pairs may have a positive saving; LaLonde's 185 × 15,992 takes
  about a second.

Ties: among several solutions of equal total distance the one returned is a deterministic function
of the distances; units are sorted by their coordinates before solving, and units with identical
coordinates by a caller-supplied key (``tie_key_treated``/``tie_key_control``;
:func:`~wellness_research.matching.match` passes a hash of each row's full content), so the
subclasses, not only the weights, do not depend on row order.

References
----------
Rosenbaum, P. R. (1989). Optimal matching for observational studies. JASA 84(408), 1024–1032.
Rosenbaum, P. R. (1991). A characterization of optimal designs for observational studies.
JRSS-B 53(3), 597–610.
Hansen, B. B. (2004). Full matching in an observational study of coaching for the SAT.
JASA 99(467), 609–618.
Hansen, B. B. and Klopfer, S. O. (2006). Optimal full matching and related designs via network
flows. JCGS 15(3), 609–627.
Schrijver, A. (2003). Combinatorial Optimization: Polyhedra and Efficiency, Vol. A, Chapter 19
(minimum-weight edge covers). Springer.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
from scipy import optimize, sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from wellness_research.errors import ConfigurationError, ProblemSizeError

__all__ = [
    "MAX_DENSE_CELLS",
    "MAX_PRICED_PAIRS",
    "MAX_SPARSE_EDGES",
    "Metric",
    "full_match",
    "optimal_pair",
]

Metric = Literal["abs", "mahalanobis"]

MAX_DENSE_CELLS = 20_000_000
MAX_SPARSE_EDGES = 20_000_000
MAX_PRICED_PAIRS = 400_000_000

_PRICE_BLOCK = 2_000_000  # pairs per pricing block (16 MB of float64)


# --------------------------------------------------------------------------------------------
# validation and geometry


def _prepare(
    cost_treated: np.ndarray,
    cost_control: np.ndarray,
    metric: str,
    inverse_cov: np.ndarray | None,
    caliper_width: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate the inputs and embed both groups so that distance = Euclidean distance."""
    if metric not in get_args(Metric):
        raise ConfigurationError(
            f"metric={metric!r} is not valid; use one of {list(get_args(Metric))}"
        )
    if caliper_width is not None:
        cw = float(caliper_width)
        if not np.isfinite(cw) or cw < 0:
            raise ConfigurationError(
                f"caliper_width={caliper_width!r} is not valid; use a finite number ≥ 0 or None"
            )
    xt = np.array(cost_treated, dtype=float, copy=True)
    xc = np.array(cost_control, dtype=float, copy=True)
    for name, x in (("cost_treated", xt), ("cost_control", xc)):
        if x.ndim not in (1, 2):
            raise ConfigurationError(
                f"{name} has shape {x.shape}; expected (n,) scores or (n, d) covariates"
            )
        if not np.all(np.isfinite(x)):
            raise ConfigurationError(f"{name} contains NaN or infinite values")
    if xt.ndim == 1:
        xt = xt[:, None]
    if xc.ndim == 1:
        xc = xc[:, None]
    if xt.shape[1] != xc.shape[1]:
        raise ConfigurationError(
            f"cost_treated has {xt.shape[1]} columns and cost_control {xc.shape[1]}; they must agree"
        )
    d = xt.shape[1]
    if metric == "abs":
        if d != 1:
            raise ConfigurationError(
                f"metric='abs' needs one score per unit, got {d} columns; use metric='mahalanobis'"
            )
        if inverse_cov is not None:
            raise ConfigurationError("inverse_cov is only used with metric='mahalanobis'")
        return xt, xc
    if inverse_cov is None:
        inverse_cov = np.linalg.pinv(_pooled_within_cov(xt, xc))
    vi = np.asarray(inverse_cov, dtype=float)
    if vi.shape != (d, d) or not np.allclose(vi, vi.T):
        raise ConfigurationError(
            f"inverse_cov must be a symmetric ({d}, {d}) matrix, got shape {vi.shape}"
        )
    eigval, eigvec = np.linalg.eigh(vi)
    if eigval.min() < -1e-10 * max(1.0, abs(eigval).max()):
        raise ConfigurationError("inverse_cov must be positive semi-definite")
    root = eigvec * np.sqrt(np.clip(eigval, 0.0, None))  # vi = root @ root.T
    return xt @ root, xc @ root


def _pooled_within_cov(xt: np.ndarray, xc: np.ndarray) -> np.ndarray:
    """Pooled within-group covariance (MatchIt's default for ``distance = "mahalanobis"``)."""
    parts = [x - x.mean(axis=0) for x in (xt, xc) if len(x) > 0]
    centred = np.vstack(parts)
    dof = max(len(centred) - len(parts), 1)
    return np.atleast_2d(centred.T @ centred / dof)


def _canonical_order(x: np.ndarray, key: np.ndarray | None = None) -> np.ndarray:
    """Order of the rows by their coordinates (first column first), then by ``key``.

    ``key`` (e.g. a hash of each row's full content) breaks ties between units with identical
    coordinates, so that which of them the solver sees first does not depend on row order.
    """
    if key is None:
        return np.lexsort(x.T[::-1]) if x.shape[1] > 1 else np.argsort(x[:, 0], kind="stable")
    return np.lexsort((key, *x.T[::-1]))


def _check_key(key: np.ndarray | None, n: int, name: str) -> np.ndarray | None:
    if key is None:
        return None
    k = np.asarray(key)
    if k.shape != (n,):
        raise ConfigurationError(f"{name} has shape {k.shape}; expected ({n},), one key per unit")
    return k


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)


def _pair_distances(zt: np.ndarray, zc: np.ndarray, ti: np.ndarray, cj: np.ndarray) -> np.ndarray:
    diff = zt[ti] - zc[cj]
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def _dense_distances(zt: np.ndarray, zc: np.ndarray) -> np.ndarray:
    if zt.shape[1] == 1:
        return np.abs(zt[:, 0][:, None] - zc[:, 0][None, :])
    sq = (zt**2).sum(1)[:, None] + (zc**2).sum(1)[None, :] - 2.0 * zt @ zc.T
    return np.sqrt(np.clip(sq, 0.0, None))


def _caliper_edges(
    zt: np.ndarray, zc: np.ndarray, caliper: float, limit: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All treated–control pairs within ``caliper`` (inclusive), with their distances."""
    if zt.shape[1] == 1:
        order = np.argsort(zc[:, 0], kind="stable")
        sc = zc[order, 0]
        lo = np.searchsorted(sc, zt[:, 0] - caliper, side="left")
        hi = np.searchsorted(sc, zt[:, 0] + caliper, side="right")
        counts = hi - lo
        total = int(counts.sum())
        if total > limit:
            raise ProblemSizeError(
                f"{total:,} treated–control pairs lie inside the caliper ({len(zt):,} treated × "
                f"{len(zc):,} controls); the limit is {limit:,}. Use a narrower caliper or exact strata."
            )
        ti = np.repeat(np.arange(len(zt)), counts)
        offs = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        cj = order[np.repeat(lo, counts) + offs]
        dist = np.abs(zt[ti, 0] - zc[cj, 0])
        keep = dist <= caliper  # guard against rounding in the shifted bounds
        return ti[keep], cj[keep], dist[keep]
    tree_t, tree_c = cKDTree(zt), cKDTree(zc)
    total = int(tree_t.count_neighbors(tree_c, caliper))
    if total > limit:
        raise ProblemSizeError(
            f"{total:,} treated–control pairs lie inside the caliper ({len(zt):,} treated × "
            f"{len(zc):,} controls); the limit is {limit:,}. Use a narrower caliper or exact strata."
        )
    rec = tree_t.sparse_distance_matrix(tree_c, caliper, output_type="ndarray")
    return rec["i"].astype(np.intp), rec["j"].astype(np.intp), rec["v"].astype(float)


# --------------------------------------------------------------------------------------------
# optimal pair matching


def optimal_pair(
    cost_treated: np.ndarray,
    cost_control: np.ndarray,
    *,
    ratio: int = 1,
    caliper_width: float | None = None,
    metric: Metric = "abs",
    inverse_cov: np.ndarray | None = None,
    tie_key_treated: np.ndarray | None = None,
    tie_key_control: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal k:1 matching without replacement: the links that minimise the total distance.

    Parameters
    ----------
    cost_treated : numpy.ndarray
        Shape ``(n_t,)`` scores (``metric="abs"``) or ``(n_t, d)`` covariates
        (``metric="mahalanobis"``) of the treated units.
    cost_control : numpy.ndarray
        The same for the ``n_c`` controls.
    ratio : int, default 1
        Controls per treated unit (each control is used at most once).
    caliper_width : float or None, default None
        Largest admissible distance, in the units of the distance itself (the caller converts a
        caliper given in standard deviations). ``None``: no caliper.
    metric : {"abs", "mahalanobis"}, default "abs"
        Absolute score difference, or Mahalanobis distance ``sqrt((x−y)ᵀ S⁻¹ (x−y))``.
    inverse_cov : numpy.ndarray or None, default None
        ``S⁻¹`` for the Mahalanobis distance; by default the (pseudo-)inverse of the pooled
        within-group covariance of the covariates given.
    tie_key_treated, tie_key_control : numpy.ndarray or None, default None
        One sortable key per unit (e.g. ``pandas.util.hash_pandas_object(data, index=False)``)
        that orders units with identical coordinates before solving. Among several optimal
        solutions the one returned is a deterministic function of the coordinates and these
        keys, hence independent of row order; without keys, identical units keep their order.

    Returns
    -------
    treated, control : numpy.ndarray
        Local positions, one entry per link, sorted by treated then control position. The number
        of links is first maximised (at most ``ratio`` per treated, at most one per control, only
        inside the caliper) and their total distance then minimised. A treated unit with no
        admissible control, or left without one because controls ran short, does not appear; one
        may receive fewer than ``ratio`` controls when controls run short.

    Raises
    ------
    ConfigurationError
        An option or an input array is invalid.
    ProblemSizeError
        The dense matrix would exceed :data:`MAX_DENSE_CELLS` without a caliper, or the caliper
        graph exceeds :data:`MAX_SPARSE_EDGES` pairs.

    References
    ----------
    Rosenbaum, P. R. (1989). Optimal matching for observational studies. JASA 84(408), 1024–1032
    (the assignment problem of Section 2). Crouse, D. F. (2016). On implementing 2D rectangular
    assignment algorithms. IEEE TAES 52(4), 1679–1696 (the solver used).

    Examples
    --------
    >>> import numpy as np
    >>> optimal_pair(np.array([0.0, 1.0]), np.array([0.1, 0.9, 5.0]))
    (array([0, 1]), array([0, 1]))
    """
    if isinstance(ratio, bool) or not isinstance(ratio, (int, np.integer)) or ratio < 1:
        raise ConfigurationError(f"ratio={ratio!r} is not valid; use an integer ≥ 1")
    zt, zc = _prepare(cost_treated, cost_control, metric, inverse_cov, caliper_width)
    n_t, n_c = len(zt), len(zc)
    if n_t == 0 or n_c == 0:
        return _empty()
    kt = _check_key(tie_key_treated, n_t, "tie_key_treated")
    kc = _check_key(tie_key_control, n_c, "tie_key_control")
    ot, oc = _canonical_order(zt, kt), _canonical_order(zc, kc)
    zt, zc = zt[ot], zc[oc]
    k = int(ratio)
    rows = k * n_t
    cells = rows * n_c

    if cells <= MAX_DENSE_CELLS:
        dist = _dense_distances(zt, zc)
        admissible = (
            np.ones_like(dist, dtype=bool) if caliper_width is None else dist <= caliper_width
        )
        if not admissible.any():
            return _empty()
        # A link outside the caliper costs more than any set of admissible links.
        big = (float(dist[admissible].max()) + 1.0) * (min(rows, n_c) + 1)
        cost = np.where(admissible, dist, big)
        cost = np.tile(cost, (k, 1))  # replica r of treated i is row r·n_t + i
        r_idx, c_idx = optimize.linear_sum_assignment(cost)
        t_idx = r_idx % n_t
        ok = admissible[t_idx, c_idx]
        t_idx, c_idx = t_idx[ok], c_idx[ok]
    else:
        if caliper_width is None:
            raise ProblemSizeError(
                f"optimal pair matching of {n_t:,} treated (ratio {k}) × {n_c:,} controls needs a "
                f"dense matrix of {cells:,} cells; the limit is {MAX_DENSE_CELLS:,}. Give a caliper "
                "or exact strata, or use nearest-neighbour matching."
            )
        ti, cj, dist = _caliper_edges(zt, zc, float(caliper_width), MAX_SPARSE_EDGES // k)
        if len(ti) == 0:
            return _empty()
        big = (float(dist.max()) + 2.0) * (min(rows, n_c) + 1)
        # Rows: replicas; columns: n_c controls, then one private dummy column per row at cost
        # ``big`` so that every row is matched. Shifting real links by +1 keeps stored zeros out.
        r = np.concatenate([ti + rep * n_t for rep in range(k)])
        c = np.tile(cj, k)
        w = np.tile(dist + 1.0, k)
        r = np.concatenate([r, np.arange(rows)])
        c = np.concatenate([c, n_c + np.arange(rows)])
        w = np.concatenate([w, np.full(rows, big)])
        graph = sparse.csr_matrix((w, (r, c)), shape=(rows, n_c + rows))
        row_ind, col_ind = csgraph.min_weight_full_bipartite_matching(graph)
        real = col_ind < n_c
        t_idx = row_ind[real] % n_t
        c_idx = col_ind[real]

    t_out, c_out = ot[t_idx], oc[c_idx]
    order = np.lexsort((c_out, t_out))
    return t_out[order].astype(np.intp), c_out[order].astype(np.intp)


# --------------------------------------------------------------------------------------------
# optimal full matching


def full_match(
    cost_treated: np.ndarray,
    cost_control: np.ndarray,
    *,
    caliper_width: float | None = None,
    metric: Metric = "abs",
    inverse_cov: np.ndarray | None = None,
    tie_key_treated: np.ndarray | None = None,
    tie_key_control: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal full matching: subclasses of one treated + ≥1 controls or one control + ≥1 treated.

    Every unit with at least one admissible partner (inside the caliper) is placed in exactly one
    subclass, and the total within-subclass treated–control distance is the smallest possible.

    Parameters
    ----------
    cost_treated : numpy.ndarray
        Shape ``(n_t,)`` scores (``metric="abs"``) or ``(n_t, d)`` covariates
        (``metric="mahalanobis"``) of the treated units.
    cost_control : numpy.ndarray
        The same for the ``n_c`` controls.
    caliper_width : float or None, default None
        Largest admissible treated–control distance inside a subclass, in the units of the
        distance. Units with no partner inside it are left unmatched. ``None``: no caliper.
    metric : {"abs", "mahalanobis"}, default "abs"
        Absolute score difference, or Mahalanobis distance.
    inverse_cov : numpy.ndarray or None, default None
        ``S⁻¹`` for the Mahalanobis distance; by default the (pseudo-)inverse of the pooled
        within-group covariance.
    tie_key_treated, tie_key_control : numpy.ndarray or None, default None
        One sortable key per unit (e.g. ``pandas.util.hash_pandas_object(data, index=False)``)
        that orders units with identical coordinates before solving. Among several optimal
        solutions the one returned is a deterministic function of the coordinates and these
        keys, hence independent of row order; without keys, identical units keep their order.

    Returns
    -------
    subclass_treated, subclass_control : numpy.ndarray
        Subclass id (0, 1, … numbered in order of each subclass's first treated position) per
        treated and per control unit; −1 for a unit left unmatched.

    Raises
    ------
    ConfigurationError
        An option or an input array is invalid.
    ProblemSizeError
        ``n_t · n_c`` exceeds :data:`MAX_PRICED_PAIRS`, or more than :data:`MAX_SPARSE_EDGES`
        pairs have a positive saving.

    Notes
    -----
    The problem is the minimum-weight edge cover of the bipartite graph of admissible pairs
    (Rosenbaum 1991, Section 3; Hansen 2004, Section 3.1): every unit is covered by at least one
    chosen pair and the total distance of the chosen pairs is minimal. With ``m_v`` the distance
    from unit ``v`` to its nearest admissible partner, its cost equals
    ``Σ_v m_v + min_M Σ_{(i,j)∈M} (d_ij − m_i − m_j)`` over matchings ``M`` (Schrijver 2003,
    Theorem 19.4 and Section 19.3); the matching is found exactly by
    :func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching` on the pairs with a negative
    saving (each row also has a zero-saving dummy), and every unit left out of it joins its nearest
    partner. Pairs whose two ends are both covered elsewhere are then removed (they cost 0, or the
    cover would not be optimal), which leaves a forest of stars: the subclasses.

    References
    ----------
    Rosenbaum, P. R. (1991). A characterization of optimal designs for observational studies.
    JRSS-B 53(3), 597–610. Hansen, B. B. (2004). Full matching in an observational study of
    coaching for the SAT. JASA 99(467), 609–618. Hansen, B. B. and Klopfer, S. O. (2006). Optimal
    full matching and related designs via network flows. JCGS 15(3), 609–627. Schrijver, A.
    (2003). Combinatorial Optimization, Vol. A, Section 19.3. Springer.

    Examples
    --------
    >>> import numpy as np
    >>> full_match(np.array([0.0, 0.1, 5.0]), np.array([0.05, 4.9, 5.2]))
    (array([0, 0, 1]), array([0, 1, 1]))
    """
    zt, zc = _prepare(cost_treated, cost_control, metric, inverse_cov, caliper_width)
    n_t, n_c = len(zt), len(zc)
    sub_t = np.full(n_t, -1, dtype=np.intp)
    sub_c = np.full(n_c, -1, dtype=np.intp)
    if n_t == 0 or n_c == 0:
        return sub_t, sub_c
    if n_t * n_c > MAX_PRICED_PAIRS:
        raise ProblemSizeError(
            f"full matching of {n_t:,} treated × {n_c:,} controls prices {n_t * n_c:,} pairs; the "
            f"limit is {MAX_PRICED_PAIRS:,}. Split the problem by exact strata."
        )
    caliper = None if caliper_width is None else float(caliper_width)
    kt = _check_key(tie_key_treated, n_t, "tie_key_treated")
    kc = _check_key(tie_key_control, n_c, "tie_key_control")
    ot, oc = _canonical_order(zt, kt), _canonical_order(zc, kc)
    zt, zc = zt[ot], zc[oc]

    # Units with an admissible partner (always all of them without a caliper).
    if caliper is None:
        live_t, live_c = np.ones(n_t, bool), np.ones(n_c, bool)
    else:
        live_t = cKDTree(zc).query(zt, k=1)[0] <= caliper
        live_c = cKDTree(zt).query(zc, k=1)[0] <= caliper
    it, ic = np.flatnonzero(live_t), np.flatnonzero(live_c)
    if len(it) == 0:
        return sub_t, sub_c
    yt, yc = zt[it], zc[ic]
    nt, nc = len(it), len(ic)

    # Cheapest admissible partner of every unit.
    m_t, near_t = cKDTree(yc).query(yt, k=1)
    m_c, near_c = cKDTree(yt).query(yc, k=1)
    # Pairs whose saving d_ij − m_i − m_j is negative (only these can enter the matching part).
    block = max(1, _PRICE_BLOCK // nc)
    pt, pc, ps = [], [], []
    n_pairs = 0
    for start in range(0, nt, block):
        d = _dense_distances(yt[start : start + block], yc)
        saving = d - m_t[start : start + block, None] - m_c[None, :]
        good = saving < 0
        if caliper is not None:
            good &= d <= caliper
        r, c = np.nonzero(good)
        n_pairs += len(r)
        if n_pairs > MAX_SPARSE_EDGES:
            raise ProblemSizeError(
                f"full matching of {nt:,} treated × {nc:,} controls has more than "
                f"{MAX_SPARSE_EDGES:,} pairs with a negative saving; split it by exact strata "
                "or use a caliper."
            )
        pt.append(r + start)
        pc.append(c)
        ps.append(saving[r, c])
    st_, sc_, sv = np.concatenate(pt), np.concatenate(pc), np.concatenate(ps)
    et = [np.arange(nt)]
    ec = [near_t]
    ew = [m_t]
    lone_t, lone_c = np.ones(nt, bool), np.ones(nc, bool)
    if len(st_):
        # Minimum-saving matching = assignment with a zero-saving dummy per row; rows are the
        # smaller group. Costs are shifted by a constant to be positive (LAPJVsp ignores zeros).
        flip = nt > nc
        rows, cols, n_rows, n_cols = (sc_, st_, nc, nt) if flip else (st_, sc_, nt, nc)
        shift = float(-sv.min()) + 1.0
        r = np.concatenate([rows, np.arange(n_rows)])
        c = np.concatenate([cols, n_cols + np.arange(n_rows)])
        w = np.concatenate([sv + shift, np.full(n_rows, shift)])
        graph = sparse.csr_matrix((w, (r, c)), shape=(n_rows, n_cols + n_rows))
        row_ind, col_ind = csgraph.min_weight_full_bipartite_matching(graph)
        real = col_ind < n_cols
        mr, mc = row_ind[real], col_ind[real]
        mt, mcc = (mc, mr) if flip else (mr, mc)
        lone_t[mt] = False
        lone_c[mcc] = False
        et, ec, ew = [mt], [mcc], [_pair_distances(yt, yc, mt, mcc)]
        et.append(np.flatnonzero(lone_t))
        ec.append(near_t[lone_t])
        ew.append(m_t[lone_t])
    et.append(near_c[lone_c])
    ec.append(np.flatnonzero(lone_c))
    ew.append(m_c[lone_c])
    key, first_idx = np.unique(
        np.concatenate(et).astype(np.int64) * nc + np.concatenate(ec), return_index=True
    )
    ew = np.concatenate(ew)[first_idx]
    et, ec = (key // nc).astype(np.intp), (key % nc).astype(np.intp)
    # Prune to a minimal cover (a star forest): drop the costliest edges first while both ends
    # stay covered.
    deg_t = np.bincount(et, minlength=nt)
    deg_c = np.bincount(ec, minlength=nc)
    keep = np.ones(len(et), dtype=bool)
    for e in np.lexsort((ec, et, -ew)):
        if deg_t[et[e]] > 1 and deg_c[ec[e]] > 1:
            keep[e] = False
            deg_t[et[e]] -= 1
            deg_c[ec[e]] -= 1
    et, ec = et[keep], ec[keep]
    graph = sparse.coo_matrix((np.ones(len(et)), (et, nt + ec)), shape=(nt + nc, nt + nc))
    _, label = csgraph.connected_components(graph, directed=False)
    # Number subclasses by the first treated position (original order) they contain.
    orig_t = ot[it]
    first = np.full(label.max() + 1, np.iinfo(np.intp).max)
    np.minimum.at(first, label[:nt], orig_t)
    rank = np.empty_like(first)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    sub_t[orig_t] = rank[label[:nt]]
    sub_c[oc[ic]] = rank[label[nt:]]
    return sub_t, sub_c
