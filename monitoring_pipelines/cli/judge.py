"""``monitoring judge``: measure a faithfulness judge on your own labelled answers (``eval``),
or score a file of answers (``score``), with the offline judge, the LLM judge or the cascade."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from monitoring_pipelines.cli.context import Context, fail, pass_context
from monitoring_pipelines.core.config import JudgeConfig

JUDGES = ("offline", "llm", "cascade")


@click.group()
def judge() -> None:
    """Measure or run the faithfulness judge on JSONL files of answers."""


def _judge_options(command: Any) -> Any:
    options = (
        click.option(
            "--judge",
            "kind",
            type=click.Choice(JUDGES),
            default="offline",
            show_default=True,
            help="offline: no network; llm: the OpenAI-compatible judge; cascade: offline for "
            "all, the LLM judge for the uncertain band and an audit share.",
        ),
        click.option(
            "--monitor",
            default=None,
            help="Take the judge settings (threshold, openai, cascade) from this monitor of "
            "the monitor file; default: the documented defaults.",
        ),
        click.option(
            "--threshold",
            type=click.FloatRange(0, 1),
            default=None,
            help="Flag scores under this (default: the settings' threshold, 0.7).",
        ),
        click.option("--base-url", default=None, help="The LLM judge's server (…/v1)."),
        click.option("--model", default=None, help="The LLM judge's model."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _settings(
    ctx: Context, monitor: str | None, base_url: str | None, model: str | None
) -> JudgeConfig:
    config = JudgeConfig()
    if monitor is not None:
        monitors = ctx.config().monitors
        if monitor not in monitors:
            fail(f"monitor '{monitor}' is not in the monitor file; known: {', '.join(monitors)}")
        llm = monitors[monitor].llm
        if llm is None:
            fail(f"monitor '{monitor}' has no llm section, so no judge settings")
        config = llm.judge
    openai = config.openai.model_copy(
        update={k: v for k, v in (("base_url", base_url), ("model", model)) if v is not None}
    )
    return config.model_copy(update={"openai": openai})


def _make(config: JudgeConfig, kind: str, ctx: Context) -> Any:
    from monitoring_pipelines.core.judge.factory import make_judge

    backend = {"offline": "offline", "llm": "openai", "cascade": "cascade"}[kind]
    api_key = ctx.environ.get(config.openai.api_key_env) or os.environ.get(
        config.openai.api_key_env
    )
    if backend != "offline" and not api_key:
        click.echo(
            f"note: {config.openai.api_key_env} is not set; asking {config.openai.base_url} "
            "without a key",
            err=True,
        )
    return make_judge(config.model_copy(update={"backend": backend}), api_key or None)


@judge.command("eval")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_judge_options
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Also write the figures to this JSON file.")  # fmt: skip
@pass_context
def eval_command(
    ctx: Context,
    files: tuple[Path, ...],
    kind: str,
    monitor: str | None,
    threshold: float | None,
    base_url: str | None,
    model: str | None,
    json_out: Path | None,
) -> None:
    """Measure the judge on labelled JSONL FILES (one object a line: question, context,
    answer, hallucinated 0/1): AUROC overall and within answer-length strata beside answer
    length alone, precision, recall and correct answers flagged at the threshold, throughput.
    """
    from monitoring_pipelines.core.judge.evaluation import describe, evaluate, read_rows

    config = _settings(ctx, monitor, base_url, model)
    cut = config.threshold if threshold is None else threshold
    figures: dict[str, Any] = {}
    for path in files:
        rows = read_rows(path)
        if not rows:
            fail(f"{path}: no rows")
        scorer = _make(config, kind, ctx)  # a fresh judge per file: no cache carried over
        evaluation, _ = evaluate(scorer, rows, cut)
        click.echo(describe(evaluation, path.name))
        figures[path.name] = evaluation.as_dict()
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        click.echo(f"figures written to {json_out}")


@judge.command("score")
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@_judge_options
@pass_context
def score_command(
    ctx: Context,
    source: Path,
    target: Path,
    kind: str,
    monitor: str | None,
    threshold: float | None,
    base_url: str | None,
    model: str | None,
) -> None:
    """Score every row of SOURCE (JSONL: question, context, answer) and write it to TARGET
    with ``score`` (0 to 1, low = unsupported), ``flagged``, ``rationale`` and
    ``unsupported_span`` ([start, end] offsets into the answer, or null); a row the judge
    could not score gets ``score`` null and ``unscored`` with the reason."""
    from monitoring_pipelines.core.judge.base import Verdict
    from monitoring_pipelines.core.judge.evaluation import read_rows

    config = _settings(ctx, monitor, base_url, model)
    cut = config.threshold if threshold is None else threshold
    rows = read_rows(source, labelled=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    results = _make(config, kind, ctx).judge_many([r.item for r in rows])
    flagged = 0
    with target.open("w", encoding="utf-8") as out:
        for row, result in zip(rows, results, strict=True):
            record = dict(row.raw)
            if isinstance(result, Verdict):
                span = result.unsupported_span
                record.update(
                    score=result.score,
                    flagged=result.score < cut,
                    rationale=result.rationale,
                    unsupported_span=list(span) if span else None,
                )
                flagged += result.score < cut
            else:
                record.update(score=None, flagged=None, rationale=None, unscored=result.reason)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    click.echo(f"{len(rows)} answers scored into {target}: {flagged} flagged (score < {cut:g})")
