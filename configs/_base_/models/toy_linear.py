# A linear regressor for the training-engine tests (vision_sparse/testing/toy.py).
model = dict(type='ToyRegressor', in_dim=4, out_dim=2)
