"""Keyed pseudonymisation of identifier columns (HMAC-SHA256).

A pseudonym is the first 20 hexadecimal characters (80 bits) of

    HMAC-SHA256(key, UTF-8 bytes of the raw identifier)

(RFC 2104 HMAC over FIPS 180-4 SHA-256). The key is secret and lives outside the repository: in an
environment variable or in a key file (:func:`load_key`). Without the key the pseudonyms cannot be
recomputed from a list of candidate identifiers (which a plain, unkeyed hash allows), and because
the same key maps the same raw identifier to the same pseudonym in every table, the pseudonymised
tables still link on ``person_id``.

Collision probability. With ``n`` distinct identifiers and ``b = 80`` bits the birthday bound gives
``P(any collision) <= n (n - 1) / 2 / 2**80``; for ``n = 10**6`` that is ``4.1e-13``. The bound is
not relied on: :func:`pseudonymise` checks the pseudonyms of the distinct values it hashes and raises
:class:`~wellness_research.errors.PrivacyError` if two different raw identifiers ever share one, so
two people can never be merged silently.

Under the APPI (DOMAIN.md §6.4) data pseudonymised this way are 仮名加工情報 while the key exists:
internal analysis only, no third-party provision, no re-identification.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from wellness_research._validation import require_table_mapping
from wellness_research.errors import ConfigurationError, PrivacyError

__all__ = [
    "DEFAULT_KEY_ENV_VAR",
    "DEMO_KEY",
    "DIGEST_HEX_CHARS",
    "MIN_KEY_BYTES",
    "PseudonymKey",
    "PseudonymisedTables",
    "load_key",
    "pseudonym",
    "pseudonymise",
]

#: Environment variable :func:`load_key` reads by default.
DEFAULT_KEY_ENV_VAR = "WELLNESS_RESEARCH_PSEUDONYM_KEY"
#: Minimum key length in bytes. RFC 2104 §3: keys shorter than the hash output length L (32 bytes
#: for SHA-256) are strongly discouraged.
MIN_KEY_BYTES = 32
#: Hexadecimal characters kept from the 64-character HMAC-SHA256 digest (20 hex = 80 bits).
DIGEST_HEX_CHARS = 20

_FINGERPRINT_MESSAGE = b"wellness_research.privacy key fingerprint v1"
_DEMO_SECRET = b"wellness_research DEMO pseudonym key - synthetic data only - NOT SECRET"


@dataclass(frozen=True, repr=False, eq=False)
class PseudonymKey:
    """A secret HMAC key, with where it came from. Its repr never shows the secret.

    Build one with :func:`load_key` (environment variable or key file); :data:`DEMO_KEY` is a
    public key for the synthetic municipality only.

    Parameters
    ----------
    secret : bytes
        The key material, at least :data:`MIN_KEY_BYTES` (32) bytes.
    source : str
        Human-readable origin ("environment variable X", "key file /path"), shown in reprs.
    is_demo : bool, default False
        True for the public demo key; :func:`pseudonymise` refuses it unless ``synthetic=True``.

    Raises
    ------
    PrivacyError
        If the secret is shorter than 32 bytes.
    """

    secret: bytes = field(repr=False)
    source: str
    is_demo: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes):
            raise ConfigurationError(
                f"PseudonymKey: secret must be bytes, got {type(self.secret).__name__}."
            )
        if len(self.secret) < MIN_KEY_BYTES:
            raise PrivacyError(
                f"Rule 'minimum key length': the pseudonymisation key from {self.source} has "
                f"{len(self.secret)} bytes; at least {MIN_KEY_BYTES} are required. Generate one with "
                "`python -c \"import secrets; print(secrets.token_hex(32))\"`."
            )

    @property
    def fingerprint(self) -> str:
        """16 hex characters identifying the key for provenance; the key cannot be derived from it.

        It is ``HMAC-SHA256(key, b"wellness_research.privacy key fingerprint v1")[:16]``, so two runs
        with the same fingerprint used the same key.
        """
        return hmac.new(self.secret, _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        demo = ", DEMO (synthetic data only)" if self.is_demo else ""
        return f"PseudonymKey(source={self.source!r}, fingerprint={self.fingerprint!r}{demo})"

    __str__ = __repr__


#: Public demo key for the seeded synthetic municipality. It is in the source code, so it is not
#: secret: :func:`pseudonymise` refuses it for real data (``synthetic=False``).
DEMO_KEY = PseudonymKey(
    secret=_DEMO_SECRET, source="built-in DEMO_KEY (synthetic data only)", is_demo=True
)


def _inside_git_repository(path: Path) -> Path | None:
    for parent in (path, *path.parents):
        if (parent / ".git").exists():
            return parent
    return None


def load_key(
    *, env_var: str = DEFAULT_KEY_ENV_VAR, key_file: str | os.PathLike[str] | None = None
) -> PseudonymKey:
    """Load the pseudonymisation key from a key file or an environment variable.

    The key material is the UTF-8 text of the file or variable with surrounding whitespace (such as
    the trailing newline of a file) removed; it must be at least 32 bytes. A good key is
    ``secrets.token_hex(32)`` (64 characters). The key is never read from the repository: a key file
    inside a git working tree is refused.

    Parameters
    ----------
    env_var : str, default "WELLNESS_RESEARCH_PSEUDONYM_KEY"
        Environment variable holding the key; used when ``key_file`` is None.
    key_file : path-like, optional
        File holding the key. When given it is used and the environment variable is ignored.

    Returns
    -------
    PseudonymKey
        The key; ``repr`` shows only its source and fingerprint.

    Raises
    ------
    ConfigurationError
        If neither source provides a key (the message names both), or the key file is missing.
    PrivacyError
        If the key is shorter than 32 bytes or the key file lies inside a git repository.

    Examples
    --------
    In a shell, outside the repository::

        python -c "import secrets; print(secrets.token_hex(32))" > ~/.wellness_key
        chmod 600 ~/.wellness_key

    then in the notebook ``key = load_key(key_file="~/.wellness_key")``; its repr is
    ``PseudonymKey(source='key file ~/.wellness_key', fingerprint='...')``.
    """
    if not isinstance(env_var, str) or not env_var:
        raise ConfigurationError(f"load_key: env_var must be a non-empty string, got {env_var!r}.")
    if key_file is not None:
        path = Path(key_file).expanduser().resolve()
        if not path.is_file():
            raise ConfigurationError(
                f"load_key: key_file {str(path)!r} does not exist or is not a file."
            )
        repo = _inside_git_repository(path)
        if repo is not None:
            raise PrivacyError(
                f"Rule 'key never in the repository': key file {str(path)!r} lies inside the git "
                f"working tree {str(repo)!r}. Keep the key outside any repository."
            )
        text = path.read_text(encoding="utf-8").strip()
        source = f"key file {path}"
    else:
        raw = os.environ.get(env_var)
        if raw is None:
            raise ConfigurationError(
                "No pseudonymisation key: environment variable "
                f"{env_var!r} is not set and no key_file was given. Set {env_var} or pass "
                "key_file=<path outside the repository>; for the synthetic municipality use DEMO_KEY."
            )
        text = raw.strip()
        source = f"environment variable {env_var}"
    secret = text.encode("utf-8")
    return PseudonymKey(secret=secret, source=source, is_demo=hmac.compare_digest(secret, _DEMO_SECRET))


def _id_bytes(value: object, *, table: str, column: str) -> bytes:
    # Identifiers are hashed as text: str as is, integers in decimal. Floats are refused because a
    # float id (1001.0) would hash differently from the same id read as text or integer.
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return str(int(value)).encode("utf-8")
    raise PrivacyError(
        f"Rule 'identifiers are text or integers': table {table!r}, column {column!r} holds a value "
        f"of type {type(value).__name__}; cast the column to string before pseudonymising."
    )


def pseudonym(value: str | int, *, key: PseudonymKey) -> str:
    """The pseudonym of one raw identifier: ``HMAC-SHA256(key, str(value)).hexdigest()[:20]``.

    Parameters
    ----------
    value : str or int
        Raw identifier; integers are hashed as their decimal text.
    key : PseudonymKey
        The secret key.

    Returns
    -------
    str
        20 lowercase hexadecimal characters.
    """
    if not isinstance(key, PseudonymKey):
        raise ConfigurationError(f"pseudonym: key must be a PseudonymKey, got {type(key).__name__}.")
    data = _id_bytes(value, table="<value>", column="<value>")
    return hmac.digest(key.secret, data, "sha256").hex()[:DIGEST_HEX_CHARS]


@dataclass(frozen=True)
class PseudonymisedTables:
    """Result of :func:`pseudonymise`.

    Attributes
    ----------
    tables : Mapping[str, pandas.DataFrame]
        The tables, identifier columns replaced by pseudonyms (same table order as the input).
    columns : Mapping[str, tuple[str, ...]]
        Per table, the columns that were replaced (empty tuple: table copied unchanged).
    key_fingerprint : str
        :attr:`PseudonymKey.fingerprint` of the key used (for provenance; not the key).
    key_source : str
        Where the key came from.
    synthetic : bool
        Whether the caller declared the data synthetic.
    distinct_ids : int
        Number of distinct raw identifier values hashed over all tables and columns.
    """

    tables: Mapping[str, pd.DataFrame]
    columns: Mapping[str, tuple[str, ...]]
    key_fingerprint: str
    key_source: str
    synthetic: bool
    distinct_ids: int

    def to_frame(self) -> pd.DataFrame:
        """One row per table: table, rows, replaced columns (comma-separated)."""
        return pd.DataFrame(
            {
                "table": list(self.tables),
                "rows": [len(frame) for frame in self.tables.values()],
                "pseudonymised_columns": [", ".join(self.columns[name]) for name in self.tables],
            }
        )

    def summary(self) -> str:
        """Plain-text summary: key fingerprint and the columns replaced per table."""
        lines = [
            "Pseudonymised tables (HMAC-SHA256, 20 hex characters)",
            f"key fingerprint: {self.key_fingerprint} ({self.key_source})",
            f"synthetic data: {self.synthetic}; distinct identifier values hashed: {self.distinct_ids:,}",
            self.to_frame().to_string(index=False),
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        caption = (
            f"Pseudonymised with key fingerprint <code>{escape(self.key_fingerprint)}</code> "
            f"({escape(self.key_source)}); synthetic={self.synthetic}; "
            f"{self.distinct_ids:,} distinct identifier values."
        )
        return f"<p>{caption}</p>" + self.to_frame().to_html(index=False)


def _default_columns(tables: Mapping[str, pd.DataFrame]) -> dict[str, tuple[str, ...]]:
    from wellness_research.data import load_dictionary  # deferred: only needed for the default

    dictionary = load_dictionary()
    identifiers = dictionary.identifier_columns()
    out: dict[str, tuple[str, ...]] = {}
    for name, frame in tables.items():
        if name not in dictionary.tables:
            raise ConfigurationError(
                f"pseudonymise: table {name!r} is not in the data dictionary, so its identifier "
                "columns are unknown; pass columns={table: [column, ...]} explicitly."
            )
        out[name] = tuple(c for c in identifiers.get(name, ()) if c in frame.columns)
    return out


def _validate_columns(
    tables: Mapping[str, pd.DataFrame], columns: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, ...]]:
    if not isinstance(columns, Mapping):
        raise ConfigurationError(
            "pseudonymise: columns must be a mapping {table: [column, ...]}, got "
            f"{type(columns).__name__}."
        )
    unknown = sorted(set(columns) - set(tables))
    if unknown:
        raise ConfigurationError(
            f"pseudonymise: columns names tables {unknown} that are not in tables {sorted(tables)}."
        )
    out: dict[str, tuple[str, ...]] = {}
    for name, frame in tables.items():
        cols = columns.get(name, ())
        if isinstance(cols, str):
            raise ConfigurationError(
                f"pseudonymise: columns[{name!r}] must be a list of column names, got the string {cols!r}."
            )
        cols = tuple(cols)
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ConfigurationError(
                f"pseudonymise: table {name!r} has no column(s) {missing}; it has {list(frame.columns)}."
            )
        out[name] = cols
    return out


class _Hasher:
    """Hashes distinct raw values once across all tables and checks for collisions."""

    def __init__(self, key: PseudonymKey) -> None:
        self._secret = key.secret
        self.cache: dict[object, str] = {}
        self._seen: dict[str, bytes] = {}

    def hash_uniques(self, uniques: Iterable[object], *, table: str, column: str) -> list[str]:
        out = []
        cache, seen, secret = self.cache, self._seen, self._secret
        for value in uniques:
            digest = cache.get(value)
            if digest is None:
                data = _id_bytes(value, table=table, column=column)
                digest = hmac.digest(secret, data, "sha256").hex()[:DIGEST_HEX_CHARS]
                previous = seen.setdefault(digest, data)
                if previous != data:
                    raise PrivacyError(
                        "Rule 'pseudonyms are unique': two different identifiers share an 80-bit "
                        f"pseudonym (table {table!r}, column {column!r}); this has probability "
                        "~4e-13 for 10**6 ids. Report it; do not continue with these pseudonyms."
                    )
                cache[value] = digest
            out.append(digest)
        return out


def _pseudonymise_series(series: pd.Series, hasher: _Hasher, *, table: str, column: str) -> pd.Series:
    if pd.api.types.is_float_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        raise PrivacyError(
            f"Rule 'identifiers are text or integers': table {table!r}, column {column!r} has dtype "
            f"{series.dtype}; cast it to string (without '.0') before pseudonymising."
        )
    categorical = isinstance(series.dtype, pd.CategoricalDtype)
    if categorical:
        codes = series.array.codes
        uniques = series.array.categories
    else:
        codes, uniques = pd.factorize(series, sort=False)  # nulls get code -1
    n_null = int((codes < 0).sum())
    if n_null:
        raise PrivacyError(
            f"Rule 'identifiers are never null': table {table!r}, column {column!r} has {n_null:,} "
            f"null value(s) of {len(series):,} rows; a null id cannot be pseudonymised or linked."
        )
    hashed = hasher.hash_uniques(uniques.tolist(), table=table, column=column)
    if categorical:
        # Categories become the sorted pseudonyms; codes are remapped, never re-hashed per row.
        new_categories, inverse = np.unique(np.asarray(hashed, dtype=object), return_inverse=True)
        new_codes = inverse[codes].astype(codes.dtype, copy=False)
        values = pd.Categorical.from_codes(new_codes, categories=pd.Index(new_categories, dtype=object))
        return pd.Series(values, index=series.index, name=series.name, copy=False)
    values = np.asarray(hashed, dtype=object)[codes]
    dtype = series.dtype if isinstance(series.dtype, pd.StringDtype) else object
    return pd.Series(pd.array(values, dtype=dtype), index=series.index, name=series.name, copy=False)


def pseudonymise(
    tables: Mapping[str, pd.DataFrame],
    *,
    key: PseudonymKey,
    synthetic: bool,
    columns: Mapping[str, Sequence[str]] | None = None,
    copy: bool = True,
) -> PseudonymisedTables:
    """Replace identifier values by keyed pseudonyms, consistently across tables.

    Each distinct raw value is hashed once (``HMAC-SHA256(key, value)``, first 20 hex characters)
    and the result mapped back onto the rows, so a 17-million-row claims table costs one pass over
    its distinct ids. The same raw id gets the same pseudonym in every table and column, which keeps
    the tables linkable. Categorical input stays Categorical (categories become the sorted
    pseudonyms); ``string`` dtype stays ``string``; object and integer columns become object
    columns of str.

    Parameters
    ----------
    tables : Mapping[str, pandas.DataFrame]
        Tables by name (as in the data dictionary). Never modified.
    key : PseudonymKey
        From :func:`load_key`; :data:`DEMO_KEY` only with ``synthetic=True``.
    synthetic : bool
        Whether the data are synthetic. Must be given explicitly.
    columns : Mapping[str, Sequence[str]], optional
        Identifier columns per table. Default: the ``direct_identifier`` columns of the data
        dictionary present in each table (``person_id``, ``certification_id``, ``episode_id``,
        ``contact_id``). Tables not named are copied unchanged.
    copy : bool, default True
        Deep-copy the columns that are not replaced. ``False`` shares them with the input (saves
        memory on city-sized tables; the input is still never modified).

    Returns
    -------
    PseudonymisedTables
        The tables, the columns replaced per table and the key fingerprint.

    Raises
    ------
    PrivacyError
        If ``DEMO_KEY`` is used with ``synthetic=False``, an identifier column has nulls (message
        names table, column and count), holds floats or other non-text values, or two ids collide.
    ConfigurationError
        If an argument has the wrong type or names a table or column that does not exist.

    Examples
    --------
    >>> import pandas as pd
    >>> res = pseudonymise({"residents": pd.DataFrame({"person_id": ["A1", "A2"]})},
    ...                    key=DEMO_KEY, synthetic=True, columns={"residents": ["person_id"]})
    >>> res.tables["residents"]["person_id"].str.len().tolist()
    [20, 20]
    """
    if not isinstance(key, PseudonymKey):
        raise ConfigurationError(f"pseudonymise: key must be a PseudonymKey, got {type(key).__name__}.")
    if not isinstance(synthetic, bool):
        raise ConfigurationError(
            f"pseudonymise: synthetic must be True or False, got {synthetic!r}."
        )
    if not isinstance(copy, bool):
        raise ConfigurationError(f"pseudonymise: copy must be True or False, got {copy!r}.")
    if key.is_demo and not synthetic:
        raise PrivacyError(
            "Rule 'demo key for synthetic data only': DEMO_KEY is public (it is in the source code) "
            "and must not pseudonymise real data (synthetic=False). Use load_key() with a secret key."
        )
    require_table_mapping(tables, where="pseudonymise")
    chosen = _default_columns(tables) if columns is None else _validate_columns(tables, columns)

    hasher = _Hasher(key)
    out: dict[str, pd.DataFrame] = {}
    for name, frame in tables.items():
        result = frame.copy(deep=copy)
        for column in chosen[name]:
            result[column] = _pseudonymise_series(frame[column], hasher, table=name, column=column)
        out[name] = result
    return PseudonymisedTables(
        tables=MappingProxyType(out),
        columns=MappingProxyType(dict(chosen)),
        key_fingerprint=key.fingerprint,
        key_source=key.source,
        synthetic=synthetic,
        distinct_ids=len(hasher.cache),
    )
