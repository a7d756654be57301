// The WASM ABI of prunekit: every kernel is re-exported here by name.
// Kernels take pointers into linear memory and element counts; they never allocate.

/** First free byte after static data; the TS arena starts here. */
export const HEAP_BASE: usize = __heap_base;

export {
  ACT_CLIP,
  ACT_HARD_SIGMOID,
  ACT_HARD_SWISH,
  ACT_LEAKY_RELU,
  ACT_NONE,
  ACT_RELU,
  ACT_SIGMOID,
  ACT_TANH,
  act_apply,
  act_backward,
  act_bias_cols,
  act_bias_rows,
} from "./act";
export {
  affinity_exemplars,
  affinity_iterate,
  affinity_iterate_scratch_bytes,
} from "./affinity";
export {
  conv_col2im,
  conv_depthwise,
  conv_depthwise_grad_input,
  conv_depthwise_grad_weight,
  conv_im2col,
  conv_tapsplit,
  conv_tapsplit_scratch_len,
  conv_winograd_input,
  conv_winograd_input_packed,
  conv_winograd_output,
  conv_winograd_output_res,
  conv_winograd4_input_packed,
  conv_winograd4_output,
  conv_winograd4_output_res,
  winograd_packed_pad_len,
  winograd_pad_len,
  winograd4_pad_len,
} from "./conv";
export {
  distance_cosine,
  distance_cosine_cross,
  distance_cosine_cross_unit,
  distance_gram,
  distance_normalize_rows,
  distance_pairwise_sq_euclidean,
  distance_pairwise_sq_euclidean_gram,
  distance_pairwise_sq_euclidean_gram_scratch_bytes,
} from "./distance";
export {
  ELTWISE_ADD,
  ELTWISE_DIV,
  ELTWISE_MUL,
  ELTWISE_SUB,
  eltwise_accumulate,
  eltwise_binary,
} from "./eltwise";
export {
  gemm_nn,
  gemm_nn_prepacked,
  gemm_nn_prepacked_ab,
  gemm_nt,
  gemm_pack_a,
  gemm_pack_b,
  gemm_packed_a_len,
  gemm_packed_b_len,
  gemm_scratch_len,
  gemm_tn,
  gemm_tt,
} from "./gemm";
export { loss_softmax_xent, loss_softmax_xent_correct } from "./loss";
export { MERGE_BN_EXACT, MERGE_BN_REFERENCE, merge_select_bn, merge_select_plain } from "./merge";
export {
  norm_affine_channels,
  norm_bn_train_backward,
  norm_bn_train_forward,
  norm_channel_affine_backward,
  norm_fold_bn_into_conv,
} from "./norm";
export { optim_add_l1_grad, optim_scale, optim_sgd } from "./optim";
export {
  pool_avg_2d,
  pool_avg_2d_backward,
  pool_global_avg,
  pool_global_avg_backward,
  pool_global_max,
  pool_global_max_backward,
  pool_max_2d,
  pool_max_2d_backward,
} from "./pool";
export {
  reduce_channel_sum,
  reduce_col_sum,
  reduce_row_l1,
  reduce_row_l2,
  reduce_row_log_softmax,
  reduce_row_softmax,
  reduce_row_sum,
} from "./reduce";
export {
  select_row_argmax,
  select_row_argmax_masked,
  select_row_argmin,
  select_row_median,
  select_top_k,
  select_top_k_by_score,
} from "./select";
export { STATUS_OK, STATUS_SINGULAR } from "./status";
