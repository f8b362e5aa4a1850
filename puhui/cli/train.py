"""`puhui train`: validate, fit and register the credit-risk models.

Why a command: training must be repeatable by anyone (same data, same seeds, same figures) and
leave evidence behind: the cross-validated figures go into the registry with the models, and the
exit code fails a pipeline when the scorecard does not reach the agreed AUC.  The training stack
(scikit-learn, optbinning, LightGBM) is imported inside the command, so mounting `train_app`
costs the rest of the `puhui` command nothing at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

train_app = typer.Typer(help="Train, validate and register credit-risk models.",
                        no_args_is_help=True)
console = Console()
#: The scorecard's mean out-of-sample AUC below which `train german` fails.
MIN_SCORECARD_AUC = 0.78


@train_app.command("german")
def german(data: Optional[Path] = typer.Option(
               None, "--data", help="germancredit.csv (default: $PUHUI_GERMAN_CREDIT, else "
                                    "../shared/data/germancredit.csv beside the repository)"),
           repeats: int = typer.Option(5, "--repeats", min=1, help="CV repeats"),
           folds: int = typer.Option(5, "--folds", min=2, help="CV folds per repeat"),
           seed: int = typer.Option(0, "--seed", min=0, help="shuffling seed"),
           registry: Path = typer.Option(Path("var/models"), "--registry",
                                         help="model registry directory"),
           min_auc: float = typer.Option(MIN_SCORECARD_AUC, "--min-auc",
                                         help="fail when the scorecard's mean CV AUC is lower"),
           ) -> None:
    """Cross-validate the scorecard and the gradient-boosting model on the German Credit data,
    fit both on all rows and register them; exit 1 if the scorecard's mean AUC < --min-auc."""
    from puhui.risk.errors import RiskError
    from puhui.risk.evaluation import METRICS, cross_validate
    from puhui.risk.gbm import GradientBoostingModel
    from puhui.risk.german import PROTECTED_ATTRIBUTES, load_german
    from puhui.risk.model_registry import ModelRegistry, data_fingerprint, file_fingerprint
    from puhui.risk.scorecard import Scorecard

    factories: dict[str, Callable[[], Any]] = {
        "scorecard": Scorecard,
        "gbm": lambda: GradientBoostingModel(random_state=seed)}
    try:
        ds = load_german(data)
        console.print(f"Data: {ds.source} ({len(ds.X)} loans, {int(ds.y.sum())} bad); "
                      f"protected attributes kept out of the models: "
                      f"{', '.join(PROTECTED_ATTRIBUTES)}")
        results = {}
        with Progress(console=console, transient=True) as progress:
            for name, factory in factories.items():
                task = progress.add_task(f"{name}: {repeats}x{folds} CV", total=repeats * folds)
                results[name] = cross_validate(factory, ds.X, ds.y, n_splits=folds,
                                               n_repeats=repeats, seed=seed,
                                               progress=lambda n, t=task: progress.advance(t, n))
    except RiskError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)

    table = Table(title=f"Out-of-sample, {repeats}x{folds} repeated stratified CV "
                        f"(seed {seed}), mean ± std over {repeats * folds} folds")
    table.add_column("model")
    for metric in METRICS:
        table.add_column(metric.upper(), justify="right")
    for name, result in results.items():
        mean, std = result.mean(), result.std()
        table.add_row(name, *(f"{mean[m]:.4f} ± {std[m]:.4f}" for m in METRICS))
    console.print(table)

    scorecard_auc = results["scorecard"].mean()["auc"]
    passed = scorecard_auc >= min_auc
    store = ModelRegistry(registry)
    fingerprint = data_fingerprint(ds.X, ds.y)
    for name, factory in factories.items():
        model = factory().fit(ds.X, ds.y)
        params = dict(model.get_params(), protected=list(model.protected),
                      data_source=str(ds.source), data_file_sha256=file_fingerprint(ds.source),
                      features=[str(c) for c in ds.X.columns])
        metrics = dict(results[name].to_dict(),
                       gate={"scorecard_min_auc": min_auc, "passed": passed})
        record = store.register(f"german-{name}", model, data_fingerprint=fingerprint,
                                metrics=metrics, params=params)
        console.print(f"Registered {record.version} (sha256 {record.sha256[:16]}...) "
                      f"in {store.root}")
    if not passed:
        console.print(f"[red]The scorecard's mean CV AUC {scorecard_auc:.4f} is below "
                      f"{min_auc}[/red]")
        raise typer.Exit(1)
    console.print(f"[green]Scorecard mean CV AUC {scorecard_auc:.4f} >= {min_auc}[/green]")


