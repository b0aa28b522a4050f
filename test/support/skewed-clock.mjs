// Preloaded (NODE_OPTIONS=--import) into a service process under test: its machine clock,
// Date.now, reads SKEWED_CLOCK_MS milliseconds off, as a badly set host's clock would. Only tests
// use it; the service itself has no clock override.
const skew = Number(process.env.SKEWED_CLOCK_MS ?? "0");
const machineNow = Date.now;
Date.now = () => machineNow() + skew;
