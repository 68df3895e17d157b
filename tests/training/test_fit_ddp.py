"""``lstmkit.training.fit`` under DDP on the CPU: two processes, a gloo process group."""

from __future__ import annotations

SCRIPT = '''
import atexit, json, os, sys
import torch

found = {}

@atexit.register
def write():  # (registered before lstmkit is imported: run after its exit handler)
    found["group_at_exit"] = torch.distributed.is_initialized()
    with open(f"rank{os.environ.get('LOCAL_RANK', '0')}.json", "w") as file:
        json.dump(found, file)

import lstmkit

@atexit.register
def mine():  # a program's own exit handler (run before lstmkit's) may still use the group
    torch.distributed.barrier()
    found["barrier_at_exit"] = True

# (training is loaded after the program's handler is registered, as lstmkit.Forecaster
# loads it)
from torch.utils.data import DataLoader, TensorDataset
from lstmkit.training import TrainConfig, evaluate, fit

# the interpreter's lock changes hands every second rather than every 5 ms, so that a gloo
# worker that must take it to free a collective's tensors is still waiting when the
# program ends
sys.setswitchinterval(1.0)
torch.manual_seed(0)
x, y = torch.randn(32, 3), torch.randn(32, 1)
loader = DataLoader(TensorDataset(x, y), batch_size=8)
config = TrainConfig(max_epochs=1, strategy="ddp", devices=2, accelerator="cpu",
                     progress_bar=False)
net = torch.nn.Linear(3, 1)
# evaluating first makes the process group, which fit then finds
evaluate(net, torch.nn.functional.mse_loss, loader, config)
result = fit(net, torch.nn.functional.mse_loss, loader, loader, config)
found["epochs"] = result.epochs_run
# the last statement: a collective on a tensor that only the collective holds once it returns
torch.distributed.all_reduce(torch.ones(1))
'''


def test_the_process_group_ends_before_python_does(ddp_script) -> None:  # type: ignore[no-untyped-def]
    # a gloo process group left to the interpreter's shutdown could abort the processes
    # ("terminate called without an active exception"), which the fixture looks for
    first, second = ddp_script(SCRIPT)
    assert first == second == {"epochs": 1, "barrier_at_exit": True, "group_at_exit": False}

