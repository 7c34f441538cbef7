"""`status`'s side-by-side view of an endpoint's variants: weight, instances and recent numbers."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from rich.table import Table

from deploy.aws import Aws
from deploy.hosting_modes import mode_of
from deploy.variant_metrics import VariantNumbers, Window, variant_numbers
from deploy.variants import Layout, shares

DENIED = {"AccessDenied", "AccessDeniedException"}


def _fleet(variant: dict[str, Any], live: dict[str, Any]) -> str:
    if "InstanceType" not in variant:
        serverless = variant.get("ServerlessConfig") or {}
        return f"serverless {serverless.get('MemorySizeInMB', '?')} MB" if serverless else "-"
    count = live.get("CurrentInstanceCount", variant.get("InitialInstanceCount", "?"))
    return f"{variant['InstanceType']} x {count}"


def _numbers(
    aws: Aws, endpoint: str, names: list[str], window: Window, mode: str
) -> dict[str, VariantNumbers] | None:
    """None when the caller may not read CloudWatch metrics."""
    try:
        return variant_numbers(aws, endpoint, names, window, mode)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in DENIED:
            return None
        raise


def variants_table(aws: Aws, layout: Layout, minutes: int) -> Table:
    endpoint = str(layout.endpoint["EndpointName"])
    rows = [(v, "production") for v in layout.production] + [(v, "shadow") for v in layout.shadows]
    names = [v["VariantName"] for v, _ in rows]
    numbers = _numbers(aws, endpoint, names, Window.last(minutes), mode_of(layout.config))
    weights = {
        v["VariantName"]: float(layout.live(v["VariantName"]).get("CurrentWeight", 0.0))
        for v in layout.production
    }
    production_weight = sum(weights.values())
    traffic = shares(weights)
    table = Table(
        "variant", "role", "model", "instances", "weight", "traffic", "invocations",
        "4xx / 5xx", "error %", "p50 / p99 ms",
        title=f"variants, last {minutes} min (CloudWatch)",
    )  # fmt: skip
    for variant, role in rows:
        name, live = variant["VariantName"], layout.live(variant["VariantName"])
        weight = float(live.get("CurrentWeight", variant.get("InitialVariantWeight", 0.0)))
        share = (
            f"{traffic[name]:.1f}%"
            if role == "production"
            else f"copy of {100 * weight / production_weight:.0f}%"
            if production_weight
            else "-"
        )
        counts = numbers.get(name) if numbers is not None else None
        if counts is None:
            measured = ["?"] * 4 if numbers is None else ["-"] * 4
        else:
            error = counts.error_percent
            latency = [counts.p50_ms, counts.p99_ms]
            measured = [
                f"{counts.invocations:.0f}",
                f"{counts.errors_4xx:.0f} / {counts.errors_5xx:.0f}",
                "-" if error is None else f"{error:.2f}",
                " / ".join("-" if ms is None else f"{ms:.1f}" for ms in latency),
            ]
        model = variant.get("ModelName", "(inference components)")
        table.add_row(name, role, model, _fleet(variant, live), f"{weight:g}",
                      share, *measured)  # fmt: skip
    if numbers is None:
        table.caption = "metrics unknown: the caller may not call cloudwatch:GetMetricData"
    return table
