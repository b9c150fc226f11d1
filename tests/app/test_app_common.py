"""The web app's shared input handling: readable errors for every bad upload."""
import cv2
import numpy as np
import pytest

from vision_sparse.app.common import AppError, Timings, guarded, read_image, status_error


def test_read_image_formats(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    path = tmp_path / 'a.png'
    cv2.imwrite(str(path), rgb[..., ::-1])
    np.testing.assert_array_equal(read_image(str(path), 'Image'), rgb)
    np.testing.assert_array_equal(read_image({'path': str(path)}, 'Image'), rgb)
    gray = rgb[..., 0]
    out = read_image(gray, 'Image')
    assert out.shape == (40, 50, 3) and (out[..., 2] == gray).all()
    rgba = np.concatenate([rgb, np.zeros((40, 50, 1), np.uint8)], axis=2)  # fully transparent
    assert (read_image(rgba, 'Image') == 255).all()
    rgba[..., 3] = 255
    np.testing.assert_array_equal(read_image(rgba, 'Image'), rgb)
    cv2.imwrite(str(tmp_path / 'rgba.png'), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    np.testing.assert_array_equal(read_image(str(tmp_path / 'rgba.png'), 'Image'), rgb)
    f = rgb.astype(np.float32) / 255.0
    assert np.abs(read_image(f, 'Image').astype(int) - rgb).max() <= 1


def _text_file(path):
    path.write_text('hello')
    return str(path)


@pytest.mark.parametrize('make,match', [
    (lambda p: None, 'no image given'),
    (lambda p: _text_file(p / 'x.txt'), 'not an image file'),
    (lambda p: str(p / 'missing.png'), 'does not exist'),
    (lambda p: np.zeros((10, 10, 3), np.uint8), 'at least 32 px'),
    (lambda p: np.zeros((9000, 40, 3), np.uint8), 'at most 8192 px'),
    (lambda p: np.zeros((40, 40, 2), np.uint8), 'shape'),
    (lambda p: np.full((40, 40), np.nan, np.float32), 'NaN'),
    (lambda p: 3, 'expected an image file'),
])
def test_read_image_errors_name_the_field(tmp_path, make, match):
    with pytest.raises(AppError, match=match) as info:
        read_image(make(tmp_path), 'Left image')
    assert str(info.value).startswith('Left image')


def test_guarded_turns_errors_into_status():
    @guarded(3, status_index=1)
    def handler(kind):
        if kind == 'user':
            raise AppError('Left image: bad')
        if kind == 'bug':
            raise KeyError('boom')
        return 1, 'ok', 2

    assert handler('fine') == (1, 'ok', 2)
    assert handler('user') == (None, status_error('Left image: bad'), None)
    out = handler('bug')
    assert out[0] is None and out[2] is None and out[1].startswith('**Error:** KeyError')
    assert 'Traceback' not in out[1]


def test_guarded_generator_and_picture_sizes():
    from vision_sparse.app import common

    @guarded(2)
    def steps(fail):
        yield np.zeros((5, 7, 3), np.uint8), 'step 1'
        if fail:
            raise AppError('Query: bad')
        yield np.zeros((6, 8), np.uint8), 'done'

    out = list(steps(False))
    assert [o[1] for o in out] == ['step 1', 'done']
    assert common.last_picture_sizes[__name__.rsplit('.', 1)[-1]] == [(6, 8)]
    out = list(steps(True))
    assert out[-1] == (None, status_error('Query: bad')) and len(out) == 2


def test_timings():
    t = Timings()
    with t('extract'):
        pass
    t.add({'match': 0.5, 'bad': 'x'})
    assert set(t.stages) == {'extract', 'match'} and t.total >= 0.5
    assert 'match 0.50 s' in t.markdown()


def test_read_number_range_and_field():
    from vision_sparse.app.common import read_number
    assert read_number('0.25', 'Strength', 0, 1) == 0.25
    assert read_number(1, 'Strength', 0, 1) == 1.0
    for bad in ('lots', None, 1.5, -0.1, float('nan')):
        with pytest.raises(AppError, match=r'^Strength: expected a number in \[0, 1\]'):
            read_number(bad, 'Strength', 0, 1)
