"""Who may call `nlp_lib serve`, checked on a real server: it listens on 127.0.0.1 unless told otherwise, CORS is off
unless origins are configured, and with an API key (`--api-key` or `NLP_LIB_API_KEY`) every route but /health needs
`Authorization: Bearer <key>` while the key shows up nowhere: not in the log, /model, the OpenAPI schema, or argv.

The same checks on the app alone (every route, wrong and right keys, CORS preflights) run in `nbs/clients/21_api.ipynb`."""
import os, signal
from pathlib import Path
import httpx
import pytest
from test_api_server import Server, small_artifact  # noqa: F401  (the fixture)

KEY = 'sk-test-' + 'Zq7x' * 8
WRONG = KEY[:-1] + 'y'                                           # a near miss must not show up either
ROUTES = [('GET', '/ready'), ('GET', '/model'), ('GET', '/metrics'), ('GET', '/docs'), ('GET', '/openapi.json'),
          ('POST', '/predict'), ('GET', '/nowhere')]


def listening_addresses(port: int) -> set[str]:
    "Local addresses of the TCP sockets listening on `port`, from /proc/net/tcp and tcp6 (hex, as the kernel writes them)."
    out = set()
    for f in ('/proc/net/tcp', '/proc/net/tcp6'):
        for line in Path(f).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.rsplit(':', 1)
            if state == '0A' and int(p, 16) == port: out.add(addr)
    return out


def test_binds_loopback_and_no_cors_by_default(small_artifact):
    _, art = small_artifact
    s = Server(art).wait_ready()
    try:
        assert listening_addresses(s.port) == {'0100007F'}, listening_addresses(s.port)      # 127.0.0.1 only, no IPv6 or 0.0.0.0
        origin = 'https://app.example'
        for r in (httpx.get(s.url + '/health', headers={'Origin': origin}),
                  httpx.post(s.url + '/predict', json={'text': 'a'}, headers={'Origin': origin}),
                  httpx.options(s.url + '/predict', headers={'Origin': origin, 'Access-Control-Request-Method': 'POST'})):
            assert not any(k.startswith('access-control-') for k in r.headers), r.headers
        assert httpx.get(s.url + '/model').status_code == 200                             # no key: open
    finally:
        s.stop()


def _check_key(s: Server):
    "Every route but /health: 401 without the key, with a wrong one or another scheme; the right key works."
    right = {'Authorization': f'Bearer {KEY}'}
    for method, path in ROUTES:
        kw = {'json': {'text': 'a fine film'}} if method == 'POST' else {}
        for headers in ({}, {'Authorization': f'Bearer {WRONG}'}, {'Authorization': f'Basic {KEY}'}, {'X-API-Key': KEY}):
            r = httpx.request(method, s.url + path, headers=headers, **kw)
            assert r.status_code == 401 and r.headers['www-authenticate'] == 'Bearer', (path, headers, r.status_code)
            assert set(r.json()) == {'error'} and KEY not in r.text, r.text
        r = httpx.request(method, s.url + path, headers=right, **kw)
        assert r.status_code == (404 if path == '/nowhere' else 200), (path, r.status_code, r.text[:200])
        assert KEY not in r.text, path
    assert httpx.get(s.url + '/health').status_code == 200
    schema = httpx.get(s.url + '/openapi.json', headers=right).json()
    assert schema['components']['securitySchemes']['bearer'] == {'type': 'http', 'scheme': 'bearer', 'description': 'the API key the server was started with'}
    assert 'security' not in schema['paths']['/health']['get'] and schema['paths']['/predict']['post']['security'] == [{'bearer': []}]


def test_api_key_from_the_flag_with_cors(small_artifact):
    _, art = small_artifact
    ours = 'https://app.example'
    s = Server(art, '--api-key', KEY, '--access-log', '--cors-origins', f'{ours},https://other.example').wait_ready(headers={'Authorization': f'Bearer {KEY}'})
    try:
        _check_key(s)
        pre = {'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type'}
        r = httpx.options(s.url + '/predict', headers={'Origin': ours, **pre})                  # a preflight needs no key
        assert r.status_code == 200 and r.headers['access-control-allow-origin'] == ours, r.headers
        r = httpx.post(s.url + '/predict', json={'text': 'a'}, headers={'Origin': ours})        # a 401 the page can read
        assert r.status_code == 401 and r.headers['access-control-allow-origin'] == ours
        r = httpx.options(s.url + '/predict', headers={'Origin': 'https://evil.example', **pre})
        assert r.status_code == 400 and 'access-control-allow-origin' not in r.headers
        r = httpx.get(s.url + '/ready', headers={'Origin': 'https://evil.example', 'Authorization': f'Bearer {KEY}'})
        assert r.status_code == 200 and 'access-control-allow-origin' not in r.headers
    finally:
        code, log = s.stop()
    assert code in (0, -signal.SIGTERM), log
    assert '"GET /model HTTP/1.1" 401' in log and '"GET /model HTTP/1.1" 200' in log, log     # the access log was on
    assert KEY not in log and WRONG not in log, log


def test_api_key_from_the_environment_reaches_every_worker(small_artifact):
    _, art = small_artifact
    s = Server(art, '--workers', '2', '--access-log', env={'NLP_LIB_API_KEY': KEY}).wait_ready(headers={'Authorization': f'Bearer {KEY}'})
    try:
        s.wait_log('Application startup complete', 2)
        for _ in range(10):                                            # new connections: the kernel spreads them over both workers
            assert httpx.get(s.url + '/model', headers={'connection': 'close'}).status_code == 401
            assert httpx.get(s.url + '/model', headers={'connection': 'close', 'Authorization': f'Bearer {KEY}'}).status_code == 200
        _check_key(s)
        for pid in [s.proc.pid, *s.workers()]:                         # the key is in no command line
            assert KEY.encode() not in Path(f'/proc/{pid}/cmdline').read_bytes(), pid
    finally:
        code, log = s.stop()
    assert log.count('Application startup complete') == 2, log
    assert KEY not in log and WRONG not in log, log


def test_an_empty_key_is_refused_at_start(small_artifact):
    import subprocess
    from test_api_server import NLP_LIB
    _, art = small_artifact
    r = subprocess.run([str(NLP_LIB), 'serve', str(art), '--port', '1'], env={**os.environ, 'NLP_LIB_API_KEY': ''},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'the API key is empty' in r.stderr, (r.returncode, r.stderr[-2000:])
