"""Schema-driven fuzzing of the running API (schemathesis): generated requests, valid and invalid, for every
operation in the OpenAPI schema. No request may get a 5xx, and every response must match the schema
(status codes, content types, bodies). A real server on 127.0.0.1, a bounded number of examples per operation.

With an API key the requests carry the key, so they reach the handlers; schemathesis' `ignored_auth` check also
resends successful ones without the key and with a wrong one, and fails unless those are refused."""
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from test_api_server import Server, small_artifact  # noqa: F401  (the fixture)

KEY = 'fuzz-key-' + 'k' * 23


@pytest.mark.parametrize('key', [None, KEY], ids=['open', 'api-key'])
def test_no_generated_request_gets_a_server_error(small_artifact, key):
    _, art = small_artifact
    auth = {'Authorization': f'Bearer {key}'} if key else {}
    s = Server(art, '--max-texts', '32', '--max-chars', '2000', env={'NLP_LIB_API_KEY': key} if key else None).wait_ready(headers=auth)
    try:
        schema = schemathesis.openapi.from_url(s.url + '/openapi.json', headers=auth)
        ops = [r.ok() for r in schema.get_all_operations()]
        assert {(o.method.upper(), o.path) for o in ops} >= {('POST', '/predict'), ('GET', '/model'), ('GET', '/ready'), ('GET', '/metrics')}
        assert ('securitySchemes' in schema.raw_schema['components']) == bool(key)
        seen = {}
        for op in ops:
            @given(case=op.as_strategy())
            @settings(max_examples=(80 if not key else 40) if op.path == '/predict' else 5, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case):
                r = case.call_and_validate(headers=auth)
                seen.setdefault(op.path, set()).add(r.status_code)
            run()
        assert 200 in seen['/predict'], seen
        if key: assert 401 not in set().union(*seen.values()), seen        # every request carried the key
    finally:
        s.stop()
