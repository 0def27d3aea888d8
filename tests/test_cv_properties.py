"""Property-based tests (hypothesis) of cross-validation folds (`nlp_lib.training.cv.cv_folds`) on random label and
group columns: every row is validated exactly once, a fold's training and validation rows never overlap and together
are all rows, and no group is ever in two folds -- single labels and label sets, stratified or not."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

pytest.importorskip('sklearn')
from nlp_lib.training.cv import cv_folds

SETTINGS = settings(max_examples=150, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def grouped_rows(draw):
    "A group column (2-40 groups over 10-200 rows), a label per row (single labels or label sets) and a fold count the groups allow."
    n = draw(st.integers(10, 200))
    n_groups = draw(st.integers(2, min(40, n)))
    groups = draw(st.lists(st.integers(0, n_groups - 1), min_size=n, max_size=n))
    sets = draw(st.booleans())
    if sets: targets = draw(st.lists(st.lists(st.integers(0, 5), max_size=3, unique=True), min_size=n, max_size=n))
    else: targets = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    folds = draw(st.integers(2, max(2, min(5, len(set(groups))))))
    return groups, targets, folds, draw(st.booleans()), draw(st.integers(0, 2**16))


def check_partition(folds, n):
    valid = np.concatenate([va for _, va in folds])
    assert sorted(valid.tolist()) == list(range(n))                               # every row validated exactly once
    for tr, va in folds:
        assert not set(tr.tolist()) & set(va.tolist()) and len(tr) + len(va) == n  # disjoint, and all rows together


@SETTINGS
@given(grouped_rows())
def test_no_group_in_two_folds(case):
    groups, targets, k, stratify, seed = case
    if len(set(groups)) < k:
        with pytest.raises(ValueError, match='groups'): cv_folds(targets, k, groups=groups, stratify=stratify, seed=seed)
        return
    if stratify and not isinstance(targets[0], list) and min(targets.count(t) for t in set(targets)) < k:
        with pytest.raises(ValueError, match='too few to be in every fold'): cv_folds(targets, k, groups=groups, seed=seed)
        return
    folds = cv_folds(targets, k, groups=groups, stratify=stratify, seed=seed)
    assert len(folds) == k
    check_partition(folds, len(targets))
    seen = {}
    for i, (_, va) in enumerate(folds):
        for r in va.tolist(): assert seen.setdefault(groups[r], i) == i           # a group's rows all in one fold


@SETTINGS
@given(st.lists(st.lists(st.integers(0, 7), max_size=4, unique=True), min_size=10, max_size=150), st.integers(2, 5), st.integers(0, 2**16))
def test_label_set_folds_partition_rows(targets, k, seed):
    check_partition(cv_folds(targets, k, n_classes=8, seed=seed), len(targets))


@SETTINGS
@given(st.lists(st.integers(0, 30), min_size=2, max_size=300), st.floats(0.05, 0.5), st.integers(0, 2**16))
def test_grouped_validation_split_keeps_groups_whole(groups, pct, seed):
    "`data.group_col` without a validation file: `load_data`'s split puts each group on one side only."
    from nlp_lib.training.data import DataConfig, DataError, _split
    cfg = DataConfig(valid_pct=pct, split_seed=seed)
    g = [str(x) for x in groups]
    if len(set(g)) < 2:
        with pytest.raises(DataError, match='one group'): _split(len(g), cfg, g)
        return
    valid, train = _split(len(g), cfg, g)
    assert sorted(valid + train) == list(range(len(g))) and valid and train
    assert not {g[i] for i in valid} & {g[i] for i in train}


@SETTINGS
@given(st.lists(st.integers(0, 2), min_size=20, max_size=300), st.data())
def test_labelled_subset_is_a_stratified_partition(targets, data):
    "`data.labelled_limit`: exactly n rows kept, the rest set aside, every class that can be kept in proportion is kept."
    from nlp_lib.training.data import labelled_subset
    n = data.draw(st.integers(1, len(targets) - 1))
    keep, rest = labelled_subset(targets, n, data.draw(st.integers(0, 2**16)))
    assert len(keep) == n and sorted(keep + rest) == list(range(len(targets)))
    counts = np.bincount(targets, minlength=3)
    if min(c for c in counts if c) >= 2 and n >= 3 and len(targets) - n >= 3:   # stratified: each class within one row of its share
        kept = np.bincount([targets[i] for i in keep], minlength=3)
        assert all(abs(kept[c] - n * counts[c] / len(targets)) <= 1 for c in range(3))
