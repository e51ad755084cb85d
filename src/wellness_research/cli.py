"""Command line: ``wellness-research run | validate | dictionary | calibration``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import ConfigurationError, DataValidationError, PrivacyError

__all__ = ["main"]


def _size(value: str) -> str | int:
    if value.isdigit():
        return int(value)
    if value in ("tiny", "small", "city"):
        return value
    raise argparse.ArgumentTypeError(f"size must be tiny, small, city or a whole number; got {value!r}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wellness-research",
        description="Evaluate municipal care-prevention programmes: fiscal-year batch and data tools.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="render the fiscal-year findings (papermill batch)")
    run.add_argument("--fiscal-year", type=int, required=True, help="e.g. 2025 for April 2025 – March 2026")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, help="folder of <table>.csv/.parquet extracts")
    source.add_argument("--synthetic", type=_size, help="synthetic municipality size (default: city)")
    run.add_argument("--seed", type=int, default=0, help="seed of the synthetic municipality (default 0)")
    run.add_argument("--out", type=Path, help="output folder (default research/FY<year>)")
    run.add_argument(
        "--protocol", action="append", help="protocol to render (repeatable; default all)"
    )
    run.add_argument("--key-file", type=Path, help="pseudonymisation key file for real data")
    run.add_argument(
        "--portable", action="store_true",
        help="notebooks regenerate the synthetic data themselves (for research/demo)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress output")

    val = sub.add_parser("validate", help="validate a folder of extracts against the data dictionary")
    val.add_argument("directory", type=Path)

    dic = sub.add_parser("dictionary", help="render the data dictionary as a readable page")
    dic.add_argument("--format", choices=("markdown", "html"), default="markdown")
    dic.add_argument("--out", type=Path, help="write to this file instead of standard output")

    cal = sub.add_parser("calibration", help="synthetic municipality vs the reference figures")
    cal.add_argument("--synthetic", type=_size, default="small")
    cal.add_argument("--seed", type=int, default=0)
    cal.add_argument(
        "--strict", action="store_true",
        help="exit 1 when any row is outside its tolerance (documented conflicts included)",
    )
    return parser


def _run(args: argparse.Namespace) -> int:
    from .pipeline import RunConfig, run_fiscal_year

    synthetic = args.synthetic if args.data is None and args.synthetic is not None else None
    if args.data is None and synthetic is None:
        synthetic = "city"
    config = RunConfig(
        fiscal_year=args.fiscal_year,
        data_dir=args.data,
        synthetic=synthetic,
        seed=args.seed,
        out_dir=args.out,
        protocols=tuple(args.protocol) if args.protocol else ("all",),
        key_file=args.key_file,
        portable=args.portable,
    )
    result = run_fiscal_year(config, progress=None if args.quiet else _stderr)
    if args.quiet:
        print(result.summary())
    return 0 if result.ok else 1


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _validate(args: argparse.Namespace) -> int:
    from .data import validate_directory

    report = validate_directory(args.directory)
    print(report.summary())
    return 0 if report.ok else 1


def _dictionary(args: argparse.Namespace) -> int:
    from .data import render_dictionary

    page = render_dictionary(format=args.format)
    if args.out:
        args.out.write_text(page, encoding="utf-8")
    else:
        print(page)
    return 0


def _calibration(args: argparse.Namespace) -> int:
    import pandas as pd

    from .synthetic import calibration_table, make_municipality

    table = calibration_table(make_municipality(args.synthetic, seed=args.seed))
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 40):
        shown = table.drop(columns=["source", "tolerance_reason"])
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    outside = table.loc[~table["within_tolerance"].astype(bool)]
    print(f"\n{len(outside)} of {len(table)} rows outside tolerance.")
    for row in outside.itertuples():
        print(f"- {row.quantity} [{row.group}]: {row.tolerance_reason}")
    if len(outside):
        print("Sources and the known conflicts between references: "
              "help(wellness_research.synthetic.calibration).")
    return 1 if args.strict and len(outside) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``wellness-research`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    handlers = {"run": _run, "validate": _validate, "dictionary": _dictionary, "calibration": _calibration}
    try:
        return handlers[args.command](args)
    except DataValidationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except (ConfigurationError, PrivacyError) as exc:
        print(f"wellness-research {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
