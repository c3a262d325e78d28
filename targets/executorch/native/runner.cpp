// A tiny C ABI over ExecuTorch's C++ runtime (the one the Android app links), so that Python
// can run a .pte through ctypes without the pybindings, which link libtorch and take torch
// tensors (importing torch is most of a short command's wall time).
//
// Built by targets/executorch/native.py against the installed executorch wheel's headers and
// libraries. The operators a program uses outside its delegate (aten::full, expand_copy, ...)
// are registered by libexecutorch_kernels_optimized.so's static initializers, the XNNPACK
// delegate by libexecutorch_backend_xnnpack.so's: both are linked --no-as-needed so that they
// load with this library. The quantized kernels are not linked: no MossNet program calls them
// outside the delegate, and executorch.kernels.quantized (export time) registers the same
// operators, which aborts a process holding both.
//
// Every function returns 0 or an executorch::runtime::Error code (-1: a C++ exception); the
// message is mn_last_error() on the calling thread. Nothing here aborts on a bad file: the
// program is loaded with full flatbuffer verification and every Result is checked.

#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <executorch/extension/data_loader/file_data_loader.h>
#include <executorch/extension/memory_allocator/malloc_memory_allocator.h>
#include <executorch/runtime/core/hierarchical_allocator.h>
#include <executorch/runtime/executor/memory_manager.h>
#include <executorch/runtime/executor/method.h>
#include <executorch/runtime/executor/program.h>
#include <executorch/runtime/backend/interface.h>
#include <executorch/runtime/kernel/operator_registry.h>
#include <executorch/runtime/platform/runtime.h>

// libexecutorch_threadpool.so's pool (its header, threadpool.h, is not in the wheel): XNNPACK
// takes its threads from this process-wide pool.
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

using executorch::extension::FileDataLoader;
using executorch::extension::MallocMemoryAllocator;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::HierarchicalAllocator;
using executorch::runtime::MemoryManager;
using executorch::runtime::Method;
using executorch::runtime::MethodMeta;
using executorch::runtime::Program;
using executorch::runtime::Span;
using executorch::runtime::TensorInfo;
using executorch::runtime::etensor::ScalarType;
using executorch::runtime::etensor::TensorImpl;

namespace {

constexpr int kAbiVersion = 1;
constexpr size_t kMaxDims = 16;
thread_local std::string last_error;

int fail(int code, const std::string& what) {
  last_error = what;
  return code == 0 ? -1 : code;
}

int fail(Error error, const std::string& what) {
  return fail(static_cast<int>(error), what + " (" + executorch::runtime::to_string(error) + ")");
}

// Whether a dim order is the plain contiguous one: the caller's buffers are C-ordered.
template <typename Order>
bool contiguous(const Order& order) {
  for (size_t d = 0; d < order.size(); ++d)
    if (order[d] != d) return false;
  return true;
}

void init_once() {
  static bool done = (executorch::runtime::runtime_init(), true);
  (void)done;
}

}  // namespace

struct mn_program {
  std::unique_ptr<FileDataLoader> loader;  // the Program reads through it: it lives as long
  std::unique_ptr<Program> program;
};

struct mn_method {
  MallocMemoryAllocator method_allocator;  // the Method's own structures
  MallocMemoryAllocator temp_allocator;    // scratch a kernel or delegate asks for
  std::vector<std::vector<uint8_t>> planned;  // the memory plan's buffers (inputs, activations, outputs)
  std::vector<Span<uint8_t>> spans;
  std::unique_ptr<HierarchicalAllocator> planned_memory;
  std::unique_ptr<MemoryManager> memory;
  std::unique_ptr<Method> method;
};

#define MN_GUARD_BEGIN try {
#define MN_GUARD_END                                      \
  }                                                       \
  catch (const std::exception& e) {                       \
    return fail(-1, std::string("C++ exception: ") + e.what()); \
  }                                                       \
  catch (...) {                                           \
    return fail(-1, "unknown C++ exception");             \
  }

