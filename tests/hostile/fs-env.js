// about: inspect process.env for the host's secret variable, NODE_EXTRA_CA_CERTS, NODE_OPTIONS/LD_* and the PATH the sandbox sets (names returned, never values except PATH)
// expect-status: ok
// expect-result-has: {"leaked": false, "node_extra_ca_certs": false, "ld_vars": false}
// control-result-has: {"leaked": true}
// limits: {"timeout_ms": 5000, "memory_mib": 128}
const I = (typeof inputs === 'object' && inputs) ? inputs : {};

// NODE_OPTIONS is reported, not asserted: the launcher may legitimately set it; what matters is that users cannot.
const keys = Object.keys(process.env).sort();
return {
  leaked: Object.prototype.hasOwnProperty.call(process.env, String(I.env_secret_name)),
  node_extra_ca_certs: keys.includes('NODE_EXTRA_CA_CERTS'),
  node_options: keys.includes('NODE_OPTIONS'),
  ld_vars: keys.some((k) => k.startsWith('LD_')),
  count: keys.length,
  keys: keys.slice(0, 100),
  path: typeof process.env.PATH === 'string' ? process.env.PATH.slice(0, 500) : null,
};
