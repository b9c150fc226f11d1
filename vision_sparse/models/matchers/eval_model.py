"""A bare point matcher wrapped as an mmengine model, for ``tools/test.py``."""
import copy
from typing import Any, Dict, List, Optional, Sequence, Union

from mmengine.model import BaseModel

from vision_sparse.registry import MODELS
from .base_matcher import BaseMatcher

__all__ = ['PairEvalModel', 'MatcherEvalModel', 'to_pair_list']


def to_pair_list(data: Union[Sequence[dict], Dict[str, list]]) -> List[dict]:
    """Turn a batch of pair items into a list of per-pair dicts.

    mmengine's ``pseudo_collate`` turns a list of dataset items (dicts) into a
    dict of lists; models of this package accept either form.

    Args:
        data (list[dict] | dict[str, list]): a list of items, or the
            ``pseudo_collate`` output (every value a list of the batch size).

    Returns:
        list[dict]: one dict per pair (shallow copies).

    Raises:
        ValueError: for another type or lists of different lengths.
    """
    if isinstance(data, dict):
        if not all(isinstance(v, (list, tuple)) for v in data.values()):
            raise ValueError('a dict batch must map every key to a list (pseudo_collate output)')
        n = len(data['image0']) if 'image0' in data else len(next(iter(data.values()), []))
        bad = sorted(k for k, v in data.items() if len(v) != n)
        if bad:
            raise ValueError(f'batch keys {bad} do not hold one value per pair ({n}): '
                             'pseudo_collate transposes tuple/list item values, so dataset '
                             'items must hold arrays instead of tuples')
        return [{k: v[i] for k, v in data.items()} for i in range(n)]
    if isinstance(data, (list, tuple)) and all(isinstance(d, dict) for d in data):
        return [dict(d) for d in data]
    raise ValueError('data must be a list of pair dicts or a pseudo_collate dict of lists, '
                     f'got {type(data).__name__}')


class PairEvalModel(BaseModel):
    """Base of the training-free evaluation models run by ``tools/test.py``.

    Subclasses implement :meth:`predict_pair` (one pair item -> one sample per
    evaluated method); the batch loop and the mmengine steps live here. Every
    sample is the pair item with the method's outputs added (``kpts0`` (N, 2),
    ``kpts1`` (N, 2), ``scores`` (N,), ``method``, and the result contract keys
    ``success``, ``reason``, ``timings``), as :class:`RelativePoseMetric` reads it.

    Attributes:
        keep_images (bool): keep ``image0`` / ``image1`` in the returned samples.
    """

    keep_images: bool = True

    def predict_pair(self, item: Dict[str, Any]) -> List[dict]:
        """The samples of one pair item (one per method)."""
        raise NotImplementedError

    def forward(self, inputs: Any, data_samples: Any = None, mode: str = 'predict') -> List[dict]:
        """Run :meth:`predict_pair` on every pair of the batch.

        Args:
            inputs (list[dict] | dict[str, list]): pair items (a list, or the
                ``pseudo_collate`` dict of lists, see :func:`to_pair_list`).
            data_samples: unused (kept for mmengine's signature).
            mode (str): only ``'predict'`` (training-free model).

        Returns:
            list[dict]: the samples of every pair, in batch order.
        """
        if mode != 'predict':
            raise ValueError(f"{type(self).__name__} is training-free: mode must be 'predict', "
                             f'got {mode!r}')
        out = []
        for item in to_pair_list(inputs):
            for sample in self.predict_pair(item):
                if not self.keep_images:
                    sample.pop('image0', None)
                    sample.pop('image1', None)
                out.append(sample)
        return out

    def test_step(self, data: Any) -> List[dict]:
        """``forward(data, mode='predict')`` (no preprocessing of numpy items)."""
        return self.forward(data, mode='predict')

    def val_step(self, data: Any) -> List[dict]:
        """Same as :meth:`test_step`."""
        return self.forward(data, mode='predict')

    def train_step(self, data: Any, optim_wrapper: Any) -> Dict[str, Any]:
        """Not available: evaluation models are training-free (raises ``RuntimeError``)."""
        raise RuntimeError(f'{type(self).__name__} has nothing to train (use tools/test.py)')


@MODELS.register_module()
class MatcherEvalModel(PairEvalModel):
    """Evaluate a point matcher on full images (the A2PM baseline).

    Args:
        matcher (dict | BaseMatcher): config of a registered matcher
            (``dict(type='SIFTMatcher', ...)``) or a built one.
        method_name (str): label written into every result (``'method'``),
            used by :class:`RelativePoseMetric` to group results.
        data_preprocessor (dict, optional): mmengine data preprocessor;
            the default passes numpy items through untouched.

    ``test_step`` / ``val_step`` take a batch of pair items (see
    :func:`to_pair_list`), each with ``image0``, ``image1`` (numpy uint8) and
    optional ``mask0``, ``mask1``, and return the items with the matcher's
    result (``kpts0`` (N, 2), ``kpts1`` (N, 2), ``scores`` (N,) float32,
    ``num_keypoints0/1``, ``success``, ``reason``, ``timings``) and ``method``
    added.
    """

    def __init__(self, matcher: Union[dict, BaseMatcher], method_name: str = 'matcher',
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        if isinstance(matcher, dict):
            matcher = MODELS.build(copy.deepcopy(matcher))
        if not isinstance(matcher, BaseMatcher):
            raise ValueError(f'matcher must build a BaseMatcher, got {type(matcher).__name__}')
        self.matcher = matcher
        self.method_name = str(method_name)

    def predict_pair(self, item: Dict[str, Any]) -> List[dict]:
        """The item with the matcher's result and ``method`` (one sample)."""
        pred = self.matcher.match(item['image0'], item['image1'],
                                  item.get('mask0'), item.get('mask1'))
        item.update(pred)
        item['method'] = self.method_name
        return [item]
