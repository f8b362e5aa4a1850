"""`puhui risk`: the fairness report and the model monitor, run on the German Credit data.

Why commands: a reviewer must be able to reproduce the figures in docs/fairness.md and
docs/monitoring.md with one line, and keep the JSON as evidence.  Flags and alerts are printed
for a person to judge; they do not fail the command (exit 0), only unusable data does (exit 2).
The scoring stack is imported inside the commands, so mounting `risk_app` costs the rest of the
`puhui` command nothing at start-up.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console, Group
from rich.table import Table

risk_app = typer.Typer(help="Monitor credit-risk models and report on their fairness.",
                       no_args_is_help=True)
fairness_app = typer.Typer(help="Approval and default rates across protected groups.",
                           no_args_is_help=True)
monitor_app = typer.Typer(help="Population stability, discrimination and alerts.",
                          no_args_is_help=True)
risk_app.add_typer(fairness_app, name="fairness")
risk_app.add_typer(monitor_app, name="monitor")
console = Console()

_DATA_HELP = ("germancredit.csv (default: $PUHUI_GERMAN_CREDIT, else "
              "../shared/data/germancredit.csv beside the repository)")



def _show_fairness(report: Any) -> None:
    """A fairness report's tables and notes, and the attributes flagged for review."""
    for table in fairness_tables(report):
        console.print(table)
    for note in report.notes:
        console.print(note)
    flagged = [a.attribute for a in report.attributes if a.flagged]
    console.print(f"[yellow]Flagged for review: {', '.join(flagged)}[/yellow]" if flagged
                  else "[green]No group differences above the tolerance[/green]")

def _as_of_day(as_of: Optional[str]) -> date:
    """The `--as-of` day (YYYY-MM-DD), or today's business date when none is given."""
    from puhui.services.clock import SystemClock, business_date

    try:
        return date.fromisoformat(as_of) if as_of else business_date(SystemClock())
    except ValueError:
        console.print(f"[red]--as-of must be YYYY-MM-DD, got {as_of!r}[/red]")
        raise typer.Exit(2)


def _write(out: Optional[Path], document: dict[str, Any]) -> None:
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    console.print(f"Written to {out}")


def fairness_tables(report: Any) -> list[Table]:
    """One Rich table per attribute of a `puhui.risk.fairness.FairnessReport`."""
    out = []
    for a in report.attributes:
        eo = ("n/a" if a.equal_opportunity_difference is None
              else f"{a.equal_opportunity_difference:.3f}")
        ratio = "n/a" if a.parity_ratio is None else f"{a.parity_ratio:.3f}"
        table = Table("group", "applicants", "approved", "approval rate",
                      "default rate (approved)", "TPR (goods approved)",
                      title=f"{a.attribute}: parity diff {a.parity_difference:.3f} "
                            f"(ratio {ratio}), equal opportunity diff {eo}",
                      caption="\n".join(f"FLAG: {f}" for f in a.flags) or None,
                      caption_style="yellow")
        for g in a.groups:
            table.add_row(g.group, str(g.applicants), str(g.approved),
                          f"{g.approval_rate:.1%}", _pct(g.default_rate),
                          _pct(g.true_positive_rate))
        out.append(table)
    return out


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def render_monitoring(report: Any, console: Console | None = None) -> Group:
    """Rich tables of a `puhui.risk.monitoring.MonitoringReport` (printed when a console is
    given): the same content as its `summary`."""
    psi = Table(title=f"PSI: {report.subject}")
    for name, justify in (("kind", "left"), ("subject", "left"), ("PSI", "right"),
                          ("level", "left")):
        psi.add_column(name, justify=justify)  # type: ignore[arg-type]
    levels = {(a.metric, a.subject): a.level.value for a in report.alerts}
    for kind, results in (("score", report.score_psi), ("feature", report.feature_psi)):
        for r in sorted(results, key=lambda r: -r.value):
            level = levels.get(("psi", r.subject), "")
            style = {"alert": "red", "warn": "yellow"}.get(level)
            psi.add_row(kind, r.subject, f"{r.value:.4f}", level, style=style)
    parts: list[Any] = [psi]
    if report.psi_note:
        parts.append(f"[yellow]PSI: {report.psi_note}; no population-stability alert[/]")
    if report.metrics:
        ranking = Table("metric", "recent", "reference", title="Discrimination")
        for metric, value in report.metrics.items():
            ref = (report.reference_metrics or {}).get(metric)
            ranking.add_row(metric.upper(), f"{value:.4f}",
                            "" if ref is None else f"{ref:.4f}")
        parts.append(ranking)
    parts.append("\n".join(f"[{'red' if a.level.value == 'alert' else 'yellow'}]"
                           f"{a.level.value.upper()}[/]: {a.message}" for a in report.alerts)
                 or "[green]no alerts[/green]")
    group = Group(*parts)
    if console is not None:
        console.print(group)
    return group


