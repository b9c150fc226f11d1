"""The result contract shared by every method (structures/results.py)."""
import time

import numpy as np
import pytest

from vision_sparse.structures import (RESULT_KEYS, check_result, finalize_result, new_result,
                                      timed)


def test_new_result_has_contract_keys():
    r = new_result(kpts0=np.zeros((0, 2)))
    assert set(RESULT_KEYS) <= set(r)
    assert r['success'] is True and r['reason'] == '' and r['timings'] == {}
    assert check_result(r) is r


def test_finalize_result_derives_success_from_reason():
    assert finalize_result({'reason': 'too few matches'})['success'] is False
    ok = finalize_result({'kpts0': 1})
    assert ok['success'] is True and ok['reason'] == ''
    # a failure always carries a reason; a success never does
    failed = finalize_result({}, success=False)
    assert failed['reason'] and not failed['success']
    assert finalize_result({'reason': 'stale'}, success=True)['reason'] == ''
    with pytest.raises(TypeError):
        finalize_result([1, 2])


@pytest.mark.parametrize('bad, msg', [
    ([], 'must be a dict'),
    ({'success': True, 'reason': ''}, 'lacks the contract keys'),
    ({'success': 1, 'reason': '', 'timings': {}}, 'must be a bool'),
    ({'success': True, 'reason': 'x', 'timings': {}}, 'empty exactly when'),
    ({'success': False, 'reason': '', 'timings': {}}, 'empty exactly when'),
    ({'success': True, 'reason': '', 'timings': []}, 'dict of seconds'),
])
def test_check_result_refuses_broken_results(bad, msg):
    with pytest.raises(ValueError, match=msg):
        check_result(bad)


def test_timed_accumulates_seconds():
    t = {}
    with timed(t, 'stage'):
        time.sleep(0.01)
    with timed(t, 'stage'):
        time.sleep(0.01)
    assert t['stage'] >= 0.02
