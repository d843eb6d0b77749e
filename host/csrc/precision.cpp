// What tch 0.26 does not wrap: per-device autocast (its `autocast` switches only the
// deprecated CUDA-only flag) and the channels-last-3d memory format. The functions take
// tch's `C_tensor` pointers, which are `at::Tensor*`, and never let an exception cross into
// Rust: they return false and leave the message in `error` (a static buffer per thread).
#include <ATen/autocast_mode.h>
#include <ATen/core/Tensor.h>

#include <cstring>
#include <exception>

namespace {
thread_local char last_error[512];

at::DeviceType device_type(bool cuda) { return cuda ? at::kCUDA : at::kCPU; }

bool fail(const std::exception& e, const char** error) {
  std::strncpy(last_error, e.what(), sizeof(last_error) - 1);
  last_error[sizeof(last_error) - 1] = '\0';
  *error = last_error;
  return false;
}
}  // namespace

extern "C" {

// Enables autocast on the device type to `dtype` (an at::ScalarType) for this thread and
// returns the state it replaces, for silico_autocast_exit.
bool silico_autocast_enter(bool cuda, int dtype, bool* was_enabled, int* was_dtype,
                           const char** error) {
  try {
    auto type = device_type(cuda);
    *was_enabled = at::autocast::is_autocast_enabled(type);
    *was_dtype = static_cast<int>(at::autocast::get_autocast_dtype(type));
    at::autocast::set_autocast_dtype(type, static_cast<at::ScalarType>(dtype));
    at::autocast::set_autocast_enabled(type, true);
    at::autocast::increment_nesting();
    return true;
  } catch (const std::exception& e) {
    return fail(e, error);
  }
}

// Restores the state silico_autocast_enter returned; the outermost exit drops the cached
// low-precision copies of the weights, as torch.autocast's __exit__ does.
bool silico_autocast_exit(bool cuda, bool enabled, int dtype, const char** error) {
  try {
    auto type = device_type(cuda);
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    at::autocast::set_autocast_enabled(type, enabled);
    at::autocast::set_autocast_dtype(type, static_cast<at::ScalarType>(dtype));
    return true;
  } catch (const std::exception& e) {
    return fail(e, error);
  }
}

// Rewrites a 5-D tensor's storage in channels-last-3d order in place (its values, shape and
// autograd identity stay), as module.to(memory_format=torch.channels_last_3d) does: always a
// copy with channels-last strides. contiguous() would keep a 1x1x1 kernel's contiguous strides
// (both layouts hold it), and a convolution with such a weight and a contiguous input stays
// contiguous, so an R2U-Net, whose blocks open with 1x1x1 convolutions, ran mostly in mixed
// layouts: 4 % slower per training step than PyTorch.
bool silico_to_channels_last_3d(at::Tensor* tensor, const char** error) {
  try {
    if (tensor->dim() == 5) {
      tensor->set_data(
          at::empty_like(*tensor, at::MemoryFormat::ChannelsLast3d).copy_(*tensor));
    }
    return true;
  } catch (const std::exception& e) {
    return fail(e, error);
  }
}

// A channels-last-3d copy of a 5-D tensor (the input of a forward pass).
bool silico_channels_last_3d_copy(at::Tensor* tensor, at::Tensor** out, const char** error) {
  try {
    *out = new at::Tensor(tensor->contiguous(at::MemoryFormat::ChannelsLast3d));
    return true;
  } catch (const std::exception& e) {
    return fail(e, error);
  }
}

bool silico_is_channels_last_3d(at::Tensor* tensor) {
  return tensor->dim() == 5 && tensor->is_contiguous(at::MemoryFormat::ChannelsLast3d);
}
}
