"""The ``sksparse`` command: parse, call the public API, print."""

import argparse
import sys
import time

__all__ = ["main"]


def _demo(args):
    from sksparse import SparseMLPClassifier
    from sksparse.datasets import load_digits

    X, y, X_test, y_test = load_digits(random_state=args.seed)
    rows = []
    settings = [("dense", 0.0, None)]
    for sparsity in (0.5, 0.8, 0.9):
        for prior in (None, "erdos_renyi", "watts_strogatz", "barabasi_albert"):
            settings.append((prior or "uniform", sparsity, prior))
    print(
        f"sksparse demo: SparseMLPClassifier(64-128-64-10) on the bundled digits "
        f"({len(X)} train / {len(X_test)} test)"
    )
    print(f"{'prior':<16}{'sparsity':>9}{'accuracy':>10}{'fit s':>8}")
    for label, sparsity, prior in settings:
        clf = SparseMLPClassifier(
            (128, 64),
            sparsity=sparsity,
            prior=prior,
            max_epochs=args.epochs,
            lr=5e-3,
            random_state=args.seed,
            device=args.device,
        )
        start = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - start
        accuracy = clf.score(X_test, y_test)
        rows.append((label, clf.sparsity_, accuracy, seconds))
        print(f"{label:<16}{clf.sparsity_:>9.2f}{accuracy:>10.3f}{seconds:>8.2f}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sksparse", description="Sparse neural networks for scikit-learn."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="dense vs sparse priors on the bundled digits (under a minute)"
    )
    demo.add_argument("--epochs", type=int, default=20)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--device", default="cpu")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"sksparse {args.command}: error: {exc}", file=sys.stderr)
        return 2
