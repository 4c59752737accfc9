"""``monitoring review``: the queue of LLM answers the judge flagged (and an audit share of
passing ones): list, show, approve, correct or reject them, refresh the review loops, export the
fine-tuning set and measure the judge's agreement with the reviewers."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

import click

from monitoring_pipelines.cli.context import Context, fail, pass_context
from monitoring_pipelines.cli.operations import run_review_loop
from monitoring_pipelines.core.config import MonitorFile
from monitoring_pipelines.core.errors import MonitoringError


@click.group()
def review() -> None:
    """The review queue: LLM answers the judge flagged (and an audit share of passing ones)."""


def _queue(ctx: Context) -> Any:
    from monitoring_pipelines.core.hallucination.review import ReviewQueue

    return ReviewQueue(ctx.results())


@review.command("list")
@click.option("--monitor", default=None)
@click.option(
    "--status",
    type=click.Choice(["pending", "approved", "corrected", "rejected"]),
    multiple=True,
    help="Only these states (default: all).",
)
@click.option(
    "--reason",
    type=click.Choice(["flagged", "audit"]),
    default=None,
    help="Only answers the judge flagged, or only the audit sample of passing ones.",
)
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@pass_context
def review_list(
    ctx: Context, monitor: str | None, status: Sequence[str], reason: str | None, limit: int
) -> None:
    """Queued answers, oldest first."""
    from monitoring_pipelines.core.hallucination.review import ReviewStatus

    items = _queue(ctx).items(monitor, [ReviewStatus(s) for s in status] or None)
    items = [i for i in items if reason is None or i.reason.value == reason]
    for item in items[:limit]:
        scope = " ".join(
            f"{k}={v}" for k, v in (("intent", item.intent), ("article", item.article)) if v
        )
        click.echo(
            f"#{item.id:<5} {item.status.value:<9} {item.reason.value:<7} {item.monitor} "
            f"{item.partition} score {item.score:.2f}  {scope}\n"
            f"       {_clip(item.question or item.answer)}"
        )
    counts = Counter(item.status.value for item in items)
    detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    click.echo(
        f"{len(items)} item(s)"
        + (f": {detail}" if detail else "")
        + (f"; first {limit} shown" if len(items) > limit else "")
    )


@review.command("show")
@click.argument("item_id", type=int)
@pass_context
def review_show(ctx: Context, item_id: int) -> None:
    """An item in full: question, context, answer, the judge's score and rationale."""
    item = _review_item(ctx, item_id)
    lines = [
        f"review item #{item.id} ({item.status.value})",
        f"monitor:   {item.monitor}, day {item.partition}, request {item.request_id or '-'} "
        f"(key {item.request_key})",
        f"queued:    {_REASONS[item.reason.value]}",
        f"intent:    {item.intent or '-'}    article: {item.article or '-'}    "
        f"model: {item.model_version or '-'}",
        f"judge:     {item.judge} ({item.prompt_version}): score {item.score:.3f}",
        f"rationale: {item.rationale}",
        "",
        f"question:\n  {item.question or '(not logged)'}",
        f"context:\n  {item.context}",
        f"answer:\n  {item.answer}",
    ]
    if item.status.value != "pending":
        when = f"{item.reviewed_at:%Y-%m-%d %H:%M} UTC" if item.reviewed_at else ""
        lines += ["", f"{item.status.value} by {item.reviewer} {when}".rstrip()]
    if item.corrected_answer:
        lines.append(f"corrected answer:\n  {item.corrected_answer}")
    if item.note:
        lines.append(f"note: {item.note}")
    click.echo("\n".join(lines))


@review.command("approve")
@click.argument("item_id", type=int)
@click.option("--by", "who", default=lambda: os.environ.get("USER", "someone"))
@click.option("--note", default=None)
@pass_context
def review_approve(ctx: Context, item_id: int, who: str, note: str | None) -> None:
    """The answer was fine: the judge flagged it wrongly (a false positive)."""
    _record_review(ctx, item_id, "approved", who, note=note)


@review.command("correct")
@click.argument("item_id", type=int)
@click.option("--answer", "corrected", required=True, help="The answer the bot should have given.")
@click.option("--by", "who", default=lambda: os.environ.get("USER", "someone"))
@click.option("--note", default=None)
@pass_context
def review_correct(ctx: Context, item_id: int, corrected: str, who: str, note: str | None) -> None:
    """A hallucination: record the answer it should have been."""
    _record_review(ctx, item_id, "corrected", who, corrected=corrected, note=note)


