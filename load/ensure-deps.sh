# Sourced (from load/) by the benchmark and fault-campaign scripts: installs load/'s own
# dependencies when its lock file changed since the last install, and checks the app's are there.
export ARTILLERY_DISABLE_TELEMETRY=true PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
[[ -d ../node_modules ]] || { echo "run npm ci in $(cd .. && pwd) first (the app's own dependencies)"; exit 1; }
