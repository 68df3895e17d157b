"""Fast paths behind one dispatch (:mod:`lstmkit.kernels.dispatch`); every import is lazy."""
