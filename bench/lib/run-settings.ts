/**
 * How the Docker image (Dockerfile) and the systemd unit (deploy/cron-log-service.service) start
 * `run`: the node flags and the environment that bound its memory. The `memory` benchmark starts
 * its `run` child with the same (test/unit/deploy/run-settings.test.ts keeps the three in step).
 */

/** Node/V8 flags: Dockerfile ENTRYPOINT, systemd NODE_OPTIONS. */
export const RUN_NODE_FLAGS = ['--max-semi-space-size=4'];

/**
 * Environment: Dockerfile ENV, systemd Environment=. MALLOC_ARENA_MAX=2: glibc keeps at most two
 * malloc arenas instead of one per thread (up to 8 per core) for the libuv pool's threads
 * (file reads of the parts in flight, gzip, hashing); measured 2026-12-07 with `npm run bench --
 * --only memory` (1M-document hour, 2 runs): peak RSS 119.4 vs 103.7 MiB (ratio 1.151) without,
 * 111.6 vs 101.1 MiB (1.103) with.
 */
export const RUN_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
