# Smart Grid Lab. `make up` runs the demo in containers, `make test` tests it all.
# Everything these targets need is built here from nothing; `make help` lists them.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# --- Settings (override on the command line: `make up LAB_RT_FACTOR=0.002`) ---
# Base for the images: without a registry, a Debian trixie rootfs we build;
# with one, `make up PYTHON_IMAGE=python:3.13-slim`.
PYTHON_IMAGE ?= smartgrid-lab/python:trixie
DEBIAN_SUITE ?= trixie
IMAGE_PYTHON_VERSION ?= 3.13
LAB_RT_FACTOR ?= 0
LAB_WEB_BIND ?= 127.0.0.1
LAB_WEB_PORT ?=# empty: the first free port from 8000 (`make up` says which)
# The exercise to run (`make exercises` lists them): its scenario and services.
EX ?= demo
EX_FILE = exercises/$(EX)/exercise.toml
EX_SCENARIO = $(shell sed -n 's/^scenario = "\([a-z0-9_-]*\)".*/\1/p' $(EX_FILE) 2>/dev/null)
EX_SERVICES = $(shell $(PY) -m smartgrid_lab.exercises services $(EX))
RUN_ID := $(or $(RUN_ID),$(shell date -u +%Y%m%d-%H%M%S)-$(EX))
# The grid the demo simulates (README, "Grids"): empty = the lab's data/grid.json,
# a mosaik-pypower grid file, or simbench:<code>. `make up` copies a file into the
# run's folder, where the master container reads it.
GRID ?=
GRID_FILE = $(filter-out simbench:%,$(GRID))
LAB_GRID = $(if $(GRID_FILE),results/$(RUN_ID)/input/$(notdir $(GRID_FILE)),$(GRID))
SERVICE ?= master

# Containers run as the invoking user, so results/ stays theirs; as root, they
# run as the unprivileged `lab` user (10001) and results are handed back to root.
HOST_UID := $(shell id -u)
HOST_GID := $(shell id -g)
LAB_UID := $(if $(filter 0,$(HOST_UID)),10001,$(HOST_UID))
LAB_GID := $(if $(filter 0,$(HOST_UID)),10001,$(HOST_GID))
SUDO := $(if $(filter 0,$(HOST_UID)),,sudo)

# Docker Compose v2 plugin if present, else the v1 standalone tool.
COMPOSE_TOOL := $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
# Each checkout of each user is its own lab (Compose project), so labs side by
# side on one server never touch each other's containers and networks.
LAB_OWNER := $(shell id -un | tr -cd 'a-z0-9_-')
LAB_CHECKOUT := $(CURDIR)
COMPOSE_PROJECT ?= sgl-$(LAB_OWNER)-$(shell printf '%s' "$(CURDIR)" | sha1sum | cut -c1-8)
COMPOSE = $(COMPOSE_TOOL) -p $(COMPOSE_PROJECT) -f compose.yaml$(if $(GRID), -f compose.grid.yaml)
# ENGINE=swarm: the simulators run as services of the swarm this engine manages
# (stack $(COMPOSE_PROJECT), derived from compose.yaml by smartgrid_lab.swarm),
# the master and the page here; PLACE_GRID=<label> pins grid to nodes labelled so.
ENGINE ?= compose
SWARM_DIR = build/swarm/$(COMPOSE_PROJECT)
SWARM_LOCAL = $(COMPOSE_TOOL) -p $(COMPOSE_PROJECT) -f $(SWARM_DIR)/local.yaml
swarm-files = $(COMPOSE) config | $(PY) -m smartgrid_lab.swarm files $(COMPOSE_PROJECT) $(SWARM_DIR)
SIMULATORS := grid households pv inverters controller price evs ems battery storage-controller recorder web
# SWAP="pv=mypv grid=grid-pandapower": those services run services/mypv/ etc.
SWAP ?=
upper = $(shell echo $(1) | tr a-z- A-Z_)
swap-of = $(or $(lastword $(subst =, ,$(filter $(1)=%,$(SWAP)))),$(1))
$(foreach s,$(SIMULATORS),$(eval export LAB_SERVICE_$(call upper,$(s)) := $(call swap-of,$(s))))
SERVICE_FOLDERS := $(foreach s,$(SIMULATORS),$(call swap-of,$(s))) master
export LAB_UID LAB_GID LAB_RT_FACTOR LAB_WEB_BIND LAB_WEB_PORT LAB_OWNER LAB_CHECKOUT
# The exercise and scenario the master runs: for `make up` only, not for
# everything make starts (a test or a script would take them for its own).
up: export LAB_EXERCISE := $(EX)
up: export LAB_SCENARIO = $(EX_SCENARIO)

