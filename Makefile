# The two commands of the README: `make run` and `make test`. Both set up what they need.
.PHONY: setup setup-dev run test lint gate bench predict

setup:
	scripts/setup.sh

setup-dev:
	scripts/setup.sh --dev

run: setup
	.venv/bin/ocr serve

test: setup-dev
	scripts/test.sh

lint: setup-dev
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

gate: setup-dev
	.venv/bin/pytest -m gate

bench: setup
	.venv/bin/ocr bench --dataset ../shared/datasets/sroie_train_dev --limit 20

predict: setup
	.venv/bin/ocr predict samples/receipt.png
