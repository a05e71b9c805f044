"""Bad arguments to reticulum.nn.functional raise the right exception type with a message that names the
op and the offending shapes/values. Table-driven: (call, exception type, substrings the message must contain)."""
import numpy as np
import pytest

import reticulum as rt
import reticulum.nn.functional as F


def r(*shape, dtype=rt.float32):
    return rt.tensor(np.random.default_rng(0).uniform(-1, 1, shape), dtype=dtype)


def u(*shape):
    return rt.tensor(np.random.default_rng(0).uniform(0.1, 0.9, shape), dtype=rt.float32)


def idx(a):
    return rt.tensor(np.asarray(a, dtype=np.int64))


CASES = {
    # ---- convolution
    "conv2d_channel_mismatch": (lambda: F.conv2d(r(1, 3, 5, 5), r(2, 1, 3, 3)), ValueError,
                                ["conv2d", "input has 3 channels", "weight [2, 1, 3, 3]", "expects 1"]),
    "conv1d_channel_mismatch": (lambda: F.conv1d(r(2, 4, 8), r(2, 3, 3)), ValueError, ["conv1d", "4 channels", "expects 3"]),
    "conv3d_channel_mismatch": (lambda: F.conv3d(r(1, 2, 3, 3, 3), r(1, 1, 2, 2, 2)), ValueError, ["conv3d", "2 channels", "expects 1"]),
    "conv2d_unbatched_channel_mismatch": (lambda: F.conv2d(r(3, 5, 5), r(2, 2, 3, 3)), ValueError, ["conv2d", "3 channels", "expects 2"]),
    "conv2d_kernel_larger_than_input": (lambda: F.conv2d(r(1, 1, 3, 3), r(1, 1, 5, 5)), ValueError,
                                        ["conv2d", "kernel size [5, 5]", "larger than the padded input 3", "[1, 1, 3, 3]"]),
    "conv2d_kernel_larger_than_padded_input": (lambda: F.conv2d(r(1, 1, 3, 4), r(1, 1, 6, 2), padding=1), ValueError,
                                               ["conv2d", "larger than the padded input 5"]),
    "conv1d_dilated_kernel_larger": (lambda: F.conv1d(r(1, 1, 5), r(1, 1, 3), dilation=3), ValueError,
                                     ["conv1d", "dilated 7", "padded input 5"]),
    "conv3d_kernel_larger_one_dim": (lambda: F.conv3d(r(1, 1, 4, 4, 2), r(1, 1, 2, 2, 3)), ValueError,
                                     ["conv3d", "larger than the padded input 2", "spatial dim 2"]),
    "conv2d_input_rank_2": (lambda: F.conv2d(r(5, 5), r(1, 1, 3, 3)), ValueError, ["conv2d", "3-d (unbatched) or 4-d", "[5, 5]"]),
    "conv2d_input_rank_5": (lambda: F.conv2d(r(1, 1, 1, 5, 5), r(1, 1, 3, 3)), ValueError, ["conv2d", "[1, 1, 1, 5, 5]"]),
    "conv1d_input_rank_4": (lambda: F.conv1d(r(1, 1, 5, 5), r(1, 1, 3)), ValueError, ["conv1d", "2-d (unbatched) or 3-d", "[1, 1, 5, 5]"]),
    "conv3d_input_rank_3": (lambda: F.conv3d(r(1, 5, 5), r(1, 1, 3, 3, 3)), ValueError, ["conv3d", "[1, 5, 5]"]),
    "conv2d_weight_rank": (lambda: F.conv2d(r(1, 1, 5, 5), r(1, 3, 3)), ValueError, ["conv2d", "4-d weight", "[1, 3, 3]"]),
    "conv2d_groups_not_dividing_in": (lambda: F.conv2d(r(1, 3, 5, 5), r(4, 1, 3, 3), groups=2), ValueError,
                                      ["conv2d", "3 channels", "groups = 2"]),
    "conv2d_groups_not_dividing_out": (lambda: F.conv2d(r(1, 4, 5, 5), r(3, 2, 3, 3), groups=2), ValueError,
                                       ["conv2d", "out_channels 3", "divisible by groups 2"]),
    "conv1d_groups_zero": (lambda: F.conv1d(r(1, 4, 5), r(4, 4, 3), groups=0), ValueError, ["conv1d", "groups", "0"]),
    "conv2d_bias_wrong_length": (lambda: F.conv2d(r(1, 1, 5, 5), r(2, 1, 3, 3), r(3)), ValueError, ["conv2d", "bias", "[2]", "[3]"]),
    "conv2d_bias_wrong_rank": (lambda: F.conv2d(r(1, 1, 5, 5), r(2, 1, 3, 3), r(2, 1)), ValueError, ["conv2d", "bias", "[2, 1]"]),
    "conv3d_bias_wrong_length": (lambda: F.conv3d(r(1, 1, 3, 3, 3), r(2, 1, 2, 2, 2), r(1)), ValueError, ["conv3d", "bias", "[2]", "[1]"]),
    "conv2d_stride_zero": (lambda: F.conv2d(r(1, 1, 5, 5), r(2, 1, 3, 3), stride=0), ValueError, ["conv2d", "stride"]),
    "conv2d_negative_padding": (lambda: F.conv2d(r(1, 1, 5, 5), r(2, 1, 3, 3), padding=-1), ValueError, ["conv2d", "padding"]),
    "conv2d_dilation_zero": (lambda: F.conv2d(r(1, 1, 5, 5), r(2, 1, 3, 3), dilation=0), ValueError, ["conv2d", "dilation"]),
    "conv2d_bad_padding_string": (lambda: F.conv2d(r(1, 1, 5, 5), r(2, 1, 3, 3), padding="full"), ValueError, ["conv2d", "'full'"]),
    "conv2d_same_with_stride": (lambda: F.conv2d(r(1, 1, 5, 5), r(2, 1, 3, 3), padding="same", stride=2), ValueError,
                                ["conv2d", "same", "strided"]),
    "conv2d_stride_tuple_wrong_length": (lambda: F.conv2d(r(1, 1, 5, 5), r(2, 1, 3, 3), stride=(1, 2, 3)), ValueError,
                                         ["conv2d", "(1, 2, 3)"]),
    "conv2d_integer_input": (lambda: F.conv2d(idx(np.ones((1, 1, 4, 4))), idx(np.ones((1, 1, 3, 3)))), TypeError,
                             ["conv2d", "floating point", "int64"]),
    # ---- linear
    "linear_in_features_mismatch": (lambda: F.linear(r(3, 4), r(2, 5)), ValueError, ["linear", "[3, 4]", "[2, 5]"]),
    "linear_weight_rank": (lambda: F.linear(r(3, 4), r(4)), ValueError, ["linear", "2-d", "[4]"]),
    "linear_bias_shape": (lambda: F.linear(r(3, 4), r(2, 4), r(3)), ValueError, ["linear", "bias", "[2]", "[3]"]),
    "linear_integer": (lambda: F.linear(idx(np.ones((2, 3))), idx(np.ones((2, 3)))), TypeError, ["linear", "floating point"]),
    # ---- pooling
    "max_pool2d_padding_gt_half_kernel": (lambda: F.max_pool2d(r(1, 1, 5, 5), 2, padding=2), ValueError,
                                          ["max_pool2d", "padding", "half of kernel"]),
    "avg_pool2d_padding_gt_half_kernel": (lambda: F.avg_pool2d(r(1, 1, 5, 5), 3, padding=2), ValueError,
                                          ["avg_pool2d", "padding", "half of kernel"]),
    "max_pool2d_padding_one_dim": (lambda: F.max_pool2d(r(1, 1, 6, 6), (4, 2), padding=(2, 2)), ValueError,
                                   ["max_pool2d", "padding", "half of kernel"]),
    "max_pool1d_padding_gt_half_kernel": (lambda: F.max_pool1d(r(1, 1, 5), 2, padding=2), ValueError, ["max_pool1d", "padding"]),
    "avg_pool1d_padding_gt_half_kernel": (lambda: F.avg_pool1d(r(1, 1, 5), 3, padding=2), ValueError, ["avg_pool1d", "padding"]),
    "max_pool2d_rank_2": (lambda: F.max_pool2d(r(5, 5), 2), ValueError, ["max_pool2d", "[5, 5]"]),
    "avg_pool2d_rank_5": (lambda: F.avg_pool2d(r(1, 1, 1, 5, 5), 2), ValueError, ["avg_pool2d", "[1, 1, 1, 5, 5]"]),
    "max_pool1d_rank_4": (lambda: F.max_pool1d(r(1, 1, 5, 5), 2), ValueError, ["max_pool1d", "(1, 1, 5, 5)"]),
    "avg_pool1d_rank_1": (lambda: F.avg_pool1d(r(5), 2), ValueError, ["avg_pool1d", "(5,)"]),
    "max_pool2d_kernel_larger_than_input": (lambda: F.max_pool2d(r(1, 1, 2, 5), 3, 1), ValueError, ["max_pool2d", "larger", "[1, 1, 2, 5]"]),
    "max_pool2d_kernel_larger_than_input_default_stride": (lambda: F.max_pool2d(r(1, 1, 2, 2), 3), ValueError,
                                                           ["max_pool2d", "larger", "[1, 1, 2, 2]"]),
    "avg_pool2d_kernel_larger_than_input_default_stride": (lambda: F.avg_pool2d(r(1, 1, 4, 2), 3), ValueError,
                                                           ["avg_pool2d", "larger", "[1, 1, 4, 2]"]),
    "max_pool1d_kernel_larger_than_input": (lambda: F.max_pool1d(r(1, 1, 2), 3), ValueError, ["max_pool1d", "larger"]),
    "max_pool2d_stride_zero": (lambda: F.max_pool2d(r(1, 1, 4, 4), 2, 0), ValueError, ["max_pool2d", "stride"]),
    "avg_pool2d_kernel_zero": (lambda: F.avg_pool2d(r(1, 1, 4, 4), 0), ValueError, ["avg_pool2d", "kernel_size"]),
    "max_pool2d_dilation_unsupported": (lambda: F.max_pool2d(r(1, 1, 4, 4), 2, dilation=2), ValueError, ["max_pool2d", "dilation"]),
    "max_pool2d_integer": (lambda: F.max_pool2d(idx(np.ones((1, 1, 4, 4))), 2), TypeError, ["max_pool2d", "floating point"]),
    "adaptive_rank": (lambda: F.adaptive_avg_pool2d(r(4, 4), 2), ValueError, ["adaptive_avg_pool2d", "[4, 4]"]),
    "adaptive_zero_output": (lambda: F.adaptive_avg_pool2d(r(1, 1, 4, 4), (0, 2)), ValueError, ["adaptive_avg_pool2d", "(0, 2)"]),
    # ---- batch norm
    "batch_norm_running_mean_shape": (lambda: F.batch_norm(r(4, 3), rt.zeros(2), rt.ones(3), training=True), ValueError,
                                      ["batch_norm", "[3]", "[4, 3]", "[2]"]),
    "batch_norm_running_var_shape": (lambda: F.batch_norm(r(4, 3, 2), rt.zeros(3), rt.ones(3, 1), training=False), ValueError,
                                     ["batch_norm", "[3]", "[4, 3, 2]", "[3, 1]"]),
    "batch_norm_weight_shape": (lambda: F.batch_norm(r(4, 3), rt.zeros(3), rt.ones(3), r(4), training=True), ValueError,
                                ["batch_norm", "[3]", "[4]"]),
    "batch_norm_bias_shape": (lambda: F.batch_norm(r(4, 3), None, None, r(3), r(2), training=True), ValueError,
                              ["batch_norm", "[3]", "[2]"]),
    "batch_norm_single_value_per_channel": (lambda: F.batch_norm(r(1, 3), rt.zeros(3), rt.ones(3), training=True), ValueError,
                                            ["batch_norm", "more than 1 value per channel", "[1, 3]"]),
    "batch_norm_single_value_per_channel_spatial": (lambda: F.batch_norm(r(1, 3, 1, 1), None, None, training=True), ValueError,
                                                    ["batch_norm", "more than 1 value per channel", "[1, 3, 1, 1]"]),
    "batch_norm_eval_without_stats": (lambda: F.batch_norm(r(4, 3), None, None, training=False), ValueError,
                                      ["batch_norm", "running_mean", "eval"]),
    "batch_norm_only_one_stat": (lambda: F.batch_norm(r(4, 3), rt.zeros(3), None, training=True), ValueError,
                                 ["batch_norm", "running_mean and running_var"]),
    "batch_norm_rank_1": (lambda: F.batch_norm(r(4), rt.zeros(4), rt.ones(4), training=True), ValueError, ["batch_norm", "[4]"]),
    "batch_norm_stats_dtype": (lambda: F.batch_norm(r(4, 3), rt.zeros(3, dtype=rt.float64), rt.ones(3, dtype=rt.float64), training=True),
                               TypeError, ["batch_norm", "float32"]),
    "batch_norm_eps_nonpositive": (lambda: F.batch_norm(r(4, 3), None, None, training=True, eps=0.0), ValueError, ["batch_norm", "eps"]),
    # ---- dropout
    "dropout_p_above_1": (lambda: F.dropout(r(3), 1.5), ValueError, ["dropout", "between 0 and 1", "1.5"]),
    "dropout_p_negative": (lambda: F.dropout(r(3), -0.1), ValueError, ["dropout", "between 0 and 1", "-0.1"]),
    "dropout_p_negative_eval": (lambda: F.dropout(r(3), -0.1, training=False), ValueError, ["dropout", "-0.1"]),
    "dropout_p_nan": (lambda: F.dropout(r(3), float("nan")), ValueError, ["dropout", "nan"]),
    "dropout2d_p_above_1": (lambda: F.dropout2d(r(2, 3, 4), 1.5), ValueError, ["dropout2d", "between 0 and 1", "1.5"]),
    "dropout2d_p_negative": (lambda: F.dropout2d(r(2, 3, 4), -0.5), ValueError, ["dropout2d", "-0.5"]),
    "dropout2d_rank": (lambda: F.dropout2d(r(2, 3), 0.5), ValueError, ["dropout2d", "[2, 3]"]),
    # ---- cross entropy / nll
    "cross_entropy_float_target_wrong_shape": (lambda: F.cross_entropy(r(3, 4), r(3, 5)), ValueError,
                                               ["cross_entropy", "[3, 4]", "[3, 5]"]),
    "cross_entropy_float_target_class_shape": (lambda: F.cross_entropy(r(3, 4), r(3)), ValueError, ["cross_entropy", "[3, 4]", "[3]"]),
    "cross_entropy_target_out_of_range": (lambda: F.cross_entropy(r(3, 4), idx([0, 4, 1])), IndexError,
                                          ["cross_entropy", "4", "out of bounds", "4 classes"]),
    "cross_entropy_target_negative": (lambda: F.cross_entropy(r(3, 4), idx([0, -1, 1])), IndexError, ["cross_entropy", "-1", "out of bounds"]),
    "cross_entropy_spatial_target_out_of_range": (lambda: F.cross_entropy(r(2, 3, 2), idx([[0, 1], [3, 2]])), IndexError,
                                                  ["cross_entropy", "3", "out of bounds"]),
    "nll_loss_target_out_of_range": (lambda: F.nll_loss(r(3, 4), idx([0, 7, 1])), IndexError, ["nll_loss", "7", "out of bounds"]),
    "nll_loss_target_not_ignored_out_of_range": (lambda: F.nll_loss(r(3, 4), idx([0, -100, 1]), ignore_index=-1), IndexError,
                                                 ["nll_loss", "-100"]),
    "cross_entropy_bool_target": (lambda: F.cross_entropy(r(3, 4), rt.tensor(np.array([True, False, True]))), TypeError,
                                  ["cross_entropy", "int64", "bool"]),
    "nll_loss_float_target": (lambda: F.nll_loss(r(3, 4), r(3)), TypeError, ["nll_loss", "int64", "float32"]),
    "cross_entropy_target_shape_mismatch": (lambda: F.cross_entropy(r(3, 4), idx([0, 1])), ValueError,
                                            ["cross_entropy", "[3]", "[3, 4]", "[2]"]),
    "cross_entropy_target_extra_dim": (lambda: F.cross_entropy(r(3, 4), idx([[0, 1, 2]])), ValueError, ["cross_entropy", "[1, 3]"]),
    "cross_entropy_spatial_target_shape": (lambda: F.cross_entropy(r(2, 3, 4), idx(np.zeros((2, 3)))), ValueError,
                                           ["cross_entropy", "[2, 4]", "[2, 3]"]),
    "nll_loss_target_shape_mismatch": (lambda: F.nll_loss(r(3, 4), idx([0, 1, 2, 3])), ValueError, ["nll_loss", "[3]", "[4]"]),
    "cross_entropy_bad_reduction": (lambda: F.cross_entropy(r(3, 4), idx([0, 1, 2]), reduction="avg"), ValueError,
                                    ["cross_entropy", "reduction", "'avg'"]),
    "nll_loss_bad_reduction": (lambda: F.nll_loss(r(3, 4), idx([0, 1, 2]), reduction="elementwise_mean"), ValueError,
                               ["nll_loss", "reduction", "elementwise_mean"]),
    "cross_entropy_weight_shape": (lambda: F.cross_entropy(r(3, 4), idx([0, 1, 2]), weight=r(3)), ValueError,
                                   ["cross_entropy", "weight", "[4]", "[3]"]),
    "cross_entropy_label_smoothing_range": (lambda: F.cross_entropy(r(3, 4), idx([0, 1, 2]), label_smoothing=1.5), ValueError,
                                            ["cross_entropy", "label_smoothing", "1.5"]),
    "cross_entropy_0d_input": (lambda: F.cross_entropy(rt.tensor(np.float32(1.0)).reshape(()), idx(0)), ValueError, ["cross_entropy", "0-d"]),
    # ---- elementwise losses
    "cross_entropy_prob_target_ignore_index": (lambda: F.cross_entropy(r(3, 4), u(3, 4), ignore_index=1), RuntimeError,
                                               ["cross_entropy", "ignore_index 1", "probability", "[3, 4]"]),
    # binary_cross_entropy checks every element of input and target, as PyTorch (RuntimeError there too)
    "bce_input_above_1": (lambda: F.binary_cross_entropy(rt.tensor([0.5, 1.5]), rt.tensor([0.0, 1.0])), RuntimeError,
                          ["binary_cross_entropy", "input", "between 0 and 1", "1.5"]),
    "bce_input_negative": (lambda: F.binary_cross_entropy(rt.tensor([-0.5, 0.5]), rt.tensor([0.0, 1.0])), RuntimeError,
                           ["binary_cross_entropy", "input", "between 0 and 1", "-0.5"]),
    "bce_input_nan": (lambda: F.binary_cross_entropy(rt.tensor([0.5, float("nan")]), rt.tensor([0.0, 1.0]), reduction="none"),
                      RuntimeError, ["binary_cross_entropy", "input", "between 0 and 1", "NaN"]),
    "bce_target_above_1": (lambda: F.binary_cross_entropy(rt.tensor([0.5, 0.5]), rt.tensor([0.0, 1.5])), RuntimeError,
                           ["binary_cross_entropy", "target", "between 0 and 1", "1.5"]),
    "bce_target_negative": (lambda: F.binary_cross_entropy(rt.tensor([0.5, 0.5]), rt.tensor([-2.0, 1.0])), RuntimeError,
                            ["binary_cross_entropy", "target", "between 0 and 1", "-2"]),
    "bce_target_nan": (lambda: F.binary_cross_entropy(rt.tensor([0.5, 0.5]), rt.tensor([float("nan"), 1.0])), RuntimeError,
                       ["binary_cross_entropy", "target", "between 0 and 1", "NaN"]),
    "bce_shape_mismatch": (lambda: F.binary_cross_entropy(u(2), u(3)), ValueError, ["binary_cross_entropy", "(2,)", "(3,)"]),
    "bce_bad_reduction": (lambda: F.binary_cross_entropy(u(2), u(2), reduction="x"), ValueError, ["binary_cross_entropy", "reduction"]),
    "bce_logits_shape_mismatch": (lambda: F.binary_cross_entropy_with_logits(r(2, 3), r(3, 2)), ValueError,
                                  ["binary_cross_entropy_with_logits", "(2, 3)", "(3, 2)"]),
    "bce_logits_bad_reduction": (lambda: F.binary_cross_entropy_with_logits(r(2), r(2), reduction="avg"), ValueError,
                                 ["binary_cross_entropy_with_logits", "reduction"]),
    "mse_shape_mismatch": (lambda: F.mse_loss(r(2, 3), r(3, 2)), ValueError, ["mse_loss", "(2, 3)", "(3, 2)"]),
    "mse_broadcastable_shape_mismatch": (lambda: F.mse_loss(r(2, 3), r(3)), ValueError, ["mse_loss", "(2, 3)", "(3,)"]),
    "mse_bad_reduction": (lambda: F.mse_loss(r(2, 3), r(2, 3), reduction="mea"), ValueError, ["mse_loss", "reduction", "'mea'"]),
    "mse_target_not_tensor": (lambda: F.mse_loss(r(2), [1.0, 2.0]), TypeError, ["mse_loss", "Tensor", "list"]),
    "l1_shape_mismatch": (lambda: F.l1_loss(r(2, 3), r(2, 4)), ValueError, ["l1_loss", "(2, 3)", "(2, 4)"]),
    "l1_bad_reduction": (lambda: F.l1_loss(r(2, 3), r(2, 3), reduction="batchmean"), ValueError, ["l1_loss", "reduction"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_error(name):
    call, exc, parts = CASES[name]
    with pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc or issubclass(type(info.value), exc)
    msg = str(info.value)
    missing = [p for p in parts if p not in msg]
    assert not missing, f"message {msg!r} lacks {missing}"


def test_failed_calls_leave_running_stats_untouched():
    rm, rv = rt.tensor(np.array([0.5, -0.5, 1.0], np.float32)), rt.tensor(np.array([1.0, 2.0, 3.0], np.float32))
    with pytest.raises(ValueError):
        F.batch_norm(r(4, 3), rm, rv, r(2), training=True)  # weight shape is wrong
    np.testing.assert_array_equal(rm.numpy(), [0.5, -0.5, 1.0])
    np.testing.assert_array_equal(rv.numpy(), [1.0, 2.0, 3.0])


def test_ignore_index_target_is_not_out_of_range():
    """A target equal to ignore_index is skipped even though it is not a valid class."""
    x = r(3, 4)
    out = F.cross_entropy(x, idx([0, -100, 3]), reduction="none")
    assert out.numpy()[1] == 0.0
    out = F.nll_loss(x, idx([0, 9, 3]), ignore_index=9, reduction="sum")
    assert np.isfinite(out.item())
