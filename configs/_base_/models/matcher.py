# A bare point matcher on full images (the A2PM baseline), wrapped for
# tools/test.py. Children replace `matcher` (with _delete_=True when the type
# changes) and `method_name` (the label of the results).
custom_imports = dict(
    imports=['vision_sparse.models.matchers', 'vision_sparse.datasets.matching_pairs',
             'vision_sparse.evaluation'],
    allow_failed_imports=False)

model = dict(
    type='MatcherEvalModel',
    method_name='sift',
    # SIFT with Lowe's ratio test and a mutual check
    matcher=dict(type='SIFTMatcher', resize_max=640, ratio=0.8, max_keypoints=4096))
