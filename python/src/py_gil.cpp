// py_gil.cpp - keeps one Python thread state per core thread (see py_gil.hpp).
#include "py_gil.hpp"

#include <Python.h>

namespace py = pybind11;

namespace procslink::python {
namespace {

// Owns one reference to the thread state pybind11 made for this thread; gives it back when the
// thread ends, which lets pybind11 delete the state.
struct KeptThreadState {
  bool kept = false;

  ~KeptThreadState() {
    if (!kept || !Py_IsInitialized() || _Py_IsFinalizing()) return;
    py::gil_scoped_acquire gil;
    gil.dec_ref();  // ours; the guard's own reference is the last, and frees the state
  }
};

thread_local KeptThreadState kept_state;

// Whether this thread had a Python thread state before: one Python made (a Python thread) is
// Python's to free, never ours.
bool has_thread_state() { return PyGILState_GetThisThreadState() != nullptr; }

bool first_time_on_core_thread() { return !kept_state.kept && !has_thread_state(); }

}  // namespace

CoreThreadGil::CoreThreadGil() : adopt_(first_time_on_core_thread()) {
  if (adopt_) {
    gil_.inc_ref();
    kept_state.kept = true;
  }
}

}  // namespace procslink::python
