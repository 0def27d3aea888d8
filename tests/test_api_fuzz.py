"""Schema-driven fuzzing of the running API (schemathesis): generated requests, valid and invalid, for every
operation in the OpenAPI schema. No request may get a 5xx, and every response must match the schema
(status codes, content types, bodies). A real server on 127.0.0.1, a bounded number of examples per operation.

With an API key the requests carry the key, so they reach the handlers; schemathesis' `ignored_auth` check also
resends successful ones without the key and with a wrong one, and fails unless those are refused.

A text-pair server and a multi-label server are fuzzed too: their schema describes only the request shapes their
model takes (pairs, or single texts), so every generated valid request must be answered with 200, and the answers
(`labels` sets included) must match the response schema."""
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from test_api_server import Server, small_artifact, pair_artifact, multilabel_artifact  # noqa: F401  (the fixtures)

KEY = 'fuzz-key-' + 'k' * 23


def fuzz(s: Server, auth: dict, n_predict: int) -> tuple[dict, list]:
    """Run schemathesis over every operation of the server `s`: `n_predict` examples for /predict, 5 for the others.
    The status codes seen per path, and the (request body, response JSON) of every 200 from /predict."""
    schema = schemathesis.openapi.from_url(s.url + '/openapi.json', headers=dict(auth))     # (a copy: schemathesis adds its own headers to it)
    ops = [r.ok() for r in schema.get_all_operations()]
    assert {(o.method.upper(), o.path) for o in ops} >= {('POST', '/predict'), ('GET', '/model'), ('GET', '/ready'), ('GET', '/metrics')}
    assert ('securitySchemes' in schema.raw_schema['components']) == bool(auth)
    seen, answered = {}, []
    for op in ops:
        @given(case=op.as_strategy())
        @settings(max_examples=n_predict if op.path == '/predict' else 5, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            r = case.call_and_validate(headers=auth)
            seen.setdefault(op.path, set()).add(r.status_code)
            if op.path == '/predict' and r.status_code == 200: answered.append((case.body, r.json()))
        run()
    return seen, answered


@pytest.mark.parametrize('key', [None, KEY], ids=['open', 'api-key'])
def test_no_generated_request_gets_a_server_error(small_artifact, key):
    _, art = small_artifact
    auth = {'Authorization': f'Bearer {key}'} if key else {}
    s = Server(art, '--max-texts', '32', '--max-chars', '2000', env={'NLP_LIB_API_KEY': key} if key else None).wait_ready(headers=auth)
    try:
        seen, _ = fuzz(s, auth, 80 if not key else 40)
        assert 200 in seen['/predict'], seen
        if key: assert 401 not in set().union(*seen.values()), seen        # every request carried the key
    finally:
        s.stop()


@pytest.mark.parametrize('kind', ['pair', 'multi-label'])
def test_pair_and_multi_label_servers_get_no_server_error(pair_artifact, multilabel_artifact, kind):
    _, art, _ = pair_artifact if kind == 'pair' else multilabel_artifact
    s = Server(art, '--max-texts', '32', '--max-chars', '2000').wait_ready()
    try:
        seen, answered = fuzz(s, {}, 60)
        assert 200 in seen['/predict'], seen
        bodies = [b for b, _ in answered]
        if kind == 'pair':
            assert all('text_pair' in b or 'pairs' in b for b in bodies), bodies      # a pair server answers pairs only
            assert all(p['labels'] is None for _, r in answered for p in r['predictions'])
        else:
            assert not any('text_pair' in b or 'pairs' in b for b in bodies), bodies
            assert all(isinstance(p['labels'], list) for _, r in answered for p in r['predictions'])
    finally:
        code, log = s.stop()
    assert 'Traceback' not in log, log
