"""``compassmeta escalc``: effect sizes and sampling variances of any metafor escalc measure."""
from pathlib import Path

import click

from ..common.errors import InputError
from .app import main

CONTINUITY_TARGETS = ["only0", "all", "if0all", "none"]


def list_measures(ctx, param, value):
    """--list: print the measures and stop."""
    if value and not ctx.resilient_parsing:
        from ..data.measures import describe_measures

        click.echo(describe_measures())
        ctx.exit()


@main.command()
@click.option("--list", is_flag=True, expose_value=False, is_eager=True, callback=list_measures,
              help="List the measures with their vtypes and stop.")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--measure", required=True, metavar="M",
              help="metafor's measure: SMD SMDH SMD1 MD ROM CVR VR, SMCC SMCR SMCRH MC ROMC, COR UCOR ZCOR, "
                   "OR RR RD AS PETO, PR PLN PLO PAS PFT, IR IRLN IRS IRFT IRR IRD IRSD.")
@click.option("--vtype", default=None, metavar="V",
              help="Variance type (LS, LS2, LS3, UB, AV, AVHO, HO, H0 where the measure has it) [LS].")
@click.option("--add", type=float, default=None,
              help="Continuity correction added to count cells [metafor's: 0.5; 0 for AS, PAS, PFT, IRS, "
                   "IRFT, IRSD].")
@click.option("--to", type=click.Choice(CONTINUITY_TARGETS), default=None,
              help="Rows that get --add: only0 (with a zero cell), all, if0all (all when any has one), "
                   "none [only0].")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the table here (atomically) instead of to standard output.")
@click.option("--format", "output_format", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
def escalc(data, measure, vtype, add, to, output, output_format):
    """Add yi and vi of --measure to the table DATA, whose columns carry metafor's argument names
    (ai bi ci di n1i n2i m1i m2i sd1i sd2i ri ni xi mi ti x1i x2i t1i t2i)."""
    import json

    from ..common.files import check_outputs, write_atomically
    from ..data.measures.table import escalc_table

    check_outputs({"-o/--output": output}, inputs=[data])
    if output and not Path(output).resolve().parent.is_dir():
        raise InputError("cannot write here: the folder does not exist", file=output)
    result = escalc_table(data, measure, vtype=vtype, add=add, to=to)
    text = json.dumps(result.to_dict(), indent=1) + "\n" if output_format == "json" else result.to_csv()
    for note in result.escalc.notes:
        click.echo(f"Note: {result.escalc.measure}: {note}", err=True)
    if result.omitted:
        click.echo(f"Warning: {result.omitted} row(s) have yi/vi NA (undefined, e.g. a zero cell with "
                   "--to none)", err=True)
    if output:
        write_atomically(output, text)
        click.echo(f"{len(result.rows)} rows with yi and vi ({result.escalc.measure}, vtype "
                   f"{result.escalc.vtype}) written to {output}", err=True)
    else:
        click.echo(text, nl=False)
