"""A writer killed with SIGKILL in the middle of `Processor.save` never leaves a broken model behind.

A child process replaces an existing artifact with `save(..., overwrite=True)`. Every `fsync` the save makes (one per file,
the manifest, the directory) is reported on stdout and followed by a pause, so the test can kill the child at each step of
the write in turn. After every kill the target directory must load and be, bit for bit, either the previous artifact or the
new one; any temporary directory left beside it must be refused by `Processor.load` or be a complete copy of one of the two.
"""
import hashlib, os, signal, subprocess, sys, textwrap
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / 'shared' / 'data' / 'sst2' / 'dev.tsv'

BUILD = textwrap.dedent('''
    import sys, csv
    from nlp_lib.inference.processor import Processor
    rows = list(csv.DictReader(open(sys.argv[1], encoding='utf-8'), delimiter='\\t', quoting=csv.QUOTE_NONE))
    texts, labels = [r['sentence'] for r in rows], [r['label'] for r in rows]
    proc = Processor.from_corpus(texts, labels, 'nlp_lib.TextCNN.v1', seed=int(sys.argv[3]))
    if sys.argv[4] == 'slow':          # report each fsync of the save, then pause so the parent can kill us right there
        import os, time
        real, n = os.fsync, [0]
        def fsync(fd):
            real(fd); n[0] += 1
            print(f'SYNC {n[0]}', flush=True); time.sleep(0.4)
        os.fsync = fsync
    proc.save(sys.argv[2], overwrite=True)
    print('DONE', flush=True)
''')


def _weights_sha(d: Path) -> str: return hashlib.sha256((d / 'model.safetensors').read_bytes()).hexdigest()


def _build(target: Path, seed: int, mode: str = 'fast') -> subprocess.Popen:
    return subprocess.Popen([sys.executable, '-c', BUILD, str(DEV), str(target), str(seed), mode], stdout=subprocess.PIPE, text=True, cwd=ROOT)


@pytest.fixture(scope='module')
def versions(tmp_path_factory):
    "The weights' sha256 of the old (seed 1) and new (seed 2) processors, and how many fsyncs a save makes."
    tmp = tmp_path_factory.mktemp('versions')
    out = {}
    for seed in (1, 2):
        p = _build(tmp / f'v{seed}', seed, 'slow')
        lines = p.communicate(timeout=300)[0].split()
        assert p.returncode == 0 and lines[-1] == 'DONE', lines
        out[seed] = _weights_sha(tmp / f'v{seed}')
    out['syncs'] = sum(1 for w in lines if w == 'SYNC')
    assert out[1] != out[2] and out['syncs'] >= 5
    return out


def test_sigkill_mid_save_leaves_old_or_new_artifact(tmp_path, versions):
    from nlp_lib.inference.processor import Processor
    from nlp_lib.inference.artifact import ArtifactError
    outcomes = []
    for k in range(1, versions['syncs'] + 1):           # kill after the k-th fsync: every step of the write
        root = tmp_path / f'kill{k}'
        target = root / 'model'
        p = _build(target, 1); assert p.wait(timeout=300) == 0
        assert _weights_sha(target) == versions[1]
        p = _build(target, 2, 'slow')
        for line in p.stdout:
            if line.strip() == f'SYNC {k}': break
        p.send_signal(signal.SIGKILL); p.wait(timeout=60)
        assert p.returncode == -signal.SIGKILL
        Processor.load(target)                            # the target always loads: manifest, hashes and self-check all pass
        sha = _weights_sha(target)
        assert sha in (versions[1], versions[2]), f'kill after fsync {k}: the artifact is neither the old nor the new one'
        outcomes.append('old' if sha == versions[1] else 'new')
        for left in (d for d in root.iterdir() if d.name != 'model'):
            try: Processor.load(left)
            except ArtifactError: continue               # incomplete: refused
            assert _weights_sha(left) in (versions[1], versions[2]), f'{left.name} loads but is neither version'
    assert outcomes[0] == 'old' and 'old' in outcomes   # killed before the swap: the previous artifact, intact
    assert outcomes[-1] == 'new'                        # the last fsync is the parent directory's, after the swap


def test_save_then_load_keeps_no_temporary_directories(tmp_path):
    p = _build(tmp_path / 'model', 3); assert p.wait(timeout=300) == 0
    p = _build(tmp_path / 'model', 4); assert p.wait(timeout=300) == 0
    assert sorted(d.name for d in tmp_path.iterdir()) == ['model']
