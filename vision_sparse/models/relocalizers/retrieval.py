"""Initial pose by image retrieval: the nearest training image's pose.

FaVoR starts the relocalization loop from the pose of the most similar
training image (the official code reads precomputed DenseVLAD/NetVLAD
neighbours). We compute a small global descriptor from the same local
descriptors FaVoR already extracts, so no extra network or file is needed:

* ``'vlad'`` (default, "VLAD-lite"): a k-means codebook (``num_clusters``
  centres, fitted on the training images' keypoint descriptors); per image the
  residuals to the nearest centre are summed per centre, each block
  L2-normalised (intra-normalisation), signed-square-rooted and the whole
  vector L2-normalised.
* ``'mean'``: the L2-normalised mean of the keypoint descriptors.

Images are compared by cosine similarity; the top match's camera-to-world
pose is the initial pose.
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ...registry import TASK_UTILS

__all__ = ['GlobalRetrieval', 'kmeans']


def kmeans(x: Tensor, k: int, iterations: int = 20, seed: int = 0) -> Tensor:
    """Spherical k-means (k-means++ seeding) of unit vectors.

    Args:
        x (Tensor): (N, C) unit vectors.
        k (int): clusters (reduced to N when N < k).
        iterations (int): Lloyd iterations.
        seed (int): randomness of the seeding.

    Returns:
        Tensor: (min(k, N), C) unit centres.
    """
    n = x.shape[0]
    if n == 0:
        raise ValueError('kmeans needs at least one vector')
    k = min(k, n)
    gen = torch.Generator().manual_seed(seed)
    centres = [x[int(torch.randint(n, (1,), generator=gen))]]
    d2 = torch.full((n,), float('inf'))
    for _ in range(1, k):
        d2 = torch.minimum(d2, ((x - centres[-1]) ** 2).sum(-1))
        prob = d2 / d2.sum() if float(d2.sum()) > 0 else torch.full((n,), 1.0 / n)
        centres.append(x[int(torch.multinomial(prob, 1, generator=gen))])
    c = torch.stack(centres)
    for _ in range(iterations):
        assign = (x @ c.T).argmax(1)
        new = torch.zeros_like(c).index_add(0, assign, x)
        empty = torch.bincount(assign, minlength=k) == 0
        new[empty] = c[empty]
        c = F.normalize(new, dim=-1)
    return c


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
