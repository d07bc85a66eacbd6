"""A sparsity sweep with its table, files and plot: ``demo`` and ``prune``."""

from pathlib import Path

from sksparse.cli._inputs import load_data
from sksparse.cli._run import finish, progress, run_loop, save_figure, say, settings

__all__ = ["sweep"]


def _describe(row):
    return (
        f"  {row['method']:<18} sparsity {row['sparsity']:.2f}  "
        f"accuracy {row['accuracy']:.3f}  ({row['fit_seconds']:.1f} s)"
    )


def sweep(
    args,
    *,
    methods,
    sparsities,
    name,
    title,
    save_models,
    prior_params=None,
    pattern=None,
    rewind=None,
):
    """Run :func:`sksparse.experiments.sparsity_sweep`; return the exit status."""
    from sksparse.experiments import ResultsWriter, sparsity_sweep
    from sksparse.plotting import plot_accuracy_vs_compression

    X, y, X_test, y_test = load_data(args)
    out = Path(args.out)
    writer = ResultsWriter(out, name, meta={"command": args.command, **settings(args)})
    n_runs = ("dense" in methods) + len([m for m in methods if m != "dense"]) * len(
        sparsities
    )
    rows = sparsity_sweep(
        X,
        y,
        X_test,
        y_test,
        methods=methods,
        sparsities=sparsities,
        hidden_layer_sizes=args.hidden,
        max_epochs=args.epochs,
        retrain_epochs=args.retrain_epochs,
        schedule=getattr(args, "schedule", None),
        lr=args.lr,
        batch_size=args.batch_size,
        random_state=args.seed,
        device=args.device,
        n_jobs=args.n_jobs,
        verbose=int(args.verbose),
        save_dir=out / "models" if save_models else None,
        prior_params=prior_params,
        pattern=pattern,
        rewind=rewind,
    )
    say(args, title)

    def handle(row):
        writer.add(row)
        return _describe(row)

    bar = progress(args, n_runs, args.command)
    interrupted = run_loop(args, rows, bar, handle, writer)
    written = [writer.json_path, writer.csv_path]
    if writer.rows:
        ax = plot_accuracy_vs_compression(
            [
                {**r, "method": f"{r['kind']}: {r['method']}"}
                if r["kind"] != "dense"
                else r
                for r in writer.rows
            ]
        )
        ax.set_title(title, fontsize="medium")
        ax.set_ylabel("test accuracy")
        written.append(save_figure(ax, out / "accuracy_vs_compression.png"))
    columns = ["method", "target_sparsity", "sparsity", "accuracy", "fit_seconds"]
    return finish(args, writer.rows, columns, written, interrupted=interrupted)