extern "C" {

int mn_abi_version() { return kAbiVersion; }

const char* mn_last_error() { return last_error.c_str(); }

// Size XNNPACK's process-wide pool. Do it before the first run: resizing a pool that has run
// work crashed executorch 1.5.1 (measured through the pybindings, which call this same method).
int mn_set_threads(uint32_t threads) {
  MN_GUARD_BEGIN
  init_once();
  auto* pool = executorch::extension::threadpool::get_threadpool();
  if (pool == nullptr) return fail(-1, "no thread pool");
  if (!pool->_unsafe_reset_threadpool(threads)) return fail(-1, "could not resize the thread pool");
  return 0;
  MN_GUARD_END
}

int mn_thread_count(size_t* out) {
  MN_GUARD_BEGIN
  init_once();
  auto* pool = executorch::extension::threadpool::get_threadpool();
  *out = pool ? pool->get_thread_count() : 0;
  return 0;
  MN_GUARD_END
}

// 1 if a kernel for the operator (e.g. "aten::expand_copy.out") is registered, else 0.
int mn_has_operator(const char* name) {
  init_once();
  return executorch::runtime::registry_has_op_function(name) ? 1 : 0;
}

// The delegates registered in this process (XnnpackBackend, ...): index 0..n-1, then nullptr.
const char* mn_backend_name(size_t index) {
  init_once();
  return index < executorch::runtime::get_num_registered_backends()
             ? executorch::runtime::get_backend_name(index).get()
             : nullptr;
}

int mn_open(const char* path, mn_program** out) {
  MN_GUARD_BEGIN
  init_once();
  *out = nullptr;
  auto p = std::make_unique<mn_program>();
  auto loader = FileDataLoader::from(path);
  if (!loader.ok()) return fail(loader.error(), std::string("cannot read ") + path);
  p->loader = std::make_unique<FileDataLoader>(std::move(loader.get()));
  auto program = Program::load(p->loader.get(), Program::Verification::InternalConsistency);
  if (!program.ok()) return fail(program.error(), "the C++ loader refused it");
  p->program = std::make_unique<Program>(std::move(program.get()));
  *out = p.release();
  return 0;
  MN_GUARD_END
}

void mn_close(mn_program* p) { delete p; }

int mn_num_methods(mn_program* p, size_t* out) {
  *out = p->program->num_methods();
  return 0;
}

int mn_method_name(mn_program* p, size_t index, const char** out) {
  auto name = p->program->get_method_name(index);
  if (!name.ok()) return fail(name.error(), "no method " + std::to_string(index));
  *out = name.get();
  return 0;
}

// How many inputs and outputs a method declares.
int mn_method_io(mn_program* p, const char* method, size_t* inputs, size_t* outputs) {
  auto meta = p->program->method_meta(method);
  if (!meta.ok()) return fail(meta.error(), std::string("no method ") + method);
  *inputs = meta->num_inputs();
  *outputs = meta->num_outputs();
  return 0;
}

// One input's (output != 0: output's) dtype (c10::ScalarType code), rank and sizes; sizes has
// room for 16. Not a tensor: InvalidType.
int mn_tensor_info(mn_program* p, const char* method, int output, size_t index, int* dtype, size_t* ndim,
                   int64_t* sizes) {
  auto meta = p->program->method_meta(method);
  if (!meta.ok()) return fail(meta.error(), std::string("no method ") + method);
  auto info = output ? meta->output_tensor_meta(index) : meta->input_tensor_meta(index);
  if (!info.ok()) return fail(info.error(), std::string(method) + ": no tensor " + (output ? "output " : "input ") +
                                                std::to_string(index));
  auto s = info->sizes();
  if (s.size() > kMaxDims) return fail(Error::NotSupported, "more than 16 dimensions");
  *dtype = static_cast<int>(info->scalar_type());
  *ndim = s.size();
  for (size_t i = 0; i < s.size(); ++i) sizes[i] = s[i];
  return 0;
}

// Load a method: its memory plan's buffers are allocated here, its delegate blobs (XNNPACK)
// parsed and compiled here. The method keeps a pointer to the program: close it last.
int mn_load(mn_program* p, const char* name, mn_method** out) {
  MN_GUARD_BEGIN
  *out = nullptr;
  auto meta = p->program->method_meta(name);
  if (!meta.ok()) return fail(meta.error(), std::string("no method ") + name);
  auto m = std::make_unique<mn_method>();
  for (size_t i = 0; i < meta->num_memory_planned_buffers(); ++i) {
    auto size = meta->memory_planned_buffer_size(i);
    if (!size.ok()) return fail(size.error(), "bad memory plan");
    m->planned.emplace_back(static_cast<size_t>(size.get()));
  }
  for (auto& buffer : m->planned) m->spans.emplace_back(buffer.data(), buffer.size());
  m->planned_memory = std::make_unique<HierarchicalAllocator>(Span<Span<uint8_t>>(m->spans.data(), m->spans.size()));
  m->memory = std::make_unique<MemoryManager>(&m->method_allocator, m->planned_memory.get(), &m->temp_allocator);
  auto method = p->program->load_method(name, m->memory.get());
  if (!method.ok()) return fail(method.error(), std::string("cannot load method ") + name);
  m->method = std::make_unique<Method>(std::move(method.get()));
  *out = m.release();
  return 0;
  MN_GUARD_END
}

void mn_free(mn_method* m) { delete m; }

// Run a method on contiguous caller buffers of the declared shapes and dtypes: the inputs are
// copied into the memory plan (what set_input does for planned inputs), the outputs copied out
// of it. nbytes give each buffer's size, checked against the declared one.
int mn_run(mn_method* m, const void* const* inputs, const size_t* input_nbytes, size_t n_inputs,
           void* const* outputs, const size_t* output_nbytes, size_t n_outputs) {
  MN_GUARD_BEGIN
  Method& method = *m->method;
  MethodMeta meta = method.method_meta();
  if (n_inputs != meta.num_inputs() || n_outputs != meta.num_outputs())
    return fail(Error::InvalidArgument, "expected " + std::to_string(meta.num_inputs()) + " inputs and " +
                                            std::to_string(meta.num_outputs()) + " outputs");
  for (size_t i = 0; i < n_inputs; ++i) {
    auto info = meta.input_tensor_meta(i);
    if (!info.ok()) return fail(info.error(), "input " + std::to_string(i) + " is not a tensor");
    if (info->nbytes() != input_nbytes[i])
      return fail(Error::InvalidArgument, "input " + std::to_string(i) + ": " + std::to_string(input_nbytes[i]) +
                                              " bytes given, " + std::to_string(info->nbytes()) + " declared");
    auto s = info->sizes();
    if (s.size() > kMaxDims) return fail(Error::NotSupported, "more than 16 dimensions");
    if (!contiguous(info->dim_order())) return fail(Error::NotSupported, "input " + std::to_string(i) + " is not contiguous");
    TensorImpl::SizesType sizes[kMaxDims];
    TensorImpl::DimOrderType dim_order[kMaxDims];
    TensorImpl::StridesType strides[kMaxDims];
    for (size_t d = 0; d < s.size(); ++d) {
      sizes[d] = s[d];
      dim_order[d] = static_cast<TensorImpl::DimOrderType>(d);
    }
    for (size_t d = s.size(); d-- > 0;) strides[d] = d + 1 == s.size() ? 1 : strides[d + 1] * sizes[d + 1];
    TensorImpl impl(info->scalar_type(), static_cast<ssize_t>(s.size()), sizes, const_cast<void*>(inputs[i]),
                    dim_order, strides);
    Error err = method.set_input(EValue(executorch::runtime::etensor::Tensor(&impl)), i);
    if (err != Error::Ok) return fail(err, "cannot set input " + std::to_string(i));
  }
  Error err = method.execute();
  if (err != Error::Ok) return fail(err, "execution failed");
  for (size_t i = 0; i < n_outputs; ++i) {
    const EValue& value = method.get_output(i);
    if (!value.isTensor()) return fail(Error::InvalidType, "output " + std::to_string(i) + " is not a tensor");
    auto tensor = value.toTensor();
    if (!contiguous(tensor.dim_order())) return fail(Error::NotSupported, "output " + std::to_string(i) + " is not contiguous");
    if (tensor.nbytes() != output_nbytes[i])
      return fail(Error::InvalidArgument, "output " + std::to_string(i) + ": " + std::to_string(output_nbytes[i]) +
                                              " bytes given, " + std::to_string(tensor.nbytes()) + " produced");
    std::memcpy(outputs[i], tensor.const_data_ptr(), tensor.nbytes());
  }
  return 0;
  MN_GUARD_END
}

}  // extern "C"
