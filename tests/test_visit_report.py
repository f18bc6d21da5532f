"""The visit report as a clinician prints it: who and what on top, the visit from the day's
first interaction, a chart with its axes, units, legend and every change and guard decision
marked, print-ready for A4 and Letter, written where the user said or to the data directory.

Where Chromium is installed, the HTML is laid out in it and the layout checked (boxes that
overlap or overflow the printable width, the page size of the printed PDF), not its pixels."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pumpctl.testing.plugin import PumpUnderTest
from tests.clinical.clinic import Clinic
from tests.clinical.test_scenarios import CASE_CHECKED

pytestmark = pytest.mark.needs_simulator  # the pump's clock

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# What the browser measures, written into the title for --dump-dom to carry out.
LAYOUT_PROBE = """<script>
function box(e) { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }
function overlap(a, b) { return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]; }
const labels = [...document.querySelectorAll("#chart text")].map(box);
let clashes = 0;
for (let i = 0; i < labels.length; i++)
  for (let j = i + 1; j < labels.length; j++) if (overlap(labels[i], labels[j])) clashes++;
const chart = box(document.querySelector("#chart"));
const who = box(document.querySelector("table.who"));
document.title = JSON.stringify({
  overflow: document.documentElement.scrollWidth - window.innerWidth,
  clashes: clashes,
  chart_right: chart[2], width: window.innerWidth, who_above_chart: who[3] <= chart[1],
});
</script>"""
A4_WIDTH_PX = 680  # the printable width of A4 (and of Letter) at 15 mm margins


@pytest.fixture
def clinic(pump: PumpUnderTest, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Clinic:
    assert pump.sim is not None
    clinic = Clinic(pump.sim, tmp_path / "clinical.db", capsys)
    for step in CASE_CHECKED:
        clinic.step(step)
    clinic.run("set-rate 2.0")  # blocked by the guard: OIH
    clinic.ok("set-rate 1.4 --confirm-large-change")
    clinic.run("bolus 50")  # refused by the programmer: never sent
    clinic.step("days 1")
    clinic.ok("vas 5")
    return clinic


def written(out: str) -> tuple[Path, Path]:
    """The two paths the report command printed: Markdown, then HTML."""
    markdown, page = (Path(line) for line in out.split())
    assert markdown.suffix == ".md"
    assert page.suffix == ".html"
    return markdown, page


def test_the_report_names_who_and_what_and_marks_every_change_and_decision(
    clinic: Clinic, tmp_path: Path
) -> None:
    markdown, page = written(clinic.ok(f"report --out {tmp_path} --since-hours 240"))
    text = page.read_text()
    assert "<th>Clinician</th><td>dr-case</td>" in text
    assert "<th>Drug</th><td>morphine 25 mg/mL</td>" in text
    assert "IT-20 SIM000001" in text
    assert "TRAINING" not in text
    chart = text[text.index('<svg id="chart"') : text.index("</svg>")]
    assert chart.count('class="increase"><title>') == 2
    assert chart.count('class="decrease"><title>') == 1
    assert "1.8 mg/day to 1.4 mg/day" in chart
    assert '<rect x="' in chart
    assert "guard block (step-rise) of 2 mg/day" in chart
    assert "guard hold (delivery-first)" not in chart  # the catheter was checked first
    assert "daily dose (mg/day)" in chart
    assert "VAS (0-10)" in chart
    assert "pump time (UTC)" in chart
    assert re.search(r">0[0-9] Jan<", chart)  # the time axis, in days of the pump's clock
    assert "guard blocked" in chart  # the legend
    assert "size: A4" in text
    assert "@media print" in text
    body = markdown.read_text()
    assert "- **Clinician:** dr-case" in body
    (low,) = [line for line in body.splitlines() if line.startswith("| Low-reservoir date |")]
    assert low.split(" | ")[1] != "-"  # the first change's review showed it before the visit
    assert ": Dose 1.6 mg/day -> 1.8 mg/day by dr-case: APPLIED" in body
    assert ": Dose 1.8 mg/day -> 1.4 mg/day by dr-case: APPLIED" in body
    (refused,) = [line for line in body.splitlines() if "refused by the programmer" in line]
    assert "bolus by dr-case: NOT SENT, refused by the programmer (BOLUS_TOO_LARGE)" in refused
    assert "▼" in body
    assert "▲" in body


def test_the_visit_starts_at_the_first_interaction_of_the_day(clinic: Clinic) -> None:
    markdown, _ = written(clinic.ok("report"))  # the data directory: the test's own
    assert markdown.parent.name == "reports"
    assert markdown.parent.parent.name == "pumpctl"
    body = markdown.read_text()
    # The last day holds only the VAS 5 (2026-01-07 01:00): the visit starts there, with
    # the dose before it, 1.4 mg/day, and after it unchanged.
    (visit,) = [line for line in body.splitlines() if line.startswith("- **Visit:**")]
    assert "2026-01-07 01:00 UTC to 2026-01-07 01:00 UTC" in visit, visit
    assert "| Daily dose | 1.4 mg/day | 1.4 mg/day |" in body
    assert "| Drug | unchanged | morphine 25 mg/mL |" in body
    assert "Run a catheter check" not in body  # the day before: not this visit


def test_the_training_pump_says_so_on_top(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pumpctl.cli import main

    assert main(["--sim", "report", "--paper", "letter"]) == 0
    _, page = written(capsys.readouterr().out)
    text = page.read_text()
    assert "TRAINING: the built-in simulator, not a patient&#x27;s pump" in text
    assert "size: letter" in text


def test_a_report_directory_that_is_not_one_is_one_line(clinic: Clinic, tmp_path: Path) -> None:
    code, out, err = clinic.run(f"report --out {tmp_path / 'missing'}")
    assert code == 2
    assert out == ""
    assert err.strip().endswith("is not a directory")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_the_report_lays_out_within_the_page_in_a_real_browser(
    clinic: Clinic, tmp_path: Path
) -> None:
    assert CHROMIUM is not None
    _, page = written(clinic.ok(f"report --out {tmp_path} --since-hours 240"))
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", LAYOUT_PROBE + "</body>"))
    browser = [CHROMIUM, *CHROMIUM_FLAGS, "--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [*browser, f"--window-size={A4_WIDTH_PX},1000", "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    found = re.search(r"<title>(\{.*?\})</title>", dom)
    assert found, dom[:500]
    layout = json.loads(found.group(1).replace("&quot;", '"'))
    assert layout["overflow"] <= 0, layout  # nothing wider than the printable width
    assert layout["clashes"] == 0, layout  # no axis or legend label over another
    assert layout["chart_right"] <= layout["width"], layout
    assert layout["who_above_chart"], layout

    pdf = tmp_path / "report.pdf"
    subprocess.run(
        [*browser, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()],
        capture_output=True,
        timeout=60,
        check=True,
    )
    media = re.findall(rb"/MediaBox\s*\[\s*0 0 ([0-9.]+) ([0-9.]+)\s*\]", pdf.read_bytes())
    assert media, "no page in the printed PDF"
    width_pt, height_pt = (round(float(v)) for v in media[0])
    assert (width_pt, height_pt) == (595, 842)  # A4, as the page asked
