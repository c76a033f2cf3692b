"""The program-scale bench runs (smoke run, tiny sizes): no timing is asserted here."""

from __future__ import annotations

import gc

import pytest

from bench import BENCHES, Summary, render_table, summary_table
from bench.__main__ import main
from bench.program_scale import Measurement, component_program, linearity, raw_program, run
from tests.mocks import StrictMocks, run_program


def test_the_raw_program_registers_what_the_component_registers() -> None:
    component = StrictMocks()
    raw = StrictMocks()
    run_program(component_program(3), component)
    run_program(raw_program(3), raw)

    def custom(mocks: StrictMocks) -> dict[str, tuple[str, dict[str, object]]]:
        return {r.name: (r.type, r.inputs) for r in mocks.registrations if r.custom}

    assert custom(component) == custom(raw)


def test_a_quick_run_reports_every_size_and_the_growth() -> None:
    report = run(quick=True)
    assert [row[0] for row in report.rows] == ["2", "4"]
    assert report.columns[:5] == ["ENIs", "component s", "raw s", "ratio", "per-ENI ms"]
    assert [item.case for item in report.summary] == [
        "2 ENIs",
        "4 ENIs",
        "2->4 ENIs, GC paused",
    ]
    assert all(isinstance(item.met, bool) for item in report.summary)


def test_python_m_bench_prints_the_named_bench_and_one_summary_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["program-scale", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "ENIs  component s  raw s  ratio  per-ENI ms" in out
    assert out.count("bench          case") == 1
    assert "program-scale" in BENCHES


def test_an_unknown_bench_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["nope"])
    assert exit_info.value.code == 2
    assert "unknown bench nope" in capsys.readouterr().err


def test_tables_align_numbers_right_and_text_left() -> None:
    table = render_table(["name", "s"], [["a", "1.5"], ["long", "10.25"]])
    assert table.splitlines() == ["name      s", "----  -----", "a       1.5", "long  10.25"]
    summary = summary_table([])
    assert summary.splitlines()[0].split() == ["bench", "case", "measured", "target", "met"]
    assert Summary("c", "m", "t", None).met is None


def test_the_garbage_collector_is_back_on_after_a_paused_run() -> None:
    assert linearity(2, 4, 1) > 0
    assert gc.isenabled()


def test_measurements_derive_ratio_and_per_interface_time() -> None:
    measurement = Measurement(100, 0.2, 0.16, 5)
    assert measurement.ratio == pytest.approx(1.25)
    assert measurement.per_interface_ms == pytest.approx(2.0)
