"""The property-based tests of `tests/test_properties.py` under the `thorough` hypothesis profile (over 10,000 generated
examples in all), with a table: property, examples run, failures, seconds.

    python bench/properties.py            # thorough profile (a few minutes on 2 cores)
    python bench/properties.py --profile ci

Examples are counted by the tests themselves (each property's body adds one per call, shrinking included) and written
to a JSON file named by `NLP_LIB_PROPERTY_COUNTS`; failures and seconds come from pytest's JUnit XML. Exit status 1 when
a property fails (an expected failure, `xfail`, is not one) or, under `thorough`, fewer than 10,000 examples ran."""
import argparse, json, os, re, subprocess, sys, tempfile, time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / 'tests' / 'test_properties.py'
MIN_EXAMPLES = 10_000


def run(profile: str, extra: list[str]) -> tuple[dict, dict, float, int]:
    "Run the property tests; return counts per test, JUnit rows per test (failures, xfails, seconds), wall time, exit code."
    with tempfile.TemporaryDirectory() as d:
        counts, junit = Path(d) / 'counts.json', Path(d) / 'junit.xml'
        env = {**os.environ, 'NLP_LIB_HYPOTHESIS': profile, 'NLP_LIB_PROPERTY_COUNTS': str(counts)}
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, '-m', 'pytest', str(TESTS), '-q', '-p', 'no:cacheprovider', f'--junitxml={junit}', *extra],
                           cwd=ROOT, env=env)
        wall = time.perf_counter() - t0
        n = json.loads(counts.read_text()) if counts.exists() else {}
        rows = defaultdict(lambda: {'cases': 0, 'failures': 0, 'xfail': 0, 'seconds': 0.0})
        if junit.exists():
            for tc in ET.parse(junit).iter('testcase'):
                row = rows[re.sub(r'\[.*\]$', '', tc.get('name'))]
                row['cases'] += 1
                row['seconds'] += float(tc.get('time', 0))
                skipped = tc.find('skipped')
                if skipped is not None and 'xfail' in (skipped.get('type', '') + skipped.get('message', '')): row['xfail'] += 1
                if tc.find('failure') is not None or tc.find('error') is not None: row['failures'] += 1
    return n, rows, wall, r.returncode


def table(counts: dict, rows: dict) -> str:
    names = sorted(set(counts) | set(rows), key=lambda k: list(rows).index(k) if k in rows else len(rows))
    w = max(map(len, names)) if names else 10
    out = [f"{'property (test)':<{w}}  {'pytest cases':>12}  {'examples run':>12}  {'failures':>8}  {'xfail':>5}  {'seconds':>8}"]
    for k in names:
        r = rows.get(k, {'cases': 0, 'failures': 0, 'xfail': 0, 'seconds': 0.0})
        out.append(f"{k:<{w}}  {r['cases']:>12}  {counts.get(k, 0):>12,}  {r['failures']:>8}  {r['xfail']:>5}  {r['seconds']:>8.1f}")
    tot = lambda f: sum(r[f] for r in rows.values())
    out.append(f"{'total':<{w}}  {tot('cases'):>12}  {sum(counts.values()):>12,}  {tot('failures'):>8}  {tot('xfail'):>5}  {tot('seconds'):>8.1f}")
    return '\n'.join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--profile', choices=['ci', 'thorough'], default='thorough', help='hypothesis profile (default: thorough)')
    ap.add_argument('pytest_args', nargs='*', help='extra pytest arguments, e.g. -k idempotent')
    a = ap.parse_args()
    counts, rows, wall, code = run(a.profile, a.pytest_args)
    print(f'\nprofile {a.profile}: {sum(counts.values()):,} generated examples in {wall:.0f} s (pytest exit {code})\n')
    print(table(counts, rows))
    short = a.profile == 'thorough' and not a.pytest_args and sum(counts.values()) < MIN_EXAMPLES
    if short: print(f'\nfewer than {MIN_EXAMPLES:,} examples ran')
    sys.exit(1 if code or short else 0)


if __name__ == '__main__':
    main()
