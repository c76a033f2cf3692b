"""The cost line of `pulumi preview`: the example stacks under the strict mocks, the estimate's
arithmetic, the price data, and the README's table (``python -m tests.test_costs`` rewrites it).
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.aws import prices
from components.aws.cost_estimate import estimate_aws
from components.costs import HOURS_PER_MONTH, readme_table
from tests.mocks import StrictMocks, run_program

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLES = ("aws-dev", "aws-gateway")
TABLE = re.compile(r"(<!-- cost table: [^\n]*-->\n)(.*?)(\n<!-- end of cost table -->)", re.DOTALL)


def stack(name: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text())[
        "config"
    ]
    return config


def preview(config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Any]:
    lines: list[str] = []
    monkeypatch.setattr(pulumi.log, "info", lambda message, *_, **__: lines.append(message))
    run = run_program(
        lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"),
        StrictMocks(),
        config=config,
        preview=True,
    )
    return [line for line in lines if line.startswith("cost estimate")], run


def test_the_aws_dev_stack_s_preview_logs_its_monthly_estimate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines, run = preview(stack("aws-dev"), monkeypatch)
    assert lines == [
        "cost estimate (not a quote): about $165.71/month in eu-west-1 — gateway t3.small "
        "$16.64, gateway root volume $0.70, gateway Elastic IP $3.65, sensor c5n.large $89.06, "
        "sensor root volume $0.70, sensor 500 GB logs $44.00, 1 mirror session $10.95 "
        "(on-demand list prices of 2026-12-01, components/aws/prices.py)"
    ]
    assert run.exports["cost_estimate"]["monthly_usd"] == 165.71


def test_the_aws_gateway_stack_pays_for_no_session(monkeypatch: pytest.MonkeyPatch) -> None:
    lines, _ = preview(stack("aws-gateway"), monkeypatch)
    assert lines == [
        "cost estimate (not a quote): about $110.76/month in eu-west-1 — gateway t3.small "
        "$16.64, gateway root volume $0.70, gateway Elastic IP $3.65, sensor c5n.large $89.06, "
        "sensor root volume $0.70 (on-demand list prices of 2026-12-01, "
        "components/aws/prices.py)"
    ]


def test_enrolment_adds_the_function_and_prices_each_interface_it_will_mirror(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = stack("aws-dev")
    config["aws:region"] = "us-east-1"
    config["cloudtap:mirror"] = {**config["cloudtap:mirror"], "enrol": {"tags": {"a": "b"}}}
    lines, run = preview(config, monkeypatch)
    (line,) = lines
    assert "in us-east-1 — gateway t3.small $15.18," in line
    assert ", enrolment function $0.05;" in line
    assert "each interface the enrolment function mirrors adds $10.95" in line
    items = run.exports["cost_estimate"]["items"]
    assert items["enrolment function"] == 0.05


def test_a_region_without_data_gets_default_prices_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = stack("aws-gateway")
    config["aws:region"] = "ap-south-2"
    (line,) = preview(config, monkeypatch)[0]
    assert " in us-east-1 — " in line
    assert "us-east-1 prices: the data has none for ap-south-2" in line


def test_an_instance_type_without_a_price_is_named_not_guessed() -> None:
    estimate = estimate_aws(
        "eu-west-1", gateway_instance_type="m9z.large", sensor=None, mirror=None
    )
    assert estimate.unpriced == ["gateway m9z.large"]
    assert "plus gateway m9z.large (unpriced)" in estimate.line()
    assert "gateway m9z.large no price in the data" in estimate.line()
    assert estimate.total == round((0.088 * 8) + 0.005 * HOURS_PER_MONTH, 2)


def test_every_region_prices_the_same_things_and_the_data_names_its_sources() -> None:
    regions = set(prices.INSTANCE_HOURLY)
    assert prices.DEFAULT_REGION in regions
    for table in (
        prices.GP3_GB_MONTH,
        prices.PUBLIC_IPV4_HOURLY,
        prices.MIRROR_SESSION_HOURLY,
        prices.LAMBDA_PER_MILLION_REQUESTS,
        prices.LAMBDA_GB_SECOND,
        prices.LOGS_INGESTED_GB,
    ):
        assert set(table) == regions
    types = {frozenset(by_type) for by_type in prices.INSTANCE_HOURLY.values()}
    assert len(types) == 1
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", prices.AS_OF)
    assert all(url.startswith("https://aws.amazon.com/") for url in prices.SOURCES.values())


def current_table(monkeypatch: pytest.MonkeyPatch) -> str:
    return readme_table(
        {name: preview(stack(name), monkeypatch)[1].exports["cost_estimate"] for name in EXAMPLES}
    )


def test_the_readme_s_cost_table_is_what_the_program_computes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = TABLE.search(README.read_text())
    assert found is not None, "README.md has no cost table markers"
    assert found[2] == current_table(monkeypatch), "run: python -m tests.test_costs"


if __name__ == "__main__":
    with pytest.MonkeyPatch.context() as patch:
        table = current_table(patch)
    text = README.read_text()
    README.write_text(TABLE.sub(lambda m: m[1] + table + m[3], text))


def test_a_gateway_per_zone_costs_a_gateway_and_two_addresses_per_zone() -> None:
    single = estimate_aws("eu-west-1", gateway_instance_type="t3.small", sensor=None, mirror=None)
    per_zone = estimate_aws(
        "eu-west-1",
        gateway_instance_type="t3.small",
        sensor=None,
        mirror=None,
        gateways=3,
        auto_scaling_gateways=True,
    )
    hour = HOURS_PER_MONTH
    assert single.total == round(0.0228 * hour + 0.088 * 8 + 0.005 * hour, 2)
    assert per_zone.total == round(3 * 0.0228 * hour + 3 * 0.088 * 8 + 6 * 0.005 * hour, 2)
    assert "6 gateway public IPv4 addresses" in per_zone.line()


def test_the_program_counts_every_zones_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    config = stack("aws-dev")
    config["cloudtap:network"] = {**config["cloudtap:network"], "gateway_strategy": "one_per_zone"}
    (line,) = preview(config, monkeypatch)[0]
    assert "2 gateways t3.small" in line


def fleet_estimate(region: str, fleet_args: dict[str, Any]) -> Any:
    """The estimate of a gateway and a fleet planned on the default network, in ``region``."""
    from components.aws.monitored_vpc import plan_monitored_vpc  # noqa: PLC0415
    from components.aws.sensor_fleet import plan_sensor_fleet  # noqa: PLC0415

    def program() -> Any:
        design = plan_monitored_vpc({}).design
        fleet = plan_sensor_fleet({"network": design, **fleet_args})
        return estimate_aws(
            region, gateway_instance_type="t3.small", sensor=None, mirror=None, fleet=fleet
        )

    return run_program(program, StrictMocks()).result


def test_a_fleets_nlb_is_counted_and_its_per_gb_charge_priced_at_the_expected_traffic() -> None:
    estimate = fleet_estimate("us-east-1", {"expected_gbps": 2})
    items = {item.label: item.monthly for item in estimate.items}
    assert items["fleet NLB"] == pytest.approx(0.0225 * HOURS_PER_MONTH)
    line = estimate.line()
    # 2 Gbit/s is 900 GB an hour, one NLCU per GB-hour at $0.006, for 730 hours.
    assert "+ $0.0060 per GB of copies through the NLB (capacity units" in line
    assert "at the expected 2 Gbit/s all month that is $3942.00" in line
    assert estimate.total == round(sum(v for v in items.values() if v is not None), 2)
    assert "fleet NLB" not in estimate.unpriced


def test_a_gwlb_fleet_counts_the_balancer_and_an_endpoint_per_zone() -> None:
    estimate = fleet_estimate("us-east-1", {"target": "gwlb", "expected_gbps": 1})
    items = {item.label: item.monthly for item in estimate.items}
    assert items["fleet GWLB"] == pytest.approx(0.0125 * HOURS_PER_MONTH)
    assert items["2 GWLB endpoints"] == pytest.approx(2 * 0.01 * HOURS_PER_MONTH)
    # GLCU $0.004 and the endpoint's $0.0035 for every GB.
    assert "+ $0.0075 per GB of copies through the GWLB (capacity units and endpoints" in (
        estimate.line()
    )
    assert f"that is ${450 * HOURS_PER_MONTH * 0.0075:.2f}" in estimate.line()


def test_a_region_without_load_balancer_prices_says_so_instead_of_guessing() -> None:
    estimate = fleet_estimate("eu-west-1", {})
    assert "fleet NLB" in estimate.unpriced
    assert "the NLB's per-GB charges (capacity units) have no price in the data" in (
        estimate.line()
    )


def test_the_load_balancer_prices_cover_the_default_region_and_only_known_regions() -> None:
    for table in (
        prices.NLB_HOURLY,
        prices.NLCU_HOURLY,
        prices.GWLB_HOURLY,
        prices.GLCU_HOURLY,
        prices.GWLB_ENDPOINT_HOURLY,
        prices.GWLB_ENDPOINT_GB,
    ):
        assert prices.DEFAULT_REGION in table
        assert set(table) <= set(prices.INSTANCE_HOURLY)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", prices.LOAD_BALANCER_AS_OF)
