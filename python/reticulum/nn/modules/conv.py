"""Conv1d, Conv2d, Conv3d.

Default initialisation (PyTorch's): ``weight ~ kaiming_uniform_(a=sqrt(5))`` and ``bias ~ U(-1/sqrt(fan_in),
1/sqrt(fan_in))``, with fan_in = in_channels / groups * prod(kernel_size).
"""

from ... import _creation
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d"]


def _ntuple(v, n):
    if isinstance(v, (tuple, list)):
        return tuple(v)
    return (v,) * n


class _ConvNd(Module):
    __constants__ = ["stride", "padding", "dilation", "groups", "padding_mode", "output_padding", "in_channels",
                     "out_channels", "kernel_size"]
    _nd = 0

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, transposed, output_padding,
                 groups, bias, padding_mode, device=None, dtype=None):
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        valid_padding_strings = {"same", "valid"}
        if isinstance(padding, str):
            if padding not in valid_padding_strings:
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {valid_padding_strings}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        valid_padding_modes = {"zeros", "reflect", "replicate", "circular"}
        if padding_mode not in valid_padding_modes:
            raise ValueError(f"padding_mode must be one of {valid_padding_modes}, but got padding_mode='{padding_mode}'")
        if padding_mode != "zeros":
            raise ValueError(f"padding_mode='{padding_mode}' is not supported by reticulum (only 'zeros' is)")
        if transposed:
            raise ValueError("transposed convolutions are not supported by reticulum")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = transposed
        self.output_padding = output_padding
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = Parameter(_creation.empty((out_channels, in_channels // groups, *kernel_size), device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(_creation.empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init._default_layer_init_(self.weight, self.bias)

    def extra_repr(self):
        s = "{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}"
        if self.padding != (0,) * len(self.padding):
            s += ", padding={padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += ", dilation={dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += ", output_padding={output_padding}"
        if self.groups != 1:
            s += ", groups={groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += ", padding_mode={padding_mode}"
        return s.format(**self.__dict__)

    def _check_input(self, input):  # noqa: A002
        nd = self._nd
        if input.ndim not in (nd + 1, nd + 2):
            raise ValueError(f"{type(self).__name__}: expected a {nd + 1}D (unbatched) or {nd + 2}D (batched) input, "
                             f"got input of shape {tuple(input.shape)}")

    def _conv_forward(self, input, weight, bias):  # noqa: A002
        fn = (F.conv1d, F.conv2d, F.conv3d)[self._nd - 1]
        return fn(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input):  # noqa: A002
        self._check_input(input)
        return self._conv_forward(input, self.weight, self.bias)


class _ConvBuilder(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        n = self._nd
        kernel_size_ = _ntuple(kernel_size, n)
        stride_ = _ntuple(stride, n)
        padding_ = padding if isinstance(padding, str) else _ntuple(padding, n)
        dilation_ = _ntuple(dilation, n)
        for name, v in (("kernel_size", kernel_size_), ("stride", stride_), ("dilation", dilation_)) + (
                (("padding", padding_),) if not isinstance(padding_, str) else ()):
            if len(v) != n:
                raise ValueError(f"{type(self).__name__}: {name} must be an int or a tuple of {n} ints, got {v}")
        super().__init__(in_channels, out_channels, kernel_size_, stride_, padding_, dilation_, False, (0,) * n, groups,
                         bias, padding_mode, device=device, dtype=dtype)


class Conv1d(_ConvBuilder):
    r"""1-D convolution over [N, C_in, L] (or unbatched [C_in, L]); weight [C_out, C_in / groups, k]."""
    _nd = 1


class Conv2d(_ConvBuilder):
    r"""2-D convolution over [N, C_in, H, W] (or unbatched [C_in, H, W]); weight [C_out, C_in / groups, kH, kW]."""
    _nd = 2


class Conv3d(_ConvBuilder):
    r"""3-D convolution over [N, C_in, D, H, W] (or unbatched); weight [C_out, C_in / groups, kD, kH, kW]."""
    _nd = 3