# An unpacked `make bundle` (a BUNDLE file beside this one): everything comes
# from the bundle, nothing from the network (images.tar, build/wheelhouse).
BUNDLE := $(wildcard BUNDLE)
# Host Python for the venv: the first of these that runs and is 3.12+ (mosaik 3.7
# needs it); in a bundle, 3.12 or 3.13 (the Pythons its wheels are for).
PYTHON_CANDIDATES := python3.13 python3.12 python3 $(wildcard /root/.pyenv/versions/3.13*/bin/python3 /root/.pyenv/versions/3.12*/bin/python3)
PYTHON_UNFIT := $(if $(BUNDLE),sys.version_info[:2] not in ((3, 12), (3, 13)),sys.version_info < (3, 12))
HOST_PYTHON ?= $(shell for p in $(PYTHON_CANDIDATES); do \
  $$p -c 'import sys; sys.exit($(PYTHON_UNFIT))' 2>/dev/null && { command -v $$p; break; }; done)
VENV := .venv
PY := PYTHONPATH=src $(VENV)/bin/python
# A bundle on a PC without a fitting Python: host commands run the lab's image's.
ifneq ($(BUNDLE),)
ifeq ($(HOST_PYTHON),)
PY := docker run --rm -i --network host -u $(shell id -u):$(shell id -g) -v "$(CURDIR):$(CURDIR)" \
  -w "$(CURDIR)" -e PYTHONPATH=src smartgrid-lab/base python
endif
endif
ARCH := $(shell uname -m)

.PHONY: help
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# --- Host set-up ---------------------------------------------------------------
# Install the Debian package of each command in $(1) that is missing (same names).
apt-install = missing=""; for command in $(1); do \
	  command -v $$command >/dev/null || missing="$$missing $$command"; done; \
	if [ -n "$$missing" ]; then echo "Installing$$missing ..."; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; fi

.PHONY: host-deps
host-deps:  ## install Debian packages the tests need (mmdebstrap, chromium)
	@$(call apt-install,mmdebstrap chromium)

