# FaVoR with ALIKED-n16 (128-d) on the 7-Scenes "stairs" samples (../shared/data): the
# settings of the XFeat config (6 mapping frames of sequences 2, 3; 6 queries of
# sequences 1, 4), another extractor and map file.
_base_ = ['./favor_xfeat-g3_100it_7scenes-stairs.py']

model = dict(
    extractor=dict(type='DenseFeatureExtractor', backend='aliked', aliked_model='aliked-n16',
                   max_keypoints=4096, detection_threshold=0.02),
    map_path='work_dirs/favor_aliked-g3_100it_7scenes-stairs/landmark_map.pth')
