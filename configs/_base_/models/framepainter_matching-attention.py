# FramePainter matching attention as a dense matcher: fixed random 8x8 patch tokens
# (64 random conv features + their 3x3 and 7x7 token-neighbourhood averages, 192 channels),
# a 2-head MatchingAttention from the target frame to the source frame (only its q/k
# projections are trained) and the correspondence loss -log A[i, m(i)].
model = dict(
    type='MatchingAttentionCorrespondence',
    embedding=dict(type='RandomPatchEmbedding', patch_size=8, dim=64, context=(3, 7), seed=0),
    num_heads=2,
    loss=dict(type='CorrespondenceLoss', input_type='logits', head_reduce='mean_prob'))
