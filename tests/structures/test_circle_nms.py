import pytest
import torch

from vision_sparse.structures.bbox import batched_circle_nms, circle_nms


def test_circle_nms_hand_case():
    centers = torch.tensor([[0.0, 0.0], [0.5, 0.0], [3.0, 0.0], [3.4, 0.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    assert circle_nms(centers, scores, 1.0).tolist() == [3, 0]
    assert circle_nms(centers, scores, 1.0, max_keep=1).tolist() == [3]
    assert circle_nms(centers, scores, 0.1).tolist() == [3, 0, 1, 2]


def test_chain_only_kept_boxes_suppress():
    centers = torch.tensor([[0.0, 0.0], [0.9, 0.0], [1.8, 0.0]])
    assert circle_nms(centers, torch.tensor([0.9, 0.8, 0.7]), 1.0).tolist() == [0, 2]


def test_batched_per_class_and_empty():
    centers = torch.tensor([[0.0, 0.0], [0.5, 0.0], [0.2, 0.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    labels = torch.tensor([0, 0, 1])
    assert batched_circle_nms(centers, scores, labels, 1.0).tolist() == [0, 2]
    assert batched_circle_nms(centers, scores, labels, [-1.0, 1.0]).tolist() == [0, 1, 2]
    empty = batched_circle_nms(torch.zeros(0, 2), torch.zeros(0),
                               torch.zeros(0, dtype=torch.long), 1.0)
    assert empty.shape == (0,)
    with pytest.raises(ValueError, match='centers'):
        circle_nms(torch.zeros(3), torch.zeros(3), 1.0)