# From PyPI: the lab's packages and the test tools; in a bundle: the lab's
# packages from its wheelhouse.
VENV_PACKAGES := $(if $(BUNDLE),--no-index --find-links build/wheelhouse -r requirements.lock,-r requirements-host.lock)
$(VENV)/.installed: requirements.lock requirements-host.lock
	@test -n "$(HOST_PYTHON)" || { echo "error: no Python 3.12+ found; install python3.13 or set HOST_PYTHON=/path/to/python3.13" >&2; exit 1; }
	$(HOST_PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q $(VENV_PACKAGES)
	touch $@

.PHONY: venv
venv: $(if $(BUNDLE),$(if $(HOST_PYTHON),$(VENV)/.installed),$(VENV)/.installed)  ## host venv with the locked packages and test tools

# --- Images -----------------------------------------------------------------
build/wheelhouse/.complete: requirements.lock $(VENV)/.installed
	@echo "Filling the wheelhouse for Python $(IMAGE_PYTHON_VERSION) ($(ARCH)) ..."
	rm -rf build/wheelhouse
	$(VENV)/bin/pip download -q --only-binary=:all: --dest build/wheelhouse \
	  --python-version $(IMAGE_PYTHON_VERSION) --implementation cp \
	  --abi cp$(subst .,,$(IMAGE_PYTHON_VERSION)) $(MANYLINUX_PLATFORMS) \
	  -r requirements.lock
	touch $@

# Wheels the images' glibc (Debian trixie: 2.41) can load; pip does not widen
# an explicit --platform by itself.
MANYLINUX_PLATFORMS := $(foreach v,1 2010 2014 _2_5 _2_12 _2_17 _2_24 _2_27 _2_28 _2_31 _2_34 _2_35 _2_36 _2_39,--platform manylinux$(v)_$(ARCH))

.PHONY: wheelhouse
wheelhouse: build/wheelhouse/.complete  ## download the locked wheels the images install

.PHONY: python-image
python-image:  ## the Debian rootfs image the base image builds on (no registry needed)
	@if [ "$(PYTHON_IMAGE)" != smartgrid-lab/python:$(DEBIAN_SUITE) ]; then exit 0; fi; \
	if docker image inspect $(PYTHON_IMAGE) >/dev/null 2>&1; then exit 0; fi; \
	$(call apt-install,mmdebstrap); \
	echo "Building a minimal Debian $(DEBIAN_SUITE) with Python (mmdebstrap, about a minute) ..."; \
	mkdir -p build && mmdebstrap --quiet --variant=minbase \
	  --include=python3,python3-venv,ca-certificates $(DEBIAN_SUITE) build/rootfs.tar && \
	docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	  --change 'ENV LANG=C.UTF-8' build/rootfs.tar $(PYTHON_IMAGE) && rm -f build/rootfs.tar

.PHONY: check-exercise
check-exercise:
	@test -f $(EX_FILE) || { echo "error: EX=$(EX): there is no exercise '$(EX)' ($(EX_FILE) is missing); 'make exercises' lists them." >&2; exit 2; }

.PHONY: check-engine
check-engine:
	@case "$(ENGINE)" in compose|swarm) ;; *) \
	  echo "error: ENGINE=$(ENGINE): the lab runs on 'compose' (this machine, the default) or 'swarm' (a Docker Swarm this engine manages)." >&2; exit 2;; esac

.PHONY: check-swap
check-swap: check-exercise check-engine
	@for swap in $(SWAP); do service=$${swap%%=*}; folder=$${swap#*=}; \
	  case " $(SIMULATORS) " in *" $$service "*) ;; *) \
	    echo "error: SWAP=$$swap: '$$service' is not a simulator service; swappable are: $(SIMULATORS)." >&2; \
	    exit 2;; esac; \
	  [ -f services/$$folder/Dockerfile ] || { \
	    echo "error: SWAP=$$swap: there is no services/$$folder/Dockerfile (make new-sim NAME=$$folder creates one)." >&2; \
	    exit 2; }; done

.PHONY: images
ifeq ($(BUNDLE),)
images: check-swap python-image wheelhouse  ## build the base image and every service image
	@echo "Building smartgrid-lab/base from $(PYTHON_IMAGE) ..."
	docker build -q -t smartgrid-lab/base --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) \
	  -f services/base/Dockerfile .
	$(COMPOSE) build -q
else
# In a bundle the lab's images come loaded (make load); only folders the
# bundle has no image of (a student's simulator) are built, on its base.
images: check-swap
	@docker image inspect smartgrid-lab/base >/dev/null 2>&1 || { \
	  echo "error: the lab's images are not loaded: run 'make load' first (or: docker load -i images.tar)." >&2; exit 2; }
	@for folder in $(SERVICE_FOLDERS); do grep -q "\"smartgrid-lab/$$folder:" BUNDLE || \
	  docker build -q -t smartgrid-lab/$$folder services/$$folder >/dev/null || exit 1; done
endif

