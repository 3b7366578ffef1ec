# The command index. `make run` and `make test` are the two a newcomer needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAGE ?= dev
export AWS_DEFAULT_REGION ?= us-east-1

API_PORT ?= 8000
AWS_PORT ?= 4566
STRIPE_PORT ?= 8420
LOCAL := $(BIN)/python -m freshcart_local

.PHONY: asl run aws seed events reset fault redrive verify-chain migrate-orders backfill test test-fast lint fmt typecheck bench package deploy infra chalice-deploy mailbox job jobs clean

# The venv is rebuilt whenever a requirements or constraints file changes.
$(BIN)/.installed: requirements.txt requirements-dev.txt constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

venv: $(BIN)/.installed

run: venv  ## the whole system on 127.0.0.1; keeps its data in .freshcart/ (FRESH=1 starts empty, SEED=1 seeds)
	$(LOCAL) run --api-port $(API_PORT) --aws-port $(AWS_PORT) --stripe-port $(STRIPE_PORT) $(if $(FRESH),--fresh) $(if $(SEED),--seed)

aws: venv  ## everything but the API; then: chalice local --stage local
	$(LOCAL) aws --aws-port $(AWS_PORT) --stripe-port $(STRIPE_PORT) $(if $(FRESH),--fresh)

seed: venv  ## demo vendors, dairy products, stock and logins into the running stack (idempotent)
	$(LOCAL) seed

events: venv  ## tail the domain events published and the handlers' outcomes
	$(LOCAL) events

fault: venv  ## local only: F='{"target":"stripe","mode":"timeout","times":2}' injects, CLEAR=1 clears, neither lists
	$(LOCAL) fault $(if $(F),'$(F)') $(if $(CLEAR),--clear)

redrive: venv  ## move a DLQ's messages back to its queue: Q=failed-transactions (default), Q=refunds, ...
	$(LOCAL) ops redrive freshcart-local-$(or $(Q),failed-transactions)-dlq

verify-chain: venv  ## check an order's payment audit chain: ORDER=<orderId>
	$(LOCAL) ops verify-chain $(ORDER)

migrate-orders: venv  ## move refunds out of stored orders' status onto their refund axis (idempotent)
	$(LOCAL) ops migrate-orders

asl: venv  ## regenerate stepfunctions/*.asl.json from stepfunctions/generate.py (a test checks they match)
	$(BIN)/python stepfunctions/generate.py

reset: venv  ## forget the kept data (the stack must be stopped)
	$(LOCAL) reset

test: venv  ## every test: unit, integration (moto), api, e2e (local stack over HTTP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

test-fast: venv  ## the pure rules, the ASL and the services' ports over their fakes: no moto, no network, seconds
	$(BIN)/python -m pytest -q -p no:randomly tests/unit tests/integration/test_payment_ports.py tests/integration/test_memory_dynamo_contract.py tests/fast -m "not adapter"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: venv
	$(BIN)/mypy

bench: venv  ## prints `name: value` lines
	$(BIN)/python -m bench

package: venv  ## CloudFormation (SAM) for $(STAGE) in build/$(STAGE), checked by cfn-lint
	rm -rf build/$(STAGE)
	$(BIN)/python infra/for_stage.py $(STAGE) build/resources-$(STAGE).json
	$(BIN)/chalice package --stage $(STAGE) --merge-template build/resources-$(STAGE).json build/$(STAGE)
	$(BIN)/python infra/precompile_zip.py build/$(STAGE)/deployment.zip
	$(BIN)/cfn-lint build/$(STAGE)/sam.json
	@echo "packaged: build/$(STAGE)/sam.json (cfn-lint clean)"

deploy: package  ## needs AWS credentials and an S3 bucket for artifacts: make deploy STAGE=dev BUCKET=...
	aws cloudformation package --template-file build/$(STAGE)/sam.json --s3-bucket $(BUCKET) --output-template-file build/$(STAGE)/packaged.yaml
	aws cloudformation deploy --template-file build/$(STAGE)/packaged.yaml --stack-name freshcart-$(STAGE) --capabilities CAPABILITY_IAM --parameter-overrides Stage=$(STAGE)

# The `chalice deploy` road: the resources as a stack of their own, then Chalice's own deployer.
infra: venv  ## the resources alone (stack freshcart-$(STAGE)-infra, boto3, honours AWS_ENDPOINT_URL); again after chalice deploy to wire
	rm -rf build/infra-$(STAGE)
	$(BIN)/python infra/infra_template.py $(STAGE) build/infra-$(STAGE)
	$(BIN)/cfn-lint build/infra-$(STAGE)/infra.json build/infra-$(STAGE)/wired.json
	$(BIN)/python infra/deploy_infra.py $(STAGE) build/infra-$(STAGE) $(if $(BUCKET),--bucket $(BUCKET))

chalice-deploy: infra  ## make infra, chalice deploy --stage $(STAGE), make infra again (wires the stream mappings)
	$(BIN)/chalice deploy --stage $(STAGE)
	$(BIN)/python infra/deploy_infra.py $(STAGE) build/infra-$(STAGE) $(if $(BUCKET),--bucket $(BUCKET))

mailbox: venv  ## emails and text messages the running local stack sent (TO=an address or +phone)
	$(LOCAL) mailbox $(if $(TO),--to $(TO)) $(if $(TOKEN),--token)

jobs: venv
	$(LOCAL) jobs

job: venv  ## run a scheduled job now: make job NAME=health_monitor; NAME=daily_report DATE=2030-01-31 reports that day
	@test -n "$(NAME)" || { echo "make job NAME=<job>; make jobs lists them" >&2; exit 2; }
	$(LOCAL) run-job $(NAME) $(if $(DATE),--date $(DATE))

backfill: venv  ## build the daily reports of a range against the running stack: make backfill FROM=2030-01-01 TO=2030-01-31
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD" >&2; exit 2; }
	$(LOCAL) reports backfill --from $(FROM) --to $(TO)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
