# Both targets set everything up on a fresh machine (a virtual environment in .venv and, unless
# COMFYUI_PATH is set or the pack sits in a ComfyUI's custom_nodes/, a pinned ComfyUI in build/).
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo docs test test-slow clean

setup:
	@lab/harness/setup_host.sh >/dev/null
	@lab/harness/setup_browser.sh >/dev/null

demo: setup
	$(PY) -m lab.commands.demo

# make demo, then the demo's sheets copied into docs/ (make demo itself writes only under out/)
docs: setup
	$(PY) -m lab.commands.demo --docs

# the suite on every test host found: the default one (pinned 0.3.75) and, where its tarball is beside the
# checkout (../shared/comfyui/), ComfyUI 0.33 in its own venv. SDE_EDIT_HOSTS=default|newer picks one.
test: setup
	lab/harness/test_hosts.sh $(PYTEST_ARGS)

test-slow: setup
	$(PY) -m pytest tests -m slow $(PYTEST_ARGS)

clean:
	rm -rf out build .pytest_cache
