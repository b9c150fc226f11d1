// Library-wide entries of the vision_sparse extension.
#include <Python.h>
#include "vs_common.h"

namespace vision_sparse {

bool with_cuda() {
#ifdef WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace vision_sparse

TORCH_LIBRARY_FRAGMENT(vision_sparse, m) {
  m.def("with_cuda() -> bool", &vision_sparse::with_cuda);
}

// A minimal Python module init so that `import vision_sparse._C` also works;
// the ops are reached through torch.ops.vision_sparse after torch.ops.load_library.
static struct PyModuleDef vs_module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
PyMODINIT_FUNC PyInit__C(void) { return PyModule_Create(&vs_module); }
