"""Initial pose by image retrieval: the nearest training image's pose.

FaVoR starts the relocalization loop from the pose of the most similar
training image (the official code reads precomputed DenseVLAD/NetVLAD
neighbours). We compute a small global descriptor from the same local
descriptors FaVoR already extracts, so no extra network or file is needed:

* ``'vlad'`` (default, "VLAD-lite"): a k-means codebook (``num_clusters``
  centres, :func:`kmeans`, fitted on the training images' keypoint descriptors); per image the
  residuals to the nearest centre are summed per centre, each block
  L2-normalised (intra-normalisation), signed-square-rooted and the whole
  vector L2-normalised.
* ``'mean'``: the L2-normalised mean of the keypoint descriptors.

Images are compared by cosine similarity; the top match's camera-to-world
pose is the initial pose.
"""
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ...registry import TASK_UTILS

__all__ = ['GlobalRetrieval', 'kmeans']


def kmeans(x: Tensor, k: int, iterations: int = 20, seed: int = 0) -> Tensor:
    """k-means codebook of unit vectors, centres re-normalised to unit length.

    :func:`scipy.cluster.vq.kmeans2` (Euclidean Lloyd iterations, k-means++
    seeding) in float64; for unit vectors the Euclidean nearest centre and the
    cosine-nearest one agree up to the centres' norms, and the returned centres
    are unit vectors (compared by cosine in :meth:`GlobalRetrieval.encode`).

    Args:
        x (Tensor): (N, C) unit vectors (N >= 1).
        k (int): clusters (reduced to the number of distinct vectors when smaller).
        iterations (int): Lloyd iterations.
        seed (int): randomness of the seeding.

    Returns:
        Tensor: (k', C) float32 unit centres, ``k' = min(k, distinct vectors)``.
    """
    from scipy.cluster.vq import kmeans2
    if x.dim() != 2 or x.shape[0] == 0:
        raise ValueError(f'kmeans needs x of shape (N, C) with N >= 1, got {tuple(x.shape)}')
    data = x.detach().cpu().double().numpy()
    k = min(int(k), len(np.unique(data, axis=0)))
    with warnings.catch_warnings():  # an empty cluster keeps its centre; no need to warn
        warnings.simplefilter('ignore', UserWarning)
        centres, _ = kmeans2(data, k, iter=iterations, minit='++', seed=seed)
    return F.normalize(torch.from_numpy(centres).float(), dim=-1)


@TASK_UTILS.register_module()
class GlobalRetrieval:
    """A database of training-image global descriptors and poses.

    Args:
        method (str): ``'vlad'`` or ``'mean'``.
        num_clusters (int): VLAD codebook size.
        max_fit_descriptors (int): descriptors sampled to fit the codebook.
        seed (int): codebook randomness.
    """

    def __init__(self, method: str = 'vlad', num_clusters: int = 16,
                 max_fit_descriptors: int = 20000, seed: int = 0):
        if method not in ('vlad', 'mean'):
            raise ValueError(f"method must be 'vlad' or 'mean', got {method!r}")
        if num_clusters < 1:
            raise ValueError(f'num_clusters must be >= 1, got {num_clusters}')
        self.method, self.num_clusters = method, int(num_clusters)
        self.max_fit_descriptors, self.seed = int(max_fit_descriptors), int(seed)
        self.codebook: Optional[Tensor] = None
        self.database: Optional[Tensor] = None
        self.poses: Optional[Tensor] = None
        self.names: List[str] = []

    def __len__(self) -> int:
        return 0 if self.database is None else int(self.database.shape[0])

    def encode(self, descriptors: Tensor) -> Tensor:
        """Global descriptor of one image.

        Args:
            descriptors (Tensor): (n, C) unit local descriptors (n may be 0).

        Returns:
            Tensor: (D,) unit vector (zeros for n = 0); D = C for ``'mean'``,
            ``num_clusters * C`` for ``'vlad'``.
        """
        d = descriptors.float()
        if self.method == 'mean':
            if d.shape[0] == 0:
                return torch.zeros(d.shape[1])
            return F.normalize(d.mean(0), dim=0)
        if self.codebook is None:
            raise ValueError('the VLAD codebook is not fitted: call build() first')
        k, c = self.codebook.shape
        if d.shape[0] == 0:
            return torch.zeros(k * c)
        assign = (d @ self.codebook.T).argmax(1)
        res = torch.zeros(k, c).index_add(0, assign, d - self.codebook[assign])
        res = F.normalize(res, dim=-1)
        res = res.sign() * res.abs().sqrt()
        return F.normalize(res.reshape(-1), dim=0)

    def build(self, descriptor_sets: Sequence[Tensor], poses: Tensor,
              names: Optional[Sequence[str]] = None) -> 'GlobalRetrieval':
        """Fit the codebook (VLAD) and encode the training images.

        Args:
            descriptor_sets (Sequence[Tensor]): per image (n_i, C) descriptors.
            poses (Tensor): (N, 4, 4) camera-to-world poses of the images.
            names (Sequence[str], optional): image names.

        Returns:
            GlobalRetrieval: self.
        """
        if len(descriptor_sets) == 0:
            raise ValueError('descriptor_sets is empty: retrieval needs training images')
        if poses.shape[0] != len(descriptor_sets):
            raise ValueError(f'poses must have shape ({len(descriptor_sets)}, 4, 4), '
                             f'got {tuple(poses.shape)}')
        if self.method == 'vlad':
            allx = torch.cat([d.float() for d in descriptor_sets])
            if allx.shape[0] == 0:
                raise ValueError('no descriptors to fit the VLAD codebook')
            gen = torch.Generator().manual_seed(self.seed)
            if allx.shape[0] > self.max_fit_descriptors:
                allx = allx[torch.randperm(allx.shape[0], generator=gen)[:self.max_fit_descriptors]]
            self.codebook = kmeans(F.normalize(allx, dim=-1), self.num_clusters, seed=self.seed)
        self.database = torch.stack([self.encode(d) for d in descriptor_sets])
        self.poses = poses.double().clone()
        self.names = list(names) if names is not None else [str(i) for i in range(len(poses))]
        return self

    def query(self, descriptors: Tensor, top_k: int = 1) -> Dict:
        """Most similar training images.

        Args:
            descriptors (Tensor): (n, C) the query's local descriptors.
            top_k (int): number of neighbours.

        Returns:
            dict: ``index`` (k,) int64, ``score`` (k,) cosine, ``poses`` (k, 4, 4)
            camera-to-world, ``names`` (list of k str).
        """
        if self.database is None or len(self) == 0:
            raise ValueError('the retrieval database is empty: build() it first')
        q = self.encode(descriptors)
        sim = self.database @ q
        score, index = sim.topk(min(top_k, len(self)))
        return dict(index=index, score=score, poses=self.poses[index],
                    names=[self.names[i] for i in index.tolist()])

    # ------------------------------------------------------------------ files
    def state_dict(self) -> Dict:
        """Plain tensors and metadata (stored inside the landmark map file)."""
        return dict(method=self.method, num_clusters=self.num_clusters, seed=self.seed,
                    max_fit_descriptors=self.max_fit_descriptors, codebook=self.codebook,
                    database=self.database, poses=self.poses, names=list(self.names))

    @classmethod
    def from_state_dict(cls, state: Dict) -> 'GlobalRetrieval':
        obj = cls(state['method'], state['num_clusters'], state.get('max_fit_descriptors', 20000),
                  state.get('seed', 0))
        obj.codebook, obj.database, obj.poses = state['codebook'], state['database'], state['poses']
        obj.names = list(state.get('names', []))
        return obj
