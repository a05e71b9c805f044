"""torch's legacy tensor-type names: rt.FloatTensor / DoubleTensor / LongTensor / BoolTensor as constructors and
in isinstance checks, Tensor.type(), rt.Tensor(data) / rt.Tensor(*sizes), and format() of 0-d tensors."""
from ._C import Tensor, dtype as _dtype


class _TensorType(type):
    """Metaclass of the legacy type names: a tensor is an instance of rt.FloatTensor when its dtype is float32,
    and calling the name builds a tensor of that dtype (the names are never instantiated themselves)."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype

    def __call__(cls, *args):
        return _construct(cls.dtype, cls.__name__, args)

    def __repr__(cls):
        return f"<class 'reticulum.{cls.__name__}'>"


def _construct(dt, name, args):
    """torch's legacy constructor: no argument -> empty 1-D, ints -> uninitialised of that shape, a size
    tuple -> the same, a sequence / array / tensor -> its data converted to `dt`."""
    from ._creation import empty, tensor
    if not args:
        return empty(0, dtype=dt)
    if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        return empty(*args, dtype=dt)
    if len(args) == 1:
        data = args[0]
        if isinstance(data, Tensor):
            if data.dtype != dt:
                raise TypeError(f"{name}(): expected a tensor of dtype {dt}, got {data.dtype}")
            return data.detach()
        if isinstance(data, (int, float, bool)):
            raise TypeError(f"{name}(): a single number is not a valid argument; pass a size as an int or data as a "
                            f"list (got {data!r})")
        return tensor(data, dtype=dt)
    raise TypeError(f"{name}(): arguments must be sizes (ints) or a single sequence of data, got "
                    f"{tuple(type(a).__name__ for a in args)}")


def _type_class(name, dt):
    return _TensorType(name, (), {"dtype": dt, "__doc__": f"Tensors of dtype {dt}: a constructor and an isinstance check."})


FloatTensor = _type_class("FloatTensor", _dtype.float32)
DoubleTensor = _type_class("DoubleTensor", _dtype.float64)
LongTensor = _type_class("LongTensor", _dtype.int64)
BoolTensor = _type_class("BoolTensor", _dtype.bool)
_TYPES = (FloatTensor, DoubleTensor, LongTensor, BoolTensor)
_BY_DTYPE = {cls.dtype: cls for cls in _TYPES}
_BY_DTYPE_NAME = {cls.__name__: cls.dtype for cls in _TYPES}


def _dtype_from_type_arg(arg):
    """A dtype from Tensor.type's argument: a dtype, a legacy type name class, or its string with either
    prefix ('torch.FloatTensor' keeps working in code ported from PyTorch)."""
    if isinstance(arg, _dtype):
        return arg
    if isinstance(arg, _TensorType):
        return arg.dtype
    if isinstance(arg, str):
        for prefix in ("reticulum.", "torch."):
            if arg.startswith(prefix) and arg[len(prefix):] in {c.__name__ for c in _TYPES}:
                return _BY_DTYPE_NAME[arg[len(prefix):]]
        raise ValueError(f"type(): invalid type {arg!r}; expected one of "
                         f"{', '.join('reticulum.' + c.__name__ for c in _TYPES)} (or the same with 'torch.')")
    raise TypeError(f"type(): expected a dtype, a tensor type or a type string, got {type(arg).__name__}")


def _type(self, dtype=None, non_blocking=False, **kwargs):
    """x.type() -> 'reticulum.FloatTensor'; x.type(dt) -> x converted to dt (x itself when already of that dtype)."""
    if dtype is None:
        return "reticulum." + _BY_DTYPE[self.dtype].__name__
    return self._to_dtype(_dtype_from_type_arg(dtype))  # _to_dtype returns self when the dtype already matches


_C_TENSOR_INIT = Tensor.__init__


def _tensor_init(self, *args, **kwargs):
    """rt.Tensor(other) aliases other's data (the C++ constructor); rt.Tensor([1, 2]) and rt.Tensor(2, 3) build a
    float32 tensor as torch.Tensor does. Subclasses (nn.Parameter) keep calling the C++ constructor directly."""
    if len(args) == 1 and not kwargs and isinstance(args[0], Tensor):
        return _C_TENSOR_INIT(self, args[0])
    if kwargs:
        return _C_TENSOR_INIT(self, *args, **kwargs)
    _C_TENSOR_INIT(self, _construct(_dtype.float32, "Tensor", args))


def _format(self, spec):
    """As torch: a 0-d tensor formats its value (f'{loss:.3f}'); other tensors only take the empty spec."""
    if self.ndim == 0:
        return format(self.item(), spec)
    if spec:
        raise TypeError(f"unsupported format string {spec!r} passed to Tensor.__format__ for a tensor of shape "
                        f"{tuple(self.shape)}; only 0-d tensors take a format spec")
    return str(self)


Tensor.type = _type
Tensor.__init__ = _tensor_init
Tensor.__format__ = _format