.PHONY: load
load:  ## in an unpacked bundle: load the lab's images (no network needed)
	@test -n "$(BUNDLE)" || { echo "error: make load loads an unpacked bundle's images.tar; this folder is not one (make bundle makes one)." >&2; exit 2; }
	docker load -i images.tar

# Every service folder's image, not only those compose.yaml runs by default.
ALL_FOLDERS = $(filter-out base,$(patsubst services/%/Dockerfile,%,$(wildcard services/*/Dockerfile)))

# Wheels for a host venv on Python 3.12 in a lab room (3.13's are the images').
build/wheelhouse-py312/.complete: requirements.lock $(VENV)/.installed
	rm -rf $(@D)
	$(VENV)/bin/pip download -q --only-binary=:all: --dest $(@D) --python-version 3.12 \
	  --implementation cp --abi cp312 $(MANYLINUX_PLATFORMS) -r requirements.lock
	touch $@

.PHONY: bundle
bundle: images build/wheelhouse-py312/.complete  ## one file for an offline lab room: build/smartgrid-lab-<version>.tar.gz [STUDENT=1: no solutions]
	@for folder in $(ALL_FOLDERS); do docker build -q -t smartgrid-lab/$$folder services/$$folder >/dev/null || exit 1; done
	$(PY) -m smartgrid_lab.bundle build $(if $(STUDENT),--student)

# --- Running ----------------------------------------------------------------
# For the manifest: which image, by name and id, each simulator service ran.
image-ids = LAB_IMAGES="$(foreach s,$(EX_SERVICES),$(s)=smartgrid-lab/$(call swap-of,$(s))@$$(docker image inspect -f '{{.Id}}' smartgrid-lab/$(call swap-of,$(s))))"
TTY_FLAG = $(shell test -t 0 && test -t 1 || echo -T)

# How `make up` starts the simulators and the page (the port lock is held, fd 9)
# and which Compose project then runs the master, on each engine. On a swarm,
# `nodes` says where each simulator runs, for the manifest.
define start-compose
$(COMPOSE) up -d --no-build $(EX_SERVICES) 2>&1 | grep -v "^Creating\|^Starting" >&2; \
	flock -u 9;
endef
define start-swarm
{ $(image-ids) LAB_RUN_ID=$(RUN_ID) $(swarm-files) $(EX_SERVICES) && \
	  docker stack deploy --detach=true --resolve-image never -c $(SWARM_DIR)/stack.yaml $(COMPOSE_PROJECT) >/dev/null; } || exit 2; \
	$(if $(filter web,$(EX_SERVICES)),$(SWARM_LOCAL) up -d --no-build web 2>&1 | grep -v "^Creating\|^Starting\|$(SWARM_MODE_WARNING)" >&2;) \
	flock -u 9; \
	nodes=$$($(PY) -m smartgrid_lab.swarm wait $(COMPOSE_PROJECT) $(EX_SERVICES)) || { \
	  $(MAKE) --no-print-directory down >/dev/null 2>&1; rmdir results/$(RUN_ID); \
	  echo "Nothing of the lab is left running." >&2; exit 2; }; \
	echo "Simulators on the swarm: $$nodes";
endef
# What Compose says on an engine in a swarm, though here it runs only the page and the master.
SWARM_MODE_WARNING = running in swarm mode\|^Compose does not use swarm\|^To deploy your application across\|^$$
RUN_COMPOSE = $(if $(filter swarm,$(ENGINE)),$(SWARM_LOCAL),$(COMPOSE))
ENGINE_FLAG = $(if $(filter swarm,$(ENGINE)), ENGINE=swarm)

# Labs side by side choose their page port one at a time: from choosing a free
# port until the web container holds it, no other lab on this host may choose.
PORT_LOCK := /tmp/smartgrid-lab-ports.lock

# BUILD=0: run the images as they are (built by `make images` or copied by
# `make swarm-images`) instead of rebuilding them from this checkout first.
BUILD ?= 1

.PHONY: check-images
check-images: check-swap
	@for image in $(foreach s,$(EX_SERVICES),smartgrid-lab/$(call swap-of,$(s))) smartgrid-lab/master; do \
	  docker image inspect $$image >/dev/null 2>&1 || { \
	    echo "error: BUILD=0 but the image $$image is missing: 'make images' builds it." >&2; exit 2; }; done

.PHONY: up
up: venv $(if $(filter 0,$(BUILD)),check-images,images)  ## run an exercise in containers (EX=voltage; SWAP=pv=mypv swaps a simulator; GRID=); page at :8000
	@for swap in $(SWAP); do case " $(EX_SERVICES) " in *" $${swap%%=*} "*) ;; *) \
	  echo "error: SWAP=$$swap: exercise '$(EX)' runs no '$${swap%%=*}' service; it runs: $(EX_SERVICES)." >&2; exit 2;; esac; done
	@if [ -n "$(GRID)" ] && [ "$(ENGINE)" = swarm ]; then \
	  echo "error: GRID=$(GRID) runs on the Compose engine only: on a swarm the simulators could not read the grid's files (they are in results/ on this machine)." >&2; exit 2; fi
	@$(if $(filter swarm,$(ENGINE)),$(PY) -m smartgrid_lab.swarm check && { $(MAKE) --no-print-directory down >/dev/null 2>&1 || true; },$(COMPOSE) down --remove-orphans >/dev/null 2>&1 || true)
	@test -z "$$(ls -A results/$(RUN_ID) 2>/dev/null)" || { \
	  echo "error: run '$(RUN_ID)' already exists in results/$(RUN_ID): choose another RUN_ID." >&2; exit 2; }
	@touch $(PORT_LOCK) 2>/dev/null; chmod a+rw $(PORT_LOCK) 2>/dev/null; exec 9<$(PORT_LOCK); flock 9; \
	port="$(LAB_WEB_PORT)"; \
	if [ -z "$$port" ]; then port=$$($(PY) -m smartgrid_lab.listening --free-from 8000 $(LAB_WEB_BIND)) || { \
	  echo "error: no free port from 8000 to 8099 on $(LAB_WEB_BIND) for the visualiser: choose one with make up LAB_WEB_PORT=<port>." >&2; exit 2; }; \
	else $(VENV)/bin/python -c 'import socket; socket.create_server(("$(LAB_WEB_BIND)", '"$$port"'))' 2>/dev/null || { \
	  echo "error: port $$port on $(LAB_WEB_BIND) is already in use, so the visualiser cannot be published there. Stop whatever uses it (another lab? 'make down' in its folder) or leave LAB_WEB_PORT out to take the first free port." >&2; exit 2; }; fi; \
	export LAB_WEB_PORT=$$port; \
	mkdir -p results/$(RUN_ID); \
	if [ -n "$(GRID_FILE)" ]; then test -f "$(GRID_FILE)" || { \
	  echo "error: GRID=$(GRID_FILE): there is no such file (a mosaik-pypower grid file: .json or .xlsx; or simbench:<code>)." >&2; exit 2; }; \
	  mkdir -p results/$(RUN_ID)/input && cp "$(GRID_FILE)" results/$(RUN_ID)/input/; fi; \
	$(if $(filter 0,$(HOST_UID)),chown $(LAB_UID):$(LAB_GID) results/$(RUN_ID);) \
	echo "Lab $(COMPOSE_PROJECT): exercise $(EX); the visualiser is at http://$(LAB_WEB_BIND):$$port"; \
	$(start-$(ENGINE)) \
	$(image-ids) LAB_RUN_ID=$(RUN_ID) LAB_GRID="$(LAB_GRID)" $(RUN_COMPOSE) run --rm $(TTY_FLAG) master; status=$$?; \
	$(PY) -m smartgrid_lab.swarm record results/$(RUN_ID) $(ENGINE) $$nodes; \
	$(if $(filter 0,$(HOST_UID)),chown -R 0:0 results/$(RUN_ID);) \
	if [ $$status -eq 0 ]; then \
	  echo "Results: results/$(RUN_ID)/ ($(EX_SCENARIO).hdf5, manifest.json)"; \
	  echo "The visualiser replays the run at http://$(LAB_WEB_BIND):$$port until 'make down$(ENGINE_FLAG)'."; \
	else $(RUN_COMPOSE) stop >/dev/null 2>&1; \
	  echo "The run failed (exit $$status): see the error above; all lab containers are stopped," >&2; \
	  echo "their logs stay available with 'make logs$(ENGINE_FLAG) SERVICE=<name>' until 'make down$(ENGINE_FLAG)'." >&2; fi; \
	exit $$status

.PHONY: ps
ps:  ## the labs running on this host: project, owner, folder, run, page
	@docker ps --filter label=smartgrid-lab.checkout --format \
	  '{{or (.Label "com.docker.compose.project") (.Label "com.docker.stack.namespace")}}\t{{.Label "smartgrid-lab.owner"}}\t{{.Label "smartgrid-lab.checkout"}}\t{{or (.Label "com.docker.compose.service") (.Label "com.docker.swarm.service.name")}}\t{{.Status}}\t{{.Ports}}' \
	  | sort | awk -F'\t' 'BEGIN { print "project\towner\tfolder\tservices\tpage" } \
	    { sub("^" $$1 "_", "", $$4); key = $$1 "\t" $$2 "\t" $$3; services[key] = services[key] (services[key] ? "," : "") $$4; \
	      if ($$6 ~ /->8000/) { split($$6, p, "->"); page[key] = "http://" p[1] } } \
	    END { for (k in services) print k "\t" services[k] "\t" page[k] }' | column -t -s "$$(printf '\t')"

.PHONY: watch
watch:  ## like `make up`, slowed down so a day takes about 3 minutes
	$(MAKE) up LAB_RT_FACTOR=0.002

.PHONY: down
down: check-engine  ## stop and remove the lab's containers and networks (ENGINE=swarm: its stack too)
ifeq ($(ENGINE),swarm)
	@$(swarm-files)
	$(SWARM_LOCAL) down --remove-orphans --volumes
	$(PY) -m smartgrid_lab.swarm remove $(COMPOSE_PROJECT)
	@rm -rf $(SWARM_DIR)
else
	@# During a run the master's container removes itself (run --rm) as it stops,
	@# and Compose v1 fails on a container that vanished meanwhile: a second pass finds it gone.
	$(COMPOSE) down --remove-orphans --volumes || $(COMPOSE) down --remove-orphans --volumes
endif

.PHONY: logs
logs:  ## show a service's log: make logs SERVICE=grid (ENGINE=swarm too)
	$(if $(filter swarm,$(ENGINE)),$(if $(filter web master,$(SERVICE)),$(SWARM_LOCAL) logs $(SERVICE),docker service logs $(COMPOSE_PROJECT)_$(SERVICE)),$(COMPOSE) logs $(SERVICE))

# Only the simulators that may run elsewhere: the page and the recorder run here.
.PHONY: swarm-images
swarm-images: $(if $(filter 0,$(BUILD)),check-images,images)  ## copy the exercise's images to other swarm nodes over ssh: make swarm-images NODES="host1 host2" [EX=...]
	@test -n "$(NODES)" || { echo "usage: make swarm-images NODES=\"host1 host2\" (ssh hosts running Docker; EX= and SWAP= choose the images)" >&2; exit 2; }
	@for node in $(NODES); do echo "Copying the images of exercise $(EX) to $$node ..."; \
	  docker save $(foreach s,$(filter-out web recorder,$(EX_SERVICES)),smartgrid-lab/$(call swap-of,$(s))) \
	    | ssh $$node docker load || { echo "error: copying the images to $$node failed (see above): can 'ssh $$node docker info' run?" >&2; exit 1; }; done

# The page of an in-process run: LAB_WEB_PORT, or the first free port from 8000.
LOCAL_PAGE = $(LAB_WEB_BIND):$(or $(LAB_WEB_PORT),$$($(PY) -m smartgrid_lab.listening --free-from 8000 $(LAB_WEB_BIND)))

.PHONY: run-local
run-local: venv check-exercise  ## run an exercise with every simulator in this process (no Docker; EX=, SWAP=, GRID=)
	$(PY) scenarios/$(EX_SCENARIO).py --exercise $(EX) --run-id $(RUN_ID)-local $(if $(GRID),--grid "$(GRID)") \
	  --rt-factor $(LAB_RT_FACTOR) --serve $(LOCAL_PAGE) \
	  $(foreach swap,$(SWAP),--swap $(firstword $(subst =, ,$(swap)))=services/$(lastword $(subst =, ,$(swap)))/simulator.py:Simulator)

# --- Data -------------------------------------------------------------------
.PHONY: data
data: venv  ## regenerate data/ (bit-identical to what is committed)
	$(PY) -m smartgrid_lab.datagen

.PHONY: check-data
check-data: venv  ## check that data/ is exactly what the generator makes
	$(PY) -m smartgrid_lab.datagen --check

# --- Your own simulator (for students) --------------------------------------
# Without EX (the demo has no student role), new-sim and check-sim use the
# exercise whose role is the demo's PV simulator: `model`.
SIM_EX = $(if $(filter demo,$(EX)),model,$(EX))
SIM_SERVICE = $(shell $(PY) -m smartgrid_lab.exercises show $(SIM_EX) role.service)

.PHONY: exercises
exercises: venv  ## list the exercises: id, TP, the role a student fills, objectives
	@$(PY) -m smartgrid_lab.exercises

.PHONY: new-sim
new-sim: venv  ## start your own simulator from an exercise's starter: make new-sim NAME=mine EX=voltage
	@[[ "$$NAME" =~ ^[a-z][a-z0-9-]{0,29}$$ ]] || { echo "error: NAME='$$NAME': use 1-30 lower-case letters, digits and '-', starting with a letter (make new-sim NAME=mypv)." >&2; exit 2; }
	@[ ! -e "services/$$NAME" ] || { echo "error: services/$$NAME already exists; choose another NAME (or remove that folder yourself)." >&2; exit 2; }
	@test -f exercises/$(SIM_EX)/starter/simulator.py || { echo "error: EX=$(SIM_EX): exercise '$(SIM_EX)' has no starter simulator; 'make exercises' lists those with a role." >&2; exit 2; }
	@mkdir "services/$$NAME" && for file in templates/simulator/Dockerfile templates/simulator/README.md \
	    exercises/$(SIM_EX)/starter/simulator.py; do \
	  sed "s/{{name}}/$$NAME/g; s/{{exercise}}/$(SIM_EX)/g; s/{{service}}/$(SIM_SERVICE)/g" "$$file" \
	    > "services/$$NAME/$$(basename $$file)" || exit 1; done
	@echo "Created services/$$NAME/ from the starter of exercise $(SIM_EX): edit simulator.py, then"
	@echo "'make check-sim SIM=$$NAME EX=$(SIM_EX)' and 'make up EX=$(SIM_EX) SWAP=$(SIM_SERVICE)=$$NAME'."

.PHONY: check-sim
check-sim:  ## check a simulator against an exercise's contract: make check-sim SIM=mine EX=voltage
	@[ -n "$$SIM" ] && [ -f "services/$$SIM/Dockerfile" ] || { echo "error: SIM='$$SIM': there is no services/$$SIM/Dockerfile (make new-sim NAME=mypv creates one)." >&2; exit 2; }
	@$(MAKE) --no-print-directory venv images
	docker build -q -t smartgrid-lab/$(SIM) services/$(SIM) >/dev/null
	$(PY) -m smartgrid_lab.conformance smartgrid-lab/$(SIM) --exercise $(SIM_EX)

# --- Reproducing and grading runs (for teachers) ----------------------------
# Where the exercises' solutions are: here, or wherever a teacher keeps them
# out of the students' copy (each as <SOLUTIONS>/<id>/solution/simulator.py).
SOLUTIONS ?= exercises

.PHONY: student-copy
student-copy: venv  ## the lab without the exercises' solutions, for students: make student-copy DEST=../lab
	@test -n "$(DEST)" || { echo "usage: make student-copy DEST=<new folder>" >&2; exit 2; }
	@$(PY) -m smartgrid_lab.student_copy $(DEST)

.PHONY: run-solution
run-solution: venv check-exercise  ## run an exercise with its reference solution, in-process: make run-solution EX=voltage [SOLUTIONS=path]
	@test -f $(SOLUTIONS)/$(SIM_EX)/solution/simulator.py || { echo "error: no solution of exercise $(SIM_EX) in $(SOLUTIONS)/$(SIM_EX)/solution/simulator.py (a student copy has none; SOLUTIONS=<path> says where the teacher keeps them)." >&2; exit 2; }
	$(PY) scenarios/$(EX_SCENARIO).py --exercise $(SIM_EX) --run-id $(RUN_ID)-solution \
	  --serve $(LOCAL_PAGE) \
	  --swap $(SIM_SERVICE)=$(abspath $(SOLUTIONS))/$(SIM_EX)/solution/simulator.py:Simulator
.PHONY: rerun
rerun: venv  ## rerun a run from its manifest and say if it is identical: make rerun RUN=<id>
	@test -n "$(RUN)" || { echo "usage: make rerun RUN=<run-id>" >&2; exit 2; }
	$(PY) -m smartgrid_lab.rerun $(RUN)

.PHONY: grade
grade: venv  ## grade a run on its exercise's objectives: make grade RUN=<id> [REF=<id> for replication]
	@test -n "$(RUN)" || { echo "usage: make grade RUN=<id> (objectives of its exercise) or make grade RUN=<id> REF=<id-or-path> [SPEC=file] (replication)" >&2; exit 2; }
	$(PY) -m smartgrid_lab.grading grade $(RUN) $(REF) $(if $(SPEC),--spec $(SPEC))

.PHONY: grade-batch
grade-batch: venv  ## grade every folder in DIR into DIR/grades.csv: make grade-batch DIR=... EX=<id> (or REF=...) [JOBS=2]
	@test -n "$(DIR)" || { echo "usage: make grade-batch DIR=<folder> EX=<exercise> or DIR=<folder> REF=<id-or-path> [SPEC=file]" >&2; exit 2; }
	$(PY) -m smartgrid_lab.grading batch $(DIR) $(if $(REF),--ref $(REF),--exercise $(EX)) $(if $(SPEC),--spec $(SPEC)) --jobs $(or $(JOBS),1)

# --- Tests and benchmarks ---------------------------------------------------
.PHONY: test
test: host-deps venv images  ## run every test: unit, local runs, containers, browser
	$(PY) -m pytest -ra --durations=30

.PHONY: bench
bench: venv  ## print speed and memory figures: in-process, containers, engines, grading, scaling (about 25 min)
	$(PY) bench/lab.py

.PHONY: soak
soak: venv  ## run the stack RUNS times back to back and report hangs and leaks (RUNS=20)
	$(VENV)/bin/python bench/soak.py --runs $(or $(RUNS),20)

.PHONY: clean
clean: down  ## remove build outputs, the venv and the lab's images (keeps results/)
	rm -rf build $(VENV)
	docker image rm -f $(foreach s,$(SERVICE_FOLDERS) base,smartgrid-lab/$(s)) >/dev/null 2>&1 || true