@review.command("reject")
@click.argument("item_id", type=int)
@click.option("--note", default=None)
@click.option("--by", "who", default=lambda: os.environ.get("USER", "someone"))
@pass_context
def review_reject(ctx: Context, item_id: int, note: str | None, who: str) -> None:
    """A hallucination, confirmed, without a correction."""
    _record_review(ctx, item_id, "rejected", who, note=note)


@review.command("refresh")
@click.option("--monitor", "monitors", multiple=True, help="Only these monitors (default: all).")
@pass_context
def review_refresh(ctx: Context, monitors: Sequence[str]) -> None:
    """Run the review loops now (their schedules run them daily at 03:30 UTC): the fine-tuning
    dataset from the corrections, the judge's agreement with reviewers, the KPI relation."""
    config = ctx.config()
    _known_monitors(config, monitors)
    run_review_loop(ctx, config, list(monitors) or list(config.monitors))


def _known_monitors(config: MonitorFile, monitors: Sequence[str]) -> None:
    unknown = [m for m in monitors if m not in config.monitors]
    if unknown:
        fail(f"unknown monitor(s) {', '.join(unknown)}; configured: {', '.join(config.monitors)}")


@review.command("export")
@click.option("--monitor", required=True)
@click.option(
    "--out",
    required=True,
    help="The JSONL file to write (replaced atomically): a path, or an object-store URL such "
    "as s3://bucket/exports/chatbot.jsonl (credentials from the environment).",
)
@pass_context
def review_export(ctx: Context, monitor: str, out: str) -> None:
    """Write the corrected answers as a chat-format fine-tuning JSONL (PII redacted); the
    same records as the monitor's finetuning_dataset asset."""
    from monitoring_pipelines.core.artifacts import artifact_path
    from monitoring_pipelines.core.hallucination.finetune import finetuning_records, write_jsonl
    from monitoring_pipelines.core.hallucination.review import REVIEWED

    try:
        target = artifact_path(out)
    except MonitoringError as exc:
        fail(f"--out {out}: {exc}")
    _known_monitors(ctx.config(), [monitor])
    items = _queue(ctx).items(monitor, REVIEWED)
    dataset = finetuning_records(items)
    try:
        write_jsonl(dataset, target)
    except (OSError, MonitoringError) as exc:
        fail(f"cannot write {out}: {exc}")
    skipped = ", ".join(f"{n} {reason}" for reason, n in dataset.skipped.items() if n)
    redacted = ", ".join(f"{n} {kind}" for kind, n in dataset.redactions.items() if n)
    click.echo(
        f"{out}: {len(dataset.records)} record(s) from {len(items)} reviewed item(s) of "
        f"'{monitor}'; {dataset.duplicates_dropped} duplicate(s) dropped"
        + (f"; skipped: {skipped}" if skipped else "")
        + (f"; redacted: {redacted}" if redacted else "")
    )


@review.command("agreement")
@click.option("--monitor", required=True)
@pass_context
def review_agreement(ctx: Context, monitor: str) -> None:
    """How far the judge agrees with the reviewers: confusion table and Cohen's kappa, per
    judge and prompt version."""
    from monitoring_pipelines.core.hallucination.governance import (
        agreement,
        agreement_by_judge,
        review_pairs,
    )
    from monitoring_pipelines.core.hallucination.review import REVIEWED

    _known_monitors(ctx.config(), [monitor])
    pairs = review_pairs(_queue(ctx).items(monitor, REVIEWED))
    click.echo(f"all reviewed answers of '{monitor}'\n{agreement(pairs).as_markdown()}")
    for (judge, prompt), result in agreement_by_judge(pairs).items():
        click.echo(f"\n{judge} / prompt {prompt}\n{result.as_markdown()}")


_REASONS = {
    "flagged": "flagged by the judge (score under the threshold)",
    "audit": "audit sample: the judge passed it; is it really fine?",
}


def _review_item(ctx: Context, item_id: int) -> Any:
    from monitoring_pipelines.core.hallucination.review import ReviewError

    try:
        return _queue(ctx).get(item_id)
    except ReviewError as exc:
        fail(str(exc))


def _record_review(
    ctx: Context,
    item_id: int,
    status: str,
    who: str,
    *,
    corrected: str | None = None,
    note: str | None = None,
) -> None:
    from monitoring_pipelines.core.hallucination.review import ReviewError, ReviewStatus

    try:
        item = _queue(ctx).review(
            item_id, ReviewStatus(status), who, corrected_answer=corrected, note=note
        )
    except ReviewError as exc:
        fail(str(exc))
    click.echo(f"review item #{item.id} {item.status.value} by {item.reviewer}")


def _clip(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."