@fairness_app.command("german")
def fairness_german(
        data: Optional[Path] = typer.Option(None, "--data", help=_DATA_HELP),
        seed: int = typer.Option(0, "--seed", min=0, help="fold shuffling seed"),
        folds: int = typer.Option(5, "--folds", min=2, help="folds for out-of-fold scores"),
        approval_rate: float = typer.Option(
            0.7, "--approval-rate", min=0.01, max=1.0,
            help="approve this share: the cut-off is this quantile of the out-of-fold PDs"),
        cutoff: Optional[float] = typer.Option(
            None, "--cutoff", min=0.0, max=1.0,
            help="approve PD at or below this instead (overrides --approval-rate)"),
        tolerance: float = typer.Option(0.1, "--tolerance", min=0.0, max=1.0,
                                        help="flag parity / equal opportunity differences "
                                             "above this"),
        out: Optional[Path] = typer.Option(None, "--out", help="write the report as JSON"),
) -> None:
    """Approve German Credit applicants on out-of-fold scorecard PDs and report approval,
    default and good-applicant approval rates by sex, age band and foreign-worker status."""
    from puhui.risk.errors import RiskError
    from puhui.risk.fairness import FairnessTolerance
    from puhui.risk.german import load_german
    from puhui.risk.german_reports import german_fairness

    try:
        ds = load_german(data)
        console.print(f"Data: {ds.source} ({len(ds.X)} applicants, {int(ds.y.sum())} bad); "
                      f"scorecard on {ds.X.shape[1]} non-protected attributes")
        report = german_fairness(ds, seed=seed, folds=folds, approval_rate=approval_rate,
                                 cutoff=cutoff,
                                 tolerance=FairnessTolerance(tolerance, tolerance))
    except RiskError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    _show_fairness(report)
    _write(out, dict(report.to_dict(), data=str(ds.source), seed=seed, folds=folds))


@monitor_app.command("german")
def monitor_german(
        data: Optional[Path] = typer.Option(None, "--data", help=_DATA_HELP),
        seed: int = typer.Option(0, "--seed", min=0, help="split and sampling seed"),
        folds: int = typer.Option(5, "--folds", min=2,
                                  help="CV folds for the reference AUC/KS"),
        out: Optional[Path] = typer.Option(None, "--out", help="write the reports as JSON"),
) -> None:
    """Demonstrate the monitor: reference = a 70% training split; recent = the held-out 30%
    and a sample shifted towards longer, larger loans; PSI, AUC/KS and alerts for each."""
    from puhui.risk.errors import RiskError
    from puhui.risk.german import load_german
    from puhui.risk.german_reports import german_monitoring

    try:
        ds = load_german(data)
        console.print(f"Data: {ds.source} ({len(ds.X)} loans, {int(ds.y.sum())} bad)")
        result = german_monitoring(ds, seed=seed, folds=folds)
    except RiskError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    for name, report in result.reports.items():
        render_monitoring(report, console)
        console.print(f"{name}: [bold]{report.worst_level.upper()}[/bold]\n")
    _write(out, dict(result.to_dict(), data=str(ds.source), seed=seed, folds=folds))


@monitor_app.command("book")
def monitor_book(
        db: Optional[str] = typer.Option(None, "--db", help="database URL (default: the configured one)"),
        models: Path = typer.Option(Path("var/models"), "--models",
                                    help="model registry holding the stability reference"),
        as_of: Optional[str] = typer.Option(None, "--as-of",
                                            help="YYYY-MM-DD (default: today's business date)"),
        days: int = typer.Option(90, "--days", min=1, help="days of applications to compare"),
        window: int = typer.Option(12, "--window", min=1,
                                   help="months after payout before a loan counts as matured"),
        min_sample: int = typer.Option(100, "--min-sample", min=0,
                                       help="fewest recent applications on which PSI may warn "
                                            "or alert"),
        out: Optional[Path] = typer.Option(None, "--out", help="write the report as JSON"),
) -> None:
    """Monitor the platform's own book: PSI of recent applications' features and PDs against
    the small-business models' training reference, AUC/KS of the granted PD on matured loans
    (defaulted = 90+ days past due or written off), vintage curves, alerts."""
    from puhui.errors import PuhuiError
    from puhui.risk import sme
    from puhui.risk.monitoring import AlertThresholds
    from puhui.risk.model_registry import ModelRegistry
    from puhui.services.monitoring import monitor_book as run
    from puhui.services.platform import Platform
    from puhui.services.database import require_existing

    day = _as_of_day(as_of)
    platform = None
    try:
        url = require_existing(db)  # before anything else: a report never creates a book
        registry = ModelRegistry(models)
        reference = registry.load(registry.latest(sme.STABILITY_NAME).version)
        champion = registry.latest(sme.CHAMPION_NAME)
        platform = Platform.open(url)
        report = run(platform, reference, day, days=days, window_months=window,
                     reference_metrics=champion.metrics.get("mean"),
                     thresholds=AlertThresholds(psi_min_sample=min_sample))
    except PuhuiError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    finally:
        if platform is not None:
            platform.close()
    render_monitoring(report, console)
    if report.vintages is not None and report.vintages.height:
        console.print(f"vintages: {report.vintages['cohort'].n_unique()} monthly cohorts, "
                      f"worst cumulative default rate "
                      f"{report.vintages['cumulative_default_rate'].max():.1%}")
    console.print(f"book: [bold]{report.worst_level.upper()}[/bold]")
    _write(out, dict(report.to_dict(), models=champion.version))


