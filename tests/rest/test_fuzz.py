"""A bounded schemathesis fuzz run of the BigTime-compatible REST API against the real
server (uvicorn), from its own OpenAPI document, as an account's owner: valid and invalid
requests to every operation; no answer may be a server error (5xx) or anything but JSON."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from app.access import Role
from app.main import create_app
from app.rest.openapi import document
from app.rest.routes import PREFIX
from app.services import Services
from tests.conftest import make_settings
from tests.factories import (
    make_custom_field,
    make_member,
    make_staff,
    make_status,
    make_tenant,
    set_custom_value,
)
from tests.security.live import live_server

# Bounded for CI; set ROSTER_FUZZ_EXAMPLES higher for a deeper run.
EXAMPLES_PER_OPERATION_AND_MODE = int(os.environ.get("ROSTER_FUZZ_EXAMPLES", "25"))


@dataclass
class Report:
    examples: int = 0
    by_status: dict[str, int] = field(default_factory=dict)  # "mode status" -> answers
    failures: list[str] = field(default_factory=list)

    def check(self, label: str, case, response: requests.Response) -> None:
        self.examples += 1
        key = f"{label.rsplit(' ', 1)[-1]} {response.status_code}"
        self.by_status[key] = self.by_status.get(key, 0) + 1
        problem = None
        if response.status_code >= 500:
            problem = f"HTTP {response.status_code}"
        else:
            try:
                response.json()
            except ValueError:
                problem = "not JSON"
        if problem:
            self.failures.append(
                f"{label}: {problem}\n  {case.method} {case.formatted_path} "
                f"query={case.query} body={case.body!r}\n  answer: {response.text[:300]}"
            )


def fuzz(schema, url: str, headers: dict) -> Report:
    report = Report()
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6, [op.label for op in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                response = case.call(base_url=url, session=session, headers=headers, timeout=30)
                report.check(f"{operation.label} {mode.value}", case, response)  # noqa: B023

            run()
    session.close()
    return report


async def seed(services):
    """Records with low SIDs (1...) and custom fields, so that fuzzed SIDs reach real rows."""
    tenant = await make_tenant(services, "Fuzz & Co")
    await make_member(services, tenant, Role.EDITOR)
    staffer = await make_staff(services, tenant, first_name="Rita", last_name="R", restricted=True)
    await make_staff(services, tenant, first_name="Carl", last_name="Contractor")
    shirt = await make_custom_field(services, tenant, "Shirt size", type="TEXT")
    await make_custom_field(services, tenant, "Home town", personal=True)
    await set_custom_value(services, tenant, staffer.id, shirt.id, "M")
    await make_status(services, tenant, "On leave")
    return tenant


async def test_fuzzing_the_rest_api_finds_no_server_error(database_url):
    settings_ = make_settings(database_url)
    services = Services.from_settings(settings_)
    try:
        tenant = await seed(services)
        headers = {"X-Auth-Token": tenant.owner.token, "X-Auth-Realm": tenant.slug}
        schema = schemathesis.openapi.from_dict(document(PREFIX))
        async with live_server(create_app(settings_, services=services)) as base:
            report = await asyncio.to_thread(fuzz, schema, f"{base}{PREFIX}", headers)
    finally:
        await services.close()
    print(f"\nREST fuzz: {report.examples} examples; statuses: {report.by_status}")
    assert not report.failures, "\n\n".join(report.failures[:10])
    # The valid requests were authenticated and many reached real records.
    assert report.by_status.get("positive 401", 0) == 0, report.by_status
    assert report.by_status.get("positive 200", 0) > report.examples / 5, report.by_status
