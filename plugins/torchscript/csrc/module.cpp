// The TorchScript calls tch 0.26 does not make: its CModule lists a module's parameters but
// not its buffers (BatchNorm's running statistics), which silico must checkpoint, restore and
// move with the weights, and it keeps its module pointer private, so this file loads and runs
// the module itself. Tensors cross as tch's `C_tensor` pointers, which are `at::Tensor*`.
// No exception crosses into Rust: a failing call returns false or null and leaves the message
// in `error` (a string per thread, valid until that thread's next failing call).
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/serialization/import.h>

#include <exception>
#include <string>

namespace {
thread_local std::string last_error;

void set_error(const std::string& message, const char** error) {
  last_error = message;
  *error = last_error.c_str();
}

// libtorch's message without the C++ backtrace that `what()` appends.
void fail(const std::exception& e, const char** error) {
  auto c10_error = dynamic_cast<const c10::Error*>(&e);
  set_error(c10_error ? c10_error->what_without_backtrace() : e.what(), error);
}
}  // namespace

extern "C" {

// Loads a `torch.jit.save`d module onto the CPU; null on failure.
torch::jit::Module* silico_ts_load(const char* path, const char** error) {
  try {
    return new torch::jit::Module(torch::jit::load(path, at::kCPU));
  } catch (const std::exception& e) {
    fail(e, error);
    return nullptr;
  }
}

void silico_ts_free(torch::jit::Module* module) { delete module; }

// Hands each parameter (or, with `buffers`, each buffer) of the module and its submodules to
// `add` under its dotted name, as a new handle on the module's own tensor: changes to its data
// (an optimizer step, a device move, a restored checkpoint) are the module's.
bool silico_ts_tensors(const torch::jit::Module* module, bool buffers, void* sink,
                       void (*add)(void*, const char*, at::Tensor*), const char** error) {
  try {
    if (buffers) {
      for (const auto& b : module->named_buffers()) {
        add(sink, b.name.c_str(), new at::Tensor(b.value));
      }
    } else {
      for (const auto& p : module->named_parameters()) {
        add(sink, p.name.c_str(), new at::Tensor(p.value));
      }
    }
    return true;
  } catch (const std::exception& e) {
    fail(e, error);
    return false;
  }
}

// `module.train(train)`, then `forward(input)`, which must return one tensor; null on failure.
// The graph executor runs unoptimized: every op as eager PyTorch runs it, so a resumed run
// repeats an uninterrupted one bit for bit (the optimized executor changes the graph after
// its first runs) and autocast applies op by op.
at::Tensor* silico_ts_forward(torch::jit::Module* module, const at::Tensor* input, bool train,
                              const char** error) {
  try {
    torch::jit::GraphOptimizerEnabledGuard unoptimized(false);
    module->train(train);
    auto output = module->forward({*input});
    if (!output.isTensor()) {
      set_error("forward returns " + output.tagKind() + ", not one tensor", error);
      return nullptr;
    }
    return new at::Tensor(output.toTensor());
  } catch (const std::exception& e) {
    fail(e, error);
    return nullptr;
  }
}
}
