"""Schema-driven fuzzing of the running API (schemathesis): generated requests, valid and invalid, for every
operation in the OpenAPI schema. No request may get a 5xx, and every response must match the schema
(status codes, content types, bodies). A real server on 127.0.0.1, a bounded number of examples per operation."""
import schemathesis
from hypothesis import HealthCheck, given, settings
from test_api_server import Server, small_artifact  # noqa: F401  (the fixture)


def test_no_generated_request_gets_a_server_error(small_artifact):
    _, art = small_artifact
    s = Server(art, '--max-texts', '32', '--max-chars', '2000').wait_ready()
    try:
        schema = schemathesis.openapi.from_url(s.url + '/openapi.json')
        ops = [r.ok() for r in schema.get_all_operations()]
        assert {(o.method.upper(), o.path) for o in ops} >= {('POST', '/predict'), ('GET', '/model'), ('GET', '/ready'), ('GET', '/metrics')}
        seen = {}
        for op in ops:
            @given(case=op.as_strategy())
            @settings(max_examples=80 if op.path == '/predict' else 5, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def run(case):
                r = case.call_and_validate()
                seen.setdefault(op.path, set()).add(r.status_code)
            run()
        assert 200 in seen['/predict'], seen
    finally:
        s.stop()
