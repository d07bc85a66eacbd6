"""``sksparse search``: genetic search over sparse MLP structures, resumable."""

from pathlib import Path

from sksparse.cli._args import (
    add_common_options,
    add_data_options,
    int_at_least,
    open_unit,
    output_file,
    positive_int,
)
from sksparse.cli._inputs import load_data, resolve_scale
from sksparse.cli._run import (
    CommandError,
    finish,
    progress,
    run_loop,
    save_figure,
    say,
    settings,
    use_agg,
)
from sksparse.utils._files import atomic_write

__all__ = ["check", "register", "run"]


def register(subparsers):
    """Add ``search`` to the ``sksparse`` parser's subcommands."""
    parser = subparsers.add_parser(
        "search",
        help="genetic search over sparse MLP structures (resumable)",
        description="Evolve sparse MLPs (layer sizes, sparsity, prior, learning "
        "rate) with GeneticSearchCV, optionally screening offspring with a "
        "structural performance predictor. The search is checkpointed after "
        "every generation; running the same command again resumes it.",
    )
    add_data_options(parser)
    # A genetic search needs two parents to cross over.
    parser.add_argument("--population-size", type=int_at_least(2), default=8)
    parser.add_argument("--generations", type=positive_int, default=4)
    parser.add_argument(
        "--predictor",
        choices=["none", "auto", "structural"],
        default="none",
        help="screen offspring with a performance predictor: auto (structure, "
        "hyper-parameters and a one-epoch probe) or structural (structure "
        "alone, StructuralRegressor); none trains every individual",
    )
    parser.add_argument(
        "--screen-ratio",
        type=open_unit,
        default=0.5,
        help="share of offspring the predictor lets train",
    )
    parser.add_argument("--cv", type=int_at_least(2), default=3)
    parser.add_argument(
        "--epochs", type=positive_int, default=5, help="epochs per individual"
    )
    parser.add_argument("--max-layers", type=positive_int, default=3)
    parser.add_argument("--max-units", type=positive_int, default=256)
    parser.add_argument(
        "--checkpoint",
        type=output_file,
        default=None,
        help="checkpoint file (default: OUT/search-checkpoint.json)",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="discard an existing checkpoint and start afresh",
    )
    parser.set_defaults(func=run, check=check)
    add_common_options(parser, "search")
    return parser


def check(args):
    """Settle ``--scale`` before anything runs, so the results record it.

    With ``--scale``, the scaler is fitted on the whole training split, which
    the search's cross-validation then divides into folds: the folds share
    its mean and variance (the test split never informs it).
    """
    resolve_scale(args)


def _short(value):
    """A parameter value for a summary line: floats to 4 significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return value


def _resumable(generations, checkpoint):
    """``generations``, with a hint to ``--restart`` if resuming fails.

    The search reads an existing checkpoint when its first generation
    starts, so a ValueError before that generation ends while a checkpoint
    was there is a failure to resume from it; nothing else is inferred.
    """
    try:
        yield next(generations)
    except StopIteration:
        return
    except ValueError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise CommandError(
            f"{reason} (resuming from {checkpoint}; 'sksparse search --restart' "
            "starts afresh.)"
        ) from None
    yield from generations


def _dump_atomic(model, path):
    """``joblib.dump`` through a temporary file, so a full disk leaves no torn file."""
    import joblib

    with atomic_write(path, "wb") as file:
        joblib.dump(model, file)
    return path


def run(args):
    """Run or resume the search; return the exit status."""
    from sksparse.experiments import ResultsWriter, genetic_search
    from sksparse.plotting import plot_search_progress

    use_agg()
    X, y, X_test, y_test = load_data(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = Path(args.checkpoint or out / "search-checkpoint.json")
    old = out / "search-checkpoint.pkl"
    if args.checkpoint is None and old.exists() and not checkpoint.exists():
        # Written by an older sksparse as a pickle, which is never loaded.
        say(
            args,
            f"not resuming from {old} (an older, pickled checkpoint); starting afresh",
        )
    resuming = checkpoint.exists() and not args.restart
    if args.restart and checkpoint.exists():
        checkpoint.unlink()
    elif resuming:
        say(args, f"resuming from {checkpoint}")
    writer = ResultsWriter(
        out, "individuals", meta={"command": args.command, **settings(args)}
    )
    generations = genetic_search(
        X,
        y,
        population_size=args.population_size,
        generations=args.generations,
        predictor=None if args.predictor == "none" else args.predictor,
        screen_ratio=args.screen_ratio,
        cv=args.cv,
        max_layers=args.max_layers,
        max_units=args.max_units,
        max_epochs=args.epochs,
        checkpoint=checkpoint,
        random_state=args.seed,
        device=args.device,
        n_jobs=args.n_jobs,
        verbose=int(args.verbose),
    )
    if resuming:
        generations = _resumable(generations, checkpoint)
    say(
        args,
        f"genetic search: {args.generations} generations of {args.population_size}"
        f" sparse MLPs, {args.cv}-fold cross-validation, predictor: {args.predictor}",
    )
    fitted = []

    def handle(item):
        rows, search = item
        fitted[:] = [search]
        for row in rows:
            writer.add(row)
        scores = [r["mean_test_score"] for r in writer.rows if r["trained"]]
        return (
            f"  generation {rows[0]['generation'] if rows else '?'}: "
            f"{sum(r['trained'] for r in rows)} trained, "
            f"{sum(not r['trained'] for r in rows)} predicted, "
            f"best so far {max(scores, default=float('nan')):.3f}"
        )

    bar = progress(args, args.generations, args.command, "generation")
    interrupted = run_loop(args, generations, bar, handle, writer)
    written = [writer.json_path, writer.csv_path]
    if writer.rows:
        ax = plot_search_progress(writer.rows)
        ax.set_title(
            f"genetic search on {Path(str(args.data)).name}", fontsize="medium"
        )
        written.append(save_figure(ax, out / "search_progress.png"))
    extra = []
    search = fitted[0] if fitted else None
    if search is not None and hasattr(search, "best_estimator_"):
        written.append(_dump_atomic(search.best_estimator_, out / "best_model.joblib"))
        best = ", ".join(
            f"{k}={_short(v)}" for k, v in sorted(search.best_params_.items())
        )
        extra = [
            "",
            f"best: {best}",
            f"cv score {search.best_score_:.3f}, "
            f"test accuracy {search.score(X_test, y_test):.3f}",
        ]
        if args.scale:
            extra.append(
                f"{out / 'best_model.joblib'} expects standardised features (--scale)"
            )
    rows = sorted(
        (r for r in writer.rows if r["trained"]),
        key=lambda r: -r["mean_test_score"],
    )[:10]
    columns = ["generation", "hidden_layer_sizes", "sparsity", "prior", "lr"]
    return finish(
        args,
        rows,
        [*columns, "mean_test_score"],
        written,
        interrupted=interrupted,
        extra=extra,
    )
