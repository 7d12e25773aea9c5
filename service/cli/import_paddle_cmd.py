"""`ocr models import-paddle DIR --name NAME`: a Paddle inference export as a local ONNX set.

The work is models/convert/ (paddle_import.py drives it); this is the command line around it.
Paddle Inference runs through `service.engines.paddle.PaddleEngine`, the project's one Paddle
loader, passed in as the parity check's reference.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from models.convert import paddle_import
from models.convert.errors import ConvertError, ParityError
from models.convert.paddle_import import ImportRequest, PaddleLoader
from models.convert.parity import DEFAULT_ATOL, PaddleRun, Parity
from models.registry.errors import RegistryError
from models.registry.store import ModelStore
from service.cli.errors import CommandFailed
from service.engines.paddle import PaddleEngine, PaddleOptions
from service.ocr.errors import OcrError
from service.runtime.loader import catalogue_from_settings
from service.settings import get_settings


def paddle_loader(threads: int) -> PaddleLoader:
    """The parity reference: Paddle Inference's plain CPU kernels, through the service's engine.

    oneDNN off: with the new IR (a .json export) oneDNN rejects the v4 det's float64 `scale`
    ("ConvertPirAttribute2RuntimeAttribute not support ArrayAttribute<DoubleAttribute>"), and
    fewer fused kernels make the closer reference (det 1.8e-5 vs 4.0e-5 from ONNX Runtime).
    Memory optimisation off: Paddle 3.3's new IR fails with it ("Not find predictor_id 0 and
    pass_name memory_optimize_pass"), and a parity run does not need it."""
    options = PaddleOptions(threads=threads, mkldnn=False, memory_optim=False)

    def load(paths: tuple[Path, ...]) -> PaddleRun:
        return PaddleEngine(paths, options).run

    return load


def parity_table(rows: list[Parity], atol: float) -> str:
    head = f"{'task':<5} {'cases':>5} {'max abs':>10} {'mean abs':>10} {'argmax agree':>13}  "
    lines = [head + f"{'worst input':<16} result"]
    for p in rows:
        agree = "-" if p.agreement is None else f"{p.agreement:.2%}"
        verdict = "ok" if p.passed(atol) else f"FAIL (> {atol:g})"
        lines.append(
            f"{p.task:<5} {p.cases:>5} {p.max_abs:>10.2e} {p.mean_abs:>10.2e} {agree:>13}  "
            f"{p.worst:<16} {verdict}"
        )
    return "\n".join(lines)


def _recipe(source: Path, name: str, base: str, opts: dict[str, object]) -> str:
    """The command line, paths made absolute, plus --force: what re-makes this set (`ocr models
    pull` shows it when the files are gone)."""
    parts = ["ocr", "models", "import-paddle", str(source.resolve()), "--name", name]
    parts += ["--base", base]
    for flag, value in opts.items():
        if value is not None:
            text = str(value.resolve()) if isinstance(value, Path) else str(value)
            parts += [flag, text]
    return shlex.join([*parts, "--force"])


@click.command("import-paddle")
@click.argument("source", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Name of the new model set.")
@click.option(
    "--base",
    help="Set giving missing tasks, input contracts and the rec space weight (default: default).",
)
@click.option("--dict", "dict_", type=click.Path(path_type=Path), help="rec dictionary file.")
@click.option("--samples", type=click.Path(path_type=Path), help="Images for the parity check.")
@click.option("--atol", type=float, default=DEFAULT_ATOL, show_default=True,
              help="Largest Paddle vs ONNX Runtime output difference admitted.")  # fmt: skip
@click.option("--licence", help="Licence of the models (default: the base set's).")
@click.option("--version", "version", help="Set version (default: today's date).")
@click.option("--force", is_flag=True, help="Replace an earlier import of the same name.")
def import_paddle(
    source: Path,
    name: str,
    base: str | None,
    dict_: Path | None,
    samples: Path | None,
    atol: float,
    licence: str | None,
    version: str | None,
    force: bool,
) -> None:
    """Convert the Paddle inference exports in DIR/det, DIR/cls, DIR/rec to ONNX, check that
    ONNX Runtime reproduces Paddle Inference, and add them to the store as set NAME.

    Tasks missing from DIR are copied from --base. Exit 1, with nothing written, on a missing
    or corrupt export, a failed conversion or a failed parity check."""
    s = get_settings()
    try:
        catalogue = catalogue_from_settings(s)
        base_set = catalogue.get(base)
        opts: dict[str, object] = {"--dict": dict_, "--samples": samples, "--atol": atol}
        opts |= {"--licence": licence, "--version": version}
        req = ImportRequest(
            source=source,
            name=name,
            base=base_set,
            recipe=_recipe(source, name, base_set.name, opts),
            dictionary=dict_,
            samples=samples,
            atol=atol,
            licence=licence,
            version=version,
            force=force,
        )
        if dict_ is not None and not dict_.is_file():
            raise ConvertError(f"--dict {dict_} is not a file")
        store = ModelStore(s.model_dir)
        loader = paddle_loader(s.intra_op_threads)
        report = paddle_import.import_paddle(req, catalogue, store, loader)
    except ParityError as exc:
        if exc.parity:
            click.echo(parity_table(exc.parity, atol))
        raise CommandFailed(f"{exc}; nothing was written") from exc
    except (ConvertError, RegistryError, OcrError, OSError) as exc:
        raise CommandFailed(str(exc)) from exc
    click.echo(parity_table(report.parity, atol))
    made = ", ".join(report.converted)
    copied = f"; {', '.join(report.copied)} from {base_set.name}" if report.copied else ""
    click.echo(f"imported {name} ({made} converted{copied}) into {report.set_dir}")
    click.echo(f"use it: ocr predict --model {name} IMAGE")
