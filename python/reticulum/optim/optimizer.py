"""Optimizer base: param groups and state dicts in Python, the update itself in C++.

Each param group owns a C++ GroupState; `step()` is one C++ call per group that
updates every parameter with a gradient (no per-parameter Python work)."""
from .. import _C
from .._C import Tensor
from .._grad_mode import enable_grad

_Kind = _C.optim.Kind


class Optimizer:
    _kind = None         # _C.optim.Kind of the subclass
    _state_names = ()    # names of the C++ state slots 0..2, as in PyTorch's state dicts

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("optimizer: params must be an iterable of Tensors or dicts, got a Tensor")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group):
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer: can only optimize Tensors, got {type(p).__name__}")
            if id(p) in seen:
                raise ValueError("optimizer: some parameters appear in more than one parameter group")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer: a parameter group contains the same parameter twice")
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._validate(group)
        group["params"] = params
        group["_fused"] = _C.optim.GroupState(params)
        self.param_groups.append(group)

    def _validate(self, group):
        if not group["lr"] >= 0:  # written so that NaN is refused too
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if not group.get("weight_decay", 0) >= 0:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")

    def _group_args(self, group):
        return group

    def zero_grad(self, set_to_none=True):
        for g in self.param_groups:
            g["_fused"].zero_grad(set_to_none)

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for g in self.param_groups:
            g["_fused"].step(self._kind, self._group_args(g), float(g.get("initial_accumulator_value", 0.0)))
        return loss

    # ---- state dicts in PyTorch's layout: params are numbered across groups
    @property
    def state(self):
        """{param: {name: tensor, 'step': n}} for parameters that have state (a fresh dict on each access)."""
        out = {}
        for g in self.param_groups:
            fused = g["_fused"]
            for i, p in enumerate(g["params"]):
                entry = self._param_state(fused, i)
                if entry:
                    out[p] = entry
        return out

    def _param_state(self, fused, i):
        entry = {}
        for slot, name in enumerate(self._state_names):
            if name is not None:
                t = fused.get_state(i, slot)
                if t is not None:
                    entry[name] = t
        if entry or fused.get_step(i):
            entry["step"] = fused.get_step(i)
        return entry

    def state_dict(self):
        state, groups, index = {}, [], 0
        for g in self.param_groups:
            fused = g["_fused"]
            ids = []
            for i in range(len(g["params"])):
                entry = self._param_state(fused, i)
                if entry:
                    state[index] = {k: (v.clone() if isinstance(v, Tensor) else v) for k, v in entry.items()}
                ids.append(index)
                index += 1
            groups.append({**{k: v for k, v in g.items() if k not in ("params", "_fused")}, "params": ids})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: loaded state has {len(groups)} parameter groups, the optimizer has {len(self.param_groups)}")
        for i, (saved, g) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(g["params"]):
                raise ValueError(f"load_state_dict: parameter group {i} has {len(saved['params'])} parameters in the loaded state "
                                 f"but {len(g['params'])} in the optimizer")
        state = {int(k): v for k, v in state_dict["state"].items()}
        # Validate shapes before changing anything.
        for saved, g in zip(groups, self.param_groups):
            for idx, p in zip(saved["params"], g["params"]):
                for name, v in state.get(int(idx), {}).items():
                    if isinstance(v, Tensor) and tuple(v.shape) != tuple(p.shape):
                        raise ValueError(f"load_state_dict: state '{name}' of shape {tuple(v.shape)} does not match its parameter "
                                         f"of shape {tuple(p.shape)}")
        for saved, g in zip(groups, self.param_groups):
            g.update({k: v for k, v in saved.items() if k != "params"})
            fused = g["_fused"]
            for i, idx in enumerate(saved["params"]):
                entry = state.get(int(idx), {})
                for slot, name in enumerate(self._state_names):
                    if name is not None:
                        fused.set_state(i, slot, entry.get(name))
                fused.set_step(i, int(entry.get("step", 0)))

    def __repr__(self):
        lines = [self.__class__.__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(k for k in g if k not in ("params", "_fused")):
                lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)
