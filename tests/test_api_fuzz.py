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


def test_fast_reader_takes_only_what_the_request_model_takes():
    """`/predict` reads the common requests with `fast_items` (orjson and a few checks) and everything else with
    `PredictRequest`: on random JSON bodies in and near the four request shapes (texts over the limits, too many or no
    items, wrong types, extra or missing fields, `debug` of any type) and on random bytes, whatever the fast reader accepts,
    `PredictRequest` accepts too, with the same inputs; and the fast reader accepts every well-formed request within the limits."""
    import json
    from hypothesis import strategies as st
    from pydantic import ValidationError
    from nlp_lib.api import PredictRequest, ServeSettings, fast_items
    lim = ServeSettings(max_texts=4, max_chars=12)
    ok_text = st.text(st.characters(exclude_categories=('Cs',)), max_size=12)        # within max_chars, no lone surrogates
    text = st.text(max_size=14) | st.sampled_from(['\ud800', 'a\udc00', '😀' * 13, 'ü' * 12, '\x00'])
    scalar = st.none() | st.booleans() | st.integers(-2, 2) | st.floats(allow_nan=False) | text
    value = st.recursive(scalar, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.sampled_from(['text', 'text_pair', 'x']), kids, max_size=3),
                         max_leaves=8)

    def shapes(t, n_min, n_max, item=None):
        "The four request shapes, with texts from `t` and lists of n_min..n_max items."
        pair = st.fixed_dictionaries({'text': t, 'text_pair': t})
        return (st.fixed_dictionaries({'text': t}) | st.fixed_dictionaries({'texts': st.lists(t if item is None else item, min_size=n_min, max_size=n_max)}) | pair
                | st.fixed_dictionaries({'pairs': st.lists(pair if item is None else item, min_size=n_min, max_size=n_max)}))

    near = (st.dictionaries(st.sampled_from(['text', 'texts', 'pairs', 'text_pair', 'debug', 'extra']), value, max_size=3)
            | st.tuples(shapes(text | value, 0, 6, value | text), st.dictionaries(st.sampled_from(['debug', 'extra', 'text', 'texts']), value | scalar, max_size=1))
              .map(lambda two: {**two[0], **two[1]}))
    valid = st.tuples(shapes(ok_text, 1, 4), st.sampled_from([{}, {'debug': False}])).map(lambda two: {**two[0], **two[1]})

    def raw(obj, ascii_):
        try: return json.dumps(obj, ensure_ascii=ascii_).encode('utf-8', 'surrogatepass')
        except ValueError: return b'{'

    def check(b: bytes):
        got = fast_items(b, lim)
        try: req = PredictRequest.model_validate_json(b, context={'limits': lim})
        except ValidationError: req = None
        if got is not None:
            assert req is not None, b
            assert got == (req.items, req.pair), b
        return got

    @given(near, st.booleans())
    @settings(max_examples=2000, deadline=None, database=None)
    def agree(obj, ascii_): check(raw(obj, ascii_))
    agree()

    @given(st.binary(max_size=40))
    @settings(max_examples=300, deadline=None, database=None)
    def noise(b): check(b)
    noise()

    @given(valid, st.booleans())
    @settings(max_examples=500, deadline=None, database=None)
    def common(obj, ascii_): assert check(raw(obj, ascii_)) is not None, obj
    common()
