// Package config loads resetq.yaml.
//
// Loading is strict: an unknown key, a value of the wrong type and a failed
// validation are all errors that name the file, the line and the field
// (`resetq.yaml:12: providers[0].auth.client_secret: required for
// client_credentials`), and all of them are reported at once. `${VAR}` (and
// `${VAR:-default}`) in a value is replaced from the environment; every
// secret `x` may instead be given as `x_file`, a path to a file holding it;
// RESETQ_REDIS_URL overrides redis.url.
package config
