// py_gil.hpp - taking the GIL on the core's own threads (serving threads, callback threads).
//
// pybind11's gil_scoped_acquire makes a Python thread state for a thread Python does not know
// and destroys it again when it lets go, so every handler call on a serving thread would pay
// for a new thread state. CoreThreadGil keeps the one it makes for as long as the thread lives.
#pragma once

#include <pybind11/pybind11.h>

namespace procslink::python {

// Holds the GIL for its lifetime. On a thread Python did not start, the thread state it makes
// is kept for the next time and freed when the thread ends (unless the interpreter is gone).
class CoreThreadGil {
 public:
  CoreThreadGil();
  CoreThreadGil(const CoreThreadGil&) = delete;
  CoreThreadGil& operator=(const CoreThreadGil&) = delete;

 private:
  bool adopt_;  // decided before gil_ exists: whether the state gil_ makes is ours to keep
  pybind11::gil_scoped_acquire gil_;
};

}  // namespace procslink::python
