"""Run by torchrun from test_ddp.py: train the toy config with DDP, then write
what each rank sees (world size, its rank, its final parameters) to a JSON file."""
import importlib.util
import json
import os
import sys
from pathlib import Path

import torch.distributed as dist

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('vs_tools_train', REPO / 'tools' / 'train.py')
train = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train)

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