@fairness_app.command("book")
def fairness_book(
        db: Optional[str] = typer.Option(None, "--db", help="database URL (default: the configured one)"),
        as_of: Optional[str] = typer.Option(None, "--as-of",
                                            help="YYYY-MM-DD (default: today's business date)"),
        days: int = typer.Option(365, "--days", min=1, help="days of decisions to report on"),
        tolerance: float = typer.Option(0.1, "--tolerance", min=0.0, max=1.0,
                                        help="flag parity differences above this"),
        out: Optional[Path] = typer.Option(None, "--out", help="write the report as JSON"),
) -> None:
    """Approval rates of the platform's automated decisions by the owner's sex, age band and
    province (from the resident ID; no model reads them), with demographic parity."""
    from puhui.errors import PuhuiError
    from puhui.risk.fairness import FairnessTolerance
    from puhui.services.fairness import book_fairness
    from puhui.services.platform import Platform
    from puhui.services.database import require_existing

    day = _as_of_day(as_of)
    platform = None
    try:
        platform = Platform.open(require_existing(db))
        report = book_fairness(platform, day, days=days,
                               tolerance=FairnessTolerance(tolerance, tolerance))
    except PuhuiError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    finally:
        if platform is not None:
            platform.close()
    _show_fairness(report)
    _write(out, dict(report.to_dict(), as_of=day.isoformat(), days=days))


@risk_app.command("warnings")
def warnings_list(status: Optional[str] = typer.Option(
                      None, help="only loans in this status: normal, watch or alert"),
                  on: Optional[str] = typer.Option(
                      None, help="the day (YYYY-MM-DD; default: the latest assessed)"),
                  run: bool = typer.Option(False, "--run",
                                           help="assess the book for today first (the daily "
                                                "job: once per loan and day)"),
                  as_json: bool = typer.Option(False, "--json", help="print JSON"),
                  db: Optional[str] = typer.Option(None)) -> None:
    """The early-warning watch list: each loan's status with the signals behind it."""
    from puhui.cli.common import _as_operator
    from puhui.services import warnings as svc

    day = None
    if on is not None:
        try:
            day = date.fromisoformat(on)
        except ValueError:
            console.print(f"[red]--on must be YYYY-MM-DD, got {on!r}[/red]")
            raise typer.Exit(2)

    def work(p, session, actor):
        ran = svc.assess_book(p, session, actor) if run else None
        return ran, svc.watch_list(p, session, actor, status, day, limit=10_000)
    ran, view = _as_operator(db, work)
    if as_json:
        console.print_json(json.dumps({"run": ran, **view}))
        return
    if ran is not None:
        console.print(f"assessed {ran['assessed']} loan(s) for {ran['as_of']} "
                      f"({ran['already_assessed']} already), {ran['changed']} changed status, "
                      f"{ran['actions']} action(s) produced")
    if view["as_of"] is None:
        console.print("no loan has been assessed yet (run with --run)")
        return
    counts = ", ".join(f"{k} {v}" for k, v in view["counts"].items())
    table = Table("loan", "status", "since", "score", "signals", "actions",
                  title=f"Watch list on {view['as_of']}: {counts}")
    for item in view["items"]:
        table.add_row(item["loan_id"], item["status"], item["since"], item["score"],
                      "\n".join(f"{s['signal']} ({s['severity']}): {s['detail']}"
                                for s in item["signals"]) or "-",
                      "\n".join(f"{a['kind']} [{a['status']}]" for a in item["actions"]) or "-")
    console.print(table)
