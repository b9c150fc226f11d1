"""Run by torchrun from test_ddp.py: train the toy config with DDP, then write
what each rank sees (world size, its rank, its final parameters) to a JSON file."""
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))

import torch.distributed as dist  # noqa: E402
import train  # noqa: E402

out_dir = Path(sys.argv[1])
runner = train.main([str(REPO / 'configs/toy/toy_linear-sgd_40it_synthetic.py'),
                     '--work-dir', str(out_dir / 'work'), '--launcher', 'pytorch'])
model = runner.model.module if hasattr(runner.model, 'module') else runner.model
info = dict(world_size=dist.get_world_size(), rank=dist.get_rank(),
            wrapper=type(runner.model).__name__,
            params={k: v.detach().cpu().flatten().tolist()
                    for k, v in model.state_dict().items()},
            iter=runner.iter)
(out_dir / f'rank{os.environ["RANK"]}.json').write_text(json.dumps(info))
