"""``python -m vision_sparse.apis`` (and tools/infer.py) from the shell."""
import json
import numpy as np
import pytest

from vision_sparse.apis.__main__ import main, parse_intrinsics, summarize

from ..conftest import run_py
from .conftest import FAVOR_CONFIG, SIFT_CONFIG


def test_help_lists_both_commands():
    out = run_py(['-m', 'vision_sparse.apis', '--help'], timeout=300).stdout
    assert 'match' in out and 'reloc' in out


def test_match_prints_a_json_summary_and_draws(pair, pair_files, tmp_path):
    K = pair['K0']
    picture = tmp_path / 'vis.png'
    proc = run_py(['tools/infer.py', 'match', SIFT_CONFIG, str(pair_files['img0']),
                   str(pair_files['img1']), '--K0', str(pair_files['K']),
                   '--K1', f'{K[0, 0]},{K[1, 1]},{K[0, 2]},{K[1, 2]}', '--out', str(picture)],
                  timeout=300)
    summary = json.loads(proc.stdout)
    assert summary['success'] is True and summary['reason'] == ''
    assert summary['num_matches'] > 100 and summary['num_inliers'] > 50
    assert np.asarray(summary['R']).shape == (3, 3) and len(summary['t']) == 3
    assert 'kpts0' not in summary and summary['timings']['total'] > 0
    assert picture.is_file() and summary['picture'] == str(picture)


def test_bad_arguments_exit_with_status_2(pair_files, capsys):
    rc = main(['match', SIFT_CONFIG, str(pair_files['img0']), 'missing.png'])
    assert rc == 2
    assert "img1: image file 'missing.png' does not exist" in capsys.readouterr().err


def test_parse_intrinsics(tmp_path):
    K = np.array([[500.0, 0, 320], [0, 510, 240], [0, 0, 1]])
    np.testing.assert_array_equal(parse_intrinsics('500,510,320,240', '--K'), K)
    np.testing.assert_array_equal(parse_intrinsics(' '.join(map(str, K.ravel())), '--K'), K)
    np.savetxt(tmp_path / 'K.txt', K)
    np.testing.assert_array_equal(parse_intrinsics(str(tmp_path / 'K.txt'), '--K'), K)
    assert parse_intrinsics(None, '--K') is None
    for bad in ('1,2,3', 'a,b,c,d'):
        with pytest.raises(ValueError, match='--K0'):
            parse_intrinsics(bad, '--K0')


def test_summary_keeps_scalars_and_small_arrays():
    res = dict(success=True, reason='', timings=dict(a=0.5), num=np.int64(3), R=np.eye(3),
               kpts0=np.zeros((100, 2)), objs=[1, 2], flag=np.bool_(False))
    s = summarize(res)
    assert s == dict(success=True, reason='', timings=dict(a=0.5), num=3,
                     R=np.eye(3).tolist(), flag=False)
    json.dumps(s)


def test_reloc_command(scene, map_file, tmp_path, capsys):
    import cv2
    frame = scene['test'][0]
    query = tmp_path / 'query.png'
    cv2.imwrite(str(query), frame['image'][..., ::-1])
    K = frame['K']
    rc = main(['reloc', FAVOR_CONFIG, str(map_file), str(query),
               '--K', f'{K[0, 0]},{K[1, 1]},{K[0, 2]},{K[1, 2]}', '--out', str(tmp_path / 'q.png')])
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0 and summary['success'] is True
    T = np.asarray(summary['T_c2w'])
    assert T.shape == (4, 4) and np.linalg.norm(T[:3, 3] - frame['T_c2w'][:3, 3]) < 0.02
    assert summary['num_inliers'] >= 20 and (tmp_path / 'q.png').is_file()
