"""report.html of a serving run, built from the real report (a stub-priced run of the serving engine)."""

from __future__ import annotations

import html
import re

from accelsim.cli import main
from accelsim.report import fmt
from accelsim.serving import serve

from .test_serve import Stub, spec


def _text(page: str) -> str:
    page = re.sub(r"<style>.*?</style>|<script>.*?</script>", "", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_the_page_shows_the_reports_figures_and_escapes_its_strings(tmp_path):
    # 3 isolated requests (test_serve: TTFT 0.2 s, TPOT 0.11 s each), two replicas; a name with markup in it (no '/': a
    # name is one folder name, runs/NAME)
    res = serve(spec(name="<b>chat<i>", replicas=2), cost=Stub(fixed=0.1), blocks=1000)
    res.save(tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "<b>chat<i>" not in page and "&lt;b&gt;chat&lt;i&gt;" in page
    text = _text(page)
    s = res.report["serving"]
    assert f"{fmt.seconds(0.2)} / {fmt.seconds(0.2)} TTFT p50 / p99" in text  # a card: value, then label
    assert f"TPOT {fmt.seconds(0.11)} {fmt.seconds(0.11)}" in text  # the latency table's mean and p50
    assert page.count("<tr><td class=\"n\" data-v=") == len(s["replicas"]) == 2
    assert "Speculative decoding" not in text and "Conversations" not in text  # sections the run does not have


def test_the_page_has_the_sections_of_the_features_a_run_uses_and_plot_redraws_it(tmp_path, capsys):
    s = spec(workload={"requests": 1, "conversation": {"turns": {"dist": "fixed", "value": 2}}},
             speculative={"method": "ngram", "num_tokens": 2, "acceptance_rate": 1.0})
    res = serve(s, cost=lambda p, d, kv, scores=0, drafts=0: 0.01, blocks=1000)
    res.save(tmp_path, plots=True)
    text = _text((tmp_path / "report.html").read_text())
    assert "Conversations" in text and "Speculative decoding" in text
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64,") == 2
    (tmp_path / "report.html").unlink()
    assert main(["plot", str(tmp_path)]) == 0
    assert str(tmp_path / "report.html") in capsys.readouterr().out
    assert "Speculative decoding" in _text((tmp_path / "report.html").read_text())


def test_the_cards_give_rates_as_the_summary_does(tmp_path):
    # probe p73: the cards printed "1765 output tokens / s" and "7.116" (4 significant digits, no separators) where
    # the Summary's throughput row says "1,765 output tok/s": the cards now give the same text as that row
    res = serve(spec(), cost=Stub(fixed=0.1), blocks=1000)
    res.save(tmp_path)
    text = _text((tmp_path / "report.html").read_text())
    s = res.report["serving"]
    req, out = format(s["requests_per_s"], ",.2f"), format(s["output_tokens_per_s"], ",.0f")
    assert f"{req} requests / s" in text and f"{out} output tokens / s" in text
    assert f"{req} req/s, {out} output tok/s" in text  # the Summary's throughput row
