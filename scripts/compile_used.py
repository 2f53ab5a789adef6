"""Write the bytecode of the modules a study imports; scripts/install.sh runs it after `pip install --no-compile`.

pip byte-compiles every file it installs: ~40 s on 2 cores, most of it for modules iclft never imports
(transformers' hundreds of model families, torch's test utilities). Importing what a study uses (every iclft
module, the model, tokenizer and training classes transformers loads lazily, plotting) with bytecode writing on
compiles just those files, so later starts are as fast as after a full compile, whether or not Python may write
bytecode itself (PYTHONDONTWRITEBYTECODE). A module missed here is compiled on first import, as usual.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

LAZY = [  # imported by name at run time: transformers' lazy modules, plotting, the derivatoids algebra
    "transformers.models.llama.modeling_llama",
    "transformers.models.llama.tokenization_llama_fast",
    "transformers.models.gemma3.modeling_gemma3",
    "transformers.integrations.ggml",
    "transformers.trainer",
    "transformers.data.data_collator",
    "transformers.generation.utils",
    "peft",
    "accelerate",
    "matplotlib.pyplot",
    "matplotlib.backends.backend_agg",
    "bm25s",
    "sympy",
]


def main() -> None:
    sys.dont_write_bytecode = False  # this process writes what it imports, whatever the environment says
    import iclft

    names = [m.name for m in pkgutil.walk_packages(iclft.__path__, "iclft.") if not m.name.endswith("__main__")]
    for name in names + LAZY:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional extra that is not installed: nothing to compile
            pass


if __name__ == "__main__":
    main()