#: The small-business scorecard's mean CV AUC below which `train sme` fails.
MIN_SME_AUC = 0.75


@train_app.command("sme")
def sme(businesses: int = typer.Option(20_000, "--businesses", min=500,
                                       help="businesses in the synthetic training world"),
        world_seed: int = typer.Option(7, "--world-seed", min=0, help="the world's seed"),
        repeats: int = typer.Option(1, "--repeats", min=1, help="CV repeats"),
        folds: int = typer.Option(5, "--folds", min=2, help="CV folds per repeat"),
        seed: int = typer.Option(0, "--seed", min=0, help="shuffling and model seed"),
        registry: Path = typer.Option(Path("var/models"), "--registry",
                                      help="model registry directory"),
        min_auc: float = typer.Option(MIN_SME_AUC, "--min-auc",
                                      help="fail when the scorecard's mean CV AUC is lower"),
        ) -> None:
    """Train the small-business scorecard and LightGBM challenger on point-in-time features of
    a synthetic world (development sample decided on the 1st, 11th and 21st of July 2024, out
    of time on the same days of January 2025),
    register both with a PSI reference; exit 1 if the scorecard's mean CV AUC < --min-auc."""
    from puhui.risk import sme as sme_models
    from puhui.risk.errors import RiskError
    from puhui.risk.evaluation import METRICS
    from puhui.risk.model_registry import ModelRegistry

    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("building the world and its features", total=None)
            world = sme_models.training_world(businesses, world_seed)
            stages = {name: progress.add_task(f"{name}: {repeats}x{folds} CV + fit",
                                              total=repeats * folds + 1)
                      for name in (sme_models.CHAMPION_NAME, sme_models.CHALLENGER_NAME)}
            progress.update(task, visible=False)
            training = sme_models.train(world, folds=folds, repeats=repeats, seed=seed,
                                        progress=lambda s, n: progress.advance(stages[s], n))
    except RiskError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    dev, oot = training.development, training.out_of_time
    console.print(f"Development: {len(dev.y):,} businesses decided in {dev.as_of:%B %Y} "
                  f"({dev.bad_rate:.1%} defaulted within 12 months); out of time: "
                  f"{len(oot.y):,} in {oot.as_of:%B %Y} ({oot.bad_rate:.1%})")
    table = Table(title=f"{repeats}x{folds} stratified CV (mean ± std) and out of time")
    table.add_column("model")
    for metric in METRICS:
        table.add_column(f"CV {metric.upper()}", justify="right")
    for metric in METRICS:
        table.add_column(f"OOT {metric.upper()}", justify="right")
    for name, result in training.cv.items():
        mean, std = result.mean(), result.std()
        table.add_row(name, *(f"{mean[m]:.4f} ± {std[m]:.4f}" for m in METRICS),
                      *(f"{training.out_of_time_metrics[name][m]:.4f}" for m in METRICS))
    console.print(table)
    records = sme_models.register(training, ModelRegistry(registry), min_auc=min_auc,
                                  world_params={"businesses": businesses, "seed": world_seed})
    for record in records.values():
        console.print(f"Registered {record.version} (sha256 {record.sha256[:16]}...) "
                      f"in {registry}")
    auc = training.cv[sme_models.CHAMPION_NAME].mean()["auc"]
    if auc < min_auc:
        console.print(f"[red]The scorecard's mean CV AUC {auc:.4f} is below {min_auc}[/red]")
        raise typer.Exit(1)
    console.print(f"[green]Scorecard mean CV AUC {auc:.4f} >= {min_auc}[/green]")
