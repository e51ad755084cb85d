"""The batch's working cache: a result one notebook computes and the next notebooks reuse.

The short-term protocol's notebooks 06, 07 and 08 all need the high-risk model, which takes about
half a minute to fit on a city. In a batch, notebook 06 fits it and saves it here; 07 and 08 load it.
A notebook run on its own (no analysis store, e.g. a portable or demo rendering) computes everything
itself, and a notebook run against a store without a valid cached result computes it and saves it.

Where
    ``<store_dir>/cache/<name>.pkl``: inside the analysis store, never beside the rendered notebooks.
    A cached result can hold pseudonymised identifiers (person-level frames), and the store is the
    batch's unpublished working area (``research/FY*/`` is git-ignored; the identifier scan reads
    only rendered ``.ipynb`` / ``.html`` files).

Keyed
    Each file starts with its key: the SHA-256 of the store's ``store.json`` (which holds the content
    fingerprint of every stored table and the pseudonymisation key's fingerprint), the protocol's
    name and SHA-256, the package version and a hash of its Python sources, and the versions of the
    libraries whose objects are pickled. A file whose key differs from the current one is refused
    (:class:`StaleCacheError`) and :func:`load_or_compute` recomputes and overwrites it: a result
    cached for other data, another protocol version or other code is never used.

Files are pickles: load them only from a store this package wrote (the store is trusted like the
data in it).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigurationError

__all__ = ["CACHE_DIR", "StaleCacheError", "cache_key", "load_cached", "load_or_compute", "save_cached"]

#: Folder of the cache inside the analysis store.
CACHE_DIR = "cache"

#: Libraries whose objects end up in the pickles (a pickle is not portable across their versions).
_PICKLED_LIBRARIES = ("numpy", "pandas", "scikit-learn", "scipy")

T = TypeVar("T")


class StaleCacheError(ConfigurationError):
    """A cached result was made for other data, another protocol version or other code.

    Attributes
    ----------
    fields : tuple of str
        The key fields that differ (see :func:`cache_key`).
    """

    def __init__(self, message: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.fields = fields


def _code_sha256() -> str:
    """SHA-256 over the package's Python sources (path and content), so that a code change invalidates."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(store_dir: str | os.PathLike[str], protocol: Any) -> dict[str, str]:
    """The key a cached result of ``protocol`` on the store ``store_dir`` must carry.

    Parameters
    ----------
    store_dir : path-like
        An analysis store written by :func:`~wellness_research.pipeline.write_store`.
    protocol : Protocol
        ``load_protocol(...)``: its ``name`` and ``sha256`` enter the key.

    Returns
    -------
    dict of str to str

    Raises
    ------
    ConfigurationError
        ``store_dir`` is not an analysis store (no ``store.json``), or ``protocol`` is not a loaded
        protocol.
    """
    from .. import __version__

    meta = Path(store_dir) / "store.json"
    if not meta.is_file():
        raise ConfigurationError(f"cache: {str(store_dir)!r} is not an analysis store (no store.json).")
    if not all(hasattr(protocol, a) for a in ("name", "sha256")):
        raise ConfigurationError(f"cache: protocol must be a loaded protocol (load_protocol(...)); got "
                                 f"{type(protocol).__name__}.")
    return {
        "store_json_sha256": hashlib.sha256(meta.read_bytes()).hexdigest(),
        "protocol": str(protocol.name),
        "protocol_sha256": str(protocol.sha256),
        "package_version": str(__version__),
        "code_sha256": _code_sha256(),
        **{f"{lib}_version": version(lib) for lib in _PICKLED_LIBRARIES},
    }


def _path(store_dir: str | os.PathLike[str], name: str) -> Path:
    if not name or not name.replace("_", "").isalnum():
        raise ConfigurationError(f"cache: name={name!r} is not valid; use letters, digits and underscores.")
    return Path(store_dir) / CACHE_DIR / f"{name}.pkl"


def save_cached(name: str, value: Any, *, store_dir: str | os.PathLike[str], protocol: Any) -> Path:
    """Save ``value`` as the cached result ``name`` of ``protocol`` on the store ``store_dir``.

    The file is written under a temporary name and renamed, so a failed run never leaves half a file.

    Parameters
    ----------
    name : str
        File stem (letters, digits, underscores).
    value : object
        Anything picklable.
    store_dir : path-like
        An analysis store (with ``store.json``).
    protocol : Protocol
        The loaded protocol the result belongs to.

    Returns
    -------
    pathlib.Path
        ``<store_dir>/cache/<name>.pkl``.
    """
    path = _path(store_dir, name)
    key = cache_key(store_dir, protocol)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with tmp.open("wb") as fh:
        # the key first, so that load_cached checks it before unpickling the value
        pickle.dump(key, fh, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return path


def load_cached(name: str, *, store_dir: str | os.PathLike[str], protocol: Any) -> Any | None:
    """The cached result ``name`` of ``protocol`` on the store ``store_dir``; None if there is none.

    Parameters
    ----------
    name : str
    store_dir : path-like
    protocol : Protocol
        As for :func:`save_cached`.

    Returns
    -------
    object or None

    Raises
    ------
    StaleCacheError
        The file was written for other data, another protocol version or other code (the message
        names the differing key fields).
    """
    path = _path(store_dir, name)
    if not path.is_file():
        return None
    key = cache_key(store_dir, protocol)
    with path.open("rb") as fh:
        stored = pickle.load(fh)
        differ = sorted(k for k in set(key) | set(stored) if key.get(k) != stored.get(k))
        if differ:
            raise StaleCacheError(f"cache: {path.name} in {str(path.parent)!r} was written for other data, protocol "
                                  f"or code (differs in {', '.join(differ)}); it is not used.", tuple(differ))
        return pickle.load(fh)


def load_or_compute(
    name: str,
    compute: Callable[[], T],
    *,
    store_dir: str | os.PathLike[str] | None,
    protocol: Any,
    refresh: bool = False,
) -> tuple[T, str]:
    """The cached result ``name`` if valid, else ``compute()`` (saved for the next notebook).

    Parameters
    ----------
    name : str
        File stem in the cache (e.g. ``"short_term_risk_model"``).
    compute : callable
        Computes the result; called when there is no store, no valid cached result, or ``refresh``.
    store_dir : path-like or None
        The notebook's analysis store; None (portable notebooks): always computed, nothing saved.
    protocol : Protocol
        The loaded protocol (its SHA-256 keys the cache).
    refresh : bool, default False
        Compute and overwrite even if a valid result is cached (the notebook that owns the result).

    Returns
    -------
    (value, str)
        The result and how it was obtained, a phrase for the notebook's output.

    Examples
    --------
    Without a store (a notebook run on its own) the result is simply computed:

    >>> load_or_compute("short_term_risk_model", lambda: 42, store_dir=None, protocol=None)
    (42, 'computed (no analysis store: nothing cached)')
    """
    if store_dir is None:
        return compute(), "computed (no analysis store: nothing cached)"
    why = "refreshed" if refresh else "no cached result"
    if not refresh:
        try:
            value = load_cached(name, store_dir=store_dir, protocol=protocol)
        except StaleCacheError as err:
            # no path in the phrase: it is printed in rendered notebooks, which must not carry machine paths
            why = f"the cached file differed in {', '.join(err.fields)}"
        else:
            if value is not None:
                return value, "loaded from the batch cache (same store, protocol and code)"
    value = compute()
    save_cached(name, value, store_dir=store_dir, protocol=protocol)
    return value, f"computed and cached ({why})"
