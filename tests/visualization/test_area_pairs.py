"""Readable matched area pairs: numbered boxes, one highlighted pair, a grid of crop pairs."""
import numpy as np
import pytest

from vision_sparse.visualization import draw_area_pair_grid, draw_area_pairs, palette


def _images():
    """Two 100 x 120 images; area pair 0 is a red block in image 0 and a blue one in image 1."""
    img0 = np.full((100, 120, 3), 200, np.uint8)
    img1 = np.full((90, 100, 3), 200, np.uint8)
    img0[10:40, 20:60] = (255, 0, 0)
    img1[50:80, 30:70] = (0, 0, 255)
    boxes0 = np.array([[20, 10, 60, 40], [70, 50, 110, 90]], float)
    boxes1 = np.array([[30, 50, 70, 80], [5, 5, 40, 40]], float)
    return img0, img1, boxes0, boxes1


def test_pairs_are_numbered_in_their_colour_in_both_images():
    img0, img1, b0, b1 = _images()
    out = draw_area_pairs(img0, img1, b0, b1, margin=10)
    assert out.shape == (100, 120 + 10 + 100, 3) and out.dtype == np.uint8
    cols = palette(2)
    # each box edge carries its pair's colour, in image 0 and (shifted) in image 1
    assert tuple(out[25, 20]) == cols[0] and tuple(out[65, 130 + 30]) == cols[0]
    assert tuple(out[70, 70]) == cols[1] and tuple(out[20, 130 + 5]) == cols[1]
    # the number tags are filled with the pair colour inside each box's top-left corner
    tag = out[12:26, 21:30].reshape(-1, 3)
    assert (tag == cols[0]).all(1).sum() > 20
    # inputs untouched, rejected pairs grey
    assert (img0[10:40, 20:60] == (255, 0, 0)).all()
    grey = draw_area_pairs(img0, img1, b0, b1, kept=[True, False], numbers=False)
    assert np.abs(grey[70, 70].astype(int) - 160).max() <= 12  # thin anti-aliased grey line
    assert tuple(grey[25, 20]) == cols[0]


def test_highlight_dims_everything_but_the_pair():
    img0, img1, b0, b1 = _images()
    plain = draw_area_pairs(img0, img1, b0, b1, numbers=False)
    hi = draw_area_pairs(img0, img1, b0, b1, highlight=1, numbers=False, dim=0.5)
    assert hi.shape == plain.shape
    # inside pair 1's boxes the image is unchanged, outside it is darkened by half
    np.testing.assert_array_equal(hi[76:86, 76:88], plain[76:86, 76:88])
    assert abs(int(hi[5, 5, 0]) - 100) <= 1  # background 200 -> 100
    # pair 0 is no longer in colour: a thin grey outline at most
    assert tuple(hi[25, 20]) != palette(2)[0]
    # a line joins the two boxes' centres: some pixel of the gap has the pair colour
    gap = hi[:, 120:130].reshape(-1, 3)
    assert (gap == palette(2)[1]).all(1).any()


@pytest.mark.parametrize('kwargs,match', [
    (dict(highlight=2), 'highlight'),
    (dict(highlight=-1), 'highlight'),
    (dict(kept=[True]), 'kept must have 2'),
    (dict(dim=1.0), 'dim'),
])
def test_pair_errors(kwargs, match):
    img0, img1, b0, b1 = _images()
    with pytest.raises(ValueError, match=match):
        draw_area_pairs(img0, img1, b0, b1, **kwargs)
    with pytest.raises(ValueError, match='same length'):
        draw_area_pairs(img0, img1, b0, b1[:1])
    with pytest.raises(ValueError, match=r'\(M, 4\)'):
        draw_area_pairs(img0, img1, b0[:, :3], b1[:, :3])


def test_grid_cells_show_the_two_crops_of_each_pair():
    img0, img1, b0, b1 = _images()
    grid = draw_area_pair_grid(img0, img1, b0, b1, indices=[0], cell_size=40, ncols=2)
    # one cell: header 22 px, then crop 0 (red block, 40 x 30 -> fitted 40 x 30) | crop 1
    pad = 6
    body = grid[pad + 22:pad + 22 + 40, pad:]
    assert (body[5:25, 5:35] == (255, 0, 0)).all()          # crop in image 0: all red
    assert (body[5:25, 40 + 6 + 5:40 + 6 + 35] == (0, 0, 255)).all()  # crop in image 1: blue
    assert tuple(grid[pad + 2, pad + 2]) == palette(2)[0] or \
        tuple(grid[pad + 2, pad + 30]) == palette(2)[0]      # header in the pair colour
    two = draw_area_pair_grid(img0, img1, b0, b1, cell_size=40, ncols=2)
    assert two.shape[1] > grid.shape[1] and two.shape[0] == grid.shape[0]


def test_grid_draws_each_pairs_matches_and_grows_the_crop_to_hold_them():
    img0, img1, b0, b1 = _images()
    # pair 0 has one match just outside its box (A2PM matches in grown crops); pair 1 none
    k0 = np.array([[65.0, 25.0]])
    k1 = np.array([[50.0, 65.0]])
    grid = draw_area_pair_grid(img0, img1, b0, b1, kpts0=k0, kpts1=k1, from_area=[0],
                               indices=[0], cell_size=64)
    body = grid[6 + 22:6 + 22 + 64, 6:]
    col = np.array(palette(2)[0])
    # the crop of image 0 now spans x 20..69 (50 px -> 64): the match at x=65 is inside it
    assert (np.abs(body[:, :64].astype(int) - col).sum(-1) < 30).any()
    no_match = draw_area_pair_grid(img0, img1, b0, b1, indices=[0], cell_size=64)
    assert no_match.shape == grid.shape
    with pytest.raises(ValueError, match='together'):
        draw_area_pair_grid(img0, img1, b0, b1, kpts0=k0)
    with pytest.raises(ValueError, match='indices'):
        draw_area_pair_grid(img0, img1, b0, b1, indices=[3])
    with pytest.raises(ValueError, match='cell_size'):
        draw_area_pair_grid(img0, img1, b0, b1, cell_size=8)


def test_no_pairs_gives_a_picture_saying_so():
    img0, img1, _, _ = _images()
    empty = np.zeros((0, 4))
    out = draw_area_pair_grid(img0, img1, empty, empty)
    assert out.ndim == 3 and out.shape[0] > 0 and (out < 128).any()
    assert draw_area_pairs(img0, img1, empty, empty).shape == (100, 230, 3)
