# Sourced (from load/) by the scenario, benchmark and fault-campaign scripts: installs load/'s
# own dependencies when what node_modules holds differs from the lock file, by content (a
# checkout or commit that only touches the lock file's time must not reinstall: npm ci empties
# node_modules first, under any other load script running from it; optional packages of other
# platforms are never there), and checks the app's own are there.
export ARTILLERY_DISABLE_TELEMETRY=true PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
installed_as_locked() {
  node -e '
    const locked = require("./package-lock.json").packages;
    const installed = require("./node_modules/.package-lock.json").packages;
    const same = Object.entries(locked).every(([path, entry]) => path === "" ||
      (path in installed ? JSON.stringify(entry) === JSON.stringify(installed[path]) : entry.optional === true));
    process.exit(same && Object.keys(installed).every((path) => path in locked) ? 0 : 1);
  ' 2>/dev/null
}
if ! installed_as_locked; then
  npm ci --no-audit --no-fund --loglevel=error
fi
[[ -d ../node_modules ]] || { echo "run npm ci in $(cd .. && pwd) first (the app's own dependencies)"; exit 1; }
