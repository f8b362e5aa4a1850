"""`puhui caps`: the rate cap on annualised cost, its versions and the LPR publications."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from puhui.cli.common import _as_operator, _date, console

caps_app = typer.Typer(help="The rate cap on annualised cost: a fixed rate or a multiple of the "
                            "one-year LPR, versioned by effective date.", no_args_is_help=True)


@caps_app.command("show")
def caps_show(on: Optional[str] = typer.Option(None, help="YYYY-MM-DD (default: today)"),
              db: Optional[str] = typer.Option(None)) -> None:
    """The cap in force, the products it stops being offered, and the setting's history."""
    from puhui.services import caps

    day = _date(on) if on else None
    view = _as_operator(db, lambda p, s, a: caps.show(p, s, a, day))
    cap = view["in_force"]
    if cap is None:
        console.print(f"[red]no rate cap in force on {view['on']}: {view['problem']}[/red]")
    else:
        source = cap["provenance"] or {}
        console.print(f"Rate cap on {view['on']}: [bold]{cap['annual_limit']}[/bold] "
                      f"({cap['label']}), version {source.get('version')}"
                      + (f", LPR {source['lpr_rate']} published {source['lpr_published_on']}"
                         if source.get("lpr_rate") else ""))
    for code, why in view["products_not_offered"].items():
        console.print(f"[yellow]{why}[/yellow]")
    table = Table("version", "effective from", "kind", "rate", "multiple", "label", "recorded by")
    for v in view["versions"]:
        table.add_row(str(v["version"]), v["effective_from"], v["kind"], v["rate"] or "",
                      v["multiple"] or "", v["label"], v["recorded_by"])
    console.print(table)
    if view["lpr_publications"]:
        table = Table("LPR", "rate", "published on", "effective from", "recorded by")
        for x in view["lpr_publications"]:
            table.add_row(str(x["id"]), x["rate"], x["published_on"], x["effective_from"],
                          x["recorded_by"])
        console.print(table)


@caps_app.command("set-fixed")
def caps_set_fixed(rate: str = typer.Argument(..., help="the cap as a fraction, e.g. 0.24"),
                   effective_from: str = typer.Option(..., help="YYYY-MM-DD, today or later"),
                   label: str = typer.Option(""), note: str = typer.Option("", help="why"),
                   db: Optional[str] = typer.Option(None)) -> None:
    """Record a fixed cap taking effect on a date."""
    from puhui.services import caps

    day = _date(effective_from)
    v = _as_operator(db, lambda p, s, a: caps.set_cap(p, s, a, "fixed", day, rate=rate,
                                                      label=label, note=note))
    console.print(f"cap version {v['version']}: {v['label']} from {v['effective_from']}")


@caps_app.command("set-lpr-multiple")
def caps_set_lpr_multiple(multiple: str = typer.Argument(..., help="e.g. 4"),
                          effective_from: str = typer.Option(..., help="YYYY-MM-DD, today or later"),
                          label: str = typer.Option(""), note: str = typer.Option("", help="why"),
                          db: Optional[str] = typer.Option(None)) -> None:
    """Record a cap of a multiple of the one-year LPR in force, taking effect on a date."""
    from puhui.services import caps

    day = _date(effective_from)
    v = _as_operator(db, lambda p, s, a: caps.set_cap(p, s, a, "lpr_multiple", day,
                                                      multiple=multiple, label=label, note=note))
    console.print(f"cap version {v['version']}: {v['label']} from {v['effective_from']}")


@caps_app.command("record-lpr")
def caps_record_lpr(rate: str = typer.Argument(..., help="the one-year LPR, e.g. 0.0300"),
                    published_on: str = typer.Option(..., help="YYYY-MM-DD"),
                    effective_from: Optional[str] = typer.Option(
                        None, help="YYYY-MM-DD (default: the publication date, or today)"),
                    db: Optional[str] = typer.Option(None)) -> None:
    """Record a one-year LPR as published."""
    from puhui.services import caps

    published, start = _date(published_on), _date(effective_from) if effective_from else None
    x = _as_operator(db, lambda p, s, a: caps.add_lpr(p, s, a, rate, published, start))
    console.print(f"LPR {x['id']}: {x['rate']} published {x['published_on']}, "
                  f"in effect from {x['effective_from']}")
