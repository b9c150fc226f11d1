"""Bad annotation / model files: every loader names the file and the problem.

Before: a UTF-16 or binary DOTA label file raised a bare ``UnicodeDecodeError``, a DIOR
``<size>`` of ``inf`` an ``OverflowError``, a COLMAP image with an unknown camera id a
``KeyError: 999`` (in ``load_colmap``), a binary 7-Scenes pose a ``UnicodeDecodeError``
and a malformed one numpy's message without the file name. The property tests feed
random bytes to each loader: the outcome is a ``ValueError`` or a defined result, never
another exception.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vision_sparse.datasets.formats import load_dior_xml, load_dota_txt
from vision_sparse.datasets.relocalization import (load_colmap, read_colmap_text_model,
                                                   read_pose_txt)

DOTA_LINE = '10 10 50 10 50 30 10 30 plane 0\n'
CAMERAS = '# comment\n1 PINHOLE 640 480 500 500 320 240\n'
IMAGES = '1 1 0 0 0 0.1 0.2 0.3 1 a.png\n10 20 -1\n2 1 0 0 0 0 0 1 999 b.png\n\n'
POSE = '1 0 0 0.5\n0 1 0 0\n0 0 1 0\n0 0 0 1\n'
DIOR = ('<annotation><filename>x.jpg</filename><size><width>{w}</width><height>100'
        '</height></size><object><name>ship</name><robndbox><x_left_top>1</x_left_top>'
        '<y_left_top>1</y_left_top><x_right_top>9</x_right_top><y_right_top>1</y_right_top>'
        '<x_right_bottom>9</x_right_bottom><y_right_bottom>5</y_right_bottom>'
        '<x_left_bottom>1</x_left_bottom><y_left_bottom>5</y_left_bottom></robndbox>'
        '<angle>{a}</angle></object></annotation>')


def write(path, data):
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


# ---------------------------------------------------------------- DOTA
@pytest.mark.parametrize('data, msg', [
    (DOTA_LINE.encode('utf-16'), 'UTF-16 byte-order mark'),
    (DOTA_LINE.encode('utf-16-le'), 'NUL bytes'),
    (b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xff', 'is not UTF-8 text'),
    (b'10 10 50 10 50 30 10 30 plane \xe9t\xe9\n', 'byte 30 (0xe9)'),
])
def test_dota_undecodable_files_name_the_file(tmp_path, data, msg):
    f = write(tmp_path / 'P0001.txt', data)
    with pytest.raises(ValueError, match='P0001.txt: DOTA labelTxt file is not UTF-8 text') as e:
        load_dota_txt(f)
    assert msg in str(e.value)


def test_dota_non_finite_coordinates(tmp_path):
    f = write(tmp_path / 'a.txt', 'nan 10 50 10 50 30 10 30 plane 0\n')
    with pytest.raises(ValueError, match=r'a.txt:1: non-finite coordinate'):
        load_dota_txt(f)


def test_dota_utf8_bom_is_accepted(tmp_path):
    f = write(tmp_path / 'a.txt', '\ufeffimagesource:GoogleEarth\n' + DOTA_LINE)
    out = load_dota_txt(f)
    assert out['meta']['imagesource'] == 'GoogleEarth' and out['labels'] == ['plane']


# ---------------------------------------------------------------- DIOR
@pytest.mark.parametrize('data, msg', [
    (b'\xff\xfe<\x00a\x00\x00\xd8', 'invalid XML'),
    (b'\x00\x01\x02garbage', 'invalid XML'),
    (DIOR.format(w='inf', a='0'), r'<size><width> must be a positive whole number'),
    (DIOR.format(w='1e400', a='0'), r'<size><width> must be a positive whole number'),
    (DIOR.format(w='wide', a='0'), r'<size><width> must be a positive whole number'),
    (DIOR.format(w='100', a='nan'), r'<angle> is not finite'),
    (DIOR.format(w='100', a='steep'), r'<angle> is not a number'),
    (DIOR.format(w='100', a='0').replace('<x_left_top>1<', '<x_left_top>inf<'),
     r'<x_left_top> is not finite'),
])
def test_dior_garbage_names_the_file(tmp_path, data, msg):
    f = write(tmp_path / 'b.xml', data)
    with pytest.raises(ValueError, match=msg) as e:
        load_dior_xml(f)
    assert 'b.xml' in str(e.value)


def test_dior_valid_file_still_loads(tmp_path):
    out = load_dior_xml(write(tmp_path / 'b.xml', DIOR.format(w='100', a='12.5')))
    assert out['meta']['width'] == 100 and out['labels'] == ['ship']
    np.testing.assert_allclose(out['meta']['angles_deg'], [12.5])


# ---------------------------------------------------------------- COLMAP
def colmap_model(tmp_path, cameras=CAMERAS, images=IMAGES, points='', name='model'):
    d = tmp_path / name
    d.mkdir()
    for fn, text in (('cameras.txt', cameras), ('images.txt', images), ('points3D.txt', points)):
        write(d / fn, text)
    return d


def test_colmap_unknown_camera_id_names_the_image(tmp_path):
    d = colmap_model(tmp_path, name='reconstruction')
    msg = r"images.txt:3: image 'b.png' uses camera id 999, which cameras.txt does not define"
    with pytest.raises(ValueError, match=msg):
        read_colmap_text_model(d)
    with pytest.raises(ValueError, match=msg):
        load_colmap(tmp_path)


@pytest.mark.parametrize('cameras, images, msg', [
    ('1 PINHOLE 640 480 nan 500 320 240\n', IMAGES.split('2 1')[0], 'camera 1 needs finite'),
    ('1 PINHOLE 640 480 -5 500 320 240\n', IMAGES.split('2 1')[0], 'positive focal'),
    (CAMERAS, '1 0 0 0 0 0 0 0 1 a.png\n\n', "image 'a.png' needs a finite, non-zero quaternion"),
    (CAMERAS, '1 1 0 0 0 nan 0 0 1 a.png\n\n', 'needs a finite'),
    (CAMERAS, '1 1 0 0 0 0 0 0 1 a.png\n1 2 x\n', 'POINTS2D must be numbers'),
    (CAMERAS, '1 1 0 0 0 0 0 0 1 a.png\n1 2 inf\n', 'POINTS2D must be finite'),
    (b'1 PINHOLE 640 480 500 500 320 240 \xff\n', IMAGES, 'cameras.txt: COLMAP text model file '
                                                        'is not UTF-8 text'),
])
def test_colmap_bad_values_name_the_line(tmp_path, cameras, images, msg):
    with pytest.raises(ValueError, match=msg):
        read_colmap_text_model(colmap_model(tmp_path, cameras, images))


# ---------------------------------------------------------------- 7-Scenes pose
@pytest.mark.parametrize('data, msg', [
    (b'\xff\xfe1\x000\x00', 'pose file is not UTF-8 text'),
    ('1 0 0\n0 1 0\n0 0 1\n', r'must hold 4 rows of 4 numbers, got shape \(3, 3\)'),
    ('1 0 0 x\n0 1 0 0\n0 0 1 0\n0 0 0 1\n', 'pose file is not 4 rows of 4 numbers'),
    ('', r'pose file is empty'),
])
def test_pose_txt_names_the_file(tmp_path, data, msg):
    f = write(tmp_path / 'frame-000000.pose.txt', data)
    with pytest.raises(ValueError, match=msg) as e:
        read_pose_txt(f)
    assert 'frame-000000.pose.txt' in str(e.value)


# ---------------------------------------------------------------- random bytes
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
# random bytes, and random text made of the characters these formats use
BYTES = st.one_of(st.binary(max_size=400),
                  st.text(alphabet='0123456789 .-+eEnaif\n\t#xyz<>/', max_size=400).map(str.encode),
                  st.lists(st.sampled_from([DOTA_LINE, POSE, CAMERAS, IMAGES, 'nan ', 'inf ', '\n',
                                            '1e999 ', '\x00', '999 ']), max_size=12)
                  .map(lambda x: ''.join(x).encode()))


def defined(fn, *args):
    """Run a loader: a ValueError (with a message) or a result; anything else fails."""
    try:
        return fn(*args)
    except ValueError as err:
        assert str(err)
        return None


@FUZZ
@given(data=BYTES)
def test_dota_random_bytes(tmp_path, data):
    out = defined(load_dota_txt, write(tmp_path / 'r.txt', data))
    if out is not None:
        n = len(out['labels'])
        assert out['polys'].shape == (n, 8) and out['rboxes'].shape == (n, 5)
        assert np.isfinite(out['polys']).all()


@FUZZ
@given(data=st.one_of(BYTES, st.builds(DIOR.format, w=st.text(max_size=8), a=st.text(max_size=8))
                      .map(str.encode)))
def test_dior_random_bytes(tmp_path, data):
    out = defined(load_dior_xml, write(tmp_path / 'r.xml', data))
    if out is not None:
        assert out['polys'].shape == (len(out['labels']), 8)


@FUZZ
@given(data=BYTES)
def test_pose_txt_random_bytes(tmp_path, data):
    out = defined(read_pose_txt, write(tmp_path / 'r.pose.txt', data))
    assert out is None or out.shape == (4, 4)


@FUZZ
@given(cameras=BYTES, images=BYTES, points=BYTES)
def test_colmap_random_bytes(tmp_path_factory, cameras, images, points):
    d = colmap_model(tmp_path_factory.mktemp('fuzz'), cameras, images, points)
    out = defined(read_colmap_text_model, d)
    if out is not None:
        for im in out['images'].values():
            assert im['camera_id'] in out['cameras']
