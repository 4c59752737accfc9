"""``monitoring judge eval`` and ``monitoring judge score`` on users' own JSONL files, with the
offline judge and with the cascade against the local fake judge server; bad files fail in one
line naming the file and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitoring_pipelines.cli import main
from tests.fakes.openai_server import FakeOpenAI

CONTEXT = "The Eiffel Tower in Paris was completed in 1889. It is 330 metres tall."
QUESTION = "When was the Eiffel Tower completed?"
ROWS = [
    {"question": QUESTION, "context": CONTEXT, "answer": "It was completed in 1889.",
     "hallucinated": 0, "id": "a"},
    {"question": QUESTION, "context": CONTEXT, "answer": "It was completed in 1899.",
     "hallucinated": 1, "id": "b"},
    {"question": "How tall is it?", "context": CONTEXT, "answer": "It is 330 metres tall.",
     "hallucinated": 0, "id": "c"},
    {"question": "How tall is it?", "context": CONTEXT,
     "answer": "It is 330 metres tall and was designed by <b>Gustave</b> \u00c9iffel's foe Jones.",
     "hallucinated": 1, "id": "d"},
]  # fmt: skip


def write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_eval_reports_the_figures_and_writes_them_as_json(tmp_path: Path) -> None:
    data = write(tmp_path / "mine.jsonl", ROWS)
    out = tmp_path / "figures.json"
    result = CliRunner().invoke(main, ["judge", "eval", str(data), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "AUROC overall        1.000" in result.output
    assert "answer length alone" in result.output and "answers/s" in result.output
    figures = json.loads(out.read_text())["mine.jsonl"]
    assert figures["rows"] == 4 and figures["hallucinated"] == 2
    assert figures["auroc"] == 1.0 and figures["threshold"] == 0.7
    # The invented designer ("Gustave ... foe Jones") ranks under the correct answers but
    # scores above 0.7: names the context lacks alone do not flag an answer (README.md).
    assert figures["flagged_correct"] == 0.0 and figures["recall"] == 0.5
    assert figures["judge"].startswith("offline/")


def test_score_writes_each_row_back_with_its_verdict_and_span(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", [{k: v for k, v in r.items() if k != "hallucinated"}
                                           for r in ROWS])  # fmt: skip
    target = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["judge", "score", str(source), str(target)])
    assert result.exit_code == 0, result.output
    assert "4 answers scored" in result.output and "1 flagged" in result.output
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c", "d"]  # the input's own fields kept
    assert [r["flagged"] for r in rows] == [False, True, False, False]
    assert rows[3]["score"] < min(rows[0]["score"], rows[2]["score"])
    start, end = rows[1]["unsupported_span"]
    assert rows[1]["answer"][start:end] == "1899" and "'1899'" in rows[1]["rationale"]
    start, end = rows[3]["unsupported_span"]
    assert "Jones" in rows[3]["answer"][start:end]
    assert all(0.0 <= r["score"] <= 1.0 for r in rows) and rows[0]["unsupported_span"] is None


def test_eval_with_the_cascade_asks_the_llm_judge_about_the_uncertain_answers(
    tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.judge = lambda messages: json.dumps({"score": 0.1, "rationale": "wrong year"})
    monkeypatch.setenv("MONITORING_JUDGE_API_KEY", fake_openai.api_key)
    data = write(tmp_path / "mine.jsonl", ROWS)
    out = tmp_path / "figures.json"
    args = ["judge", "eval", str(data), "--judge", "cascade", "--base-url", fake_openai.base_url,
            "--model", fake_openai.model, "--json", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())["mine.jsonl"]
    asked = len(fake_openai.requests())
    assert 1 <= asked < 4 and figures["llm_share"] == asked / 4
    assert figures["judge"].startswith("cascade/")
    assert fake_openai.api_key not in out.read_text() + result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json\n", "line 1: not JSON"),
        ('{"context": "c", "answer": "a"}\n', "line 1: 'hallucinated' must be 0 or 1"),
        ('{"context": "c", "answer": "a", "hallucinated": 2}\n', "'hallucinated' must be 0 or 1"),
        ('\n{"context": 5, "answer": "a", "hallucinated": 0}\n', "line 2: 'context' must be"),
        ("[1, 2]\n", "expected a JSON object, found list"),
        ('{"a": ' * 100_000 + "\n", "line 1: "),
    ],
)
def test_a_bad_file_fails_in_one_line_naming_the_line(
    tmp_path: Path, content: str, message: str
) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(main, ["judge", "eval", str(data)])
    assert result.exit_code != 0
    assert message in result.output and str(data) in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_a_missing_or_binary_file_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["judge", "eval", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 1 and "cannot read" in result.output
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    result = CliRunner().invoke(main, ["judge", "score", str(binary), str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1 and "not UTF-8" in result.output
