"""schemathesis against the service's own OpenAPI schema: whatever it sends, signed as a
furnishing partner and as a person, the service never answers 500.

Operations are driven one by one with hypothesis (schemathesis's pytest plugin does not load
under pytest 9)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.service.conftest import World


def test_no_server_errors(world: World) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.client.app)
    credentials = {**world.bikes, **world.me(world.home.users[0])}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def never_500(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=credentials, checks=[not_a_server_error])

        never_500()
