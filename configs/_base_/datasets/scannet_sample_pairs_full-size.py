# The ScanNet sample pairs at full resolution (1296x968): A2PM crops its areas
# from them, as the official code does (the model rescales its matches to the
# evaluation size).
_base_ = ['./scannet_sample_pairs.py']

test_dataloader = dict(dataset=dict(resize=None))
