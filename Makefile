# Two commands do everything on a fresh machine:
#   make demo   set up .venv, compile an example (IR printed after every pass), run it (NumPy,
#               torch, Triton), check it, then train the [2,5,1] example and plot its edge
#               functions, train and evaluate a diabetes regression, train multilevel,
#               train Polar's 5-input model by Newton-Kaczmarz, train a Slim (Tucker) KAN,
#               fine-tune a pretrained KAN with LoTRA, and train a physics-informed KAN on
#               a 2-D Poisson problem from its [pde] spec
#   make test   set up .venv, lint (ruff) and type-check (mypy) the code, run the test suite
#
# torch is pinned to the CPU build this project's machines carry (pip finds torch 2.13.0+cpu
# in its local wheel directory), installed before kancc so that kancc's torch range is
# already satisfied and pip never fetches a CUDA build. On a GPU machine, install the torch
# and triton of your CUDA stack instead and run `pip install -e '.[triton,test,plot]'`.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_PIN := torch==2.13.0
TRITON_PIN := triton==3.8.0
EXAMPLE := examples/cubic_2_5_1.toml

.PHONY: demo test clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH_PIN) $(TRITON_PIN)
	$(BIN)/pip install --quiet -e '.[triton,test,plot]'
	touch $(STAMP)

demo: $(STAMP)
	@echo "== compile $(EXAMPLE): the IR after every pass, then the NumPy module in build/"
	$(BIN)/kancc compile $(EXAMPLE) --print-ir-after-all -o build/cubic_2_5_1.py
	@echo "== run it on examples/points_2d.npy (parameters: init_params(seed=0))"
	$(BIN)/kancc run $(EXAMPLE) --input examples/points_2d.npy
	@echo "== the same in plain torch ops (the torch target: any device, torch autograd)"
	$(BIN)/kancc run $(EXAMPLE) --input examples/points_2d.npy --target torch
	@echo "== the same through the Triton kernels (interpreter when there is no GPU)"
	$(BIN)/kancc run $(EXAMPLE) --input examples/points_2d.npy --target triton
	@echo "== differential check: scipy oracle, pipelines, float32, Triton vs NumPy"
	$(BIN)/kancc check $(EXAMPLE)
	@echo "== train examples/train_2_5_1.toml (L-BFGS, 200 iterations), plot the result"
	$(BIN)/kancc train examples/train_2_5_1.toml -o build/train_2_5_1.ckpt.npz
	$(BIN)/kancc plot build/train_2_5_1.ckpt.npz -o build/plots
	@echo "== data to predictions: diabetes, standardized inside the model (spec chosen by cross-validation); eval on the test split"
	$(BIN)/kancc train examples/diabetes.toml -o build/diabetes.ckpt.npz --quiet
	$(BIN)/kancc eval build/diabetes.ckpt.npz --data examples/diabetes_test.csv
	@echo "== multilevel training (grids 2 -> 16, exact prolongation) and the change-of-basis analysis"
	$(BIN)/kancc train examples/multilevel_2_5_1.toml -o build/multilevel.ckpt.npz --quiet
	$(BIN)/kancc analyze $(EXAMPLE)
	@echo "== Newton-Kaczmarz: Polar's 5-input formula, piecewise linear then cubic"
	$(BIN)/kancc train examples/kaczmarz_polar5.toml -o build/polar5.ckpt.npz --quiet
	@echo "== a Slim KAN (low tensor rank): the hidden layer is a Tucker layer, trained from scratch"
	$(BIN)/kancc train examples/slim_2_32_32_1.toml -o build/slim.ckpt.npz --quiet
	$(BIN)/kancc analyze build/slim.ckpt.npz
	@echo "== LoTRA (low tensor-rank adaptation): pretrain on u, fine-tune to u + bump with frozen W_pt and Tucker adapters"
	$(BIN)/kancc train examples/transfer_pretrain.toml -o build/transfer_pretrained.ckpt.npz --quiet
	$(BIN)/kancc train examples/lotra_transfer.toml -o build/lotra.ckpt.npz --quiet
	$(BIN)/kancc analyze build/lotra.ckpt.npz
	@echo "== physics-informed: 2-D Poisson from its [pde] spec (jets, the residual compiled as IR), L-BFGS"
	$(BIN)/kancc train examples/poisson.toml -o build/poisson.ckpt.npz --quiet

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python scripts/typecheck.py
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
