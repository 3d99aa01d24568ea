"""`python -m meanflow methods`: the method registry as text (idea, paper, cost and options of each)."""

from __future__ import annotations

import argparse

from ..core.config import option_specs
from ..core.registry import METHODS


def add_parser(sub) -> None:
    sub.add_parser("methods", help="the method registry: each method's idea, paper, cost and options")


def format_methods() -> str:
    """The registry as text: name, label, idea, paper, cost, and each option with its default."""
    blocks = []
    for name, method in METHODS.items():
        about = method.about
        lines = [
            f"{name}  ({about.label})",
            f"  {about.summary}",
            f"  paper: {about.paper} (arXiv {about.arxiv})",
            f"  default pairing: {method.default_coupling}; per step: {about.cost}",
        ]
        lines += [f"  {spec.describe()}" for spec in option_specs(method.options, offered=True)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def run(args: argparse.Namespace) -> int:
    print(format_methods())
    return 0
