"""A tiny two-camera rig and scene for the camera-branch tests.

LiDAR frame as nuScenes LIDAR_TOP (x right, y forward, z up). View 0 looks along +y,
view 1 along -y; both images are ``IMG_SHAPE`` with pixel centres at integers.
"""
import math

import torch

from vision_sparse.structures.bbox import LiDARBoxes3D

IMG_SHAPE = (64, 96)  # (H, W)


def rig(tilt_deg: float = 0.0):
    """(cam2img (2, 4, 4), lidar2cam (2, 4, 4), lidar2img (2, 4, 4)) float32."""
    h, w = IMG_SHAPE
    k = torch.eye(4)
    k[0, 0] = k[1, 1] = 48.0
    k[0, 2], k[1, 2] = (w - 1) / 2, (h - 1) / 2
    # camera x = lidar x, camera y = -lidar z, camera z = lidar y (looking forward)
    base = torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    t = math.radians(tilt_deg)
    tilt = torch.tensor([[1.0, 0, 0], [0, math.cos(t), -math.sin(t)],
                         [0, math.sin(t), math.cos(t)]])
    mats = []
    for yaw in (0.0, math.pi):
        rz = torch.tensor([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0],
                           [0, 0, 1.0]])
        m = torch.eye(4)
        m[:3, :3] = tilt @ base @ rz.T  # lidar -> camera rotation
        m[:3, 3] = torch.tensor([0.1, 0.2, -0.3])
        mats.append(m)
    l2c = torch.stack(mats)
    cam2img = k[None].expand(2, 4, 4).clone()
    return cam2img, l2c, cam2img @ l2c


def scene():
    """(boxes (3, 9), labels (3,)): two objects ahead of view 0, one behind (view 1)."""
    boxes = torch.tensor([[-2.0, 9.0, 0.0, 3.5, 1.8, 1.6, 0.4, 1.0, 0.5],
                          [2.5, 12.0, 0.2, 1.0, 0.8, 1.7, -1.2, float('nan'), float('nan')],
                          [0.5, -8.0, 0.0, 4.0, 2.0, 1.8, 2.0, 0.0, -3.0]])
    return boxes, torch.tensor([0, 1, 0])


def render(boxes, labels, cam2img, lidar2cam):
    """(V, 3, H, W) float images: each box's projected 2-D extent filled with a class
    colour (nearest box on top), grey background."""
    h, w = IMG_SHAPE
    colours = torch.tensor([[1.5, -1.0, -1.0], [-1.0, 1.5, -1.0], [-1.0, -1.0, 1.5]])
    corners = LiDARBoxes3D(boxes[:, :7]).corners
    imgs = torch.zeros(cam2img.shape[0], 3, h, w)
    for v in range(cam2img.shape[0]):
        homo = torch.cat([corners, torch.ones_like(corners[..., :1])], -1)
        proj = homo @ (cam2img[v] @ lidar2cam[v]).T
        depth = proj[..., 2]
        order = depth.mean(1).argsort(descending=True)
        for m in order.tolist():
            if (depth[m] <= 0.1).any():
                continue
            pix = proj[m, :, :2] / depth[m, :, None]
            x0, y0 = pix.amin(0).floor().clamp_min(0).long().tolist()
            x1, y1 = pix.amax(0).ceil().long().tolist()
            x1, y1 = min(x1, w - 1), min(y1, h - 1)
            if x1 > x0 and y1 > y0:
                imgs[v, :, y0:y1 + 1, x0:x1 + 1] = colours[int(labels[m])][:, None, None]
    return imgs
