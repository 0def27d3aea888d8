"""Shared test helpers: system tools (installed on demand), headless Chromium, a free loopback port, a base-only install."""
import re, shutil, socket, subprocess, sys, venv
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync']
_CONSOLE = re.compile(r':INFO:CONSOLE[^\]]*\] "(.*)", source: (.*)$')


def ensure_system_tools():
    "Install Chromium and wrk with the project's script when either is missing (a fresh CI machine)."
    if shutil.which('chromium') and shutil.which('wrk'): return
    subprocess.run(['bash', str(ROOT / 'tools' / 'system-deps.sh')], check=True, timeout=900)


@pytest.fixture(scope='session')
def chromium():
    ensure_system_tools()
    return shutil.which('chromium')


def browse(url: str, screenshot=None, wait_ms: int = 5000, size=(1280, 1600), timeout: int = 120) -> tuple[str, list[str]]:
    """Load `url` in headless Chromium; return the rendered DOM and every console message (errors included, as
    'message (source)'). With `screenshot`, also save a PNG of the page (a second load)."""
    base = ['chromium', *CHROMIUM_FLAGS, '--enable-logging=stderr', '--v=0', f'--window-size={size[0]},{size[1]}',
            f'--virtual-time-budget={wait_ms}']
    r = subprocess.run([*base, '--dump-dom', url], capture_output=True, text=True, timeout=timeout)
    console = [f'{m[1]} ({m[2]})' for line in r.stderr.splitlines() if (m := _CONSOLE.search(line))]
    if screenshot is not None:
        subprocess.run([*base, f'--screenshot={screenshot}', url], capture_output=True, text=True, timeout=timeout)
        assert Path(screenshot).stat().st_size > 0, f'no screenshot written for {url}'
    return r.stdout, console


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_checked(cmd, timeout=1200, **kw) -> subprocess.CompletedProcess:
    "Run `cmd`; fail the test with its output when it exits non-zero."
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if r.returncode != 0: pytest.fail(f'{" ".join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}')
    return r


@pytest.fixture(scope='session')
def wheel(tmp_path_factory):
    "nlp_lib's wheel, built from this checkout."
    out = tmp_path_factory.mktemp('wheel')
    run_checked([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-w', str(out), str(ROOT)])
    return next(out.glob('nlp_lib-*.whl'))


@pytest.fixture(scope='session')
def base_python(wheel, tmp_path_factory):
    "The python of a fresh virtual environment with the wheel and its base dependencies only (torch: the small CPU build)."
    env_dir = tmp_path_factory.mktemp('base-env')
    venv.create(env_dir, with_pip=True)
    py = env_dir / 'bin' / 'python'
    run_checked([py, '-m', 'pip', 'install', '-q', 'torch==2.13.0'])   # the small CPU build; the wheel's `torch>=…` then installs nothing more
    run_checked([py, '-m', 'pip', 'install', '-q', str(wheel)])
    return py
