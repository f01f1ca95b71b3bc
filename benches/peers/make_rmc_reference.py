"""Reference outputs of a tiny relational memory for socgan's equivalence test
(crates/text-models/src/relational_memory.rs, `matches_the_pytorch_relational_memory`).

The memory of `textgan_models.RelationalMemory` with 2 slots, 2 heads of 3 and inputs of width 4,
every parameter set by a formula both sides compute (parameter k in the order below, element i:
0.3 sin(1.7 k + 0.61 i), plus 1 for the layer norms' gains; the gate biases 0.2 and 0.9), run on
2 sequences of 3 inputs x[b, t, e] = sin(0.5 b + 0.3 t + 0.7 e) from the identity memory. Prints
the outputs [2, 3, 12] flattened, then the gradient of sum(outputs * probe) with respect to the
input projection's weight, probe[j] = cos(0.13 j).
Usage: make_rmc_reference.py"""
import math

import torch

from textgan_models import RelationalMemory

ORDER = [
    "input_projector", "qkv_projector", "attention_mlp.0", "input_gate_projector",
    "memory_gate_projector", "qkv_layernorm", "attended_memory_layernorm",
    "attended_memory_layernorm2",
]


def main():
    torch.set_default_dtype(torch.float64)
    rmc = RelationalMemory(mem_slots=2, head_size=3, input_size=4, num_heads=2)
    params = dict(rmc.named_parameters())
    k = 0
    with torch.no_grad():
        for module in ORDER:
            for part in ("weight", "bias"):
                p = params[f"{module}.{part}"]
                flat = torch.tensor([0.3 * math.sin(1.7 * k + 0.61 * i) for i in range(p.numel())])
                if module.endswith("layernorm") or module.endswith("layernorm2"):
                    if part == "weight":
                        flat += 1.0
                p.copy_(flat.view_as(p))
                k += 1
        rmc.input_bias.fill_(0.2)
        rmc.forget_bias.fill_(0.9)
    x = torch.tensor([[[math.sin(0.5 * b + 0.3 * t + 0.7 * e) for e in range(4)] for t in range(3)] for b in range(2)])
    out, _ = rmc(x, rmc.initial_state(2))
    flat = out.reshape(-1)
    probe = torch.tensor([math.cos(0.13 * j) for j in range(flat.numel())])
    (flat * probe).sum().backward()
    fmt = lambda t: ", ".join(f"{v:.7f}" for v in t.reshape(-1).tolist())
    print(f"const OUTPUTS: [f64; {flat.numel()}] = [{fmt(flat.detach())}];")
    grad = params["input_projector.weight"].grad
    print(f"const INPUT_WEIGHT_GRAD: [f64; {grad.numel()}] = [{fmt(grad)}];")


if __name__ == "__main__":
    main()
