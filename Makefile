# Parley: `make dev` sets up and runs the api and worker; `make test` sets up and runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# A setting comes from the environment, else from .env (see .env.example), else the default:
# the order the api, the worker and the tools read them in (src/config/dot-env.ts).
dotenv = $(shell [ -f .env ] && node -p 'require("node:util").parseEnv(require("node:fs").readFileSync(".env", "utf8")).$(1) ?? ""')
ifndef DATABASE_URL
DATABASE_URL := $(or $(call dotenv,DATABASE_URL),postgres://postgres@127.0.0.1:5432/parley)
endif
ifndef REDIS_URL
REDIS_URL := $(or $(call dotenv,REDIS_URL),redis://127.0.0.1:6379)
endif
export DATABASE_URL REDIS_URL

.PHONY: cluster try bench bench-compare bench-read bench-write bench-limits chaos widget help install services browser migrate seed dev build test check unit load redis-cli cache-flush dlq

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

# npm ci only when the lock file changed since the last install.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: node_modules/.package-lock.json ## Install npm dependencies from the lock file

services: ## Make sure PostgreSQL (with pgvector) and Redis answer, and the database exists
	@scripts/ensure-services.sh

browser: ## Make sure chromium is at /usr/bin/chromium for the browser tests (apt-get install if not)
	@scripts/ensure-chromium.sh

migrate: install services ## Apply database migrations
	npm run --silent migrate

seed: migrate ## Load the demo owner, bots and sources (idempotent)
	npm run --silent seed

widget: install ## Build the chat widget into dist/widget/ (served as /widget.js)
	npm run --silent build:widget

dev: seed widget ## Set up everything and run api + worker with readable logs
	@echo ""
	@echo "  Parley is starting: the api prints its addresses (GraphQL and playground, widget demo,"
	@echo "  health) once it listens. Demo owner: demo@parley.dev / parley-demo. Ctrl-C stops both."
	@echo ""
	NODE_ENV=development node scripts/dev.mjs

try: install ## The README's example queries and subscription, against a running make dev (PARLEY_URL)
	scripts/try.sh

check: install ## Generated code fresh, types, lint, formatting, the layers (.dependency-cruiser.cjs) and no unused code (knip.json)
	npm run --silent codegen:check
	npm run --silent typecheck
	npm run --silent lint
	npm run --silent lint:layers
	npm run --silent lint:unused

build: install ## Compile src/ and worker/ to dist/ (what start:api, start:worker and the image run)
	npm run --silent build

test: install services cluster browser check build ## Install, ensure services, the local Redis Cluster and chromium, and run every check and test
	npm test
	npm run --silent test:redis
	npm run --silent test:cluster
	SMOKE=1 load/bench.sh chaos
	SMOKE=1 PARLEY_DIST=$(CURDIR)/dist load/bench.sh bench
	BEFORE_DIST=$(CURDIR)/dist AFTER_DIST=$(CURDIR)/dist ROUNDS=1 ROUND_SECONDS=2 BOTS=2 load/bench.sh compare

cluster: ## Start (or reuse) the local Redis Cluster: 3 masters + 3 replicas on 127.0.0.1:7001-7006, AOF on (scripts/redis-cluster.sh)
	scripts/redis-cluster.sh start

chaos: install services ## Fault campaign: 50,000 sends while worker, api, PostgreSQL and Redis are killed in turn; checks nothing acknowledged is lost or doubled; CLUSTER=1 on a Redis Cluster of its own, killing masters and replicas (load/README.md)
	load/bench.sh chaos

unit: install ## Unit tests only (no services needed)
	npx jest --selectProjects unit

# The URL's password and database number, when it has them, win over REDIS_PASSWORD and
# REDIS_DB, as in the api (ioredis). The password goes through the environment, not argv.
redis-cli: ## Open redis-cli on the configured Redis (REDIS_URL, REDIS_PASSWORD, REDIS_DB)
	@command -v redis-cli >/dev/null || { echo "redis-cli not found: apt-get install redis-tools, or: docker compose exec redis redis-cli" >&2; exit 1; }
	@if [ -n "$$REDIS_PASSWORD" ]; then export REDISCLI_AUTH="$$REDIS_PASSWORD"; fi; \
	  exec redis-cli -n "$${REDIS_DB:-0}" -u "$$REDIS_URL"

cache-flush: install ## Delete this deployment's cache keys (REDIS_KEY_PREFIX); sessions and the write buffer stay
	npm run --silent cache:flush

# ARGS is the command: list (the default), show <id>, replay <id>, replay --all, drop <id>, drop --all.
# Exit code 1: unknown id or an unreadable intent (drop it); 2: bad ARGS.
dlq: install ## List, show, replay or drop write-buffer dead letters (REDIS_KEY_PREFIX): make dlq ARGS="replay <id>"
	npm run --silent dlq -- $(or $(ARGS),list)

# QUICK=1: the same phases, smaller (under 2 minutes), reported in load/results/<date>-quick/.
bench: install services cluster ## Benchmark: Parley (1 and 2 apis, and on the local Redis Cluster), rollback mode and the peers side by side; report in load/results/<date>/ (load/README.md)
	load/bench.sh bench

# BEFORE_DIST: another revision's built tree (a worktree with `npm ci && npm run build` run in it).
bench-compare: build services ## Two builds at the same time, same load: BEFORE_DIST=<tree>/dist [AFTER_DIST=dist]; ratio per round (load/README.md)
	AFTER_DIST=$${AFTER_DIST:-$(CURDIR)/dist} load/bench.sh compare

bench-read: ## Read benchmark: Parley with Redis, rollback mode and a response-cache peer, side by side (load/README.md)
	load/bench.sh read

bench-write: ## Write benchmark: sendMessage through the Redis write buffer and in rollback mode, side by side (load/README.md)
	load/bench.sh write

bench-limits: ## Rate-limit benchmark: the limiter's cost per sendMessage (on against off) and 3× the per-user limit (load/README.md)
	load/bench.sh limits

load: ## Artillery scenario against a running api (start it with load/artillery/profile.env): make load SCENARIO=owner-reads|chat-writes|widget-flow|mixed (load/README.md)
	load/artillery/run.sh $(SCENARIO)
